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
//! serially. The root descriptor is shared, read-only, between the threads.
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

    fn thread_count(&self) -> usize {
        // available_parallelism reads cgroup files on Linux, costing more than removing a
        // small tree; the answer is taken once per process.
        static AVAILABLE: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
        if self.threads != 0 {
            return self.threads;
        }
        *AVAILABLE.get_or_init(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        })
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

impl RemoveStats {
    fn add(&mut self, other: &RemoveStats) {
        self.files += other.files;
        self.dirs += other.dirs;
        self.permissions_fixed += other.permissions_fixed;
    }
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

/// The mount id of the file behind `fd`: `statx`'s `STATX_MNT_ID` (Linux ≥ 5.8), else the
/// `mnt_id:` line of `/proc/self/fdinfo/<fd>` (Linux ≥ 3.15); `None` where neither exists.
#[cfg(any(target_os = "linux", target_os = "android"))]
#[must_use]
pub fn mount_id(fd: std::os::fd::BorrowedFd<'_>) -> Option<u64> {
    use rustix::fs::{statx, AtFlags, StatxFlags};
    use std::os::fd::AsRawFd;
    if let Ok(stx) = statx(fd, c"", AtFlags::EMPTY_PATH, StatxFlags::MNT_ID) {
        if StatxFlags::from_bits_retain(stx.stx_mask).contains(StatxFlags::MNT_ID) {
            return Some(stx.stx_mnt_id);
        }
    }
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd())).ok()?;
    info.lines()
        .find_map(|line| line.strip_prefix("mnt_id:"))
        .and_then(|id| id.trim().parse().ok())
}

/// Elsewhere there is no mount id to read: only devices are compared.
#[cfg(all(unix, not(any(target_os = "linux", target_os = "android"))))]
#[must_use]
pub fn mount_id(_fd: std::os::fd::BorrowedFd<'_>) -> Option<u64> {
    None
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
    /// 3.9 to 3.12).
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

#[cfg(not(unix))]
mod imp {
    use super::{RemoveError, RemoveOptions, RemoveStats};
    use std::path::Path;

    /// Off POSIX there are no `*at` calls to build on; the standard library's removal is
    /// the best available.
    pub(super) fn remove_tree_observed(
        path: &Path,
        options: &RemoveOptions,
        _order: super::StepOrder,
        _observer: &mut dyn FnMut(super::Step<'_>) -> bool,
    ) -> Result<RemoveStats, RemoveError> {
        remove_tree(path, options)
    }

    pub(super) fn remove_tree(
        path: &Path,
        _options: &RemoveOptions,
    ) -> Result<RemoveStats, RemoveError> {
        std::fs::remove_dir_all(path)
            .map(|()| RemoveStats {
                threads: 1,
                ..RemoveStats::default()
            })
            .map_err(|err| RemoveError::single(path, err))
    }
}

#[cfg(unix)]
mod imp {
    use super::{
        RemoveError, RemoveFailure, RemoveOptions, RemoveStats, Step, StepOrder, ANCHOR_STRIDE,
        MAX_ANCHORS, WINDOW,
    };
    use crate::file_id::FileId;
    use rustix::fs::{self as rfs, AtFlags, Dir, FileType, Mode, OFlags, RawMode, CWD};
    use rustix::io::Errno;
    use std::collections::VecDeque;
    use std::ffi::{CStr, CString, OsStr};
    use std::io;
    use std::os::fd::AsRawFd;
    use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
    use std::os::unix::ffi::OsStrExt;
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    const DIR_FLAGS: OFlags = OFlags::RDONLY
        .union(OFlags::NOFOLLOW)
        .union(OFlags::DIRECTORY)
        .union(OFlags::CLOEXEC)
        .union(OFlags::NONBLOCK);

    #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
    fn mode_of(st: &rfs::Stat) -> Mode {
        Mode::from_raw_mode(st.st_mode as RawMode)
    }

    /// The mount the walk stays on: the root's device and mount id.
    #[derive(Clone, Copy)]
    struct Fence {
        dev: u64,
        mount: Option<u64>,
    }

    impl Fence {
        fn of(fd: BorrowedFd<'_>, st: &rfs::Stat) -> Self {
            Self {
                dev: FileId::from_stat(st).dev,
                mount: super::mount_id(fd),
            }
        }

        fn same_mount(self, other: Fence) -> bool {
            self.dev == other.dev
                && match (self.mount, other.mount) {
                    (Some(a), Some(b)) => a == b,
                    _ => true,
                }
        }

        /// Whether the directory behind `fd` (whose `Stat` is `st`) is on another mount.
        fn crossed_by(self, fd: BorrowedFd<'_>, st: &rfs::Stat) -> bool {
            if FileId::from_stat(st).dev != self.dev {
                return true;
            }
            match self.mount {
                Some(root) => super::mount_id(fd).is_some_and(|here| here != root),
                None => false,
            }
        }
    }

    /// `EBUSY`, what `rmdir` says of a mount point: the entry is a mount, left alone.
    fn mount_point_error() -> io::Error {
        Errno::BUSY.into()
    }

    fn changed_error() -> io::Error {
        io::Error::other("directory was replaced during removal; not entered")
    }

    fn dir_fd(dir: &Dir) -> io::Result<BorrowedFd<'_>> {
        dir.fd().map_err(io::Error::from)
    }

    /// An entry of a directory listing, and whether it may be a directory (`DT_UNKNOWN`
    /// counts: opening it with `O_DIRECTORY` settles the question).
    struct Entry {
        name: CString,
        maybe_dir: bool,
    }

    fn list(dir: &mut Dir) -> (Vec<Entry>, Option<io::Error>) {
        let mut entries = Vec::new();
        while let Some(next) = dir.read() {
            match next {
                Ok(entry) => {
                    let name = entry.file_name();
                    let bytes = name.to_bytes();
                    if bytes == b"." || bytes == b".." {
                        continue;
                    }
                    let kind = entry.file_type();
                    entries.push(Entry {
                        name: name.to_owned(),
                        maybe_dir: kind == FileType::Directory || kind == FileType::Unknown,
                    });
                }
                Err(err) => return (entries, Some(err.into())),
            }
        }
        (entries, None)
    }

    /// Where failures and counts go; one per walker, merged at the end.
    struct Sink<'a> {
        failures: Vec<RemoveFailure>,
        stats: RemoveStats,
        stop: &'a AtomicBool,
        continue_on_error: bool,
        deadline: Option<std::time::Instant>,
    }

    impl Sink<'_> {
        fn fail(&mut self, path: PathBuf, error: io::Error) {
            self.failures.push(RemoveFailure { path, error });
            if !self.continue_on_error {
                self.stop.store(true, Ordering::Relaxed);
            }
        }

        fn stopped(&self) -> bool {
            if self.stop.load(Ordering::Relaxed) {
                return true;
            }
            let late = self
                .deadline
                .is_some_and(|d| std::time::Instant::now() >= d);
            if late {
                self.stop.store(true, Ordering::Relaxed);
            }
            late
        }

        /// Adds `u+rwx` to the directory behind `fd` if it lacks any of them. Returns
        /// whether the mode changed.
        fn make_owner_rwx(
            &mut self,
            fd: BorrowedFd<'_>,
            st: Option<&rfs::Stat>,
        ) -> io::Result<bool> {
            let mode = match st {
                Some(st) => mode_of(st),
                None => mode_of(&rfs::fstat(fd)?),
            };
            if mode.contains(Mode::RWXU) {
                return Ok(false);
            }
            rfs::fchmod(fd, mode | Mode::RWXU)?;
            self.stats.permissions_fixed += 1;
            Ok(true)
        }

        /// `unlinkat`, retried once after making the parent writable when that is allowed
        /// (`may_fix`, cleared on use) and the parent lacked `u+rwx`.
        fn unlink_at(
            &mut self,
            parent: BorrowedFd<'_>,
            name: &CStr,
            flags: AtFlags,
            may_fix: &mut bool,
        ) -> Result<(), Errno> {
            match rfs::unlinkat(parent, name, flags) {
                Err(err @ (Errno::ACCESS | Errno::PERM)) if *may_fix => {
                    *may_fix = false;
                    match self.make_owner_rwx(parent, None) {
                        Ok(true) => rfs::unlinkat(parent, name, flags),
                        _ => Err(err),
                    }
                }
                other => other,
            }
        }
    }

    /// Opens `name` in `parent` as a directory without following a symlink. On Linux a
    /// directory we may not read is given `u+rwx` first, through an `O_PATH` descriptor.
    fn open_dir(
        sink: &mut Sink<'_>,
        parent: BorrowedFd<'_>,
        name: &CStr,
    ) -> Result<OwnedFd, Errno> {
        match rfs::openat(parent, name, DIR_FLAGS, Mode::empty()) {
            #[cfg(target_os = "linux")]
            Err(Errno::ACCESS) => open_unreadable_dir(sink, parent, name),
            other => {
                let _ = sink;
                other
            }
        }
    }

    #[cfg(target_os = "linux")]
    fn open_unreadable_dir(
        sink: &mut Sink<'_>,
        parent: BorrowedFd<'_>,
        name: &CStr,
    ) -> Result<OwnedFd, Errno> {
        use std::os::fd::AsRawFd;
        let path_flags = OFlags::PATH | OFlags::NOFOLLOW | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let handle = rfs::openat(parent, name, path_flags, Mode::empty())?;
        let st = rfs::fstat(&handle)?;
        // The magic link names exactly the inode `handle` was opened on; following it cannot
        // be redirected by a rename or a symlink planted since.
        let magic = format!("/proc/self/fd/{}", handle.as_raw_fd());
        rfs::chmod(magic.as_str(), mode_of(&st) | Mode::RWXU).map_err(|_| Errno::ACCESS)?;
        sink.stats.permissions_fixed += 1;
        let fd = rfs::openat(parent, name, DIR_FLAGS, Mode::empty())?;
        if FileId::from_stat(&rfs::fstat(&fd)?) != FileId::from_stat(&st) {
            return Err(Errno::STALE);
        }
        Ok(fd)
    }

    struct Frame {
        name: CString,
        /// What the directory must still be when it is re-opened by name.
        id: FileId,
        dir: Option<Dir>,
        /// Subdirectories (or maybe-directories) still to remove.
        pending: Vec<CString>,
        /// Whether an `EACCES` on unlink may still be answered with an `fchmod`.
        may_fix: bool,
    }

    /// Removes subtrees of one base directory serially, holding a bounded number of
    /// descriptors (see the module documentation).
    struct Walker<'a> {
        base: BorrowedFd<'a>,
        base_path: &'a Path,
        base_may_fix: bool,
        stack: Vec<Frame>,
        /// Indices of held anchors, ascending.
        anchors: VecDeque<usize>,
        sink: Sink<'a>,
        fence: Fence,
    }

    /// The descriptor of the parent of frame `depth` (`base` for depth 0), which must be open.
    fn parent_fd<'f>(
        base: BorrowedFd<'f>,
        stack: &'f [Frame],
        depth: usize,
    ) -> io::Result<BorrowedFd<'f>> {
        if depth == 0 {
            return Ok(base);
        }
        match &stack[depth - 1].dir {
            Some(dir) => dir_fd(dir),
            None => Err(io::Error::other("internal: parent directory not open")),
        }
    }

    fn path_of(base: &Path, stack: &[Frame], depth: usize, name: Option<&CStr>) -> PathBuf {
        let mut path = base.to_path_buf();
        for frame in &stack[..depth] {
            path.push(OsStr::from_bytes(frame.name.to_bytes()));
        }
        if let Some(name) = name {
            path.push(OsStr::from_bytes(name.to_bytes()));
        }
        path
    }

    impl<'a> Walker<'a> {
        fn new(
            base: BorrowedFd<'a>,
            base_path: &'a Path,
            fence: Fence,
            stop: &'a AtomicBool,
            continue_on_error: bool,
            deadline: Option<std::time::Instant>,
        ) -> Self {
            Self {
                base,
                base_path,
                fence,
                base_may_fix: true,
                stack: Vec::new(),
                anchors: VecDeque::new(),
                sink: Sink {
                    failures: Vec::new(),
                    stats: RemoveStats::default(),
                    stop,
                    continue_on_error,
                    deadline,
                },
            }
        }

        /// Removes the entry `name` of the base directory, whatever it is now.
        fn remove_entry(&mut self, name: &CStr, maybe_dir: bool) {
            if maybe_dir {
                self.remove_subtree(name.to_owned());
                return;
            }
            let mut may_fix = self.base_may_fix;
            let result = self
                .sink
                .unlink_at(self.base, name, AtFlags::empty(), &mut may_fix);
            self.base_may_fix = may_fix;
            match result {
                Ok(()) => self.sink.stats.files += 1,
                Err(Errno::NOENT) => {}
                // Listed as a non-directory but a directory now: remove it as one.
                Err(Errno::ISDIR) => self.remove_subtree(name.to_owned()),
                Err(err) => {
                    let path = path_of(self.base_path, &[], 0, Some(name));
                    self.sink.fail(path, err.into());
                }
            }
        }

        fn remove_subtree(&mut self, name: CString) {
            self.enter(name);
            while let Some(top) = self.stack.len().checked_sub(1) {
                if self.sink.stopped() {
                    self.stack.clear();
                    self.anchors.clear();
                    return;
                }
                if let Some(child) = self.stack[top].pending.pop() {
                    if self.ensure_open(top) {
                        self.enter(child);
                    }
                } else {
                    self.leave();
                }
            }
        }

        /// Opens `name` (a child of the top frame, or of the base) and pushes it, unlinking
        /// its non-directories; a `name` that is no longer a directory is unlinked instead.
        fn enter(&mut self, name: CString) {
            let depth = self.stack.len();
            let opened = match parent_fd(self.base, &self.stack, depth) {
                Ok(parent) => open_dir(&mut self.sink, parent, &name).map_err(io::Error::from),
                Err(err) => Err(err),
            };
            let fd = match opened {
                Ok(fd) => fd,
                Err(err) => {
                    match rustix::io::Errno::from_io_error(&err) {
                        Some(Errno::NOENT) => {}
                        // Not a directory (any more): a symlink, or a file swapped in. Unlink
                        // the entry itself; O_NOFOLLOW guaranteed nothing was followed.
                        Some(Errno::NOTDIR | Errno::LOOP) => self.unlink_non_dir(depth, &name),
                        _ => {
                            let path = path_of(self.base_path, &self.stack, depth, Some(&name));
                            self.sink.fail(path, err);
                        }
                    }
                    return;
                }
            };
            let path_here = |w: &Self| path_of(w.base_path, &w.stack, depth, Some(&name));
            let st = match rfs::fstat(&fd) {
                Ok(st) => st,
                Err(err) => {
                    let path = path_here(self);
                    self.sink.fail(path, err.into());
                    return;
                }
            };
            if self.fence.crossed_by(fd.as_fd(), &st) {
                let path = path_here(self);
                self.sink.fail(path, mount_point_error());
                return;
            }
            let mut may_fix = true;
            match self.sink.make_owner_rwx(fd.as_fd(), Some(&st)) {
                Ok(changed) => may_fix = !changed,
                Err(err) => {
                    let path = path_here(self);
                    self.sink.fail(path, err);
                }
            }
            let mut dir = match Dir::new(fd) {
                Ok(dir) => dir,
                Err(err) => {
                    let path = path_here(self);
                    self.sink.fail(path, err.into());
                    return;
                }
            };
            let (entries, read_error) = list(&mut dir);
            if let Some(err) = read_error {
                let path = path_here(self);
                self.sink.fail(path, err);
            }
            self.stack.push(Frame {
                name,
                id: FileId::from_stat(&st),
                dir: Some(dir),
                pending: Vec::new(),
                may_fix,
            });
            self.release_beyond_window();
            for entry in entries {
                if self.sink.stopped() {
                    return;
                }
                if entry.maybe_dir {
                    self.stack[depth].pending.push(entry.name);
                } else {
                    self.unlink_in_top(entry.name);
                }
            }
        }

        /// Unlinks the non-directory `name` in the top frame; a directory found there instead
        /// is queued for removal.
        fn unlink_in_top(&mut self, name: CString) {
            let depth = self.stack.len() - 1;
            let Self { stack, sink, .. } = &mut *self;
            let frame = &mut stack[depth];
            let result = match frame.dir.as_ref().map(dir_fd) {
                Some(Ok(fd)) => sink.unlink_at(fd, &name, AtFlags::empty(), &mut frame.may_fix),
                _ => Err(Errno::BADF),
            };
            match result {
                Ok(()) => sink.stats.files += 1,
                Err(Errno::NOENT) => {}
                Err(Errno::ISDIR) => frame.pending.push(name),
                Err(err) => {
                    let path = path_of(self.base_path, &self.stack, depth + 1, Some(&name));
                    self.sink.fail(path, err.into());
                }
            }
        }

        /// Unlinks `name`, a non-directory child of frame `depth - 1` (or of the base).
        fn unlink_non_dir(&mut self, depth: usize, name: &CStr) {
            let result = if depth == 0 {
                let mut may_fix = self.base_may_fix;
                let result = self
                    .sink
                    .unlink_at(self.base, name, AtFlags::empty(), &mut may_fix);
                self.base_may_fix = may_fix;
                result
            } else {
                let Self { stack, sink, .. } = &mut *self;
                let frame = &mut stack[depth - 1];
                match frame.dir.as_ref().map(dir_fd) {
                    Some(Ok(fd)) => sink.unlink_at(fd, name, AtFlags::empty(), &mut frame.may_fix),
                    _ => Err(Errno::BADF),
                }
            };
            match result {
                Ok(()) => self.sink.stats.files += 1,
                Err(Errno::NOENT) => {}
                Err(err) => {
                    let path = path_of(self.base_path, &self.stack, depth, Some(name));
                    self.sink.fail(path, err.into());
                }
            }
        }

        /// Closes the descriptor of the level that just left the window, unless it is an
        /// anchor; closes the shallowest anchor when there are too many.
        fn release_beyond_window(&mut self) {
            let Some(old) = self.stack.len().checked_sub(WINDOW + 1) else {
                return;
            };
            if old % ANCHOR_STRIDE == 0 && self.stack[old].dir.is_some() {
                if self.anchors.back() != Some(&old) {
                    self.push_anchor(old);
                }
            } else {
                self.stack[old].dir = None;
            }
        }

        fn push_anchor(&mut self, index: usize) {
            self.anchors.push_back(index);
            if self.anchors.len() > MAX_ANCHORS {
                if let Some(evicted) = self.anchors.pop_front() {
                    self.stack[evicted].dir = None;
                }
            }
        }

        /// Makes sure frame `top` (the top of the stack) has an open descriptor, re-opening
        /// it from the nearest held ancestor by name, each level checked against its recorded
        /// identity. On failure the unreachable frames are abandoned (reported) and `false`
        /// is returned.
        fn ensure_open(&mut self, top: usize) -> bool {
            if self.stack[top].dir.is_some() {
                return true;
            }
            let mut first = top;
            while first > 0 && self.stack[first - 1].dir.is_none() {
                first -= 1;
            }
            let mut carry: Option<OwnedFd> = None;
            for j in first..=top {
                let opened = {
                    let (below, _) = self.stack.split_at(j);
                    let parent = match &carry {
                        Some(fd) => Ok(fd.as_fd()),
                        None if j == 0 => Ok(self.base),
                        None => match below[j - 1].dir.as_ref() {
                            Some(dir) => dir_fd(dir),
                            None => Err(io::Error::other("internal: ancestor not open")),
                        },
                    };
                    parent.and_then(|parent| {
                        let fd = rfs::openat(
                            parent,
                            self.stack[j].name.as_c_str(),
                            DIR_FLAGS,
                            Mode::empty(),
                        )?;
                        if FileId::from_stat(&rfs::fstat(&fd)?) == self.stack[j].id {
                            Ok(fd)
                        } else {
                            Err(changed_error())
                        }
                    })
                };
                let fd = match opened {
                    Ok(fd) => fd,
                    Err(err) => {
                        let path = path_of(self.base_path, &self.stack, j + 1, None);
                        self.sink.fail(path, err);
                        self.stack.truncate(j);
                        while self.anchors.back().is_some_and(|&a| a >= j) {
                            self.anchors.pop_back();
                        }
                        return false;
                    }
                };
                let in_window = j + WINDOW > top;
                let anchor = !in_window && j % ANCHOR_STRIDE == 0;
                if in_window || anchor {
                    match Dir::new(fd) {
                        Ok(dir) => self.stack[j].dir = Some(dir),
                        Err(err) => {
                            let path = path_of(self.base_path, &self.stack, j + 1, None);
                            self.sink.fail(path, err.into());
                            self.stack.truncate(j);
                            return false;
                        }
                    }
                    carry = None;
                    if anchor {
                        self.push_anchor(j);
                    }
                } else {
                    carry = Some(fd);
                }
            }
            true
        }

        /// Removes the (empty) top frame's directory from its parent.
        fn leave(&mut self) {
            let Some(frame) = self.stack.pop() else {
                return;
            };
            let depth = self.stack.len();
            if self.anchors.back() == Some(&depth) {
                self.anchors.pop_back();
            }
            drop(frame.dir);
            if depth > 0 && !self.ensure_open(depth - 1) {
                return;
            }
            let result = if depth == 0 {
                let mut may_fix = self.base_may_fix;
                let result =
                    self.sink
                        .unlink_at(self.base, &frame.name, AtFlags::REMOVEDIR, &mut may_fix);
                self.base_may_fix = may_fix;
                result
            } else {
                let Self { stack, sink, .. } = &mut *self;
                let parent = &mut stack[depth - 1];
                match parent.dir.as_ref().map(dir_fd) {
                    Some(Ok(fd)) => {
                        sink.unlink_at(fd, &frame.name, AtFlags::REMOVEDIR, &mut parent.may_fix)
                    }
                    _ => Err(Errno::BADF),
                }
            };
            match result {
                Ok(()) => self.sink.stats.dirs += 1,
                Err(Errno::NOENT) => {}
                Err(err) => {
                    let path = path_of(self.base_path, &self.stack, depth, Some(&frame.name));
                    self.sink.fail(path, err.into());
                }
            }
        }
    }

    /// Splits `path` into the directory to open (following links: it is the caller's path)
    /// and the final name to open without following; `None` for paths such as `/` or `..`.
    fn split(path: &Path) -> Option<(&Path, CString)> {
        let name = path.file_name()?;
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        CString::new(name.as_bytes())
            .ok()
            .map(|name| (parent, name))
    }

    /// Entries removed by the calling thread before helper threads are worth their start-up
    /// cost (tens of microseconds each, more than a small tree takes to remove).
    const PARALLEL_AFTER: u64 = 64;

    /// Removes the root's `entries` (subdirectories first), on the calling thread and, once
    /// it has removed [`PARALLEL_AFTER`] entries with at least two subdirectories still
    /// unclaimed, on up to [`RemoveOptions::threads`]` - 1` helpers. Each walker claims the next entry through
    /// a shared counter, so every entry is removed by exactly one of them.
    fn remove_entries(
        root: BorrowedFd<'_>,
        fence: Fence,
        path: &Path,
        entries: &[Entry],
        subdirs: usize,
        stop: &AtomicBool,
        options: &RemoveOptions,
    ) -> Vec<(Vec<RemoveFailure>, RemoveStats)> {
        let next = AtomicUsize::new(0);
        let claim = || entries.get(next.fetch_add(1, Ordering::Relaxed));
        let helper = || {
            let mut walker = Walker::new(
                root,
                path,
                fence,
                stop,
                options.continue_on_error,
                options.deadline,
            );
            while let Some(entry) = claim().filter(|_| !walker.sink.stopped()) {
                walker.remove_entry(&entry.name, entry.maybe_dir);
            }
            (walker.sink.failures, walker.sink.stats)
        };
        std::thread::scope(|scope| {
            let mut walker = Walker::new(
                root,
                path,
                fence,
                stop,
                options.continue_on_error,
                options.deadline,
            );
            let mut handles = Vec::new();
            let mut may_spawn = true;
            while let Some(entry) = claim().filter(|_| !walker.sink.stopped()) {
                walker.remove_entry(&entry.name, entry.maybe_dir);
                let done = walker.sink.stats.files + walker.sink.stats.dirs;
                let unclaimed_dirs = subdirs.saturating_sub(next.load(Ordering::Relaxed));
                if may_spawn && done >= PARALLEL_AFTER && unclaimed_dirs >= 2 {
                    may_spawn = false;
                    let threads = options.thread_count();
                    // Too few threads is no failure: the calling thread does the rest.
                    handles.extend((1..threads.min(unclaimed_dirs + 1)).filter_map(|_| {
                        std::thread::Builder::new().spawn_scoped(scope, helper).ok()
                    }));
                }
            }
            let mut results = vec![(walker.sink.failures, walker.sink.stats)];
            for handle in handles {
                results.push(handle.join().unwrap_or_else(|_| {
                    let error = io::Error::other("a removal thread panicked");
                    let path = path.to_path_buf();
                    (vec![RemoveFailure { path, error }], RemoveStats::default())
                }));
            }
            results
        })
    }

    /// Linux reports `O_NOFOLLOW|O_DIRECTORY` on a symlink as `ENOTDIR`; a symlinked root
    /// is reported as `ELOOP` instead, the errno `O_NOFOLLOW` is documented to give, so
    /// callers can tell it from a regular file.
    fn root_open_error(
        parent: Option<&OwnedFd>,
        split: Option<&(&Path, CString)>,
        err: Errno,
    ) -> io::Error {
        if err == Errno::NOTDIR {
            if let (Some(parent), Some((_, name))) = (parent, split) {
                let is_link = rfs::statat(parent, name.as_c_str(), AtFlags::SYMLINK_NOFOLLOW)
                    .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Symlink);
                if is_link {
                    return Errno::LOOP.into();
                }
            }
        }
        err.into()
    }

    pub(super) fn remove_tree(
        path: &Path,
        options: &RemoveOptions,
    ) -> Result<RemoveStats, RemoveError> {
        remove_tree_impl(path, options, None)
    }

    pub(super) fn remove_tree_observed(
        path: &Path,
        options: &RemoveOptions,
        order: StepOrder,
        observer: &mut dyn FnMut(Step<'_>) -> bool,
    ) -> Result<RemoveStats, RemoveError> {
        remove_tree_impl(path, options, Some((order, observer)))
    }

    /// What an observed removal reports each step to.
    type Observer<'o> = dyn FnMut(Step<'_>) -> bool + 'o;

    fn stopped_error() -> io::Error {
        io::Error::new(
            io::ErrorKind::Interrupted,
            "removal stopped before this step by its observer",
        )
    }

    #[allow(clippy::cast_possible_wrap)] // the flags are small positive bits
    fn dir_flags_raw() -> i32 {
        DIR_FLAGS.bits() as i32
    }

    /// The observed walk (see [`super::remove_tree_observed`]): removes what is in the
    /// directory open as `dir` (reached as `path`), recursively, announcing each step.
    /// Returns `false` once the observer has stopped it.
    fn remove_contents_observed(
        sink: &mut Sink<'_>,
        fence: Fence,
        dir: &mut Dir,
        path: &Path,
        order: StepOrder,
        observer: &mut dyn FnMut(Step<'_>) -> bool,
    ) -> bool {
        let Ok(fd) = dir_fd(dir).map(|fd| fd.as_raw_fd()) else {
            return true;
        };
        if !observer(Step::List { fd }) {
            return false;
        }
        let (entries, read_error) = list(dir);
        if let Some(err) = read_error {
            sink.fail(path.to_path_buf(), err);
        }
        let Ok(parent) = dir_fd(dir) else {
            return true;
        };
        let mut later = Vec::new();
        for entry in entries {
            if sink.stopped() {
                return true;
            }
            let name = OsStr::from_bytes(entry.name.to_bytes());
            let mut is_dir = entry.maybe_dir;
            if !is_dir {
                if !observer(Step::Unlink { dir: fd, name }) {
                    return false;
                }
                let mut may_fix = true;
                match sink.unlink_at(parent, &entry.name, AtFlags::empty(), &mut may_fix) {
                    Ok(()) => sink.stats.files += 1,
                    Err(Errno::NOENT) => {}
                    Err(Errno::ISDIR) => is_dir = true,
                    Err(err) => sink.fail(path.join(name), err.into()),
                }
            }
            if is_dir {
                if order == StepOrder::FilesThenDirsLastFirst {
                    later.push(entry.name);
                } else if !remove_dir_observed(
                    sink,
                    fence,
                    parent,
                    &entry.name,
                    path,
                    order,
                    observer,
                ) {
                    return false;
                }
            }
        }
        for name in later.iter().rev() {
            if sink.stopped() {
                return true;
            }
            if !remove_dir_observed(sink, fence, parent, name, path, order, observer) {
                return false;
            }
        }
        true
    }

    /// Removes the subdirectory `name` of `parent` (reached as `parent_path`), observed.
    fn remove_dir_observed(
        sink: &mut Sink<'_>,
        fence: Fence,
        parent: BorrowedFd<'_>,
        name: &CStr,
        parent_path: &Path,
        order: StepOrder,
        observer: &mut dyn FnMut(Step<'_>) -> bool,
    ) -> bool {
        let os_name = OsStr::from_bytes(name.to_bytes());
        let path = parent_path.join(os_name);
        let dir = parent.as_raw_fd();
        let flags = dir_flags_raw();
        if !observer(Step::Open {
            dir: Some(dir),
            name: os_name,
            flags,
        }) {
            return false;
        }
        let fd = match open_dir(sink, parent, name) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return true,
            Err(Errno::NOTDIR | Errno::LOOP) => {
                // Not a directory (any more): unlinked as the entry it now is.
                if !observer(Step::Unlink { dir, name: os_name }) {
                    return false;
                }
                let mut may_fix = true;
                match sink.unlink_at(parent, name, AtFlags::empty(), &mut may_fix) {
                    Ok(()) => sink.stats.files += 1,
                    Err(Errno::NOENT) => {}
                    Err(err) => sink.fail(path, err.into()),
                }
                return true;
            }
            Err(err) => {
                sink.fail(path, err.into());
                return true;
            }
        };
        let st = match rfs::fstat(&fd) {
            Ok(st) => st,
            Err(err) => {
                sink.fail(path, err.into());
                return true;
            }
        };
        if fence.crossed_by(fd.as_fd(), &st) {
            sink.fail(path, mount_point_error());
            return true;
        }
        if let Err(err) = sink.make_owner_rwx(fd.as_fd(), Some(&st)) {
            sink.fail(path.clone(), err);
        }
        let mut child = match Dir::new(fd) {
            Ok(child) => child,
            Err(err) => {
                sink.fail(path, err.into());
                return true;
            }
        };
        if !remove_contents_observed(sink, fence, &mut child, &path, order, observer) {
            return false;
        }
        drop(child);
        if sink.stopped() {
            return true;
        }
        if !observer(Step::Rmdir {
            dir: Some(dir),
            name: os_name,
        }) {
            return false;
        }
        let mut may_fix = true;
        match sink.unlink_at(parent, name, AtFlags::REMOVEDIR, &mut may_fix) {
            Ok(()) => sink.stats.dirs += 1,
            Err(Errno::NOENT) => {}
            Err(err) => sink.fail(path, err.into()),
        }
        true
    }

    /// The observed removal of the opened root (see [`super::remove_tree_observed`]): its
    /// contents, then the root itself through its parent.
    fn remove_root_observed(
        path: &Path,
        root_fd: OwnedFd,
        mut sink: Sink<'_>,
        fence: Fence,
        parent: Option<(&OwnedFd, &(&Path, CString))>,
        (order, observer): (StepOrder, &mut dyn FnMut(Step<'_>) -> bool),
    ) -> Result<RemoveStats, RemoveError> {
        let mut stopped = false;
        match Dir::new(root_fd) {
            Ok(mut root) => {
                stopped =
                    !remove_contents_observed(&mut sink, fence, &mut root, path, order, observer);
            }
            Err(err) => sink.fail(path.to_path_buf(), err.into()),
        }
        sink.stats.threads = 1;
        if !stopped && !sink.stopped() {
            if observer(Step::Rmdir {
                dir: None,
                name: path.as_os_str(),
            }) {
                let removed = match parent {
                    Some((parent, (_, name))) => {
                        rfs::unlinkat(parent, name.as_c_str(), AtFlags::REMOVEDIR)
                    }
                    None => rfs::unlinkat(CWD, path, AtFlags::REMOVEDIR),
                };
                match removed {
                    Ok(()) => sink.stats.dirs += 1,
                    Err(Errno::NOENT) => {}
                    Err(err) => sink.failures.push(RemoveFailure {
                        path: path.to_path_buf(),
                        error: err.into(),
                    }),
                }
            } else {
                stopped = true;
            }
        }
        if stopped {
            sink.failures.push(RemoveFailure {
                path: path.to_path_buf(),
                error: stopped_error(),
            });
        }
        if sink.failures.is_empty() {
            Ok(sink.stats)
        } else {
            Err(RemoveError {
                failures: sink.failures,
                stats: sink.stats,
            })
        }
    }

    #[allow(clippy::too_many_lines)] // the root's steps, in the order they must happen
    fn remove_tree_impl(
        path: &Path,
        options: &RemoveOptions,
        mut observed: Option<(StepOrder, &mut Observer<'_>)>,
    ) -> Result<RemoveStats, RemoveError> {
        let single = |err: io::Error| RemoveError::single(path, err);
        if let Some((_, observer)) = observed.as_mut() {
            let flags = dir_flags_raw();
            if !observer(Step::Open {
                dir: None,
                name: path.as_os_str(),
                flags,
            }) {
                return Err(single(stopped_error()));
            }
        }
        let split = split(path);
        let parent_fd = match &split {
            Some((parent, _)) => {
                let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
                Some(
                    rfs::openat(CWD, *parent, flags, Mode::empty())
                        .map_err(|e| single(e.into()))?,
                )
            }
            None => None,
        };
        let stop = AtomicBool::new(false);
        let mut root_sink = Sink {
            failures: Vec::new(),
            stats: RemoveStats::default(),
            stop: &stop,
            continue_on_error: options.continue_on_error,
            deadline: options.deadline,
        };
        let opened = match (&parent_fd, &split) {
            (Some(parent), Some((_, name))) => open_dir(&mut root_sink, parent.as_fd(), name),
            _ => match CString::new(path.as_os_str().as_bytes()) {
                Ok(whole) => open_dir(&mut root_sink, CWD, &whole),
                Err(_) => Err(Errno::INVAL),
            },
        };
        let root_fd = opened
            .map_err(|err| single(root_open_error(parent_fd.as_ref(), split.as_ref(), err)))?;
        let root_st = rfs::fstat(&root_fd).map_err(|e| single(e.into()))?;
        if let Some(expected) = options.expected_root {
            if FileId::from_stat(&root_st) != expected {
                match options.replaced_root_owner {
                    Some(uid) if root_st.st_uid == uid => {}
                    Some(_) => return Err(single(Errno::PERM.into())),
                    None => return Err(single(io::Error::other(
                        "not the directory expected (its path now leads elsewhere); left in place",
                    ))),
                }
            }
        }
        let fence = Fence::of(root_fd.as_fd(), &root_st);
        // A root mounted over (a bind mount or another filesystem at the path) is not ours.
        if let Some(parent) = &parent_fd {
            let parent_st = rfs::fstat(parent).map_err(|e| single(e.into()))?;
            if !Fence::of(parent.as_fd(), &parent_st).same_mount(fence) {
                return Err(single(mount_point_error()));
            }
        }
        // The root is the tree's own: it gets the same fix as any directory inside.
        if let Err(err) = root_sink.make_owner_rwx(root_fd.as_fd(), None) {
            root_sink.fail(path.to_path_buf(), err);
        }
        if let Some((order, observer)) = observed.as_mut() {
            return remove_root_observed(
                path,
                root_fd,
                root_sink,
                fence,
                parent_fd.as_ref().zip(split.as_ref()),
                (*order, &mut **observer),
            );
        }
        let mut root_dir = Dir::new(root_fd).map_err(|e| single(e.into()))?;
        let (mut entries, read_error) = list(&mut root_dir);
        if let Some(err) = read_error {
            root_sink.fail(path.to_path_buf(), err);
        }
        let root = dir_fd(&root_dir).map_err(single)?;

        // Subtrees first, so the largest pieces of work start early.
        entries.sort_by_key(|e| !e.maybe_dir);
        let subdirs = entries.iter().filter(|e| e.maybe_dir).count();
        let mut failures = root_sink.failures;
        let mut stats = root_sink.stats;
        let results = remove_entries(root, fence, path, &entries, subdirs, &stop, options);
        stats.threads = results.len();
        for (mut f, s) in results {
            failures.append(&mut f);
            stats.add(&s);
        }
        drop(root_dir);

        if options
            .deadline
            .is_some_and(|d| stop.load(Ordering::Relaxed) && std::time::Instant::now() >= d)
        {
            failures.push(RemoveFailure {
                path: path.to_path_buf(),
                error: io::Error::new(
                    io::ErrorKind::TimedOut,
                    "time limit reached; the rest of the tree is left in place",
                ),
            });
        } else if !stop.load(Ordering::Relaxed) {
            // The root's parent is outside the tree: its mode is never touched.
            let removed = match (&parent_fd, &split) {
                (Some(parent), Some((_, name))) => {
                    rfs::unlinkat(parent, name.as_c_str(), AtFlags::REMOVEDIR)
                }
                _ => rfs::unlinkat(CWD, path, AtFlags::REMOVEDIR),
            };
            match removed {
                Ok(()) => stats.dirs += 1,
                Err(Errno::NOENT) => {}
                Err(err) => failures.push(RemoveFailure {
                    path: path.to_path_buf(),
                    error: err.into(),
                }),
            }
        }
        if failures.is_empty() {
            Ok(stats)
        } else {
            Err(RemoveError { failures, stats })
        }
    }
}
