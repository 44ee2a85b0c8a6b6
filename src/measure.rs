//! How much disk a directory tree takes, counted as `du -B1 -s -x` counts it (but stopping at
//! every mount inside, bind mounts included: see below).
//!
//! [`measure_tree`] walks by file descriptor with the same machinery as
//! [`crate::remove_tree_nofollow`] (`openat` with `O_NOFOLLOW|O_DIRECTORY`, a bounded number
//! of open directories however deep the tree, each re-opened directory checked against the
//! identity seen on the way down): it never follows a symlink and never leaves the tree. It
//! changes nothing, and it is made for trees that other code is writing into while it runs:
//! an entry that vanishes (or is replaced) between the listing and its `stat` is skipped, not
//! reported. Other errors (a directory it may not read) stop the walk with an error naming
//! the path, as `du` reports them.
//!
//! What is counted:
//! - `bytes`: blocks allocated on disk (`st_blocks * 512`, what `du -B1` shows, so a sparse
//!   file counts what it occupies and a 1-byte file a whole block), the root directory
//!   included; a file with several hard links in the tree counts once.
//! - `files`: non-directories (regular files, symlinks, sockets, …) below the root, each
//!   hard-linked file once.
//! - `dirs`: directories below the root (the root itself is not counted).
//!
//! The walk stays on the root's mount, and is stricter than `du -x` there: a mount point
//! inside is neither entered nor counted, whether it is another filesystem (another device,
//! where `du -x` stops too) or a bind mount of the root's own filesystem (same device,
//! another mount id: `du -x` compares devices only and walks into it). Where no mount id can
//! be read (other systems than Linux), only devices are compared, as `du -x` does. A root
//! that is not a directory (or is a symlink, which is not followed) is measured as one file.
//!
//! Elsewhere than on Unix the walk uses the standard library (still without following
//! links) and `bytes` is the sum of file lengths, not of allocated blocks.

use std::io;
use std::path::Path;

/// What [`measure_tree`] found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TreeUsage {
    /// Bytes allocated on disk (`st_blocks * 512`), the root directory included, each
    /// hard-linked file once.
    pub bytes: u64,
    /// Non-directories below the root, each hard-linked file once.
    pub files: u64,
    /// Directories below the root (not counting the root).
    pub dirs: u64,
}

/// Measures the tree at `path` (see the [module docs](self) for what is counted). Entries
/// that vanish while the walk runs are skipped; any other error is returned with the path of
/// the entry it concerns.
///
/// # Errors
///
/// The root cannot be examined (it does not exist, a parent is not searchable, …), or an
/// entry inside cannot be listed or examined for another reason than having vanished.
pub fn measure_tree(path: &Path) -> io::Result<TreeUsage> {
    imp::measure_tree(path)
}

/// Measures the tree rooted at the open descriptor `fd` (a directory, or any other file,
/// measured as one), as [`measure_tree`] measures a path: for callers that checked what they
/// opened and must measure that very directory, not whatever its path leads to by then. `fd`
/// is only read (the directory is listed through a descriptor of its own). `path` only names
/// the root in errors (`path/sub/entry`); nothing is opened by it.
///
/// # Errors
///
/// As [`measure_tree`].
#[cfg(unix)]
pub fn measure_tree_at(fd: std::os::fd::BorrowedFd<'_>, path: &Path) -> io::Result<TreeUsage> {
    imp::measure_tree_at(fd, path)
}

#[cfg(unix)]
mod imp {
    use super::TreeUsage;
    use crate::error::raw_os_error;
    use crate::error::with_path;
    use crate::file_id::FileId;
    use crate::remove::helpers::{out_of_descriptors, share, Unit, Units};
    use crate::remove::levels::{Frame, Levels};
    use crate::remove::unix::{changed_error, dir_fd, list, Entry, Fence, DIR_FLAGS};
    use crate::remove::walk::available_threads;
    use rustix::fs::{self as rfs, AtFlags, Dir, FileType, Mode, Stat, CWD};
    use rustix::io::Errno;
    use std::collections::HashMap;
    use std::ffi::{CStr, CString, OsStr};
    use std::io;
    use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// Non-directories of the root taken as one unit of work.
    const FILES_PER_UNIT: usize = 256;
    /// Entries the calling thread examines before helper threads are worth starting (each
    /// costs tens of microseconds, about what 20 `stat`s cost).
    const PARALLEL_AFTER: u64 = 1024;

    #[allow(
        clippy::unnecessary_cast,
        clippy::cast_sign_loss,
        clippy::useless_conversion
    )]
    fn disk_bytes(st: &Stat) -> u64 {
        (st.st_blocks as u64).saturating_mul(512)
    }

    fn is_dir(st: &Stat) -> bool {
        FileType::from_raw_mode(st.st_mode) == FileType::Directory
    }

    /// An error that means the entry vanished or was replaced under the walk.
    fn vanished(err: &io::Error) -> bool {
        match Errno::from_io_error(err) {
            Some(errno) => matches!(errno, Errno::NOENT | Errno::NOTDIR | Errno::LOOP),
            // The identity check of a re-opened directory (`changed_error`).
            None => err.kind() == io::ErrorKind::Other,
        }
    }

    fn named(path: &Path, name: &CStr) -> std::path::PathBuf {
        path.join(OsStr::from_bytes(name.to_bytes()))
    }

    pub(super) fn measure_tree(path: &Path) -> io::Result<TreeUsage> {
        let root = match rfs::openat(CWD, path, DIR_FLAGS, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::NOTDIR | Errno::LOOP) => {
                let st = rfs::lstat(path).map_err(|e| with_path(e.into(), path))?;
                return Ok(one_file(&st));
            }
            Err(err) => return Err(with_path(err.into(), path)),
        };
        let root_st = rfs::fstat(&root).map_err(|e| with_path(e.into(), path))?;
        measure_root(root, &root_st, path)
    }

    pub(super) fn measure_tree_at(fd: BorrowedFd<'_>, path: &Path) -> io::Result<TreeUsage> {
        let st = rfs::fstat(fd).map_err(|e| with_path(e.into(), path))?;
        if !is_dir(&st) {
            return Ok(one_file(&st));
        }
        // A descriptor of its own to list: `fd`'s file offset is the caller's.
        let root = rfs::openat(fd, c".", DIR_FLAGS, Mode::empty())
            .map_err(|e| with_path(e.into(), path))?;
        let root_st = rfs::fstat(&root).map_err(|e| with_path(e.into(), path))?;
        if FileId::from_stat(&root_st) != FileId::from_stat(&st) {
            return Err(with_path(changed_error(), path));
        }
        measure_root(root, &root_st, path)
    }

    /// What a root that is not a directory counts: itself, as one file. A directory by now
    /// was swapped in meanwhile: only its own blocks count.
    fn one_file(st: &Stat) -> TreeUsage {
        TreeUsage {
            bytes: disk_bytes(st),
            files: u64::from(!is_dir(st)),
            dirs: 0,
        }
    }

    /// Measures the directory open as `root` (stat `root_st`), named `path` in errors.
    fn measure_root(root: OwnedFd, root_st: &Stat, path: &Path) -> io::Result<TreeUsage> {
        let fence = Fence::of(root.as_fd(), root_st);
        let mut root_dir = Dir::new(root).map_err(|e| with_path(e.into(), path))?;
        let (mut entries, read_error) = list(&mut root_dir);
        if let Some(err) = read_error {
            return Err(with_path(err, path));
        }
        let base = dir_fd(&root_dir).map_err(|e| with_path(e, path))?;
        // Units of work: each subdirectory, then the other entries in chunks.
        entries.sort_by_key(|e| !e.maybe_dir);
        let subdirs = entries.iter().filter(|e| e.maybe_dir).count();
        let (dirs, files) = entries.split_at(subdirs);
        let units: Vec<&[Entry]> = dirs.chunks(1).chain(files.chunks(FILES_PER_UNIT)).collect();
        let mut counts = measure_units(base, path, fence, &units)?;
        counts.usage.bytes += disk_bytes(root_st);
        Ok(counts.total())
    }

    /// Measures `units` (entries of the root), on the calling thread and, once it has
    /// examined [`PARALLEL_AFTER`] entries with at least two units unclaimed, on as many
    /// helper threads as the descriptor budget allows (see `remove::helpers`); each
    /// unit is measured to the end by exactly one walker (one that runs out of descriptors
    /// hands its unit back, its counts of it dropped). The first error stops them all.
    fn measure_units(
        base: BorrowedFd<'_>,
        path: &Path,
        fence: Fence,
        units: &[&[Entry]],
    ) -> io::Result<Counts> {
        let queue = Units::new(units.len());
        let stop = AtomicBool::new(false);
        let walk = |walk: &mut Measure<'_>, unit: usize, may_hand_back: bool| {
            if stop.load(Ordering::Relaxed) {
                return Unit::Stop;
            }
            walk.counts.start_unit();
            match walk.measure_unit(units[unit]) {
                Ok(()) => Unit::Done,
                Err(err) if may_hand_back && out_of_descriptors(raw_os_error(&err)) => {
                    walk.counts.undo_unit();
                    walk.levels.clear();
                    Unit::HandBack
                }
                Err(err) => {
                    stop.store(true, Ordering::Relaxed);
                    walk.failure = Some(err);
                    Unit::Stop
                }
            }
        };
        let helpers_wanted = |walk: &Measure<'_>| {
            let unclaimed = units.len() - queue.next_unclaimed();
            if walk.counts.examined >= PARALLEL_AFTER && unclaimed >= 2 {
                available_threads().min(unclaimed + 1).saturating_sub(1)
            } else {
                0
            }
        };
        let walk_unit = &walk;
        let helper = || {
            let own = reopen(base);
            let base = own.as_ref().map_or(base, AsFd::as_fd);
            let mut walk = Measure::new(base, path, fence);
            queue.run_helper(&mut walk, walk_unit);
            walk.into_result()
        };
        let mut mine = Measure::new(base, path, fence);
        let joined = share(&queue, &mut mine, walk_unit, helpers_wanted, helper);
        let mut result = mine.into_result();
        for theirs in joined {
            let theirs =
                theirs.unwrap_or_else(|_| Err(io::Error::other("a measuring thread panicked")));
            result = match (result, theirs) {
                (Ok(mut mine), Ok(theirs)) => {
                    mine.merge(theirs);
                    Ok(mine)
                }
                (Err(err), _) | (_, Err(err)) => Err(err),
            };
        }
        result
    }

    /// A descriptor of its own for a helper thread's walk of the root (`openat(root, ".")`,
    /// checked to be the same directory), or `None` to share the caller's. Threads that
    /// share one open file bounce its reference count between their cores at every
    /// `fstatat` relative to it (a multi-threaded process's descriptor lookups count
    /// references): measured, that made a flat directory's walk slower with two threads than
    /// with one.
    fn reopen(base: BorrowedFd<'_>) -> Option<std::os::fd::OwnedFd> {
        let own = rfs::openat(base, c".", DIR_FLAGS, Mode::empty()).ok()?;
        let same = |fd: BorrowedFd<'_>| rfs::fstat(fd).ok().map(|st| FileId::from_stat(&st));
        (same(own.as_fd())? == same(base)?).then_some(own)
    }

    /// What one walker counted; hard-linked files are kept apart (by identity, with their
    /// bytes) so that walkers' counts merge without counting a file twice.
    #[derive(Default)]
    struct Counts {
        usage: TreeUsage,
        linked: HashMap<FileId, u64>,
        /// Entries examined, for the decision to start helpers.
        examined: u64,
        /// The usage before the unit being measured, and the hard-linked files it added: what
        /// [`Counts::undo_unit`] takes back.
        unit_start: TreeUsage,
        unit_linked: Vec<FileId>,
    }

    impl Counts {
        fn start_unit(&mut self) {
            self.unit_start = self.usage;
            self.unit_linked.clear();
        }

        /// Forgets what the unit being measured counted (it is handed to another walker).
        fn undo_unit(&mut self) {
            self.usage = self.unit_start;
            for id in self.unit_linked.drain(..) {
                self.linked.remove(&id);
            }
        }

        fn count_file(&mut self, st: &Stat) {
            self.examined += 1;
            if st.st_nlink > 1 {
                let id = FileId::from_stat(st);
                if self.linked.insert(id, disk_bytes(st)).is_none() {
                    self.unit_linked.push(id);
                }
            } else {
                self.usage.files += 1;
                self.usage.bytes += disk_bytes(st);
            }
        }

        fn merge(&mut self, other: Counts) {
            self.usage.files += other.usage.files;
            self.usage.dirs += other.usage.dirs;
            self.usage.bytes += other.usage.bytes;
            self.linked.extend(other.linked);
        }

        fn total(&self) -> TreeUsage {
            let mut usage = self.usage;
            usage.files += self.linked.len() as u64;
            usage.bytes += self.linked.values().sum::<u64>();
            usage
        }

        /// Counts the non-directories among `entries` of the directory on `fd`, and puts its
        /// possible subdirectories in `subdirs`; an error comes with the entry's name.
        fn take_listing<'e>(
            &mut self,
            fd: BorrowedFd<'_>,
            entries: impl IntoIterator<Item = &'e Entry>,
            subdirs: &mut Vec<CString>,
        ) -> Result<(), (CString, io::Error)> {
            for entry in entries {
                if entry.maybe_dir {
                    subdirs.push(entry.name.clone());
                    continue;
                }
                match rfs::statat(fd, entry.name.as_c_str(), AtFlags::SYMLINK_NOFOLLOW) {
                    // Replaced by a directory since the listing.
                    Ok(st) if is_dir(&st) => subdirs.push(entry.name.clone()),
                    Ok(st) => self.count_file(&st),
                    Err(Errno::NOENT) => {}
                    Err(err) => return Err((entry.name.clone(), err.into())),
                }
            }
            Ok(())
        }
    }

    /// One walker: subtrees of the root, one at a time, within the descriptor budget.
    struct Measure<'a> {
        base_path: &'a Path,
        levels: Levels<'a, ()>,
        fence: Fence,
        counts: Counts,
        /// The error that stopped this walker.
        failure: Option<io::Error>,
    }

    impl<'a> Measure<'a> {
        fn new(base: BorrowedFd<'a>, base_path: &'a Path, fence: Fence) -> Self {
            Self {
                base_path,
                levels: Levels::new(base),
                fence,
                counts: Counts::default(),
                failure: None,
            }
        }

        fn into_result(self) -> io::Result<Counts> {
            match self.failure {
                Some(err) => Err(err),
                None => Ok(self.counts),
            }
        }

        fn error_at(&self, depth: usize, name: &CStr, err: io::Error) -> io::Error {
            with_path(err, self.levels.path_of(self.base_path, depth, Some(name)))
        }

        /// Measures some entries of the root: their files, and their subtrees.
        fn measure_unit(&mut self, unit: &[Entry]) -> io::Result<()> {
            let mut subdirs = Vec::new();
            if let Err((bad, err)) = self
                .counts
                .take_listing(self.levels.base, unit, &mut subdirs)
            {
                return Err(with_path(err, named(self.base_path, &bad)));
            }
            for name in subdirs {
                self.measure_subtree(name)?;
            }
            Ok(())
        }

        fn measure_subtree(&mut self, name: CString) -> io::Result<()> {
            self.enter(name)?;
            while let Some(top) = self.levels.stack.len().checked_sub(1) {
                let Some(child) = self.levels.stack[top].pending.pop() else {
                    self.levels.pop();
                    continue;
                };
                match self.levels.ensure_open(top, self.base_path) {
                    Ok(()) => self.enter(child)?,
                    // The branch was moved or removed under the walk: it is not here any more.
                    Err((_, err)) if vanished(&err) => {}
                    Err((path, err)) => return Err(with_path(err, path)),
                }
            }
            Ok(())
        }

        /// Opens the possible directory `name` (a child of the deepest level, or of the
        /// root), counts it and its non-directories, and pushes it with its subdirectories
        /// pending. What is not a directory after all is counted as a file.
        fn enter(&mut self, name: CString) -> io::Result<()> {
            let depth = self.levels.stack.len();
            let parent = self.levels.parent_fd(depth)?;
            let fd = match rfs::openat(parent, name.as_c_str(), DIR_FLAGS, Mode::empty()) {
                Ok(fd) => fd,
                Err(Errno::NOENT) => return Ok(()),
                Err(Errno::NOTDIR | Errno::LOOP) => {
                    return match rfs::statat(parent, name.as_c_str(), AtFlags::SYMLINK_NOFOLLOW) {
                        // A directory again: swapped twice under the walk; left uncounted.
                        Ok(st) if is_dir(&st) => Ok(()),
                        Ok(st) => {
                            self.counts.count_file(&st);
                            Ok(())
                        }
                        Err(Errno::NOENT) => Ok(()),
                        Err(err) => Err(self.error_at(depth, &name, err.into())),
                    };
                }
                Err(err) => return Err(self.error_at(depth, &name, err.into())),
            };
            let st = rfs::fstat(&fd).map_err(|e| self.error_at(depth, &name, e.into()))?;
            if self.fence.crossed_by(fd.as_fd(), &st) {
                return Ok(());
            }
            self.counts.examined += 1;
            self.counts.usage.dirs += 1;
            self.counts.usage.bytes += disk_bytes(&st);
            let mut dir = Dir::new(fd).map_err(|e| self.error_at(depth, &name, e.into()))?;
            let (entries, read_error) = list(&mut dir);
            if let Some(err) = read_error {
                return Err(self.error_at(depth, &name, err));
            }
            let mut pending = Vec::new();
            let listed = dir_fd(&dir).map_err(|e| self.error_at(depth, &name, e))?;
            if let Err((bad, err)) = self.counts.take_listing(listed, &entries, &mut pending) {
                let path = self.levels.path_of(self.base_path, depth, Some(&name));
                return Err(with_path(err, named(&path, &bad)));
            }
            self.levels.push(Frame {
                name,
                id: FileId::from_stat(&st),
                dir: Some(dir),
                pending,
                extra: (),
            });
            Ok(())
        }
    }
}

#[cfg(not(unix))]
mod imp {
    use super::TreeUsage;
    use crate::error::with_path;
    use std::io;
    use std::path::Path;

    pub(super) fn measure_tree(path: &Path) -> io::Result<TreeUsage> {
        let meta = std::fs::symlink_metadata(path).map_err(|e| with_path(e, path))?;
        let mut usage = TreeUsage {
            bytes: meta.len(),
            ..TreeUsage::default()
        };
        if !meta.is_dir() {
            usage.files = 1;
            return Ok(usage);
        }
        let mut stack = vec![path.to_path_buf()];
        while let Some(dir) = stack.pop() {
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
                Err(err) => return Err(with_path(err, dir)),
            };
            for entry in entries {
                let entry = entry.map_err(|e| with_path(e, &dir))?;
                let meta = match std::fs::symlink_metadata(entry.path()) {
                    Ok(meta) => meta,
                    Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
                    Err(err) => return Err(with_path(err, entry.path())),
                };
                usage.bytes += meta.len();
                if meta.is_dir() {
                    usage.dirs += 1;
                    stack.push(entry.path());
                } else {
                    usage.files += 1;
                }
            }
        }
        Ok(usage)
    }
}
