//! Temporary directories owned by a guard that removes them.

use std::io;
use std::path::{Path, PathBuf};

use crate::create::Builder;
use crate::env;
#[cfg(not(unix))]
use crate::remove::remove_tree_nofollow;
use crate::remove::RemoveError;
#[cfg(unix)]
use crate::remove::{remove_tree_nofollow_with, RemoveOptions};

/// A uniquely named directory (mode 0700) removed, with everything in it, when the value is
/// dropped or [`closed`](TempDir::close).
///
/// Removal goes through [`remove_tree_nofollow`](crate::remove_tree_nofollow), so symlinks inside are unlinked, never
/// followed. While the value lives it holds a shared `flock` on a descriptor of the
/// directory, which tells `systemd-tmpfiles` (and anything else that takes the lock
/// exclusively) that the directory is in use.
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
    /// Holds the shared lock; closing it releases the lock.
    #[cfg(unix)]
    lock: std::os::fd::OwnedFd,
    /// The crash-guard registration, dropped (unregistering) after the removal in `Drop`.
    guard: Option<crate::guard::GuardToken>,
}

impl TempDir {
    /// Creates a directory named like the standard module's (`tmp` + 8 random characters)
    /// in the default temporary directory.
    ///
    /// # Errors
    ///
    /// As [`Builder::create_dir_in`], or temp-dir discovery's error.
    pub fn new() -> io::Result<Self> {
        Builder::new().tempdir()
    }

    /// Creates the directory in `dir`.
    ///
    /// # Errors
    ///
    /// As [`Builder::create_dir_in`].
    pub fn new_in(dir: impl AsRef<Path>) -> io::Result<Self> {
        Builder::new().tempdir_in(dir)
    }

    fn create_in(builder: &Builder, dir: &Path) -> io::Result<Self> {
        Self::adopt(builder.create_dir_in(dir)?, builder.is_guarded())
    }

    /// Takes ownership of a directory the caller has just created: locks it (and records it
    /// with the crash guard when `guarded`), or removes it if it cannot be opened.
    fn adopt(path: PathBuf, guarded: bool) -> io::Result<Self> {
        #[cfg(unix)]
        {
            let lock = match lock_dir(&path) {
                Ok(lock) => lock,
                Err(err) => {
                    // Nothing else knows the directory: it must not outlive the failure.
                    let _ = std::fs::remove_dir(&path);
                    return Err(err);
                }
            };
            let mut dir = Self {
                path,
                armed: true,
                lock,
                guard: None,
            };
            if guarded {
                let kind = crate::guard::EntryKind::Dir;
                match crate::guard::register_fd(&dir.path, kind, &dir.lock) {
                    crate::guard::Registration::Guarded(token) => dir.guard = Some(token),
                    crate::guard::Registration::Keep => dir.armed = false,
                    crate::guard::Registration::Unguarded => {}
                }
            }
            Ok(dir)
        }
        #[cfg(not(unix))]
        {
            let _ = guarded;
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

    /// Removes the directory and everything in it now, reporting what could not be removed.
    ///
    /// A directory that is already gone is not an error, as the standard module's
    /// `TemporaryDirectory.cleanup()` tolerates it. A guarded directory made in keep mode
    /// (`FERROTEMP_KEEP=1`, see [`TempDir::will_delete`]) is left in place.
    ///
    /// # Errors
    ///
    /// Every failure of the removal; see [`RemoveError`].
    pub fn close(mut self) -> Result<(), RemoveError> {
        if !self.armed {
            // Disarmed by keep mode at creation: the directory stays.
            return Ok(());
        }
        self.armed = false;
        let path = std::mem::take(&mut self.path);
        #[cfg(unix)]
        let removed = remove_tree_nofollow_fast(&path, &self.lock);
        #[cfg(not(unix))]
        let removed = remove_tree_nofollow_fast(&path);
        match removed {
            Err(err) if is_already_gone(&err, &path) => Ok(()),
            other => other,
        }
    }
}

/// [`remove_tree_nofollow`], trying a plain `rmdir` first: an empty directory (a common
/// end for a temporary one) then costs one syscall instead of a descriptor walk. `rmdir`
/// never follows a symlink in the last component, so it is as safe as the walk; any failure
/// (not empty, a symlink or file swapped in, a permission problem) leaves the verdict to the
/// walk.
///
/// The walk removes the tree only if its root is still the directory `lock` is open on, so a
/// directory renamed away and replaced by another at the same path (possible in a shared
/// `dir=` without the sticky bit) is never what gets removed. (An *empty* replacement could
/// still go by the first `rmdir`.)
#[cfg(unix)]
fn remove_tree_nofollow_fast(path: &Path, lock: &std::os::fd::OwnedFd) -> Result<(), RemoveError> {
    if std::fs::remove_dir(path).is_ok() {
        return Ok(());
    }
    let mut options = RemoveOptions::new();
    if let Ok(st) = rustix::fs::fstat(lock) {
        #[allow(clippy::useless_conversion, clippy::unnecessary_cast)]
        options.expect_root(st.st_dev as u64, st.st_ino as u64);
    }
    remove_tree_nofollow_with(path, &options).map(|_| ())
}

#[cfg(not(unix))]
fn remove_tree_nofollow_fast(path: &Path) -> Result<(), RemoveError> {
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

/// Opens `path` (not following a symlink) and takes a shared `flock` on it.
#[cfg(unix)]
fn lock_dir(path: &Path) -> io::Result<std::os::fd::OwnedFd> {
    use rustix::fs::{FlockOperation, Mode, OFlags, CWD};
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(CWD, path, flags, Mode::empty())
        .map_err(|e| crate::error::with_path(e.into(), path))?;
    // The lock is advice to cleaners; a filesystem without flock (some network mounts)
    // leaves the directory merely unadvertised, which is no reason to fail.
    let _ = rustix::fs::flock(&fd, FlockOperation::LockShared);
    Ok(fd)
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if self.armed {
            // Drop cannot report; `close` is the way to see errors.
            #[cfg(unix)]
            let _ = remove_tree_nofollow_fast(&self.path, &self.lock);
            #[cfg(not(unix))]
            let _ = remove_tree_nofollow_fast(&self.path);
        }
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

/// The descriptor holding the lock: an `O_RDONLY|O_DIRECTORY` descriptor of the directory.
#[cfg(unix)]
impl std::os::fd::AsFd for TempDir {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.lock.as_fd()
    }
}

/// Builder support: the same names and modes, with a guard that removes the directory.
impl Builder {
    /// Creates a [`TempDir`] in `dir` with this builder's prefix, suffix and mode.
    ///
    /// # Errors
    ///
    /// As [`Builder::create_dir_in`], or the error of opening the new directory.
    pub fn tempdir_in(&self, dir: impl AsRef<Path>) -> io::Result<TempDir> {
        TempDir::create_in(self, dir.as_ref())
    }

    /// Tries once to create a [`TempDir`] at exactly `path` (a [`Builder::candidate_path`]),
    /// for callers that run their own naming loop (the Python bindings emit an audit event
    /// before each attempt). `Ok(None)` means the name is taken and another should be tried.
    ///
    /// # Errors
    ///
    /// As [`Builder::try_create_dir`], or the error of opening the new directory.
    pub fn try_tempdir(&self, path: &Path) -> io::Result<Option<TempDir>> {
        if !self.try_create_dir(path)? {
            return Ok(None);
        }
        TempDir::adopt(env::abspath(path), self.is_guarded()).map(Some)
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
