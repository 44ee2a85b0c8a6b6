//! The observed walk: serial, one descriptor per level, announcing each step to an observer
//! (see [`super::remove_tree_observed`]).

use super::unix::{dir_fd, list, mount_point_error, open_dir, Fence, Sink, DIR_FLAGS};
use super::{RemoveError, RemoveFailure, RemoveStats, Step, StepOrder};
use rustix::fs::{self as rfs, AtFlags, Dir, CWD};
use rustix::io::Errno;
use std::ffi::{CStr, CString, OsStr};
use std::io;
use std::os::fd::AsRawFd;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// What an observed removal reports each step to.
pub(super) type Observer<'o> = dyn FnMut(Step<'_>) -> bool + 'o;

pub(super) fn stopped_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::Interrupted,
        "removal stopped before this step by its observer",
    )
}

#[allow(clippy::cast_possible_wrap)] // the flags are small positive bits
pub(super) fn dir_flags_raw() -> i32 {
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
            } else if !remove_dir_observed(sink, fence, parent, &entry.name, path, order, observer)
            {
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
pub(super) fn remove_root_observed(
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
            stopped = !remove_contents_observed(&mut sink, fence, &mut root, path, order, observer);
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
