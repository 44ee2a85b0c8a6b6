//! A bounded, descriptor-based walk that measures a directory tree without changing it.

use std::collections::HashSet;
use std::os::fd::{AsFd, OwnedFd};
use std::time::Instant;

use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags, Stat};
use rustix::io::Errno;

use super::{stat_dev, stat_ino};
use crate::file_id::FileId;

/// The most entries a walk examines before giving up on completeness.
pub(super) const MAX_ENTRIES: usize = 100_000;
/// The deepest a walk descends (it holds one descriptor per level).
pub(super) const MAX_DEPTH: usize = 64;

/// What a walk found.
#[derive(Debug, Default)]
#[allow(clippy::struct_excessive_bools)] // independent findings, one per flag
pub(super) struct TreeScan {
    /// The sum of the sizes of the regular files.
    pub bytes: u64,
    /// The newest access, modification or change time seen, in nanoseconds since the epoch.
    pub newest_ns: i128,
    /// Whether every entry was examined (no bound hit, nothing unreadable).
    pub complete: bool,
    /// Whether a mount point is inside: an entry on another device, or a directory on another
    /// mount (a bind mount of the same filesystem has the same device; its mount id differs).
    pub other_fs: bool,
    /// Whether some entry belongs to another user.
    pub other_owner: bool,
    /// Whether some entry is one a live process's record lists (see [`ScanBounds::live`]).
    pub live_entry: bool,
    /// How many entries were examined.
    pub seen: usize,
}

/// How far a walk may go, and what it watches for.
#[derive(Debug, Clone, Copy)]
pub(super) struct ScanBounds<'a> {
    /// The most entries examined (at most [`MAX_ENTRIES`]).
    pub max_entries: usize,
    /// The walk stops (incomplete) once this instant has passed.
    pub deadline: Option<Instant>,
    /// `(device, inode)` of entries live processes guard: finding one sets `live_entry`.
    pub live: Option<&'a HashSet<FileId>>,
    /// The deepest the walk descends (at most [`MAX_DEPTH`]); it holds one descriptor per
    /// level, so this bounds its descriptors.
    pub max_depth: usize,
}

impl Default for ScanBounds<'_> {
    fn default() -> Self {
        Self {
            max_entries: MAX_ENTRIES,
            deadline: None,
            live: None,
            max_depth: MAX_DEPTH,
        }
    }
}

/// The newest of an entry's three timestamps, in nanoseconds since the epoch.
pub(super) fn newest_time_ns(st: &Stat) -> i128 {
    #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
    let ns = |sec: i64, nsec: i64| i128::from(sec) * 1_000_000_000 + i128::from(nsec);
    #[allow(clippy::unnecessary_cast, clippy::cast_possible_wrap)]
    let times = [
        ns(st.st_atime as i64, st.st_atime_nsec as i64),
        ns(st.st_mtime as i64, st.st_mtime_nsec as i64),
        ns(st.st_ctime as i64, st.st_ctime_nsec as i64),
    ];
    times.into_iter().max().unwrap_or(0)
}

/// The size in bytes of a regular file's `Stat` (0 for anything else).
pub(super) fn file_bytes(st: &Stat) -> u64 {
    if FileType::from_raw_mode(st.st_mode) == FileType::RegularFile {
        u64::try_from(st.st_size).unwrap_or(0)
    } else {
        0
    }
}

/// Opens `name` under `dir` without following a symlink and without updating its access
/// time where the kernel allows (`O_NOATIME` needs ownership; it is dropped on `EPERM`).
pub(super) fn open_nofollow(
    dir: impl AsFd,
    name: &std::ffi::CStr,
    extra: OFlags,
) -> rustix::io::Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK | extra;
    #[cfg(any(target_os = "linux", target_os = "android"))]
    match rustix::fs::openat(dir.as_fd(), name, flags | OFlags::NOATIME, Mode::empty()) {
        Err(Errno::PERM) => {}
        other => return other,
    }
    rustix::fs::openat(dir.as_fd(), name, flags, Mode::empty())
}

/// Walks the tree under `root` (an open directory whose own `Stat` is `root_stat`), within
/// `bounds` (and never more than [`MAX_ENTRIES`] entries and [`MAX_DEPTH`] levels), never
/// following a symlink and never descending into another mount (device or mount id, as
/// [`crate::remove`] compares them). Every entry is `stat`ed
/// before it is opened, so the times seen are those from before the walk.
pub(super) fn scan_tree(root: OwnedFd, root_stat: &Stat, bounds: &ScanBounds<'_>) -> TreeScan {
    let euid = rustix::process::geteuid().as_raw();
    let dev = stat_dev(root_stat);
    let mount = crate::remove::mount_id(root.as_fd());
    let mut scan = TreeScan {
        newest_ns: newest_time_ns(root_stat),
        complete: true,
        ..TreeScan::default()
    };
    let mut seen = 0usize;
    let Ok(root) = Dir::new(root) else {
        scan.complete = false;
        return scan;
    };
    let mut stack = vec![root];
    loop {
        let depth = stack.len();
        let Some(dir) = stack.last_mut() else {
            break;
        };
        let Some(entry) = dir.read() else {
            stack.pop();
            continue;
        };
        let Ok(entry) = entry else {
            scan.complete = false;
            stack.pop();
            continue;
        };
        let name = entry.file_name();
        if name == c"." || name == c".." {
            continue;
        }
        if seen >= bounds.max_entries.min(MAX_ENTRIES)
            || (seen % 64 == 0 && bounds.deadline.is_some_and(|d| Instant::now() >= d))
        {
            scan.complete = false;
            break;
        }
        seen += 1;
        let Ok(fd) = dir.fd() else {
            scan.complete = false;
            break;
        };
        let st = match rustix::fs::statat(fd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::NOENT) => continue,
            Err(_) => {
                scan.complete = false;
                continue;
            }
        };
        scan.bytes += file_bytes(&st);
        scan.newest_ns = scan.newest_ns.max(newest_time_ns(&st));
        scan.other_owner |= st.st_uid != euid;
        if let Some(live) = bounds.live {
            scan.live_entry |= live.contains(&FileId::from_stat(&st));
        }
        if stat_dev(&st) != dev {
            scan.other_fs = true;
            continue;
        }
        if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
            continue;
        }
        if depth >= MAX_DEPTH.min(bounds.max_depth) {
            scan.complete = false;
            continue;
        }
        let child = open_nofollow(fd, name, OFlags::DIRECTORY);
        match child {
            Ok(child) if rustix::fs::fstat(&child).is_ok_and(|c| stat_ino(&c) == stat_ino(&st)) => {
                if mount.is_some_and(|root| {
                    crate::remove::mount_id(child.as_fd()).is_some_and(|here| here != root)
                }) {
                    scan.other_fs = true;
                    continue;
                }
                match Dir::new(child) {
                    Ok(d) => stack.push(d),
                    Err(_) => scan.complete = false,
                }
            }
            Err(Errno::NOENT) => {}
            _ => scan.complete = false,
        }
    }
    scan.seen = seen;
    scan
}
