//! The helper threads of a descriptor walk (removal and [`crate::measure`]): how many the
//! process's descriptor budget allows, and the units of work they share with the calling
//! thread.
//!
//! Each walker holds up to [`WALKER_DESCRIPTORS`] descriptors, so helpers multiply what a walk
//! needs. Helpers are started only as far as the descriptors still free allow
//! (`RLIMIT_NOFILE` minus those open, less what concurrent walks of the process have
//! reserved), taking at most half of them so the process's other threads keep some. That is
//! an estimate (other threads open files meanwhile), so a walker that meets `EMFILE` or
//! `ENFILE` while others run hands its unit back instead of failing the walk: a helper then
//! ends (releasing its descriptors), and the calling thread, once the helpers are done, takes
//! what was handed back on its own. A walk fails for lack of descriptors only where one
//! walker alone would.

use super::{MAX_ANCHORS, WINDOW};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Descriptors one walker may hold at once: its window and anchors, a directory just opened
/// before it joins the window, the carry of a re-open, the `O_PATH` handle of an unreadable
/// directory, and a helper's own descriptor of the root.
pub(crate) const WALKER_DESCRIPTORS: usize = WINDOW + MAX_ANCHORS + 4;

/// Descriptors reserved by the helpers of every walk running in the process.
static RESERVED: AtomicUsize = AtomicUsize::new(0);

/// What became of a unit a walker took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unit {
    /// Done (or failed, the failure kept by the walker): take the next.
    Done,
    /// The walk stops: take no more.
    Stop,
    /// Out of descriptors with other walkers running: the unit is undone (its counts and
    /// failures dropped by the walker) and goes back to the queue.
    HandBack,
}

/// Whether `errno` says the process (or system) has no descriptor left.
pub(crate) fn out_of_descriptors(errno: Option<i32>) -> bool {
    errno.is_some_and(|e| {
        e == rustix::io::Errno::MFILE.raw_os_error() || e == rustix::io::Errno::NFILE.raw_os_error()
    })
}

/// The units of a walk (indices `0..len`), claimed one at a time; a unit handed back is
/// claimed again before new ones.
pub(crate) struct Units {
    len: usize,
    next: AtomicUsize,
    returned: Mutex<Vec<usize>>,
}

impl Units {
    pub(crate) fn new(len: usize) -> Self {
        Self {
            len,
            next: AtomicUsize::new(0),
            returned: Mutex::new(Vec::new()),
        }
    }

    fn claim(&self) -> Option<usize> {
        if let Some(unit) = self.returned.lock().ok().and_then(|mut r| r.pop()) {
            return Some(unit);
        }
        let unit = self.next.fetch_add(1, Ordering::Relaxed);
        (unit < self.len).then_some(unit)
    }

    fn hand_back(&self, unit: usize) {
        match self.returned.lock() {
            Ok(mut returned) => returned.push(unit),
            Err(poisoned) => poisoned.into_inner().push(unit),
        }
    }

    /// The first unit no walker has claimed yet (`len` once all are).
    pub(crate) fn next_unclaimed(&self) -> usize {
        self.next.load(Ordering::Relaxed).min(self.len)
    }

    /// A helper's life: claims and walks units until none are left, the walk stops, or it
    /// runs out of descriptors (the unit handed back).
    pub(crate) fn run_helper<W>(&self, walker: &mut W, walk: impl Fn(&mut W, usize, bool) -> Unit) {
        while let Some(unit) = self.claim() {
            match walk(walker, unit, true) {
                Unit::Done => {}
                Unit::Stop => return,
                Unit::HandBack => {
                    self.hand_back(unit);
                    return;
                }
            }
        }
    }
}

/// Helpers' descriptors reserved while they run; released on drop.
struct Reservation(usize);

impl Drop for Reservation {
    fn drop(&mut self) {
        RESERVED.fetch_sub(self.0, Ordering::Relaxed);
    }
}

/// Reserves descriptors for up to `wanted` helpers, as many as the free descriptors allow
/// (see the module docs); the reservation says how many.
fn reserve(wanted: usize) -> (usize, Reservation) {
    if wanted == 0 {
        return (0, Reservation(0));
    }
    let free = free_descriptors();
    let mut granted = 0;
    let _ = RESERVED.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |reserved| {
        // The calling thread's own walker first, then half of what is left.
        let spare = free.saturating_sub(reserved + WALKER_DESCRIPTORS) / 2;
        granted = wanted.min(spare / WALKER_DESCRIPTORS);
        Some(reserved + granted * WALKER_DESCRIPTORS)
    });
    (granted, Reservation(granted * WALKER_DESCRIPTORS))
}

/// Descriptors the process may still open: the soft `RLIMIT_NOFILE` less those open. Where
/// the open ones cannot be counted, half the limit is taken as used.
fn free_descriptors() -> usize {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
    let Some(limit) = limit.and_then(|l| usize::try_from(l).ok()) else {
        return usize::MAX / 2;
    };
    let open = open_descriptors().unwrap_or(limit / 2);
    limit.saturating_sub(open)
}

/// The descriptors open in the process, from `/proc/self/fd` (Linux) or `/dev/fd`.
fn open_descriptors() -> Option<usize> {
    use rustix::fs::{Mode, OFlags, RawDir, CWD};
    let listing = if cfg!(any(target_os = "linux", target_os = "android")) {
        "/proc/self/fd"
    } else {
        "/dev/fd"
    };
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(CWD, listing, flags, Mode::empty()).ok()?;
    let mut buf = Vec::with_capacity(8 << 10);
    let mut raw = RawDir::new(&fd, buf.spare_capacity_mut());
    let mut count = 0usize;
    while let Some(entry) = raw.next() {
        let entry = entry.ok()?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            count += 1;
        }
    }
    // The listing's own descriptor is among them.
    Some(count.saturating_sub(1))
}

/// Walks `units` on the calling thread (`walker`) and on helpers: after each of the calling
/// thread's units, `helpers_wanted` says how many helpers to start now (`0`: not yet); it is
/// asked until it says more than none once, and as many as the descriptor budget allows are
/// started, each running `helper` (which constructs its walker and calls
/// [`Units::run_helper`]). `walk(walker, unit, may_hand_back)` walks one unit. Once the
/// helpers are done, the calling thread walks alone whatever is left (handed back or never
/// claimed), with `may_hand_back` false: out of descriptors is then the walk's failure.
///
/// Returns the helpers' results (`Err` for a helper that panicked).
pub(crate) fn share<W, R: Send>(
    units: &Units,
    walker: &mut W,
    walk: impl Fn(&mut W, usize, bool) -> Unit,
    mut helpers_wanted: impl FnMut(&W) -> usize,
    helper: impl Fn() -> R + Sync,
) -> Vec<std::thread::Result<R>> {
    let mut stopped = false;
    let results = std::thread::scope(|scope| {
        let mut handles = Vec::new();
        let mut reservation = Reservation(0);
        let mut asking = true;
        while let Some(unit) = units.claim() {
            match walk(walker, unit, !handles.is_empty()) {
                Unit::Done => {}
                Unit::Stop => {
                    stopped = true;
                    break;
                }
                Unit::HandBack => {
                    // Wait for the helpers (who release their descriptors), then go on alone.
                    units.hand_back(unit);
                    break;
                }
            }
            if !asking {
                continue;
            }
            let wanted = helpers_wanted(walker);
            if wanted == 0 {
                continue;
            }
            asking = false;
            let (granted, reserved) = reserve(wanted);
            reservation = reserved;
            // Too few threads is no failure: the calling thread does the rest.
            handles.extend((0..granted).filter_map(|_| {
                std::thread::Builder::new()
                    .spawn_scoped(scope, &helper)
                    .ok()
            }));
        }
        let results: Vec<_> = handles
            .into_iter()
            .map(std::thread::ScopedJoinHandle::join)
            .collect();
        drop(reservation);
        results
    });
    if !stopped {
        while let Some(unit) = units.claim() {
            if walk(walker, unit, false) != Unit::Done {
                break;
            }
        }
    }
    results
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    /// Every unit is walked to the end exactly once, though helpers hand units back.
    #[test]
    fn units_handed_back_are_walked_once_by_the_calling_thread() {
        let units = Units::new(200);
        let done: Vec<AtomicUsize> = (0..200).map(|_| AtomicUsize::new(0)).collect();
        let helper_ran = AtomicBool::new(false);
        let walk = |(): &mut (), unit: usize, may_hand_back: bool| {
            // Helpers (and the caller while they run) run out of descriptors on odd units.
            if may_hand_back && unit % 2 == 1 {
                return Unit::HandBack;
            }
            done[unit].fetch_add(1, Ordering::Relaxed);
            Unit::Done
        };
        let results = share(
            &units,
            &mut (),
            walk,
            |()| 1,
            || {
                helper_ran.store(true, Ordering::Relaxed);
                units.run_helper(&mut (), walk);
            },
        );
        assert!(results.iter().all(Result::is_ok));
        assert!(helper_ran.load(Ordering::Relaxed) || results.is_empty());
        assert!(done.iter().all(|d| d.load(Ordering::Relaxed) == 1));
    }

    #[test]
    fn a_stop_ends_the_walk_without_the_rest() {
        let units = Units::new(10);
        let walked = AtomicUsize::new(0);
        let walk = |(): &mut (), unit: usize, _: bool| {
            walked.fetch_add(1, Ordering::Relaxed);
            if unit == 2 {
                Unit::Stop
            } else {
                Unit::Done
            }
        };
        let _ = share(&units, &mut (), walk, |()| 0, || {});
        assert_eq!(walked.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn helpers_are_granted_only_within_the_free_descriptors() {
        let (granted, _reserved) = reserve(usize::MAX);
        let free = free_descriptors();
        assert!(
            granted * WALKER_DESCRIPTORS <= free / 2,
            "{granted} helpers, {free} free"
        );
    }
}
