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

#[cfg(unix)]
mod imp {
    use super::TreeUsage;
    use crate::error::with_path;
    use crate::file_id::FileId;
    use crate::remove::levels::{Frame, Levels};
    use crate::remove::unix::{dir_fd, list, Entry, Fence, DIR_FLAGS};
    use rustix::fs::{self as rfs, AtFlags, Dir, FileType, Mode, Stat, CWD};
    use rustix::io::Errno;
    use std::collections::HashSet;
    use std::ffi::{CStr, CString, OsStr};
    use std::io;
    use std::os::fd::{AsFd, BorrowedFd};
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;

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

    pub(super) fn measure_tree(path: &Path) -> io::Result<TreeUsage> {
        let root = match rfs::openat(CWD, path, DIR_FLAGS, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::NOTDIR | Errno::LOOP) => {
                let st = rfs::lstat(path).map_err(|e| with_path(e.into(), path))?;
                return Ok(if is_dir(&st) {
                    // A directory again: it was swapped in meanwhile; its contents are not ours.
                    TreeUsage {
                        bytes: disk_bytes(&st),
                        ..TreeUsage::default()
                    }
                } else {
                    TreeUsage {
                        bytes: disk_bytes(&st),
                        files: 1,
                        dirs: 0,
                    }
                });
            }
            Err(err) => return Err(with_path(err.into(), path)),
        };
        let root_st = rfs::fstat(&root).map_err(|e| with_path(e.into(), path))?;
        let fence = Fence::of(root.as_fd(), &root_st);
        let mut root_dir = Dir::new(root).map_err(|e| with_path(e.into(), path))?;
        let (entries, read_error) = list(&mut root_dir);
        if let Some(err) = read_error {
            return Err(with_path(err, path));
        }
        let base = dir_fd(&root_dir).map_err(|e| with_path(e, path))?;
        let mut walk = Measure {
            base_path: path,
            levels: Levels::new(base),
            fence,
            counts: Counts {
                usage: TreeUsage {
                    bytes: disk_bytes(&root_st),
                    ..TreeUsage::default()
                },
                linked: HashSet::new(),
            },
        };
        let mut subdirs = Vec::new();
        if let Err((bad, err)) = walk.counts.take_listing(base, entries, &mut subdirs) {
            return Err(with_path(err, path.join(OsStr::from_bytes(bad.to_bytes()))));
        }
        for name in subdirs {
            walk.measure_subtree(name)?;
        }
        Ok(walk.counts.usage)
    }

    struct Measure<'a> {
        base_path: &'a Path,
        levels: Levels<'a, ()>,
        fence: Fence,
        counts: Counts,
    }

    struct Counts {
        usage: TreeUsage,
        /// Hard-linked files already counted.
        linked: HashSet<FileId>,
    }

    impl Counts {
        fn count_file(&mut self, st: &Stat) {
            if st.st_nlink > 1 && !self.linked.insert(FileId::from_stat(st)) {
                return;
            }
            self.usage.files += 1;
            self.usage.bytes += disk_bytes(st);
        }

        /// Counts the non-directories of a listing of the directory on `fd` and puts its
        /// possible subdirectories in `subdirs`; an error comes with the entry's name.
        fn take_listing(
            &mut self,
            fd: BorrowedFd<'_>,
            entries: Vec<Entry>,
            subdirs: &mut Vec<CString>,
        ) -> Result<(), (CString, io::Error)> {
            for entry in entries {
                if entry.maybe_dir {
                    subdirs.push(entry.name);
                    continue;
                }
                match rfs::statat(fd, entry.name.as_c_str(), AtFlags::SYMLINK_NOFOLLOW) {
                    // Replaced by a directory since the listing.
                    Ok(st) if is_dir(&st) => subdirs.push(entry.name),
                    Ok(st) => self.count_file(&st),
                    Err(Errno::NOENT) => {}
                    Err(err) => return Err((entry.name, err.into())),
                }
            }
            Ok(())
        }
    }

    impl Measure<'_> {
        fn error_at(&self, depth: usize, name: &CStr, err: io::Error) -> io::Error {
            with_path(err, self.levels.path_of(self.base_path, depth, Some(name)))
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
            self.counts.usage.dirs += 1;
            self.counts.usage.bytes += disk_bytes(&st);
            let mut dir = Dir::new(fd).map_err(|e| self.error_at(depth, &name, e.into()))?;
            let (entries, read_error) = list(&mut dir);
            if let Some(err) = read_error {
                return Err(self.error_at(depth, &name, err));
            }
            let mut pending = Vec::new();
            let listed = dir_fd(&dir).map_err(|e| self.error_at(depth, &name, e))?;
            if let Err((bad, err)) = self.counts.take_listing(listed, entries, &mut pending) {
                let path = self.levels.path_of(self.base_path, depth, Some(&name));
                return Err(with_path(err, path.join(OsStr::from_bytes(bad.to_bytes()))));
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
