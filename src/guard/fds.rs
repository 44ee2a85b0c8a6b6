//! The sweep's share of the process's file descriptors.
//!
//! A sweep runs inside the user's process (the background sweep on its own thread), so every
//! descriptor it holds is one the user's own `open()` cannot have. The standard module never
//! takes any; a sweep must never be the reason a user's call fails with `EMFILE`. So a sweep
//! holds at most its *share* of the soft `RLIMIT_NOFILE`,
//! `max(MIN_SHARE, soft / SHARE_DIVISOR)` descriptors (16 under a limit of 256, 64 under the
//! usual 1,024), by construction:
//!
//! - outside tree walks it holds at most [`BASE`] (the registry, a record, an entry's parent
//!   and lock, and a transient one for listing `/proc` or the record);
//! - a measuring walk inside a directory entry descends at most `share - BASE` levels (it
//!   holds one descriptor per level), beyond which the bytes are counted as far as seen;
//! - removing a directory tree takes one walker (no helper threads), which holds at most
//!   [`REMOVE_WALK`] descriptors; under a share too small for it, directory entries are left
//!   to a sweep in a process with more room (the record stays).
//!
//! And it starts (and starts each record and each directory entry) only while at least twice
//! its share is free — judged from the size of the descriptor table where that settles it,
//! which covers every descriptor number in use, else by counting (see [`open_count`]) — so a
//! process that is near its limit sees no sweep at all. A program that keeps its own
//! descriptors at least one share below its soft limit never runs out because of a sweep.

use std::path::Path;

/// The share is never smaller than this many descriptors.
pub(super) const MIN_SHARE: usize = 16;
/// The share is this fraction of the soft limit.
pub(super) const SHARE_DIVISOR: usize = 16;
/// Descriptors a sweep holds at most outside a tree walk.
pub(super) const BASE: usize = 6;
/// Descriptors a single-walker tree removal holds at most: its window and anchors
/// ([`crate::remove::WINDOW`] + [`crate::remove::MAX_ANCHORS`]), the directory it starts from
/// and the root.
pub(super) const REMOVE_WALK: usize = crate::remove::WINDOW + crate::remove::MAX_ANCHORS + 2;

/// The sweep's share, and whether there is room for it now.
#[derive(Debug, Clone, Copy)]
pub(super) struct FdShare {
    /// The most descriptors the sweep holds at once.
    pub share: usize,
}

impl FdShare {
    /// The share under the current soft limit.
    pub(super) fn current() -> Self {
        Self {
            share: share_of(soft_limit()),
        }
    }

    /// How deep a measuring walk may go within the share.
    pub(super) fn scan_depth(self) -> usize {
        self.share.saturating_sub(BASE).max(1)
    }

    /// Whether a directory tree can be removed within the share.
    pub(super) fn trees_allowed(self) -> bool {
        self.share >= BASE + REMOVE_WALK
    }

    /// Whether at least twice the share is free now. Every descriptor number in use lies
    /// below the descriptor table's size, so when the limit exceeds that size by twice the
    /// share there is room, and nothing is listed (the usual case). Otherwise the open
    /// descriptors are counted (see [`open_count`]). True when neither can be known: the share
    /// itself still bounds the sweep.
    pub(super) fn room(self) -> bool {
        let Some(limit) = soft_limit() else {
            return true;
        };
        let needed = 2 * self.share;
        if fd_table_size().is_some_and(|size| limit.saturating_sub(size) >= needed) {
            return true;
        }
        match open_count() {
            Some(open) => limit.saturating_sub(open) >= needed,
            None => true,
        }
    }
}

/// `max(MIN_SHARE, soft / SHARE_DIVISOR)`; `None` (no limit) gives the share of 1,024.
pub(super) fn share_of(soft: Option<usize>) -> usize {
    (soft.unwrap_or(1024) / SHARE_DIVISOR).max(MIN_SHARE)
}

/// The soft `RLIMIT_NOFILE`; `None` if unlimited.
fn soft_limit() -> Option<usize> {
    rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
}

/// The size of this process's descriptor table (`FDSize` in `/proc/self/status`, Linux): more
/// than the highest descriptor number in use (the table grows by doubling, never shrinks, and
/// a child may inherit a large one). `None` where unknown. Reading it touches no descriptor.
fn fd_table_size() -> Option<usize> {
    let status = std::fs::read_to_string(Path::new("/proc/self/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("FDSize:"))
        .and_then(|value| value.trim().parse().ok())
}

/// How many descriptors the process has open, from `/proc/self/fd` (Linux) or `/dev/fd`;
/// `None` if neither can be listed. Only when the table's size does not settle it: listing
/// takes a reference to each open file for an instant, so a file the user closes meanwhile
/// is released (its `flock` locks with it) a moment after the user's `close` returned.
fn open_count() -> Option<usize> {
    for dir in ["/proc/self/fd", "/dev/fd"] {
        if let Ok(entries) = std::fs::read_dir(Path::new(dir)) {
            // The listing's own descriptor is one of them.
            return Some(entries.count().saturating_sub(1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_share_is_a_sixteenth_of_the_soft_limit_and_at_least_sixteen() {
        assert_eq!(share_of(Some(64)), 16);
        assert_eq!(share_of(Some(256)), 16);
        assert_eq!(share_of(Some(1024)), 64);
        assert_eq!(share_of(None), 64);
        // Under the usual soft limit of 1,024 a tree can be removed within the share.
        assert!(FdShare { share: 64 }.trees_allowed());
        assert!(!FdShare { share: 16 }.trees_allowed());
        assert_eq!(FdShare { share: 16 }.scan_depth(), 10);
    }

    #[test]
    fn the_descriptor_table_covers_the_descriptors_in_use() {
        if Path::new("/proc/self/status").exists() {
            let file = std::fs::File::open("/proc/self/status").unwrap();
            let fd = usize::try_from(std::os::fd::AsRawFd::as_raw_fd(&file)).unwrap();
            assert!(fd_table_size().is_some_and(|n| n > fd));
            assert!(open_count().is_some_and(|n| n > 3 && n <= fd_table_size().unwrap()));
        }
    }
}
