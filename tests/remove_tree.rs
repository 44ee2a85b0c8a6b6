//! Symlink-safe tree removal and `TempDir`. Every test that puts a symlink in a tree checks
//! that the files outside the tree are untouched.
#![cfg(target_os = "linux")]

use std::collections::BTreeMap;
use std::ffi::CString;
use std::fs;
use std::io;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use ferrotemp::error::{error_path, raw_os_error};
use ferrotemp::remove::{remove_tree_nofollow_with, RemoveOptions};
use ferrotemp::{remove_tree_nofollow, Builder, TempDir};
use rustix::fs::{FlockOperation, Mode, OFlags, RenameFlags, CWD};

/// A scratch directory for one test, removed with the standard library at the end.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Self {
        Self::new_in(tag, &std::env::temp_dir())
    }

    /// For the tests that build tens of thousands of entries: on tmpfs when there is one,
    /// where building them is fast on any disk.
    fn new_fast(tag: &str) -> Self {
        let shm = Path::new("/dev/shm");
        let writable = rustix::fs::access(shm, rustix::fs::Access::WRITE_OK).is_ok();
        if shm.is_dir() && writable {
            Self::new_in(tag, shm)
        } else {
            Self::new(tag)
        }
    }

    fn new_in(tag: &str, base: &Path) -> Self {
        let path = Builder::new()
            .prefix(format!("ft-rm-{tag}-"))
            .create_unowned_dir_in(base)
            .unwrap();
        Self(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        make_all_writable(&self.0);
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn make_all_writable(path: &Path) {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return;
    };
    if meta.is_dir() {
        let _ = fs::set_permissions(path, fs::Permissions::from_mode(0o700));
        if let Ok(entries) = fs::read_dir(path) {
            for entry in entries.flatten() {
                make_all_writable(&entry.path());
            }
        }
    }
}

fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
}

/// Every entry under `root`: relative path → (mode, contents of files / target of links).
fn snapshot(root: &Path) -> BTreeMap<PathBuf, (u32, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, (u32, Vec<u8>)>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = fs::symlink_metadata(&path).unwrap();
            let rel = path.strip_prefix(root).unwrap().to_path_buf();
            let mode = meta.permissions().mode() & 0o7777;
            if meta.is_dir() {
                out.insert(rel, (mode, Vec::new()));
                walk(root, &path, out);
            } else if meta.file_type().is_symlink() {
                let target = fs::read_link(&path).unwrap();
                out.insert(rel, (mode, target.into_os_string().into_encoded_bytes()));
            } else {
                out.insert(rel, (mode, fs::read(&path).unwrap()));
            }
        }
    }
    let mut out = BTreeMap::new();
    out.insert(PathBuf::new(), (mode(root), Vec::new()));
    walk(root, root, &mut out);
    out
}

/// A directory outside the tree holding files named like the ones inside it.
fn make_outside(dir: &Path, files: usize) {
    fs::create_dir_all(dir.join("inner")).unwrap();
    for i in 0..files {
        fs::write(dir.join(format!("f{i}")), format!("outside {i}")).unwrap();
    }
    fs::write(dir.join("inner/g0"), "outside inner").unwrap();
}

fn make_inside(dir: &Path, files: usize) {
    fs::create_dir_all(dir.join("inner")).unwrap();
    for i in 0..files {
        fs::write(dir.join(format!("f{i}")), "inside").unwrap();
    }
    fs::write(dir.join("inner/g0"), "inside inner").unwrap();
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Runs the single test `name` in a fresh copy of this test binary, with `FT_CHILD=1` and
/// optionally under `wrapper` (a program and its arguments), and asserts it passed.
fn run_in_child(name: &str, wrapper: &[&str]) {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = match wrapper.split_first() {
        Some((program, args)) => {
            let mut cmd = Command::new(program);
            cmd.args(args).arg(&exe);
            cmd
        }
        None => Command::new(&exe),
    };
    cmd.args([name, "--exact", "--test-threads=1", "--nocapture"])
        .env("FT_CHILD", "1");
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "child run of {name} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn in_child() -> bool {
    std::env::var_os("FT_CHILD").is_some()
}

fn open_fd_count() -> usize {
    fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn nested_tree_is_removed_and_counted() {
    let scratch = Scratch::new("nested");
    let tree = scratch.path().join("tree");
    for d in ["a/b/c", "a/d", "e"] {
        fs::create_dir_all(tree.join(d)).unwrap();
    }
    for f in ["x", "a/y", "a/b/z", "a/b/c/w", "e/v"] {
        fs::write(tree.join(f), "data").unwrap();
    }
    let stats = remove_tree_nofollow_with(&tree, &RemoveOptions::new()).unwrap();
    assert!(!tree.exists());
    assert_eq!(stats.files, 5);
    assert_eq!(stats.dirs, 6);
    assert_eq!(stats.permissions_fixed, 0);
    // Too little work to be worth a second thread.
    assert_eq!(stats.threads, 1);
}

#[test]
fn serial_and_parallel_removal_agree() {
    let scratch = Scratch::new("par");
    for threads in [1, 2, 4] {
        let tree = scratch.path().join(format!("tree{threads}"));
        for d in 0..20 {
            let dir = tree.join(format!("d{d}"));
            fs::create_dir_all(dir.join("sub")).unwrap();
            for f in 0..10 {
                fs::write(dir.join(format!("f{f}")), "x").unwrap();
            }
            fs::write(dir.join("sub/s"), "x").unwrap();
        }
        fs::write(tree.join("top"), "x").unwrap();
        let mut options = RemoveOptions::new();
        options.threads(threads);
        let stats = remove_tree_nofollow_with(&tree, &options).unwrap();
        assert!(!tree.exists(), "threads={threads}");
        assert_eq!(stats.files, 20 * 11 + 1, "threads={threads}");
        assert_eq!(stats.dirs, 1 + 20 * 2, "threads={threads}");
        // 20 subdirectories of 13 entries each are enough work for every thread allowed.
        assert_eq!(stats.threads, threads, "threads={threads}");
    }
}

#[test]
fn symlinks_to_outside_dirs_and_files_are_unlinked_not_followed() {
    let scratch = Scratch::new("links");
    let outside = scratch.path().join("outside");
    make_outside(&outside, 5);
    let before = snapshot(&outside);
    let tree = scratch.path().join("tree");
    make_inside(&tree.join("sub"), 5);
    symlink(&outside, tree.join("to_dir")).unwrap();
    symlink(outside.join("f0"), tree.join("to_file")).unwrap();
    symlink(&outside, tree.join("sub/inner/deep_to_dir")).unwrap();
    symlink(outside.join("inner"), tree.join("sub/to_inner")).unwrap();
    symlink("/nonexistent-ferrotemp", tree.join("dangling")).unwrap();
    // A relative link climbing out of the tree.
    symlink("../../outside", tree.join("sub/relative_up")).unwrap();

    remove_tree_nofollow(&tree).unwrap();
    assert!(!tree.exists());
    assert_eq!(snapshot(&outside), before);
}

#[test]
fn symlinked_root_is_refused_and_left_alone() {
    let scratch = Scratch::new("rootlink");
    let outside = scratch.path().join("outside");
    make_outside(&outside, 3);
    let before = snapshot(&outside);
    let link = scratch.path().join("link");
    symlink(&outside, &link).unwrap();

    let err = remove_tree_nofollow(&link).unwrap_err();
    assert_eq!(err.failures().len(), 1);
    assert_eq!(err.first().path, link);
    assert_eq!(err.first().error.raw_os_error(), Some(libc_eloop()));
    assert!(fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(snapshot(&outside), before);

    // A trailing slash must not turn the link into its target either.
    let mut slashed = link.clone().into_os_string();
    slashed.push("/");
    assert!(remove_tree_nofollow(Path::new(&slashed)).is_err());
    assert_eq!(snapshot(&outside), before);
}

fn libc_eloop() -> i32 {
    rustix::io::Errno::LOOP.raw_os_error()
}

#[test]
fn missing_root_is_not_found_naming_the_path() {
    let scratch = Scratch::new("missing");
    let gone = scratch.path().join("gone");
    let err = remove_tree_nofollow(&gone).unwrap_err();
    assert_eq!(err.first().error.kind(), io::ErrorKind::NotFound);
    let as_io: io::Error = err.into();
    assert_eq!(raw_os_error(&as_io), Some(2));
    assert_eq!(error_path(&as_io), Some(gone.as_path()));
}

#[test]
fn file_root_is_not_a_directory() {
    let scratch = Scratch::new("fileroot");
    let file = scratch.path().join("file");
    fs::write(&file, "x").unwrap();
    let err = remove_tree_nofollow(&file).unwrap_err();
    assert_eq!(
        err.first().error.raw_os_error(),
        Some(rustix::io::Errno::NOTDIR.raw_os_error())
    );
    assert!(file.exists());
}

/// Busy-waits `micros`; sleeping would be far coarser than the removal itself.
fn spin(micros: u64) {
    let until = Instant::now() + Duration::from_micros(micros);
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}

fn exchange(a: &Path, b: &Path) -> rustix::io::Result<()> {
    rustix::fs::renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE)
}

/// Removes whatever `path` is now (a symlink, or a directory swapped out of the tree).
fn remove_any(path: &Path) {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path).unwrap(),
        Ok(_) => fs::remove_file(path).unwrap(),
        Err(_) => {}
    }
}

#[test]
fn rename_exchange_attack_never_reaches_outside() {
    let scratch = Scratch::new_fast("attack");
    let outside = scratch.path().join("outside");
    make_outside(&outside, 50);
    let before = snapshot(&outside);
    let mut exchanged = 0;
    for round in 0..200u64 {
        let tree = scratch.path().join("tree");
        let sub = tree.join("sub");
        make_inside(&sub, 50);
        // Siblings make the walk take a while and the root split across threads.
        for s in 0..3 {
            make_inside(&tree.join(format!("sibling{s}")), 20);
        }
        // Even rounds swap with a link inside the tree, odd rounds with one outside it.
        let evil = if round % 2 == 0 {
            tree.join("evil")
        } else {
            scratch.path().join("evil")
        };
        symlink(&outside, &evil).unwrap();

        let barrier = Arc::new(Barrier::new(2));
        let attacker = {
            let barrier = Arc::clone(&barrier);
            let (sub, evil) = (sub.clone(), evil.clone());
            std::thread::spawn(move || {
                barrier.wait();
                spin(round % 40 * 5);
                exchange(&sub, &evil).is_ok()
            })
        };
        barrier.wait();
        let _ = remove_tree_nofollow(&tree);
        if attacker.join().unwrap() {
            exchanged += 1;
        }
        assert_eq!(snapshot(&outside), before, "round {round}");
        remove_any(&evil);
        if tree.exists() {
            fs::remove_dir_all(&tree).unwrap();
        }
    }
    // The attack must actually have happened, not only been attempted after the fact.
    assert!(exchanged > 0, "no exchange happened in 200 rounds");
}

#[test]
fn rename_exchange_deep_in_a_long_chain_is_detected_on_reopen() {
    // Deeper than the descriptor window, so climbing back re-opens levels by name.
    let depth = 3 * ferrotemp::remove::WINDOW + 5;
    let scratch = Scratch::new_fast("deepattack");
    let outside = scratch.path().join("outside");
    let chain: PathBuf = std::iter::repeat_n("d", depth).collect();
    fs::create_dir_all(outside.join(&chain)).unwrap();
    let mut level = outside.clone();
    for _ in 0..depth {
        fs::write(level.join("f"), "outside").unwrap();
        level.push("d");
    }
    let before = snapshot(&outside);
    let mut caught = 0;
    for round in 0..60u64 {
        let tree = scratch.path().join("tree");
        fs::create_dir_all(tree.join(&chain)).unwrap();
        let mut level = tree.clone();
        for _ in 0..depth {
            for f in 0..5 {
                fs::write(level.join(format!("f{f}")), "inside").unwrap();
            }
            level.push("d");
        }
        let evil = scratch.path().join("evil");
        symlink(&outside, &evil).unwrap();
        let target = tree.join("d/d");
        let barrier = Arc::new(Barrier::new(2));
        let attacker = {
            let barrier = Arc::clone(&barrier);
            let (target, evil) = (target.clone(), evil.clone());
            std::thread::spawn(move || {
                barrier.wait();
                spin(round * 20);
                let _ = exchange(&target, &evil);
            })
        };
        barrier.wait();
        if let Err(err) = remove_tree_nofollow(&tree) {
            // The walk met the swapped level while climbing back, and refused it.
            if err.failures().iter().any(|f| f.path == target) {
                caught += 1;
            }
        }
        attacker.join().unwrap();
        assert_eq!(snapshot(&outside), before, "round {round}");
        remove_any(&evil);
        if tree.exists() {
            fs::remove_dir_all(&tree).unwrap();
        }
    }
    assert!(
        caught > 0,
        "the swap never landed during a walk in 60 rounds"
    );
}

/// A tree whose directories are read-only (0500), including the root and an empty one.
fn make_read_only_tree(tree: &Path) -> usize {
    make_inside(&tree.join("a/b"), 3);
    fs::create_dir_all(tree.join("a/empty")).unwrap();
    fs::write(tree.join("a/file"), "x").unwrap();
    let dirs = ["a/b/inner", "a/b", "a/empty", "a", ""];
    for d in dirs {
        fs::set_permissions(tree.join(d), fs::Permissions::from_mode(0o500)).unwrap();
    }
    dirs.len()
}

#[test]
fn read_only_dirs_are_fixed_through_their_descriptor() {
    let scratch = Scratch::new("ro");
    let tree = scratch.path().join("tree");
    let read_only = make_read_only_tree(&tree);
    let stats = remove_tree_nofollow_with(&tree, &RemoveOptions::new()).unwrap();
    assert!(!tree.exists());
    // Every 0500 directory went through fchmod, which even root (who needs no write
    // permission) can observe in the count.
    assert_eq!(stats.permissions_fixed, read_only as u64);
}

#[test]
fn symlink_to_read_only_outside_file_keeps_target_mode() {
    let scratch = Scratch::new("romode");
    let outside = scratch.path().join("outside");
    make_outside(&outside, 2);
    fs::set_permissions(outside.join("f0"), fs::Permissions::from_mode(0o400)).unwrap();
    fs::set_permissions(outside.join("inner"), fs::Permissions::from_mode(0o500)).unwrap();
    let before = snapshot(&outside);
    let tree = scratch.path().join("tree");
    fs::create_dir_all(tree.join("ro")).unwrap();
    symlink(outside.join("f0"), tree.join("ro/to_ro_file")).unwrap();
    symlink(outside.join("inner"), tree.join("ro/to_ro_dir")).unwrap();
    symlink(outside.join("f0"), tree.join("to_ro_file")).unwrap();
    fs::set_permissions(tree.join("ro"), fs::Permissions::from_mode(0o500)).unwrap();

    let stats = remove_tree_nofollow_with(&tree, &RemoveOptions::new()).unwrap();
    assert!(!tree.exists());
    assert_eq!(stats.permissions_fixed, 1);
    assert_eq!(mode(&outside.join("f0")), 0o400);
    assert_eq!(mode(&outside.join("inner")), 0o500);
    assert_eq!(snapshot(&outside), before);
}

/// Without `CAP_DAC_OVERRIDE`, `CAP_DAC_READ_SEARCH` and `CAP_FOWNER`, modes bind even root:
/// the read-only tree, plus unreadable (0000) and write-only (0300) directories and an
/// unreadable root, is removed,
/// and read-only targets outside keep their mode.
#[test]
fn read_only_tree_is_removed_without_dac_override() {
    // Without setpriv the scenario still runs as root, checking removal and outside modes.
    if is_root() && !in_child() && which("setpriv") {
        run_in_child(
            "read_only_tree_is_removed_without_dac_override",
            &[
                "setpriv",
                "--bounding-set=-dac_override,-dac_read_search,-fowner",
            ],
        );
        return;
    }
    let scratch = Scratch::new("nodac");
    let tree = scratch.path().join("tree");
    make_read_only_tree(&tree);
    let unreadable = tree.join("a/b/unreadable");
    let write_only = tree.join("a/b/write_only");
    fs::set_permissions(tree.join("a/b"), fs::Permissions::from_mode(0o700)).unwrap();
    for (dir, m) in [(&unreadable, 0o000), (&write_only, 0o300)] {
        fs::create_dir(dir).unwrap();
        fs::write(dir.join("f"), "x").unwrap();
        fs::set_permissions(dir, fs::Permissions::from_mode(m)).unwrap();
    }
    fs::set_permissions(tree.join("a/b"), fs::Permissions::from_mode(0o500)).unwrap();
    let outside = scratch.path().join("outside");
    make_outside(&outside, 1);
    fs::set_permissions(outside.join("f0"), fs::Permissions::from_mode(0o400)).unwrap();
    symlink(outside.join("f0"), tree.join("a/to_ro_file")).unwrap_or_else(|_| {
        // a/ is read-only already; the link goes in through a writable moment.
        fs::set_permissions(tree.join("a"), fs::Permissions::from_mode(0o700)).unwrap();
        symlink(outside.join("f0"), tree.join("a/to_ro_file")).unwrap();
        fs::set_permissions(tree.join("a"), fs::Permissions::from_mode(0o500)).unwrap();
    });
    let before = snapshot(&outside);
    if in_child() {
        // The capabilities really are gone: the plain unlink the walker must avoid fails.
        let err = fs::remove_file(tree.join("a/file")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
    }
    // A root that cannot even be listed is reached through an O_PATH descriptor.
    fs::set_permissions(&tree, fs::Permissions::from_mode(0o000)).unwrap();

    remove_tree_nofollow(&tree).unwrap();
    assert!(!tree.exists());
    assert_eq!(snapshot(&outside), before);
}

fn which(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

#[test]
fn hundred_thousand_entries_are_removed() {
    let scratch = Scratch::new_fast("big");
    let tree = scratch.path().join("tree");
    for d in 0..100 {
        let dir = tree.join(format!("d{d}"));
        fs::create_dir_all(&dir).unwrap();
        for f in 0..999 {
            fs::File::create(dir.join(format!("f{f}"))).unwrap();
        }
    }
    let stats = remove_tree_nofollow_with(&tree, &RemoveOptions::new()).unwrap();
    assert!(!tree.exists());
    assert_eq!(stats.files + stats.dirs, 100 * 999 + 100 + 1);
}

/// Builds `depth` nested directories `d`, each holding a file, through descriptors (the
/// path is far longer than `PATH_MAX`).
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

/// Runs in its own process so the descriptor count is this test's alone, with the
/// descriptor limit lowered far below the depth: holding one descriptor per level would
/// fail with `EMFILE`.
#[test]
fn depth_ten_thousand_keeps_descriptors_bounded() {
    if !in_child() {
        run_in_child("depth_ten_thousand_keeps_descriptors_bounded", &[]);
        return;
    }
    let scratch = Scratch::new_fast("deep");
    let tree = scratch.path().join("tree");
    fs::create_dir(&tree).unwrap();
    make_deep_chain(&tree, 10_000);
    let limit = rustix::process::Rlimit {
        current: Some(256),
        maximum: rustix::process::getrlimit(rustix::process::Resource::Nofile).maximum,
    };
    rustix::process::setrlimit(rustix::process::Resource::Nofile, limit).unwrap();

    let baseline = open_fd_count();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let monitor = {
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let mut peak = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(open_fd_count());
            }
            peak
        })
    };
    // On a thread with a small stack: recursion per level would overflow it.
    let removal = {
        let tree = tree.clone();
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || remove_tree_nofollow_with(&tree, &RemoveOptions::new()))
            .unwrap()
    };
    let result = removal.join().unwrap();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let peak = monitor.join().unwrap();
    let stats = result.unwrap();
    assert!(!tree.exists());
    assert_eq!(stats.dirs, 10_001);
    assert_eq!(stats.files, 10_000);
    let bound = ferrotemp::remove::WINDOW + ferrotemp::remove::MAX_ANCHORS + 8;
    assert!(
        peak <= baseline + bound,
        "peak {peak} fds, baseline {baseline}"
    );
    assert_eq!(open_fd_count(), baseline);
}

#[test]
fn tempdir_drop_removes_the_tree() {
    let scratch = Scratch::new("tdrop");
    let outside = scratch.path().join("outside");
    make_outside(&outside, 2);
    let before = snapshot(&outside);
    let dir = TempDir::new_in(scratch.path()).unwrap();
    let path = dir.path().to_path_buf();
    assert!(path.is_absolute());
    assert_eq!(mode(&path), 0o700);
    make_inside(&path.join("sub"), 3);
    symlink(&outside, path.join("link")).unwrap();
    drop(dir);
    assert!(!path.exists());
    assert_eq!(snapshot(&outside), before);
}

#[test]
fn tempdir_close_removes_and_reports_ok() {
    let scratch = Scratch::new("tclose");
    let dir = TempDir::new_in(scratch.path()).unwrap();
    let path = dir.path().to_path_buf();
    make_inside(&path.join("sub"), 3);
    dir.close().unwrap();
    assert!(!path.exists());
}

#[test]
fn tempdir_close_of_an_already_removed_dir_is_ok() {
    let scratch = Scratch::new("tgone");
    let dir = TempDir::new_in(scratch.path()).unwrap();
    fs::remove_dir(dir.path()).unwrap();
    dir.close().unwrap();
}

#[test]
fn tempdir_close_reports_a_path_replaced_by_a_symlink() {
    let scratch = Scratch::new("tswap");
    let outside = scratch.path().join("outside");
    make_outside(&outside, 2);
    let before = snapshot(&outside);
    let dir = TempDir::new_in(scratch.path()).unwrap();
    let path = dir.path().to_path_buf();
    fs::rename(&path, scratch.path().join("moved")).unwrap();
    symlink(&outside, &path).unwrap();
    let err = dir.close().unwrap_err();
    assert_eq!(err.first().error.raw_os_error(), Some(libc_eloop()));
    assert_eq!(err.first().path, path);
    assert_eq!(snapshot(&outside), before);
}

#[test]
fn tempdir_keep_leaves_the_directory() {
    let scratch = Scratch::new("tkeep");
    let dir = TempDir::new_in(scratch.path()).unwrap();
    let expected = dir.path().to_path_buf();
    let kept = dir.keep();
    assert_eq!(kept, expected);
    assert!(kept.is_dir());
}

#[test]
fn builder_tempdir_uses_prefix_and_suffix() {
    let scratch = Scratch::new("tbuild");
    let dir = Builder::new()
        .prefix("pre-")
        .suffix(".d")
        .tempdir_in(scratch.path())
        .unwrap();
    let name = dir.path().file_name().unwrap().to_str().unwrap().to_owned();
    assert!(name.starts_with("pre-") && name.ends_with(".d"), "{name}");
    assert_eq!(dir.path().parent(), Some(scratch.path()));
}

#[test]
fn builder_try_tempdir_takes_exactly_the_candidate_or_reports_it_taken() {
    let scratch = Scratch::new("ttry");
    let builder = Builder::new();
    let candidate = builder.candidate_path(scratch.path()).unwrap();
    let dir = builder.try_tempdir(&candidate).unwrap().unwrap();
    assert_eq!(dir.path(), candidate);
    assert_eq!(
        try_exclusive_lock(&candidate),
        Err(rustix::io::Errno::WOULDBLOCK)
    );
    assert!(builder.try_tempdir(&candidate).unwrap().is_none());
    dir.close().unwrap();
    assert!(!candidate.exists());
}

fn try_exclusive_lock(path: &Path) -> rustix::io::Result<()> {
    // A separate open file description: flock locks are per description.
    let file = fs::File::open(path).unwrap();
    rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive)
}

#[test]
fn tempdir_holds_a_shared_flock_while_alive() {
    let scratch = Scratch::new("tlock");
    let dir = TempDir::new_in(scratch.path()).unwrap();
    let path = dir.path().to_path_buf();
    assert_eq!(
        try_exclusive_lock(&path),
        Err(rustix::io::Errno::WOULDBLOCK)
    );
    // Shared locks coexist, as other readers of the directory expect.
    let reader = fs::File::open(&path).unwrap();
    rustix::fs::flock(&reader, FlockOperation::NonBlockingLockShared).unwrap();
    drop(reader);

    // Hold a descriptor across the drop to see the lock released on the same inode.
    let survivor = fs::File::open(&path).unwrap();
    drop(dir);
    rustix::fs::flock(&survivor, FlockOperation::NonBlockingLockExclusive).unwrap();
}

#[test]
fn tempdir_keep_releases_the_flock() {
    let scratch = Scratch::new("tkeeplock");
    let dir = TempDir::new_in(scratch.path()).unwrap();
    let path = dir.keep();
    try_exclusive_lock(&path).unwrap();
}

#[test]
fn expected_root_mismatch_removes_nothing() {
    use std::os::unix::fs::MetadataExt;
    let base = Scratch::new("expect-root");
    let original = base.path().join("tree");
    fs::create_dir(&original).unwrap();
    let meta = fs::metadata(&original).unwrap();
    let identity = (meta.dev(), meta.ino());
    // The directory is moved away and another, holding data, takes its path.
    let moved = base.path().join("moved");
    fs::rename(&original, &moved).unwrap();
    fs::create_dir(&original).unwrap();
    fs::write(original.join("precious"), b"keep").unwrap();
    let mut options = RemoveOptions::new();
    options.expect_root(identity.0, identity.1);
    let err = remove_tree_nofollow_with(&original, &options).unwrap_err();
    assert_eq!(err.failures().len(), 1);
    assert_eq!(fs::read(original.join("precious")).unwrap(), b"keep");
    // The directory it was made for is removed with the same expectation.
    remove_tree_nofollow_with(&moved, &options).unwrap();
    assert!(!moved.exists());
}

#[test]
fn tempdir_removes_a_directory_its_owner_made_again_at_its_path() {
    // The standard module's cleanup removes what is at the path then; so does TempDir, when it
    // is a real directory of the same user.
    let base = Scratch::new("tempdir-remade");
    let dir = TempDir::new_in(base.path()).unwrap();
    let path = dir.path().to_path_buf();
    fs::remove_dir(&path).unwrap();
    fs::create_dir(&path).unwrap();
    fs::create_dir(path.join("sub")).unwrap();
    fs::write(path.join("sub/data"), b"scratch").unwrap();
    dir.close().unwrap();
    assert!(!path.exists());
}

#[test]
fn tempdir_removes_an_empty_directory_its_owner_made_again_when_dropped() {
    let base = Scratch::new("tempdir-remade-empty");
    let dir = TempDir::new_in(base.path()).unwrap();
    let path = dir.path().to_path_buf();
    fs::remove_dir(&path).unwrap();
    fs::create_dir(&path).unwrap();
    drop(dir);
    assert!(!path.exists());
}

/// Gives `path` (not following links) to the user `nobody` (65534).
fn give_to_nobody(path: &Path) {
    let uid = rustix::process::Uid::from_raw(65534);
    let gid = rustix::process::Gid::from_raw(65534);
    rustix::fs::chownat(
        CWD,
        path,
        Some(uid),
        Some(gid),
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )
    .unwrap();
}

#[test]
fn tempdir_leaves_another_users_directory_at_its_path() {
    if !is_root() {
        // Skipped: making a directory of another user needs root.
        return;
    }
    for empty in [false, true] {
        let base = Scratch::new("tempdir-replaced");
        let dir = TempDir::new_in(base.path()).unwrap();
        let path = dir.path().to_path_buf();
        fs::rename(&path, base.path().join("moved")).unwrap();
        fs::create_dir(&path).unwrap();
        if !empty {
            fs::write(path.join("precious"), b"keep").unwrap();
            give_to_nobody(&path.join("precious"));
        }
        give_to_nobody(&path);
        let err = dir.close().unwrap_err();
        assert_eq!(err.failures().len(), 1, "{err:?}");
        assert_eq!(err.first().path, path);
        assert_eq!(
            err.first().error.raw_os_error(),
            Some(rustix::io::Errno::PERM.raw_os_error())
        );
        assert!(path.is_dir());
        if !empty {
            assert_eq!(fs::read(path.join("precious")).unwrap(), b"keep");
        }
        // What the value made, moved away, is not reached by path either.
        assert!(base.path().join("moved").is_dir());
    }
}

/// A mount made by a test (as root), unmounted (lazily, so a failed assertion cannot leave it
/// busy) when dropped.
struct Mount(PathBuf);

impl Mount {
    /// `mount --bind source target`, or `mount -t tmpfs` when `source` is `None`; `None` when
    /// not root or mount(8) refuses (a container without `CAP_SYS_ADMIN`).
    fn new(source: Option<&Path>, target: &Path) -> Option<Self> {
        if !is_root() {
            return None;
        }
        let mut cmd = Command::new("mount");
        match source {
            Some(source) => cmd.arg("--bind").arg(source).arg(target),
            None => cmd
                .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
                .arg(target),
        };
        let ok = cmd.status().is_ok_and(|s| s.success());
        ok.then(|| Self(target.to_path_buf()))
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn libc_ebusy() -> i32 {
    rustix::io::Errno::BUSY.raw_os_error()
}

/// A tree holding a bind mount of `outside` (same filesystem: same device, another mount id)
/// at `a/bound` and a tmpfs at `b/tmp`, next to ordinary entries.
struct MountedTree {
    bound: PathBuf,
    tmpfs: PathBuf,
    // Dropped before the scratch directory, in declaration order.
    _mounts: (Mount, Mount),
}

fn mounted_tree(tree: &Path, outside: &Path) -> Option<MountedTree> {
    make_inside(tree, 3);
    let bound = tree.join("a/bound");
    let tmpfs = tree.join("b/tmp");
    fs::create_dir_all(&bound).unwrap();
    fs::create_dir_all(&tmpfs).unwrap();
    fs::write(tree.join("a/file"), "inside").unwrap();
    fs::create_dir_all(tree.join("b/c")).unwrap();
    let bind = Mount::new(Some(outside), &bound)?;
    let tmp = Mount::new(None, &tmpfs)?;
    fs::write(tmpfs.join("canary"), "on the tmpfs").unwrap();
    fs::create_dir(tmpfs.join("sub")).unwrap();
    fs::write(tmpfs.join("sub/canary"), "deeper").unwrap();
    Some(MountedTree {
        bound,
        tmpfs,
        _mounts: (bind, tmp),
    })
}

/// The names in directory `dir`, sorted.
fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn mount_points_inside_are_reported_not_descended_and_the_rest_removed() {
    let scratch = Scratch::new("mnt");
    let outside = scratch.path().join("outside");
    make_outside(&outside, 3);
    let tree = scratch.path().join("tree");
    let Some(mounted) = mounted_tree(&tree, &outside) else {
        // Skipped: mounting needs root and mount(8) (and CAP_SYS_ADMIN).
        return;
    };
    let before = snapshot(&outside);
    let err = remove_tree_nofollow(&tree).unwrap_err();
    let busy: Vec<&Path> = err
        .failures()
        .iter()
        .filter(|f| f.error.raw_os_error() == Some(libc_ebusy()))
        .map(|f| f.path.as_path())
        .collect();
    assert_eq!(busy.len(), 2, "{err:?}");
    assert!(busy.contains(&mounted.bound.as_path()), "{err:?}");
    assert!(busy.contains(&mounted.tmpfs.as_path()), "{err:?}");
    assert_eq!(snapshot(&outside), before);
    assert_eq!(
        fs::read(mounted.tmpfs.join("sub/canary")).unwrap(),
        b"deeper"
    );
    assert_eq!(
        fs::read(mounted.tmpfs.join("canary")).unwrap(),
        b"on the tmpfs"
    );
    // Only the mount points and the directories holding them are left.
    assert_eq!(names_in(&tree), ["a", "b"]);
    assert_eq!(names_in(&tree.join("a")), ["bound"]);
    assert_eq!(names_in(&tree.join("b")), ["tmp"]);
}

#[test]
fn tempdir_close_names_the_mount_point_inside() {
    let scratch = Scratch::new("tmnt");
    let outside = scratch.path().join("outside");
    make_outside(&outside, 2);
    let dir = TempDir::new_in(scratch.path()).unwrap();
    let Some(mounted) = mounted_tree(dir.path(), &outside) else {
        // Skipped: mounting needs root and mount(8) (and CAP_SYS_ADMIN).
        return;
    };
    let before = snapshot(&outside);
    let err = dir.close().unwrap_err();
    let first = err.first();
    assert_eq!(first.error.raw_os_error(), Some(libc_ebusy()), "{err:?}");
    assert!(
        first.path == mounted.bound || first.path == mounted.tmpfs,
        "{err:?}"
    );
    assert_eq!(snapshot(&outside), before);
    assert!(mounted.tmpfs.join("sub/canary").exists());
}

#[test]
fn a_root_that_is_itself_a_mount_point_is_refused_whole() {
    let scratch = Scratch::new("rmnt");
    let outside = scratch.path().join("outside");
    make_outside(&outside, 2);
    let root = scratch.path().join("root");
    fs::create_dir(&root).unwrap();
    let Some(_mount) = Mount::new(Some(&outside), &root) else {
        // Skipped: mounting needs root and mount(8) (and CAP_SYS_ADMIN).
        return;
    };
    let before = snapshot(&outside);
    let err = remove_tree_nofollow(&root).unwrap_err();
    assert_eq!(err.first().path, root);
    assert_eq!(err.first().error.raw_os_error(), Some(libc_ebusy()));
    assert_eq!(snapshot(&outside), before);
}

#[test]
fn tempdirs_hold_no_more_lock_descriptors_than_their_share() {
    if !in_child() {
        run_in_child(
            "tempdirs_hold_no_more_lock_descriptors_than_their_share",
            &[],
        );
        return;
    }
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let hard = getrlimit(Resource::Nofile).maximum;
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(64),
            maximum: hard,
        },
    )
    .unwrap();
    assert_eq!(ferrotemp::dir::max_dir_locks(), 4);
    let scratch = Scratch::new("share");
    let before = open_fd_count();
    let mut dirs: Vec<TempDir> = (0..100)
        .map(|_| TempDir::new_in(scratch.path()).unwrap())
        .collect();
    assert_eq!(open_fd_count(), before + 4);
    // The first four are locked; one of them gone, the next directory gets its place.
    let first = dirs.remove(0);
    let freed = first.path().to_path_buf();
    drop(first);
    assert!(!freed.exists());
    assert_eq!(open_fd_count(), before + 3);
    let next = TempDir::new_in(scratch.path()).unwrap();
    assert_eq!(open_fd_count(), before + 4);
    assert!(try_exclusive_lock(next.path()).is_err());
    // Unlocked directories are removed all the same.
    let paths: Vec<PathBuf> = dirs.iter().map(|d| d.path().to_path_buf()).collect();
    drop(dirs);
    assert!(paths.iter().all(|p| !p.exists()));
}

#[test]
fn observed_removal_announces_each_step_first_and_stops_before_a_refused_one() {
    use ferrotemp::remove::{remove_tree_observed, Step, StepOrder};
    let scratch = Scratch::new("observed");
    let tree = scratch.path().join("tree");
    make_inside(&tree, 2);
    let mut seen = Vec::new();
    let err = remove_tree_observed(
        &tree,
        &RemoveOptions::new(),
        StepOrder::ListingDepthFirst,
        &mut |step| {
            let (kind, name) = match step {
                Step::Open { name, .. } => ("open", name.to_owned()),
                Step::List { .. } => ("list", "".into()),
                Step::Unlink { name, .. } => ("unlink", name.to_owned()),
                Step::Rmdir { name, .. } => ("rmdir", name.to_owned()),
            };
            // Each announced entry is still there when announced.
            if kind == "unlink" {
                assert!(tree.join(&name).exists() || tree.join("inner").join(&name).exists());
            }
            seen.push(kind);
            !(kind == "unlink" && name == "g0")
        },
    )
    .unwrap_err();
    let last = err.failures().last().unwrap();
    assert_eq!(last.path, tree);
    assert_eq!(last.error.kind(), io::ErrorKind::Interrupted);
    assert!(tree.join("inner/g0").exists());
    assert_eq!(seen.first(), Some(&"open"));
    assert!(!seen.contains(&"rmdir"));
    // Not refused: everything goes, the root last.
    let mut steps = 0;
    remove_tree_observed(
        &tree,
        &RemoveOptions::new(),
        StepOrder::FilesThenDirsLastFirst,
        &mut |_| {
            steps += 1;
            true
        },
    )
    .unwrap();
    assert!(!tree.exists());
    // What the first walk left: open, list, open inner, list, unlink g0, rmdir inner, rmdir.
    assert_eq!(steps, 7);
}

#[test]
fn a_tempdir_closed_with_one_thread_removes_its_whole_tree() -> std::io::Result<()> {
    let dir = ferrotemp::TempDir::new()?;
    for i in 0..20 {
        let sub = dir.path().join(format!("d{i}"));
        std::fs::create_dir(&sub)?;
        for j in 0..50 {
            std::fs::write(sub.join(format!("f{j}")), b"x")?;
        }
    }
    let path = dir.path().to_path_buf();
    dir.close_with_threads(1)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    assert!(!path.exists());
    Ok(())
}
