//! Temporary directories: a [`TempDir`] owns one and removes it when dropped.

use std::io;
use std::path::{Path, PathBuf};

use crate::create::Builder;
#[cfg(unix)]
use crate::file_id::FileId;
#[cfg(not(unix))]
use crate::remove::remove_tree_nofollow;
use crate::remove::RemoveError;
#[cfg(unix)]
use crate::remove::{remove_tree_nofollow_with, RemoveOptions};
use crate::{env, ospath};

/// A uniquely named directory (mode 0700) removed, with everything in it, when the value is
/// dropped or [`closed`](TempDir::close).
///
/// Removal goes through [`remove_tree_nofollow`](crate::remove_tree_nofollow), so symlinks inside are unlinked, never
/// followed. While the value lives it holds a shared `flock` on a descriptor of the
/// directory, which tells `systemd-tmpfiles` (and anything else that takes the lock
/// exclusively) that the directory is in use — unless [`max_dir_locks`] directories of the
/// process already hold one, or the process was out of descriptors when it was made: then it
/// lives unlocked, as the standard module's would (still known by its device and inode, and
/// still recorded by the crash guard when guarded).
///
/// ```
/// let dir = ferrotemp::TempDir::new()?;
/// std::fs::write(dir.path().join("data"), b"x")?;
/// let path = dir.path().to_path_buf();
/// dir.close()?;
/// assert!(!path.exists());
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
    /// Cleared by [`TempDir::keep`] and [`TempDir::close`], which take over removal.
    armed: bool,
    /// What ties the value to the directory it made: normally a descriptor holding the
    /// shared lock (closing it releases the lock).
    #[cfg(unix)]
    anchor: Anchor,
    /// The crash-guard registration, dropped (unregistering) after the removal in `Drop`.
    guard: Option<crate::guard::GuardToken>,
}

impl TempDir {
    /// Creates a directory named like the standard module's (`tmp` + 8 random characters)
    /// in the default temporary directory.
    ///
    /// # Errors
    ///
    /// As [`Builder::tempdir_in`], or temp-dir discovery's error.
    pub fn new() -> io::Result<Self> {
        Builder::new().tempdir()
    }

    /// Creates the directory in `dir`.
    ///
    /// # Errors
    ///
    /// As [`Builder::tempdir_in`].
    pub fn new_in(dir: impl AsRef<Path>) -> io::Result<Self> {
        Builder::new().tempdir_in(dir)
    }

    /// Creates a directory whose name starts with `prefix` in the default temporary
    /// directory.
    ///
    /// # Errors
    ///
    /// As [`TempDir::new`].
    pub fn with_prefix(prefix: impl AsRef<std::ffi::OsStr>) -> io::Result<Self> {
        Builder::new().prefix(prefix).tempdir()
    }

    /// Creates a directory whose name starts with `prefix` in `dir`.
    ///
    /// # Errors
    ///
    /// As [`Builder::tempdir_in`].
    pub fn with_prefix_in(
        prefix: impl AsRef<std::ffi::OsStr>,
        dir: impl AsRef<Path>,
    ) -> io::Result<Self> {
        Builder::new().prefix(prefix).tempdir_in(dir)
    }

    /// Creates a directory whose name ends with `suffix` in the default temporary directory.
    ///
    /// # Errors
    ///
    /// As [`TempDir::new`].
    pub fn with_suffix(suffix: impl AsRef<std::ffi::OsStr>) -> io::Result<Self> {
        Builder::new().suffix(suffix).tempdir()
    }

    /// Creates a directory whose name ends with `suffix` in `dir`.
    ///
    /// # Errors
    ///
    /// As [`Builder::tempdir_in`].
    pub fn with_suffix_in(
        suffix: impl AsRef<std::ffi::OsStr>,
        dir: impl AsRef<Path>,
    ) -> io::Result<Self> {
        Builder::new().suffix(suffix).tempdir_in(dir)
    }

    /// Takes ownership of a directory the caller has just created: locks it (and confirms
    /// its crash-guard registration, `pending`, with its identity), or removes it if it
    /// cannot be opened.
    fn adopt(path: PathBuf, pending: Option<crate::guard::Registration>) -> io::Result<Self> {
        #[cfg(unix)]
        {
            let anchor = match lock_dir(&path) {
                Ok(Some(lock)) => Anchor::Locked(lock, None),
                // Lock share used up, or out of descriptors: the standard module needs none for
                // a live directory, so neither do we; it is kept unlocked, known by its
                // (device, inode).
                Ok(None) => match identity_of(&path) {
                    Ok(identity) => Anchor::Unlocked(identity),
                    Err(err) => {
                        let _ = std::fs::remove_dir(&path);
                        return Err(err);
                    }
                },
                Err(err) if is_out_of_descriptors(&err) => match identity_of(&path) {
                    Ok(identity) => Anchor::Unlocked(identity),
                    Err(err) => {
                        let _ = std::fs::remove_dir(&path);
                        return Err(err);
                    }
                },
                Err(err) => {
                    // Nothing else knows the directory: it must not outlive the failure.
                    let _ = std::fs::remove_dir(&path);
                    return Err(err);
                }
            };
            let mut dir = Self {
                path,
                armed: true,
                anchor,
                guard: None,
            };
            if let Some(registration) = pending {
                if let crate::guard::Registration::Guarded(token) = &registration {
                    match &mut dir.anchor {
                        // The identity the guard reads is kept: removal compares the path
                        // with it, without examining the descriptor again.
                        Anchor::Locked(lock, known) => {
                            *known =
                                crate::guard::confirm_fd_identity(token, &*lock).map(|id| FileId {
                                    dev: id.dev,
                                    ino: id.ino,
                                });
                        }
                        Anchor::Unlocked(FileId { dev, ino }) => {
                            let identity = crate::guard::EntryIdentity {
                                dev: *dev,
                                ino: *ino,
                                ..crate::guard::EntryIdentity::default()
                            };
                            crate::guard::confirm(token, &identity);
                        }
                    }
                }
                match registration {
                    crate::guard::Registration::Guarded(token) => dir.guard = Some(token),
                    crate::guard::Registration::Keep => dir.armed = false,
                    crate::guard::Registration::Unguarded => {}
                }
            }
            Ok(dir)
        }
        #[cfg(not(unix))]
        {
            let _ = pending;
            Ok(Self {
                path,
                armed: true,
                guard: None,
            })
        }
    }

    /// The directory's absolute path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the directory is recorded by the [crash guard](crate::guard) (see
    /// [`Builder::guarded`]).
    #[must_use]
    pub fn is_guarded(&self) -> bool {
        self.guard.is_some()
    }

    /// Whether dropping this value removes the directory (false after keep mode disarmed it).
    #[must_use]
    pub fn will_delete(&self) -> bool {
        self.armed
    }

    /// Gives up ownership: the directory stays, the lock is released, and its path is
    /// returned.
    #[must_use]
    pub fn keep(mut self) -> PathBuf {
        self.armed = false;
        std::mem::take(&mut self.path)
    }

    /// The older name of [`TempDir::keep`] (the `tempfile` crate's before 3.20).
    #[must_use]
    pub fn into_path(self) -> PathBuf {
        self.keep()
    }

    /// Turns removal on drop (and by [`TempDir::close`]) off (`true`) or back on (`false`),
    /// as the `tempfile` crate's `disable_cleanup`. Turning it off also drops the crash-guard
    /// record (a kept directory must not be swept); turning it back on does not record the
    /// directory again.
    pub fn disable_cleanup(&mut self, disable: bool) {
        self.armed = !disable;
        if disable {
            self.guard = None;
        }
    }

    /// [`TempDir::close`] through [`remove_tree_observed`](crate::remove::remove_tree_observed):
    /// serially, in `order`, announcing each step to `observer` first (which may stop it).
    ///
    /// # Errors
    ///
    /// As [`TempDir::close`], and the observer's stop.
    #[cfg(unix)]
    pub fn close_observed(
        mut self,
        order: crate::remove::StepOrder,
        observer: &mut dyn FnMut(crate::remove::Step<'_>) -> bool,
    ) -> Result<(), RemoveError> {
        if !self.armed {
            return Ok(());
        }
        self.armed = false;
        let path = std::mem::take(&mut self.path);
        let (identity, owner) = self.anchor.examine();
        let options = own_tree_options(identity, owner);
        let removed = crate::remove::remove_tree_observed(&path, &options, order, observer);
        crate::stats::note_removal(&removed, |err| is_already_gone(err, &path));
        match removed {
            Err(err) if is_already_gone(&err, &path) => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// Off POSIX there are no steps to observe: [`TempDir::close`].
    ///
    /// # Errors
    ///
    /// As [`TempDir::close`].
    #[cfg(not(unix))]
    pub fn close_observed(
        self,
        _order: crate::remove::StepOrder,
        _observer: &mut dyn FnMut(crate::remove::Step<'_>) -> bool,
    ) -> Result<(), RemoveError> {
        self.close()
    }

    /// Removes the directory and everything in it now, reporting what could not be removed.
    ///
    /// A directory that is already gone is not an error, as the standard module's
    /// `TemporaryDirectory.cleanup()` tolerates it. A guarded directory made in keep mode
    /// (`FERROTEMP_KEEP=1`, see [`TempDir::will_delete`]) is left in place.
    ///
    /// # Errors
    ///
    /// Every failure of the removal; see [`RemoveError`].
    pub fn close(self) -> Result<(), RemoveError> {
        self.close_with_threads(0)
    }

    /// [`close`](Self::close), removing with at most `threads` threads (0: one per core, as
    /// `close` does). One keeps the removal on the calling thread and leaves the other cores
    /// to other work, such as an event loop waiting for the removal in another thread.
    ///
    /// # Errors
    ///
    /// As [`close`](Self::close).
    pub fn close_with_threads(mut self, threads: usize) -> Result<(), RemoveError> {
        if !self.armed {
            // Disarmed by keep mode at creation: the directory stays.
            return Ok(());
        }
        self.armed = false;
        let path = std::mem::take(&mut self.path);
        #[cfg(unix)]
        let removed = remove_tree_nofollow_fast(&path, &self.anchor, threads);
        #[cfg(not(unix))]
        let removed = remove_tree_nofollow_fast(&path, threads);
        crate::stats::note_removal(&removed, |err| is_already_gone(err, &path));
        match removed {
            Err(err) if is_already_gone(&err, &path) => Ok(()),
            other => other,
        }
    }
}

/// The removal options of a [`TempDir`] whose directory was `identity`, owned by `owner`:
/// that directory, or a real directory of the same owner put at its path since.
#[cfg(unix)]
fn own_tree_options(identity: Option<FileId>, owner: u32) -> RemoveOptions {
    let mut options = RemoveOptions::new();
    if let Some(FileId { dev, ino }) = identity {
        options.expect_root(dev, ino).accept_replaced_root_of(owner);
    }
    options
}

/// [`remove_tree_nofollow`], trying a plain `rmdir` first: an empty directory (a common
/// end for a temporary one) then costs one syscall instead of a descriptor walk. `rmdir`
/// never follows a symlink in the last component, so it is as safe as the walk; any failure
/// (not empty, a symlink or file swapped in, a permission problem) leaves the verdict to the
/// walk.
///
/// What is removed at the path is the directory this value made (`identity`), or a real
/// directory of the same user put there since — the standard module removes a scratch
/// directory that its owner deleted and made again, and so does this. A symlink is never
/// followed nor removed (`ELOOP`), and a directory of another user is left in place
/// (`EPERM`): in a shared `dir=` without the sticky bit someone else could have put it there.
///
/// The directory's identity is examined (an `fstat` of the lock descriptor) only when it was
/// not read at creation or the path no longer shows it.
#[cfg(unix)]
fn remove_tree_nofollow_fast(
    path: &Path,
    anchor: &Anchor,
    threads: usize,
) -> Result<(), RemoveError> {
    // The same rule as the walk's, checked before the rmdir. A swap between the check and the
    // rmdir needs write access to the parent, which lets the swapper remove an empty directory
    // there by itself anyway (in a sticky directory it cannot swap ours).
    let mut examined = None;
    let ours = rustix::fs::lstat(path).is_ok_and(|st| {
        if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::Directory {
            return false;
        }
        let seen = FileId::from_stat(&st);
        if anchor.known() == Some(seen) {
            return true;
        }
        let (identity, owner) = *examined.get_or_insert_with(|| anchor.examine());
        Some(seen) == identity || st.st_uid == owner
    });
    if ours && std::fs::remove_dir(path).is_ok() {
        return Ok(());
    }
    let (identity, owner) = examined.unwrap_or_else(|| anchor.examine());
    let mut options = own_tree_options(identity, owner);
    options.threads(threads);
    remove_tree_nofollow_with(path, &options).map(|_| ())
}

/// How a [`TempDir`] knows its directory.
#[cfg(unix)]
#[derive(Debug)]
enum Anchor {
    /// An `O_RDONLY|O_DIRECTORY` descriptor of it, holding the shared `flock`, and its
    /// (device, inode) when read at creation (the crash guard reads it to record it).
    Locked(DirLock, Option<FileId>),
    /// Its (device, inode), when no descriptor was left to hold it with.
    Unlocked(FileId),
}

#[cfg(unix)]
impl Anchor {
    /// The directory's (device, inode) (`None` only if the descriptor cannot be examined) and
    /// its owner: the user whose replacement at the path is still removed. The descriptor's
    /// `fstat` gives both; an unlocked directory was made by this process's user.
    fn examine(&self) -> (Option<FileId>, u32) {
        match self {
            Anchor::Locked(lock, _) => match rustix::fs::fstat(lock) {
                Ok(st) => (Some(FileId::from_stat(&st)), st.st_uid),
                Err(_) => (None, rustix::process::geteuid().as_raw()),
            },
            Anchor::Unlocked(identity) => (Some(*identity), rustix::process::geteuid().as_raw()),
        }
    }

    /// The (device, inode) known without a syscall, if any.
    fn known(&self) -> Option<FileId> {
        match self {
            Anchor::Locked(_, known) => *known,
            Anchor::Unlocked(identity) => Some(*identity),
        }
    }
}

#[cfg(unix)]
fn identity_of(path: &Path) -> io::Result<FileId> {
    rustix::fs::lstat(path)
        .map(|st| FileId::from_stat(&st))
        .map_err(|e| crate::error::with_path(e.into(), path))
}

#[cfg(unix)]
fn is_out_of_descriptors(err: &io::Error) -> bool {
    matches!(
        crate::error::raw_os_error(err),
        Some(code) if code == rustix::io::Errno::MFILE.raw_os_error()
            || code == rustix::io::Errno::NFILE.raw_os_error()
    )
}

#[cfg(not(unix))]
fn remove_tree_nofollow_fast(path: &Path, _threads: usize) -> Result<(), RemoveError> {
    match std::fs::remove_dir(path) {
        Ok(()) => Ok(()),
        Err(_) => remove_tree_nofollow(path),
    }
}

fn is_already_gone(err: &RemoveError, path: &Path) -> bool {
    let failures = err.failures();
    failures.len() == 1
        && failures[0].path == path
        && failures[0].error.kind() == io::ErrorKind::NotFound
}

/// The most lock descriptors this process's live [`TempDir`]s hold at once, whatever the
/// descriptor limit: see [`max_dir_locks`].
pub const MAX_DIR_LOCKS: usize = 64;

/// Lock descriptors held by live [`TempDir`]s of this process.
#[cfg(unix)]
static DIR_LOCKS_HELD: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// How many live [`TempDir`]s may hold a lock descriptor now: [`MAX_DIR_LOCKS`], or a
/// sixteenth of the soft `RLIMIT_NOFILE` if that is less (4 at a limit of 64), but at least one.
/// Directories beyond it live unlocked, so that temp directories never take the descriptors a
/// program's own `open()` calls would have had with the standard module, which holds none.
#[cfg(unix)]
#[must_use]
pub fn max_dir_locks() -> usize {
    let soft = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
    soft.map_or(MAX_DIR_LOCKS, |soft| {
        usize::try_from(soft / 16).map_or(MAX_DIR_LOCKS, |share| share.clamp(1, MAX_DIR_LOCKS))
    })
}

/// A directory descriptor holding a shared `flock`, counted in [`DIR_LOCKS_HELD`] while it
/// lives.
#[cfg(unix)]
#[derive(Debug)]
struct DirLock(std::os::fd::OwnedFd);

#[cfg(unix)]
impl std::os::fd::AsFd for DirLock {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.0.as_fd()
    }
}

#[cfg(unix)]
impl Drop for DirLock {
    fn drop(&mut self) {
        DIR_LOCKS_HELD.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Opens `path` (not following a symlink) and takes a shared `flock` on it; `Ok(None)` when
/// the process's share of lock descriptors ([`max_dir_locks`]) is used up.
#[cfg(unix)]
fn lock_dir(path: &Path) -> io::Result<Option<DirLock>> {
    use rustix::fs::{FlockOperation, Mode, OFlags, CWD};
    use std::sync::atomic::Ordering;
    // Reserve a place first, so threads creating at once cannot exceed the share together.
    // The first lock is always allowed, so the usual one directory at a time costs no
    // `getrlimit`.
    let held = DIR_LOCKS_HELD.fetch_add(1, Ordering::Relaxed);
    if held > 0 && held >= max_dir_locks() {
        DIR_LOCKS_HELD.fetch_sub(1, Ordering::Relaxed);
        return Ok(None);
    }
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = match rustix::fs::openat(CWD, path, flags, Mode::empty()) {
        Ok(fd) => DirLock(fd),
        Err(err) => {
            DIR_LOCKS_HELD.fetch_sub(1, Ordering::Relaxed);
            return Err(crate::error::with_path(err.into(), path));
        }
    };
    // The lock is advice to cleaners; a filesystem without flock (some network mounts)
    // leaves the directory merely unadvertised, which is no reason to fail.
    let _ = rustix::fs::flock(&fd, FlockOperation::LockShared);
    Ok(Some(fd))
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if self.armed {
            // Drop cannot report; `close` is the way to see errors.
            #[cfg(unix)]
            let removed = remove_tree_nofollow_fast(&self.path, &self.anchor, 0);
            #[cfg(not(unix))]
            let removed = remove_tree_nofollow_fast(&self.path, 0);
            crate::stats::note_removal(&removed, |err| is_already_gone(err, &self.path));
        }
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

/// Builder support: the same names and modes, with an owner that removes the directory.
impl Builder {
    /// Creates a [`TempDir`] in `dir` with this builder's prefix, suffix and mode.
    ///
    /// # Errors
    ///
    /// As [`Builder::create_unowned_dir_in`], or the error of opening the new directory.
    pub fn tempdir_in(&self, dir: impl AsRef<Path>) -> io::Result<TempDir> {
        let (dir, _) = self.make_in(
            dir.as_ref(),
            "directory",
            |_, _| Ok(()),
            |candidate| self.try_tempdir(candidate),
        )?;
        Ok(dir)
    }

    /// Tries once to create a [`TempDir`] at exactly `path` (a [`Builder::candidate_path`]):
    /// the attempt [`Builder::tempdir_in`] passes to [`Builder::make_in`], for callers that
    /// add their own step to each attempt (the Python bindings' audit events). `Ok(None)`
    /// means the name is taken and another should be tried.
    /// An absolute `path` is kept as given (not normalised, as
    /// [`Builder::create_unowned_dir_in`]'s); a relative one is made absolute.
    ///
    /// # Errors
    ///
    /// As [`Builder::try_create_dir`], or the error of opening the new directory.
    pub fn try_tempdir(&self, path: &Path) -> io::Result<Option<TempDir>> {
        // Kept as given when absolute (not normalised: after a symlink, `..` names another
        // directory lexically than the kernel does); the record normalises its own copy.
        // A relative one is joined to the current directory without lexical `..` resolution,
        // so it names what the kernel creates (after a symlink, `x/..` is not `.`).
        let absolute = if path.is_absolute() {
            path.to_path_buf()
        } else {
            ospath::absolute(path)
        };
        // Guarded: recorded before the creation (pending), so that a kill at any instant
        // leaves nothing unrecorded; dropped at once if the attempt fails.
        // Kept by `disable_cleanup`: never swept, so never recorded.
        let pending = (self.is_guarded() && !self.is_cleanup_disabled())
            .then(|| crate::guard::register_pending(&absolute, crate::guard::EntryKind::Dir));
        if !self.try_create_dir(path)? {
            return Ok(None);
        }
        let mut dir = TempDir::adopt(absolute, pending)?;
        if self.is_cleanup_disabled() {
            dir.armed = false;
        }
        Ok(Some(dir))
    }

    /// [`Builder::tempdir_in`] the default temporary directory.
    ///
    /// # Errors
    ///
    /// As [`Builder::tempdir_in`], or discovery's error.
    pub fn tempdir(&self) -> io::Result<TempDir> {
        self.tempdir_in(env::default_tempdir()?)
    }
}

/// Creates a [`TempDir`] in the default temporary directory: the `tempfile` crate's
/// `tempdir()`, the same as [`TempDir::new`].
///
/// ```
/// let dir = ferrotemp::tempdir()?;
/// std::fs::write(dir.path().join("note"), b"x")?;
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Errors
///
/// As [`TempDir::new`].
pub fn tempdir() -> io::Result<TempDir> {
    TempDir::new()
}

/// Creates a [`TempDir`] in `dir`: the `tempfile` crate's `tempdir_in`, the same as
/// [`TempDir::new_in`].
///
/// # Errors
///
/// As [`TempDir::new_in`].
pub fn tempdir_in(dir: impl AsRef<Path>) -> io::Result<TempDir> {
    TempDir::new_in(dir)
}
