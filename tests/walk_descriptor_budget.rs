//! The descriptor walks (`measure_tree`, `remove_tree_nofollow`) on several deep chains under
//! a low `RLIMIT_NOFILE`: helper threads each keep a window and anchors of their own, so they
//! are started only as far as the free descriptors allow, and a tree that one walker measures
//! (or removes) within its bound is measured (removed) however many cores there are. A test
//! binary of its own: the limit it lowers is the process's (its tests take turns).
#![cfg(target_os = "linux")]

use std::ffi::CString;
use std::path::Path;

use std::path::PathBuf;
use std::sync::Mutex;

use ferrotemp::{measure_tree, Builder};
use rustix::fs::{Mode, OFlags, CWD};

fn make_deep_chain(root: &Path, depth: usize) {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let mut fd = rustix::fs::openat(CWD, root, flags, Mode::empty()).unwrap();
    let name = CString::new("d").unwrap();
    for _ in 0..depth {
        rustix::fs::mkdirat(&fd, name.as_c_str(), Mode::RWXU).unwrap();
        fd = rustix::fs::openat(&fd, name.as_c_str(), flags, Mode::empty()).unwrap();
    }
}

/// The tests lower the process's limit: one at a time.
static LIMIT: Mutex<()> = Mutex::new(());

/// Six chains 1,200 deep in a new directory; `None` (a skip, its reason printed) where only
/// one thread is available: no helper walkers to multiply descriptors.
#[allow(clippy::print_stderr)] // the reason a skip is taken
fn six_deep_chains() -> Option<PathBuf> {
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    if threads < 2 {
        eprintln!("skipped: one thread available, no helper walkers to multiply descriptors");
        return None;
    }
    let base = if Path::new("/dev/shm").is_dir() {
        Path::new("/dev/shm").to_path_buf()
    } else {
        std::env::temp_dir()
    };
    let root = Builder::new()
        .prefix("ft-walk-fds-")
        .create_unowned_dir_in(&base)
        .unwrap();
    for i in 0..6 {
        let chain = root.join(format!("chain{i}"));
        std::fs::create_dir(&chain).unwrap();
        make_deep_chain(&chain, 1_200);
    }
    Some(root)
}

/// Runs `walk` with the descriptor limit set to one walker's bound (as `measure_deep.rs`
/// allows it) and some slack above what is open now; not threads × it.
fn within_one_walkers_bound<T>(walk: impl FnOnce() -> T) -> T {
    let baseline = std::fs::read_dir("/proc/self/fd").unwrap().count();
    // One walker's bound (as measure_deep.rs allows it) and some slack; not threads × it.
    let bound = ferrotemp::remove::WINDOW + ferrotemp::remove::MAX_ANCHORS + 16;
    let limit = rustix::process::Rlimit {
        current: Some((baseline + bound) as u64),
        maximum: rustix::process::getrlimit(rustix::process::Resource::Nofile).maximum,
    };
    rustix::process::setrlimit(rustix::process::Resource::Nofile, limit).unwrap();
    let result = walk();
    rustix::process::setrlimit(
        rustix::process::Resource::Nofile,
        rustix::process::Rlimit {
            current: Some(4096),
            maximum: rustix::process::getrlimit(rustix::process::Resource::Nofile).maximum,
        },
    )
    .unwrap();
    result
}

#[test]
fn several_deep_chains_are_measured_within_one_walkers_descriptor_bound() {
    let _turn = LIMIT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let Some(root) = six_deep_chains() else {
        return;
    };
    let measured = within_one_walkers_bound(|| measure_tree(&root));
    ferrotemp::remove_tree_nofollow(&root).unwrap();
    let usage = measured.expect("measure_tree within a single walker's descriptor bound");
    assert_eq!(usage.dirs, 6 * 1_201);
}

#[test]
fn several_deep_chains_are_removed_within_one_walkers_descriptor_bound() {
    let _turn = LIMIT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let Some(root) = six_deep_chains() else {
        return;
    };
    let removed = within_one_walkers_bound(|| {
        ferrotemp::remove::remove_tree_nofollow_with(
            &root,
            &ferrotemp::remove::RemoveOptions::new(),
        )
    });
    if removed.is_err() {
        let _ = ferrotemp::remove_tree_nofollow(&root);
    }
    let stats = removed.expect("remove_tree within a single walker's descriptor bound");
    assert_eq!(stats.dirs, 6 * 1_201 + 1);
    assert!(!root.exists());
}

fn task_count() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

/// While `walk` runs under a limit that lets it start a helper, a thread waits for the helper
/// to appear, then takes every free descriptor but one walker's bound and some: the walkers
/// now meet `EMFILE` (two of them at depth need more than is left), and must hand their units
/// back rather than fail; the calling thread alone always has enough. Returns what `walk`
/// returned and whether the descriptors were taken while the helper still ran.
fn with_descriptors_taken_once_a_helper_runs<T: Send>(
    walk: impl FnOnce() -> T + Send,
) -> (T, bool) {
    let leave_free = ferrotemp::remove::WINDOW + ferrotemp::remove::MAX_ANCHORS + 16;
    let done = &std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        let threads_before = task_count() + 1; // the thread taking descriptors
        let taker = scope.spawn(move || {
            while task_count() <= threads_before {
                if done.load(std::sync::atomic::Ordering::Relaxed) {
                    return (Vec::new(), false);
                }
                std::thread::yield_now();
            }
            let mut held = Vec::new();
            while let Ok(fd) =
                rustix::fs::open("/dev/null", OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
            {
                held.push(fd);
            }
            held.truncate(held.len().saturating_sub(leave_free));
            let in_time = task_count() > threads_before;
            // Held until the walk ends.
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::yield_now();
            }
            (held, in_time)
        });
        let result = walk();
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        let (held, in_time) = taker.join().unwrap();
        drop(held);
        (result, in_time)
    })
}

/// A limit with room for one helper's reservation (and the descriptors to take from it).
fn with_room_for_a_helper<T>(walk: impl FnOnce() -> T) -> T {
    let baseline = std::fs::read_dir("/proc/self/fd").unwrap().count();
    let set = |current: u64| {
        let maximum = rustix::process::getrlimit(rustix::process::Resource::Nofile).maximum;
        let limit = rustix::process::Rlimit {
            current: Some(current),
            maximum,
        };
        rustix::process::setrlimit(rustix::process::Resource::Nofile, limit).unwrap();
    };
    set((baseline + 400) as u64);
    let result = walk();
    set(4096);
    result
}

#[test]
#[allow(clippy::print_stderr)] // a run in which the descriptors were taken too late
fn walkers_out_of_descriptors_hand_their_units_back_instead_of_failing() {
    let _turn = LIMIT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let Some(root) = six_deep_chains() else {
        return;
    };
    let (measured, measured_in_time) = with_room_for_a_helper(|| {
        with_descriptors_taken_once_a_helper_runs(|| measure_tree(&root))
    });
    let (removed, removed_in_time) = with_room_for_a_helper(|| {
        with_descriptors_taken_once_a_helper_runs(|| {
            ferrotemp::remove::remove_tree_nofollow_with(
                &root,
                &ferrotemp::remove::RemoveOptions::new(),
            )
        })
    });
    if removed.is_err() {
        let _ = ferrotemp::remove_tree_nofollow(&root);
    }
    if !(measured_in_time && removed_in_time) {
        eprintln!("note: a helper ended before its descriptors were taken (a lighter test)");
    }
    let usage = measured.expect("measure_tree with a helper out of descriptors");
    assert_eq!(usage.dirs, 6 * 1_201);
    let stats = removed.expect("remove_tree with a helper out of descriptors");
    assert_eq!(stats.dirs, 6 * 1_201 + 1);
}
