//! Atomic publish: moving a finished temporary file to its destination so that readers see the
//! old content or the new, never half a file.
//!
//! Guarantees and limits, stated once:
//!
//! - The move is a `rename` within one filesystem. A destination on another filesystem fails
//!   with `EXDEV` and the temporary file is given back; nothing is ever copied.
//! - Replace ([`Overwrite::Replace`]) is `rename(2)`: the destination is swapped in one step.
//! - No-clobber ([`Overwrite::Refuse`]) is `renameat2(RENAME_NOREPLACE)`; where the filesystem
//!   refuses that flag (`EINVAL`, `ENOSYS`, `EOPNOTSUPP`) it is `link` then `unlink` of the
//!   temporary name. Both fail with `EEXIST` when the destination exists, so of two racing
//!   publishers exactly one wins.
//! - Durability ([`PersistOptions::fsync`]): the file is `fsync`ed before the rename and the
//!   destination's directory after it, so once the call returns the new name and its content
//!   survive a power loss (as far as the disk honours flushes). Without it the publish is
//!   atomic for every process but a crash of the machine may leave the old version or an
//!   empty file, depending on the filesystem.
//! - An unnamed (`O_TMPFILE`) file is published by `linkat` of `/proc/self/fd/N`
//!   ([`publish_unnamed`]): no temporary name is visible at any moment. `linkat` never
//!   replaces, so replacing links to a fresh random name in the destination's directory and
//!   renames that over the destination.

use std::fmt;
use std::fs::File;
use std::io;
use std::path::Path;

use crate::create::none_if_taken;
use crate::error::with_path;

/// What a publish does when the destination exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overwrite {
    /// Replace it atomically (`rename`).
    Replace,
    /// Fail with `EEXIST` and leave it as it is.
    Refuse,
}

/// How to publish: overwrite or not, and whether to make it durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PersistOptions {
    overwrite: Overwrite,
    fsync: bool,
}

impl Default for PersistOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl PersistOptions {
    /// Replace, no fsync: what `persist` does.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            overwrite: Overwrite::Replace,
            fsync: false,
        }
    }

    /// Replace an existing destination (`true`, the default) or fail with `EEXIST`.
    #[must_use]
    pub const fn overwrite(mut self, overwrite: bool) -> Self {
        self.overwrite = if overwrite {
            Overwrite::Replace
        } else {
            Overwrite::Refuse
        };
        self
    }

    /// `fsync` the file before the rename and the destination's directory after it.
    #[must_use]
    pub const fn fsync(mut self, fsync: bool) -> Self {
        self.fsync = fsync;
        self
    }

    /// The overwrite rule.
    #[must_use]
    pub const fn overwrite_rule(&self) -> Overwrite {
        self.overwrite
    }

    /// Whether the publish is made durable.
    #[must_use]
    pub const fn is_fsync(&self) -> bool {
        self.fsync
    }
}

/// Moves `from` to `to` as `overwrite` says (see the [module docs](self)); the error names
/// `to`.
///
/// # Errors
///
/// `EEXIST` (refuse, destination present), `EXDEV` (another filesystem), or the OS error of
/// the rename or link.
pub fn rename(from: &Path, to: &Path, overwrite: Overwrite) -> io::Result<()> {
    match overwrite {
        Overwrite::Replace => std::fs::rename(from, to).map_err(|e| with_path(e, to)),
        Overwrite::Refuse => rename_noclobber(from, to).map_err(|e| with_path(e, to)),
    }
}

#[cfg(target_os = "linux")]
fn rename_noclobber(from: &Path, to: &Path) -> io::Result<()> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    use rustix::io::Errno;
    match renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(()),
        Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) => link_then_unlink(from, to),
        Err(err) => Err(err.into()),
    }
}

#[cfg(not(target_os = "linux"))]
fn rename_noclobber(from: &Path, to: &Path) -> io::Result<()> {
    link_then_unlink(from, to)
}

/// The no-clobber fallback: `link` fails with `EEXIST` when `to` exists; once linked, the
/// temporary name goes. A failure to remove it is ignored: the publish has happened, and the
/// temporary name is left as a second link to the published file (nothing records it).
fn link_then_unlink(from: &Path, to: &Path) -> io::Result<()> {
    std::fs::hard_link(from, to)?;
    let _ = std::fs::remove_file(from);
    Ok(())
}

/// `fsync`s the directory that holds `path`, so that a rename or link into it is durable.
///
/// # Errors
///
/// The OS error of the open or the fsync, naming the directory.
pub fn sync_parent_dir(path: &Path) -> io::Result<()> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    sync_dir(parent)
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| with_path(e, dir))
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    // Directories cannot be opened for syncing here; the rename's metadata is the
    // filesystem's to flush.
    Ok(())
}

/// `fsync`s `file` (if `options` say so), moves `from` to `to`, then `fsync`s `to`'s
/// directory: the whole publish of a named temporary file. `file` is `None` when the caller
/// holds no descriptor (a bare [`TempPath`](crate::TempPath)): the path is opened to sync it.
///
/// # Errors
///
/// As [`rename`], or the fsync's error.
pub fn publish_named(
    file: Option<&File>,
    from: &Path,
    to: &Path,
    options: PersistOptions,
) -> io::Result<()> {
    if options.fsync {
        match file {
            Some(file) => file.sync_all()?,
            None => File::open(from)
                .and_then(|f| f.sync_all())
                .map_err(|e| with_path(e, from))?,
        }
    }
    rename(from, to, options.overwrite)?;
    if options.fsync {
        sync_parent_dir(to)?;
    }
    Ok(())
}

/// Opens an unnamed file in `dir` that can later be given a name by [`publish_unnamed`]
/// (`O_TMPFILE` without `O_EXCL`, mode 0600). `None` where the kernel, the filesystem or
/// the platform cannot: the caller then uses a named temporary file.
#[must_use]
pub fn open_linkable_unnamed(dir: &Path) -> Option<File> {
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::{Mode, OFlags, CWD};
        // Naming it later goes through `/proc/self/fd` (`AT_EMPTY_PATH` needs a capability
        // before Linux 6.10): without `/proc` the content could not be named, so none is made.
        if !Path::new("/proc/self/fd").is_dir() {
            return None;
        }
        let flags = OFlags::TMPFILE | OFlags::RDWR | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        rustix::fs::openat(CWD, dir, flags, Mode::from_raw_mode(0o600))
            .ok()
            .map(File::from)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = dir;
        None
    }
}

/// Gives the unnamed file `file` (from [`open_linkable_unnamed`]) the name `to`: `linkat`
/// for [`Overwrite::Refuse`] (`EEXIST` if `to` exists), else a link to a fresh random name
/// beside `to` renamed over it. With `fsync`, the file is synced first and the directory
/// after.
///
/// # Errors
///
/// `EEXIST`, `EXDEV`, or the OS error of the link, rename or fsync, naming `to`.
pub fn publish_unnamed(file: &File, to: &Path, options: PersistOptions) -> io::Result<()> {
    if options.fsync {
        file.sync_all()?;
    }
    match options.overwrite {
        Overwrite::Refuse => link_fd(file, to).map_err(|e| with_path(e, to))?,
        Overwrite::Replace => {
            let dir = match to.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            // Linked under a fresh name beside `to` (the crate's one naming loop), then
            // renamed over it.
            let ((), name) = crate::Builder::new()
                .prefix(".")
                .suffix(".publish")
                .rand_bytes(12)
                .make_in_uncounted(
                    dir,
                    "file",
                    |_, _| Ok::<(), io::Error>(()),
                    |path| none_if_taken(link_fd(file, path), path),
                )
                .map_err(|e| with_path(e, to))?;
            if let Err(e) = std::fs::rename(&name, to) {
                let _ = std::fs::remove_file(&name);
                return Err(with_path(e, to));
            }
        }
    }
    if options.fsync {
        sync_parent_dir(to)?;
    }
    Ok(())
}

#[cfg(target_os = "linux")]
fn link_fd(file: &File, to: &Path) -> io::Result<()> {
    use rustix::fs::{linkat, AtFlags, CWD};
    use std::os::fd::AsRawFd;
    // `AT_EMPTY_PATH` needs CAP_DAC_READ_SEARCH; the /proc link works for everyone.
    let proc_path = format!("/proc/self/fd/{}", file.as_raw_fd());
    match linkat(CWD, proc_path.as_str(), CWD, to, AtFlags::SYMLINK_FOLLOW) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::NOENT) if !Path::new("/proc/self/fd").exists() => {
            linkat(file, "", CWD, to, AtFlags::EMPTY_PATH).map_err(Into::into)
        }
        Err(err) => Err(err.into()),
    }
}

#[cfg(not(target_os = "linux"))]
fn link_fd(_file: &File, _to: &Path) -> io::Result<()> {
    Err(io::ErrorKind::Unsupported.into())
}

/// A failed [`NamedTempFile::persist`](crate::NamedTempFile::persist): the error and the
/// temporary file, still owned (and still removed when dropped), so nothing is lost.
pub struct PersistError {
    /// Why the publish failed (`EEXIST`, `EXDEV`, …), naming the destination.
    pub error: io::Error,
    /// The temporary file, given back.
    pub file: crate::NamedTempFile,
}

/// A failed [`TempPath::persist`](crate::TempPath::persist): the error and the path, still
/// owned.
pub struct PathPersistError {
    /// Why the publish failed, naming the destination.
    pub error: io::Error,
    /// The temporary path, given back.
    pub path: crate::TempPath,
}

impl fmt::Debug for PersistError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PersistError({:?})", self.error)
    }
}

impl fmt::Display for PersistError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "failed to persist temporary file: {}", self.error)
    }
}

impl std::error::Error for PersistError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl From<PersistError> for io::Error {
    fn from(err: PersistError) -> Self {
        err.error
    }
}

impl fmt::Debug for PathPersistError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PathPersistError({:?})", self.error)
    }
}

impl fmt::Display for PathPersistError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "failed to persist temporary path: {}", self.error)
    }
}

impl std::error::Error for PathPersistError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl From<PathPersistError> for io::Error {
    fn from(err: PathPersistError) -> Self {
        err.error
    }
}
