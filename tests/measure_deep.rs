//! `measure_tree` on a chain of directories far deeper than the descriptor limit: it keeps a
//! bounded number of descriptors (the removal walker's window and anchors), so it neither
//! fails with `EMFILE` nor overflows a small stack. A test binary of its own: the limit it
//! lowers is the whole process's.
#![cfg(target_os = "linux")]

use std::ffi::CString;
use std::path::Path;

use ferrotemp::{measure_tree, Builder};
use rustix::fs::{Mode, OFlags, CWD};

fn make_deep_chain(root: &Path, depth: usize) {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let mut fd = rustix::fs::openat(CWD, root, flags, Mode::empty()).unwrap();
    let name = CString::new("d").unwrap();
    for _ in 0..depth {
        let file_flags = OFlags::WRONLY | OFlags::CREATE | OFlags::CLOEXEC;
        drop(rustix::fs::openat(&fd, "f", file_flags, Mode::RUSR | Mode::WUSR).unwrap());
        rustix::fs::mkdirat(&fd, name.as_c_str(), Mode::RWXU).unwrap();
        fd = rustix::fs::openat(&fd, name.as_c_str(), flags, Mode::empty()).unwrap();
    }
}

fn open_fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn depth_five_thousand_is_measured_within_a_low_descriptor_limit() {
    let base = if Path::new("/dev/shm").is_dir() {
        Path::new("/dev/shm").to_path_buf()
    } else {
        std::env::temp_dir()
    };
    let root = Builder::new()
        .prefix("ft-measure-deep-")
        .create_unowned_dir_in(&base)
        .unwrap();
    make_deep_chain(&root, 5_000);
    let limit = rustix::process::Rlimit {
        current: Some(128),
        maximum: rustix::process::getrlimit(rustix::process::Resource::Nofile).maximum,
    };
    rustix::process::setrlimit(rustix::process::Resource::Nofile, limit).unwrap();
    let baseline = open_fd_count();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let monitor = {
        let done = std::sync::Arc::clone(&done);
        std::thread::spawn(move || {
            let mut peak = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(open_fd_count());
            }
            peak
        })
    };
    let measured = {
        let root = root.clone();
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || measure_tree(&root))
            .unwrap()
            .join()
            .unwrap()
    };
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let peak = monitor.join().unwrap();
    let usage = measured.unwrap();
    assert_eq!((usage.dirs, usage.files), (5_000, 5_000));
    let bound = ferrotemp::remove::WINDOW + ferrotemp::remove::MAX_ANCHORS + 8;
    assert!(
        peak <= baseline + bound,
        "peak {peak} fds, baseline {baseline}"
    );
    assert_eq!(open_fd_count(), baseline);
    ferrotemp::remove_tree_nofollow(&root).unwrap();
}
