//! Process-wide counters of what this copy of the core did: entries created and removed,
//! what sweeps reclaimed, cleanups that failed and creations refused by a quota. For services
//! that watch their temp usage (`ferrotemp.stats()`, the Prometheus collector).
//!
//! Each counter is one relaxed atomic add at the event: no lock, no ordering between
//! counters (a reader may see `removed` of an entry before its `created` on another thread).
//! They only grow, from zero at process start, and count this copy of the core only (another
//! extension that links its own copy counts on its own).
//!
//! What counts:
//! - `created`: named files and directories made through [`Builder::make_in`] (every named
//!   creation of the crate: owned or not, `mkstemp` and `mkdtemp` included); unnamed files
//!   and the guard's own record files are not counted.
//! - `removed`: owned entries that a [`TempPath`] or [`TempDir`] (and so Python's
//!   `NamedTemporaryFile` and `TemporaryDirectory`) removed, by close or drop; an entry found
//!   already gone is not counted, nor one the user removed (`mkstemp`'s files).
//! - `cleanup_errors`: such removals that failed.
//! - `entries_reclaimed`, `bytes_reclaimed`: entries that sweeps (of dead processes' records
//!   and by age) removed, and the bytes they held as the sweep measured them.
//! - `quota_refusals`: creations and writes refused by a workspace's limits.
//!
//! [`Builder::make_in`]: crate::Builder::make_in
//! [`TempPath`]: crate::TempPath
//! [`TempDir`]: crate::TempDir

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of the counters (see the [module docs](self)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Named entries created.
    pub created: u64,
    /// Owned entries removed by their owner.
    pub removed: u64,
    /// Entries removed by sweeps.
    pub entries_reclaimed: u64,
    /// Bytes those entries held.
    pub bytes_reclaimed: u64,
    /// Removals by an owner that failed.
    pub cleanup_errors: u64,
    /// Creations or writes refused by a quota.
    pub quota_refusals: u64,
}

static CREATED: AtomicU64 = AtomicU64::new(0);
static REMOVED: AtomicU64 = AtomicU64::new(0);
static ENTRIES_RECLAIMED: AtomicU64 = AtomicU64::new(0);
static BYTES_RECLAIMED: AtomicU64 = AtomicU64::new(0);
static CLEANUP_ERRORS: AtomicU64 = AtomicU64::new(0);
static QUOTA_REFUSALS: AtomicU64 = AtomicU64::new(0);

/// The counters now.
#[must_use]
pub fn stats() -> Stats {
    Stats {
        created: CREATED.load(Ordering::Relaxed),
        removed: REMOVED.load(Ordering::Relaxed),
        entries_reclaimed: ENTRIES_RECLAIMED.load(Ordering::Relaxed),
        bytes_reclaimed: BYTES_RECLAIMED.load(Ordering::Relaxed),
        cleanup_errors: CLEANUP_ERRORS.load(Ordering::Relaxed),
        quota_refusals: QUOTA_REFUSALS.load(Ordering::Relaxed),
    }
}

/// A named entry was created.
pub fn note_created() {
    CREATED.fetch_add(1, Ordering::Relaxed);
}

/// An owned entry was removed by its owner.
pub fn note_removed() {
    REMOVED.fetch_add(1, Ordering::Relaxed);
}

/// An owner's removal failed.
pub fn note_cleanup_error() {
    CLEANUP_ERRORS.fetch_add(1, Ordering::Relaxed);
}

/// A sweep removed an entry that held `bytes`.
pub fn note_reclaimed(bytes: u64) {
    ENTRIES_RECLAIMED.fetch_add(1, Ordering::Relaxed);
    BYTES_RECLAIMED.fetch_add(bytes, Ordering::Relaxed);
}

/// A creation or a write was refused by a quota (for the workspace's limits).
pub fn note_quota_refusal() {
    QUOTA_REFUSALS.fetch_add(1, Ordering::Relaxed);
}

/// Counts a removal's outcome: removed, failed, or (`already_gone`) neither.
pub(crate) fn note_removal<T, E>(result: &Result<T, E>, already_gone: impl FnOnce(&E) -> bool) {
    match result {
        Ok(_) => note_removed(),
        Err(err) if already_gone(err) => {}
        Err(_) => note_cleanup_error(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Other tests in this process create and remove entries concurrently: each check is
    // that a counter grew by at least what this test did.
    #[test]
    fn each_note_grows_its_counter() {
        let before = stats();
        note_created();
        note_removed();
        note_cleanup_error();
        note_reclaimed(4096);
        note_quota_refusal();
        let after = stats();
        assert!(after.created > before.created);
        assert!(after.removed > before.removed);
        assert!(after.cleanup_errors > before.cleanup_errors);
        assert!(after.entries_reclaimed > before.entries_reclaimed);
        assert!(after.bytes_reclaimed >= before.bytes_reclaimed + 4096);
        assert!(after.quota_refusals > before.quota_refusals);
    }
}
