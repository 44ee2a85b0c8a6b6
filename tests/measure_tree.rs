//! `measure_tree` against `du -B1 -s` (bytes) and `find` (entries), on the temp directory and
//! on tmpfs, with the shapes that make counting hard: sparse files, hard links, symlinks out
//! of the tree, a tree deeper than the descriptor window, entries vanishing during the walk.
#![cfg(target_os = "linux")]

use std::fs;
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use ferrotemp::error::{error_path, raw_os_error};
use ferrotemp::{measure_tree, Builder, TreeUsage};

struct Scratch(PathBuf);

impl Scratch {
    fn new_in(tag: &str, base: &Path) -> Self {
        let path = Builder::new()
            .prefix(format!("ft-measure-{tag}-"))
            .create_unowned_dir_in(base)
            .unwrap();
        Self(path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The temp directory and, when there is one, tmpfs: block accounting differs between them.
fn bases() -> Vec<PathBuf> {
    let mut bases = vec![std::env::temp_dir()];
    if Path::new("/dev/shm").is_dir() {
        bases.push(PathBuf::from("/dev/shm"));
    }
    bases
}

fn du_bytes(path: &Path) -> u64 {
    let out = Command::new("du")
        .arg("-B1")
        .arg("-s")
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "du failed: {out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    text.split_whitespace().next().unwrap().parse().unwrap()
}

/// (files, dirs) below `path` as `find` counts them, hard links once (by inode).
fn find_counts(path: &Path) -> (u64, u64) {
    let count = |args: &[&str]| -> u64 {
        let out = Command::new("find").arg(path).args(args).output().unwrap();
        assert!(out.status.success(), "find failed: {out:?}");
        let text = String::from_utf8(out.stdout).unwrap();
        let mut inodes: Vec<&str> = text.lines().collect();
        inodes.sort_unstable();
        inodes.dedup();
        inodes.len() as u64
    };
    (
        count(&["-mindepth", "1", "!", "-type", "d", "-printf", "%i\\n"]),
        count(&["-mindepth", "1", "-type", "d", "-printf", "%i\\n"]),
    )
}

fn assert_matches_du_and_find(path: &Path) -> TreeUsage {
    let usage = measure_tree(path).unwrap();
    assert_eq!(usage.bytes, du_bytes(path), "bytes of {}", path.display());
    let (files, dirs) = find_counts(path);
    assert_eq!(
        (usage.files, usage.dirs),
        (files, dirs),
        "{}",
        path.display()
    );
    usage
}

fn write(path: &Path, len: usize) {
    fs::write(path, vec![b'x'; len]).unwrap();
}

#[test]
fn mixed_tree_matches_du_and_find() {
    for base in bases() {
        let s = Scratch::new_in("mixed", &base);
        let root = &s.0;
        fs::create_dir_all(root.join("a/b/c")).unwrap();
        fs::create_dir(root.join("empty")).unwrap();
        write(&root.join("one-byte"), 1);
        write(&root.join("a/4k"), 4096);
        write(&root.join("a/b/big"), 300_000);
        write(&root.join("a/b/c/odd"), 5000);
        fs::File::create(root.join("a/zero")).unwrap();
        // Sparse: 10 MiB long, one block written at the end.
        let mut sparse = fs::File::create(root.join("sparse")).unwrap();
        sparse.seek(SeekFrom::Start(10 << 20)).unwrap();
        sparse.write_all(b"end").unwrap();
        drop(sparse);
        // Hard links inside the tree count once.
        fs::hard_link(root.join("a/b/big"), root.join("big-again")).unwrap();
        fs::hard_link(root.join("a/b/big"), root.join("a/b/c/big-thrice")).unwrap();
        symlink("a/4k", root.join("link-to-file")).unwrap();
        let usage = assert_matches_du_and_find(root);
        // one-byte, 4k, big (once), odd, zero, sparse, link-to-file.
        assert_eq!(usage.files, 7);
        assert_eq!(usage.dirs, 4);
    }
}

#[test]
fn symlinks_out_of_the_tree_are_not_followed() {
    let outside = Scratch::new_in("outside", &std::env::temp_dir());
    write(&outside.0.join("large"), 1 << 20);
    let s = Scratch::new_in("links", &std::env::temp_dir());
    symlink(&outside.0, s.0.join("to-dir")).unwrap();
    symlink(outside.0.join("large"), s.0.join("to-file")).unwrap();
    let usage = assert_matches_du_and_find(&s.0);
    assert_eq!((usage.files, usage.dirs), (2, 0));
    assert!(usage.bytes < 1 << 20, "followed a link: {usage:?}");
}

#[test]
fn tree_deeper_than_the_descriptor_window_is_counted_whole() {
    let s = Scratch::new_in("deep", &std::env::temp_dir());
    let mut dir = s.0.clone();
    // Past the window and several anchor strides, with files at each level and a side
    // branch every 10 levels, so the walk climbs back through closed levels.
    for level in 0..150 {
        dir.push("d");
        fs::create_dir(&dir).unwrap();
        write(&dir.join("f"), 10);
        if level % 10 == 0 {
            fs::create_dir(dir.join("side")).unwrap();
            write(&dir.join("side/g"), 10);
        }
    }
    let usage = assert_matches_du_and_find(&s.0);
    assert_eq!(usage.dirs, 150 + 15);
    assert_eq!(usage.files, 150 + 15);
}

#[test]
fn many_files_match_du() {
    for base in bases() {
        let s = Scratch::new_in("many", &base);
        for d in 0..10 {
            let dir = s.0.join(format!("d{d}"));
            fs::create_dir(&dir).unwrap();
            for f in 0..300 {
                write(&dir.join(format!("f{f}")), (f * 37) % 9000);
            }
        }
        let usage = assert_matches_du_and_find(&s.0);
        assert_eq!((usage.files, usage.dirs), (3000, 10));
    }
}

#[test]
fn root_that_is_a_file_or_a_symlink_is_one_file() {
    let s = Scratch::new_in("rootfile", &std::env::temp_dir());
    write(&s.0.join("file"), 5000);
    symlink(&s.0, s.0.join("link-to-dir")).unwrap();
    let file = measure_tree(&s.0.join("file")).unwrap();
    assert_eq!(
        (file.bytes, file.files, file.dirs),
        (du_bytes(&s.0.join("file")), 1, 0)
    );
    let link = measure_tree(&s.0.join("link-to-dir")).unwrap();
    assert_eq!(
        (link.files, link.dirs),
        (1, 0),
        "the root symlink was followed"
    );
    assert_eq!(link.bytes, du_bytes(&s.0.join("link-to-dir")));
}

#[test]
fn missing_root_is_not_found_naming_the_path() {
    let s = Scratch::new_in("missing", &std::env::temp_dir());
    let missing = s.0.join("nope");
    let err = measure_tree(&missing).unwrap_err();
    assert_eq!(raw_os_error(&err), Some(libc_enoent()));
    assert_eq!(error_path(&err), Some(missing.as_path()));
}

fn libc_enoent() -> i32 {
    rustix::io::Errno::NOENT.raw_os_error()
}

#[test]
fn unreadable_directory_is_an_error_naming_it() {
    if rustix::process::geteuid().is_root() {
        // Root reads a mode-000 directory anyway: there is no error to provoke.
        return;
    }
    let s = Scratch::new_in("unreadable", &std::env::temp_dir());
    let locked = s.0.join("locked");
    fs::create_dir(&locked).unwrap();
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).unwrap();
    let err = measure_tree(&s.0).unwrap_err();
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o700)).unwrap();
    assert_eq!(error_path(&err), Some(locked.as_path()));
}

#[test]
fn entries_vanishing_during_the_walk_are_no_error() {
    let s = Scratch::new_in("churn", &std::env::temp_dir());
    for d in 0..20 {
        fs::create_dir(s.0.join(format!("d{d}"))).unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let churn = {
        let stop = Arc::clone(&stop);
        let root = s.0.clone();
        std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let dir = root.join(format!("d{}", i % 20));
                let sub = dir.join(format!("s{i}"));
                let _ = fs::create_dir(&sub);
                let _ = fs::write(sub.join("f"), b"data");
                let _ = fs::remove_dir_all(&dir);
                let _ = fs::create_dir(&dir);
                i += 1;
            }
        })
    };
    for _ in 0..300 {
        if let Err(err) = measure_tree(&s.0) {
            stop.store(true, Ordering::Relaxed);
            churn.join().unwrap();
            panic!("measuring a changing tree failed: {err}");
        }
    }
    stop.store(true, Ordering::Relaxed);
    churn.join().unwrap();
}
