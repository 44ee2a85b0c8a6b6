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
