//! How much disk a directory tree takes, counted as `du -B1 -s -x` counts it.
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
//! Like `du -x`, the walk stays on the root's mount: a mount point inside (another device,
//! or a bind mount: another mount id) is neither entered nor counted. A root that is not a
//! directory (or is a symlink, which is not followed) is measured as one file.
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

/// [`measure_tree`] of the directory `dir` is a descriptor of, whatever its path leads to
/// now (a directory renamed into its place is not measured); `path` only names it in errors.
///
/// # Errors
///
/// As [`measure_tree`].
#[cfg(unix)]
pub fn measure_tree_at(dir: std::os::fd::BorrowedFd<'_>, path: &Path) -> io::Result<TreeUsage> {
    imp::measure_tree_at(dir, path)
}

#[cfg(unix)]
mod imp {
    use super::TreeUsage;
    use crate::error::with_path;
    use crate::file_id::FileId;
    use crate::remove::levels::{Frame, Levels};
    use crate::remove::unix::{dir_fd, list, Entry, Fence, DIR_FLAGS};
    use crate::remove::walk::available_threads;
    use rustix::fs::{self as rfs, AtFlags, Dir, FileType, Mode, Stat, CWD};
    use rustix::io::Errno;
    use std::collections::HashMap;
    use std::ffi::{CStr, CString, OsStr};
    use std::io;
    use std::os::fd::{AsFd, BorrowedFd};
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

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
                // A directory by now was swapped in meanwhile: only its own blocks count.
                let files = u64::from(!is_dir(&st));
                return Ok(TreeUsage {
                    bytes: disk_bytes(&st),
                    files,
                    dirs: 0,
                });
            }
            Err(err) => return Err(with_path(err.into(), path)),
        };
        let root_st = rfs::fstat(&root).map_err(|e| with_path(e.into(), path))?;
        let fence = Fence::of(root.as_fd(), &root_st);
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
        counts.usage.bytes += disk_bytes(&root_st);
        Ok(counts.total())
    }

    /// [`measure_tree`] from a descriptor of the root: a fresh one opened on it (its own
    /// listing offset), then the same walk.
    pub(super) fn measure_tree_at(dir: BorrowedFd<'_>, path: &Path) -> io::Result<TreeUsage> {
        let root = rfs::openat(dir, c".", DIR_FLAGS, Mode::empty())
            .map_err(|e| with_path(e.into(), path))?;
        let root_st = rfs::fstat(&root).map_err(|e| with_path(e.into(), path))?;
        let fence = Fence::of(root.as_fd(), &root_st);
        let mut root_dir = Dir::new(root).map_err(|e| with_path(e.into(), path))?;
        let (mut entries, read_error) = list(&mut root_dir);
        if let Some(err) = read_error {
            return Err(with_path(err, path));
        }
        let base = dir_fd(&root_dir).map_err(|e| with_path(e, path))?;
        entries.sort_by_key(|e| !e.maybe_dir);
        let subdirs = entries.iter().filter(|e| e.maybe_dir).count();
        let (dirs, files) = entries.split_at(subdirs);
        let units: Vec<&[Entry]> = dirs.chunks(1).chain(files.chunks(FILES_PER_UNIT)).collect();
        let mut counts = measure_units(base, path, fence, &units)?;
        counts.usage.bytes += disk_bytes(&root_st);
        Ok(counts.total())
    }

    /// Measures `units` (entries of the root), on the calling thread and, once it has
    /// examined [`PARALLEL_AFTER`] entries with at least two units unclaimed, on helper
    /// threads; each unit is claimed by exactly one walker. The first error stops them all.
    fn measure_units(
        base: BorrowedFd<'_>,
        path: &Path,
        fence: Fence,
        units: &[&[Entry]],
    ) -> io::Result<Counts> {
        let next = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        let run = |walk: &mut Measure<'_>, spawn: &mut dyn FnMut(usize)| -> io::Result<()> {
            while let Some(unit) = units.get(next.fetch_add(1, Ordering::Relaxed)) {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                if let Err(err) = walk.measure_unit(unit) {
                    stop.store(true, Ordering::Relaxed);
                    return Err(err);
                }
                let unclaimed = units.len().saturating_sub(next.load(Ordering::Relaxed));
                if walk.counts.examined >= PARALLEL_AFTER && unclaimed >= 2 {
                    spawn(unclaimed);
                }
            }
            Ok(())
        };
        std::thread::scope(|scope| {
            let mut walk = Measure::new(base, path, fence);
            let mut handles = Vec::new();
            let mut may_spawn = true;
            let mut spawn = |unclaimed: usize| {
                if !std::mem::replace(&mut may_spawn, false) {
                    return;
                }
                let helpers = available_threads().min(unclaimed + 1).saturating_sub(1);
                // Too few threads is no failure: the calling thread does the rest.
                handles.extend((0..helpers).filter_map(|_| {
                    std::thread::Builder::new()
                        .spawn_scoped(scope, || {
                            let own = reopen(base);
                            let base = own.as_ref().map_or(base, AsFd::as_fd);
                            let mut walk = Measure::new(base, path, fence);
                            run(&mut walk, &mut |_| {}).map(|()| walk.counts)
                        })
                        .ok()
                }));
            };
            let mut result = run(&mut walk, &mut spawn).map(|()| walk.counts);
            for handle in handles {
                let joined = handle
                    .join()
                    .unwrap_or_else(|_| Err(io::Error::other("a measuring thread panicked")));
                result = match (result, joined) {
                    (Ok(mut mine), Ok(theirs)) => {
                        mine.merge(theirs);
                        Ok(mine)
                    }
                    (Err(err), _) | (_, Err(err)) => Err(err),
                };
            }
            result
        })
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
    }

    impl Counts {
        fn count_file(&mut self, st: &Stat) {
            self.examined += 1;
            if st.st_nlink > 1 {
                self.linked.insert(FileId::from_stat(st), disk_bytes(st));
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
    }

    impl<'a> Measure<'a> {
        fn new(base: BorrowedFd<'a>, base_path: &'a Path, fence: Fence) -> Self {
            Self {
                base_path,
                levels: Levels::new(base),
                fence,
                counts: Counts::default(),
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
