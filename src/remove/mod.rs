//! Symlink-safe removal of directory trees, walking by file descriptor.
//!
//! [`remove_tree_nofollow`] never follows a symbolic link and never leaves the tree, even
//! when another process swaps a directory for a symlink while the walk runs: every directory
//! is opened with `openat(parent_fd, name, O_NOFOLLOW|O_DIRECTORY)`, listed through that
//! descriptor, and emptied with `unlinkat` relative to it. Nothing inside the tree is ever
//! reached through a path string.
//!
//! # Bounded descriptors
//!
//! A walker holds at most [`WINDOW`] + [`MAX_ANCHORS`] directory descriptors, however deep the
//! tree: the deepest `WINDOW` levels of the current branch, plus "anchors" at every
//! [`ANCHOR_STRIDE`]-th level, the `MAX_ANCHORS` deepest of them. When the walk climbs back to
//! a level whose descriptor was closed, it re-opens the levels in between from the nearest
//! held ancestor, one name at a time with `O_NOFOLLOW|O_DIRECTORY`, and checks each
//! directory's (device, inode) against what was recorded on the way down. A mismatch means
//! the tree was changed under the walk: that branch is abandoned and reported, never entered.
//! Re-opening through `..` is never used, because a moved directory's `..` leads out of the
//! tree. Re-opening costs amortised O(1) `openat` calls per level, plus one walk from the top
//! every `ANCHOR_STRIDE * MAX_ANCHORS` levels.
//!
//! # Parallelism
//!
//! The root's entries are listed once, subdirectories first, and claimed one at a time
//! through an atomic counter. The calling thread starts alone; once it has removed a few
//! dozen entries and at least two subdirectories are still unclaimed, helper threads
//! (`std::thread::scope`, up to [`std::thread::available_parallelism`]) join in, each
//! removing whole subtrees serially with its own descriptor budget. Small trees never pay
//! for a thread; a tree whose bulk sits under a single top-level directory is removed
//! serially. The root descriptor is shared, read-only, between the threads. Helpers are
//! started only as far as the process's free descriptors allow (each may hold a walker's
//! bound), and one that meets `EMFILE` hands its entry back to the calling thread rather than
//! failing the removal: descriptors never make a removal fail where one
//! walker alone would succeed.
//!
//! # Permissions
//!
//! A directory lacking `u+rwx` is made writable through its own descriptor (`fchmod`), never
//! through a path, so a symlink inside the tree cannot redirect a mode change outside it. An
//! unlink refused with `EACCES`/`EPERM` is retried once after the same fix on the parent. On
//! Linux, a directory that cannot even be opened for reading is fixed through an `O_PATH`
//! descriptor (`chmod("/proc/self/fd/N")`, which names exactly that inode) and then re-opened,
//! its identity checked.
//!
//! # Mounts
//!
//! Removal never crosses into another mount, as `rm --one-file-system` and systemd-tmpfiles
//! behave: every directory entered is compared with the root by device *and* mount id (a bind
//! mount of the same filesystem has the root's device). A mount point found inside is neither
//! entered nor removed; it is reported with `EBUSY` (what `rmdir` says of a mount point), and
//! the rest of the tree is removed. A root that is itself a mount point (on another mount than
//! its parent directory) is refused whole, with `EBUSY`. The mount id comes from `statx`'s
//! `STATX_MNT_ID` (Linux ≥ 5.8), else from `/proc/self/fdinfo` (Linux ≥ 3.15); where neither
//! answers (other systems), only devices are compared, which still stops at every mount of
//! another filesystem but not at a bind mount of the same one (see [`mount_id`]).

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::with_path;
use crate::file_id::FileId;

// Platform code, one module per platform: the descriptor walk on Unix (its primitives and
// the root in `unix`, the walkers in `walk` and `observed`), the standard library elsewhere.
#[cfg(unix)]
pub(crate) mod helpers;
#[cfg(unix)]
pub(crate) mod levels;
#[cfg(unix)]
mod observed;
#[cfg(not(unix))]
mod other;
#[cfg(unix)]
pub(crate) mod unix;
#[cfg(unix)]
pub(crate) mod walk;

#[cfg(not(unix))]
use other as imp;
#[cfg(unix)]
use unix as imp;
#[cfg(unix)]
pub use unix::mount_id;

/// Directory descriptors a walker keeps for the deepest levels of the branch it is in.
pub const WINDOW: usize = 16;
/// Levels between two anchors (directories whose descriptor outlives the window).
pub const ANCHOR_STRIDE: usize = 32;
/// Anchors a walker keeps at most; shallower ones are closed first.
pub const MAX_ANCHORS: usize = 32;

/// How [`remove_tree_nofollow_with`] behaves.
#[derive(Debug, Clone)]
pub struct RemoveOptions {
    continue_on_error: bool,
    threads: usize,
    expected_root: Option<FileId>,
    replaced_root_owner: Option<u32>,
    deadline: Option<std::time::Instant>,
}

impl Default for RemoveOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl RemoveOptions {
    /// Continue past errors, use all available cores.
    #[must_use]
    pub fn new() -> Self {
        Self {
            continue_on_error: true,
            threads: 0,
            expected_root: None,
            replaced_root_owner: None,
            deadline: None,
        }
    }

    /// Whether to keep removing what can be removed after an error (the default, like
    /// `shutil.rmtree` with an `onexc` handler), or to stop at the first one.
    pub fn continue_on_error(&mut self, yes: bool) -> &mut Self {
        self.continue_on_error = yes;
        self
    }

    /// Removes the tree only if its root is this (device, inode): a caller that recorded the
    /// directory's identity (a guard's record, an open descriptor of it) is then sure that
    /// what it removes is what it made, even if the path was re-pointed meanwhile. On a
    /// mismatch nothing is removed and the error names the path.
    pub fn expect_root(&mut self, dev: u64, ino: u64) -> &mut Self {
        self.expected_root = Some(FileId { dev, ino });
        self
    }

    /// With [`RemoveOptions::expect_root`]: a root that is not the directory expected is still
    /// removed if it is a real directory (never a symlink: the root is opened with
    /// `O_NOFOLLOW`) owned by `uid`, as the standard module removes a scratch directory its
    /// owner deleted and made again at the same path. One owned by anyone else is left in
    /// place with `EPERM` (removing it is not this owner's business; the error names the
    /// path).
    pub fn accept_replaced_root_of(&mut self, uid: u32) -> &mut Self {
        self.replaced_root_owner = Some(uid);
        self
    }

    /// Stops starting on new entries once `deadline` has passed: the rest of the tree, its
    /// root included, stays in place, and the error lists the root with
    /// [`io::ErrorKind::TimedOut`]. For bounded cleanups that finish the job later.
    pub fn deadline(&mut self, deadline: std::time::Instant) -> &mut Self {
        self.deadline = Some(deadline);
        self
    }

    /// The most threads to use; `0` (the default) means the available parallelism and `1`
    /// removes serially on the calling thread.
    pub fn threads(&mut self, threads: usize) -> &mut Self {
        self.threads = threads;
        self
    }
}

/// What a removal did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RemoveStats {
    /// Non-directory entries unlinked (files, symlinks, sockets, …).
    pub files: u64,
    /// Directories removed, the root included.
    pub dirs: u64,
    /// Directories whose mode was changed (through their descriptor) to allow removal.
    pub permissions_fixed: u64,
    /// Threads that took part, the calling one included.
    pub threads: usize,
}

/// One entry that could not be removed (or examined), with its path and the OS error.
#[derive(Debug)]
pub struct RemoveFailure {
    /// The path of the entry, as reached from the root passed in.
    pub path: PathBuf,
    /// Why it failed.
    pub error: io::Error,
}

/// The errors met while removing a tree, in the order they happened; never empty.
#[derive(Debug)]
pub struct RemoveError {
    failures: Vec<RemoveFailure>,
    stats: RemoveStats,
}

impl RemoveError {
    fn single(path: &Path, error: io::Error) -> Self {
        Self {
            failures: vec![RemoveFailure {
                path: path.to_path_buf(),
                error,
            }],
            stats: RemoveStats::default(),
        }
    }

    /// Every failure, in order.
    #[must_use]
    pub fn failures(&self) -> &[RemoveFailure] {
        &self.failures
    }

    /// Consumes the error, giving the failures.
    #[must_use]
    pub fn into_failures(self) -> Vec<RemoveFailure> {
        self.failures
    }

    /// The first failure.
    #[must_use]
    pub fn first(&self) -> &RemoveFailure {
        // Constructed only with at least one failure.
        &self.failures[0]
    }

    /// What was removed despite the failures.
    #[must_use]
    pub fn stats(&self) -> RemoveStats {
        self.stats
    }
}

impl fmt::Display for RemoveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let first = self.first();
        write!(f, "{}: '{}'", first.error, first.path.display())?;
        if self.failures.len() > 1 {
            write!(f, " (and {} more errors)", self.failures.len() - 1)?;
        }
        Ok(())
    }
}

impl StdError for RemoveError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&self.first().error)
    }
}

impl From<RemoveError> for io::Error {
    /// The first failure's error, naming its path (see [`crate::error::error_path`]).
    fn from(err: RemoveError) -> Self {
        let mut failures = err.failures.into_iter();
        match failures.next() {
            Some(first) => with_path(first.error, first.path),
            None => io::Error::other("directory removal failed"),
        }
    }
}

/// One step of an [observed](remove_tree_observed) removal, announced before it is taken.
#[derive(Debug, Clone, Copy)]
pub enum Step<'a> {
    /// Opening directory `name`: relative to the descriptor `dir`, or, with `dir` `None`,
    /// the root by its path (`name` is then the path as given). `flags` are the `open` flags.
    Open {
        /// The parent directory's descriptor; `None` for the root.
        dir: Option<i32>,
        /// The entry's name (the whole path for the root).
        name: &'a std::ffi::OsStr,
        /// The flags the directory is opened with.
        flags: i32,
    },
    /// Listing the directory open on descriptor `fd`.
    List {
        /// The directory's descriptor.
        fd: i32,
    },
    /// Unlinking the non-directory `name` of the directory open on `dir`.
    Unlink {
        /// The parent directory's descriptor.
        dir: i32,
        /// The entry's name.
        name: &'a std::ffi::OsStr,
    },
    /// Removing the emptied directory `name`: of the directory open on `dir`, or, with
    /// `dir` `None`, the root by its path.
    Rmdir {
        /// The parent directory's descriptor; `None` for the root.
        dir: Option<i32>,
        /// The entry's name (the whole path for the root).
        name: &'a std::ffi::OsStr,
    },
}

/// The order in which an [observed](remove_tree_observed) removal takes a directory's entries
/// (the two orders of `shutil.rmtree`'s descriptor walk).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepOrder {
    /// Each entry in listing order, a subdirectory removed whole when it comes up (CPython
    /// 3.10 to 3.12).
    ListingDepthFirst,
    /// A directory's non-directories in listing order, then its subdirectories, the last
    /// listed first (CPython 3.13's iterative walk).
    FilesThenDirsLastFirst,
}

/// [`remove_tree_nofollow_with`], serially and in `order`, calling `observer` before each
/// step: opening a directory (the root included), listing it, unlinking an entry, removing a
/// directory. An observer that returns `false` stops the removal before that step: nothing
/// more is done, and the error's last failure, at `path`, is of kind
/// [`io::ErrorKind::Interrupted`].
///
/// For callers that must announce each action (audit hooks); it holds one descriptor per
/// level of the branch it is in, as `shutil.rmtree` does, so a tree deeper than the
/// descriptor limit fails where [`remove_tree_nofollow_with`] would not.
///
/// # Errors
///
/// As [`remove_tree_nofollow_with`], and the observer's stop.
pub fn remove_tree_observed(
    path: &Path,
    options: &RemoveOptions,
    order: StepOrder,
    observer: &mut dyn FnMut(Step<'_>) -> bool,
) -> Result<RemoveStats, RemoveError> {
    imp::remove_tree_observed(path, options, order, observer)
}

/// Removes the directory tree at `path` without ever following a symbolic link, continuing
/// past errors and using all cores.
///
/// A symlink at `path` itself is not followed and not removed: that is an error (`ELOOP`),
/// as `shutil.rmtree` refuses symlinks. A missing `path` is an error (`ENOENT`); entries that
/// vanish during the walk are not.
///
/// # Errors
///
/// Every failure met, each with its path; see [`RemoveError`].
pub fn remove_tree_nofollow(path: &Path) -> Result<(), RemoveError> {
    remove_tree_nofollow_with(path, &RemoveOptions::new()).map(|_| ())
}

/// [`remove_tree_nofollow`] with options, returning what was removed.
///
/// # Errors
///
/// As [`remove_tree_nofollow`]; with `continue_on_error(false)` only the first failure.
pub fn remove_tree_nofollow_with(
    path: &Path,
    options: &RemoveOptions,
) -> Result<RemoveStats, RemoveError> {
    imp::remove_tree(path, options)
}
