//! The bounded-descriptor walker (see the module docs of [`super`]): one serial walker per
//! thread, and the split of the root's entries between the calling thread and its helpers.

use super::helpers::{share, Unit, Units};
use super::levels::{Frame, Levels};
use super::unix::{dir_fd, list, mount_point_error, open_dir, Entry, Fence, Sink};
use super::{RemoveFailure, RemoveOptions, RemoveStats};
use crate::file_id::FileId;
use rustix::fs::{self as rfs, AtFlags, Dir};
use rustix::io::Errno;
use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;
use std::sync::atomic::AtomicBool;

/// Removes subtrees of one base directory serially, holding a bounded number of
/// descriptors (see the module documentation).
struct Walker<'a> {
    base_path: &'a Path,
    base_may_fix: bool,
    /// The levels entered; each keeps whether an `EACCES` on unlink may still be answered
    /// with an `fchmod`.
    levels: Levels<'a, bool>,
    sink: Sink<'a>,
    fence: Fence,
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
            base_path,
            fence,
            base_may_fix: true,
            levels: Levels::new(base),
            sink: Sink {
                failures: Vec::new(),
                stats: RemoveStats::default(),
                stop,
                continue_on_error,
                deadline,
                hand_back_when_out_of_descriptors: false,
                out_of_descriptors: false,
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
            .unlink_at(self.levels.base, name, AtFlags::empty(), &mut may_fix);
        self.base_may_fix = may_fix;
        match result {
            Ok(()) => self.sink.stats.files += 1,
            Err(Errno::NOENT) => {}
            // Listed as a non-directory but a directory now: remove it as one.
            Err(Errno::ISDIR) => self.remove_subtree(name.to_owned()),
            Err(err) => {
                let path = self.levels.path_of(self.base_path, 0, Some(name));
                self.sink.fail(path, err.into());
            }
        }
    }

    fn remove_subtree(&mut self, name: CString) {
        self.enter(name);
        while let Some(top) = self.levels.stack.len().checked_sub(1) {
            if self.sink.stopped() {
                self.levels.clear();
                return;
            }
            if let Some(child) = self.levels.stack[top].pending.pop() {
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
        let depth = self.levels.stack.len();
        let opened = match self.levels.parent_fd(depth) {
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
                        let path = self.levels.path_of(self.base_path, depth, Some(&name));
                        self.sink.fail(path, err);
                    }
                }
                return;
            }
        };
        let path_here = |w: &Self| w.levels.path_of(w.base_path, depth, Some(&name));
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
        self.levels.push(Frame {
            name,
            id: FileId::from_stat(&st),
            dir: Some(dir),
            pending: Vec::new(),
            extra: may_fix,
        });
        for entry in entries {
            if self.sink.stopped() {
                return;
            }
            if entry.maybe_dir {
                self.levels.stack[depth].pending.push(entry.name);
            } else {
                self.unlink_in_top(entry.name);
            }
        }
    }

    /// Unlinks the non-directory `name` in the top frame; a directory found there instead
    /// is queued for removal.
    fn unlink_in_top(&mut self, name: CString) {
        let depth = self.levels.stack.len() - 1;
        let Self { levels, sink, .. } = &mut *self;
        let frame = &mut levels.stack[depth];
        let result = match frame.dir.as_ref().map(dir_fd) {
            Some(Ok(fd)) => sink.unlink_at(fd, &name, AtFlags::empty(), &mut frame.extra),
            _ => Err(Errno::BADF),
        };
        match result {
            Ok(()) => sink.stats.files += 1,
            Err(Errno::NOENT) => {}
            Err(Errno::ISDIR) => frame.pending.push(name),
            Err(err) => {
                let path = self.levels.path_of(self.base_path, depth + 1, Some(&name));
                self.sink.fail(path, err.into());
            }
        }
    }

    /// Unlinks `name`, a non-directory child of frame `depth - 1` (or of the base).
    fn unlink_non_dir(&mut self, depth: usize, name: &CStr) {
        let result = if depth == 0 {
            let mut may_fix = self.base_may_fix;
            let result =
                self.sink
                    .unlink_at(self.levels.base, name, AtFlags::empty(), &mut may_fix);
            self.base_may_fix = may_fix;
            result
        } else {
            let Self { levels, sink, .. } = &mut *self;
            let frame = &mut levels.stack[depth - 1];
            match frame.dir.as_ref().map(dir_fd) {
                Some(Ok(fd)) => sink.unlink_at(fd, name, AtFlags::empty(), &mut frame.extra),
                _ => Err(Errno::BADF),
            }
        };
        match result {
            Ok(()) => self.sink.stats.files += 1,
            Err(Errno::NOENT) => {}
            Err(err) => {
                let path = self.levels.path_of(self.base_path, depth, Some(name));
                self.sink.fail(path, err.into());
            }
        }
    }

    /// [`Levels::ensure_open`], its failure reported.
    fn ensure_open(&mut self, top: usize) -> bool {
        match self.levels.ensure_open(top, self.base_path) {
            Ok(()) => true,
            Err((path, err)) => {
                self.sink.fail(path, err);
                false
            }
        }
    }

    /// Removes the (empty) top frame's directory from its parent.
    fn leave(&mut self) {
        let Some(frame) = self.levels.pop() else {
            return;
        };
        let depth = self.levels.stack.len();
        drop(frame.dir);
        if depth > 0 && !self.ensure_open(depth - 1) {
            return;
        }
        let result = if depth == 0 {
            let mut may_fix = self.base_may_fix;
            let result = self.sink.unlink_at(
                self.levels.base,
                &frame.name,
                AtFlags::REMOVEDIR,
                &mut may_fix,
            );
            self.base_may_fix = may_fix;
            result
        } else {
            let Self { levels, sink, .. } = &mut *self;
            let parent = &mut levels.stack[depth - 1];
            match parent.dir.as_ref().map(dir_fd) {
                Some(Ok(fd)) => {
                    sink.unlink_at(fd, &frame.name, AtFlags::REMOVEDIR, &mut parent.extra)
                }
                _ => Err(Errno::BADF),
            }
        };
        match result {
            Ok(()) => self.sink.stats.dirs += 1,
            Err(Errno::NOENT) => {}
            Err(err) => {
                let path = self
                    .levels
                    .path_of(self.base_path, depth, Some(&frame.name));
                self.sink.fail(path, err.into());
            }
        }
    }
}

/// Entries removed by the calling thread before helper threads are worth their start-up
/// cost (tens of microseconds each, more than a small tree takes to remove).
const PARALLEL_AFTER: u64 = 64;

/// Removes the root's `entries` (subdirectories first), on the calling thread and, once
/// it has removed [`PARALLEL_AFTER`] entries with at least two subdirectories still
/// unclaimed, on up to [`RemoveOptions::threads`]` - 1` helpers, as many as the descriptor
/// budget allows (see [`super::helpers`]). Each walker claims the next entry from a shared
/// queue, so every entry is removed by one of them; a helper out of descriptors hands its
/// entry back (what it removed of it stays removed, its failures there are dropped: the
/// walker that takes the entry again meets them).
pub(super) fn remove_entries(
    root: BorrowedFd<'_>,
    fence: Fence,
    path: &Path,
    entries: &[Entry],
    subdirs: usize,
    stop: &AtomicBool,
    options: &RemoveOptions,
) -> Vec<(Vec<RemoveFailure>, RemoveStats)> {
    let units = Units::new(entries.len());
    let new_walker = || {
        Walker::new(
            root,
            path,
            fence,
            stop,
            options.continue_on_error,
            options.deadline,
        )
    };
    let walk = |walker: &mut Walker<'_>, unit: usize, may_hand_back: bool| {
        if walker.sink.stopped() {
            return Unit::Stop;
        }
        let entry = &entries[unit];
        let mark = walker.sink.failures.len();
        walker.sink.hand_back_when_out_of_descriptors = may_hand_back;
        walker.remove_entry(&entry.name, entry.maybe_dir);
        if std::mem::take(&mut walker.sink.out_of_descriptors) {
            walker.sink.failures.truncate(mark);
            walker.levels.clear();
            return Unit::HandBack;
        }
        Unit::Done
    };
    let walk_unit = &walk;
    let helpers_wanted = |walker: &Walker<'_>| {
        let done = walker.sink.stats.files + walker.sink.stats.dirs;
        let unclaimed_dirs = subdirs.saturating_sub(units.next_unclaimed());
        if done >= PARALLEL_AFTER && unclaimed_dirs >= 2 {
            options
                .thread_count()
                .min(unclaimed_dirs + 1)
                .saturating_sub(1)
        } else {
            0
        }
    };
    let helper = || {
        let mut walker = new_walker();
        units.run_helper(&mut walker, walk_unit);
        (walker.sink.failures, walker.sink.stats)
    };
    let mut walker = new_walker();
    let joined = share(&units, &mut walker, walk_unit, helpers_wanted, helper);
    let mut results = vec![(walker.sink.failures, walker.sink.stats)];
    for result in joined {
        results.push(result.unwrap_or_else(|_| {
            let error = io::Error::other("a removal thread panicked");
            let path = path.to_path_buf();
            (vec![RemoveFailure { path, error }], RemoveStats::default())
        }));
    }
    results
}

impl RemoveOptions {
    /// The threads a removal may use (see [`RemoveOptions::threads`]).
    fn thread_count(&self) -> usize {
        if self.threads != 0 {
            return self.threads;
        }
        available_threads()
    }
}

/// [`std::thread::available_parallelism`], asked once per process: it reads cgroup files on
/// Linux, costing more than removing (or measuring) a small tree.
pub(crate) fn available_threads() -> usize {
    static AVAILABLE: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *AVAILABLE
        .get_or_init(|| std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get))
}
