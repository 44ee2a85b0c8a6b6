//! Workspaces: limits refuse with EDQUOT naming the workspace, usage is measured as `du`
//! does, and the end removes or keeps the tree as the policy says.
#![cfg(unix)]

mod guard_support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::sync::MutexGuard;

use ferrotemp::guard::{self, OwnerStatus, WorkspaceMeta};
use ferrotemp::workspace::{KeepPolicy, WorkspaceBuilder};

use guard_support::{config_with_registry, serial, ConfigRestore};

/// A scratch parent for workspaces, with this process's guard recording into a registry of
/// its own inside it (never the real one) while the value lives; one test at a time.
struct Scratch {
    dir: ferrotemp::TempDir,
    _config: ConfigRestore,
    _serial: MutexGuard<'static, ()>,
}

impl Scratch {
    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn registry(&self) -> std::path::PathBuf {
        self.dir.path().join("registry")
    }
}

fn scratch() -> Scratch {
    let serial = serial();
    let dir = ferrotemp::TempDir::new().unwrap();
    let config = ConfigRestore::set(config_with_registry(&dir.path().join("registry")));
    Scratch {
        dir,
        _config: config,
        _serial: serial,
    }
}

fn assert_edquot(err: &std::io::Error, path: &Path) {
    assert_eq!(
        ferrotemp::error::raw_os_error(err),
        Some(libc::EDQUOT),
        "{err}"
    );
    assert_eq!(ferrotemp::error::error_path(err), Some(path));
}

fn du_bytes(path: &Path) -> u64 {
    let out = Command::new("du")
        .arg("-B1")
        .arg("-s")
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    text.split_whitespace().next().unwrap().parse().unwrap()
}

#[test]
fn workspace_dir_is_0700_named_after_the_job_in_the_dir_given() {
    let parent = scratch();
    let ws = WorkspaceBuilder::new("resize/42")
        .keep(Some(KeepPolicy::Never))
        .dir(Some(parent.path().to_path_buf()))
        .create()
        .unwrap();
    assert_eq!(ws.path().parent(), Some(parent.path()));
    assert_eq!(
        std::fs::read_dir(parent.path()).unwrap().count(),
        2,
        "the workspace and the registry"
    );
    let base = ws.path().file_name().unwrap().to_str().unwrap();
    assert!(base.starts_with("resize_42-"), "{base}");
    let meta = std::fs::symlink_metadata(ws.path()).unwrap();
    assert!(meta.is_dir());
    assert_eq!(meta.permissions().mode() & 0o777, 0o700);
    assert_eq!(ws.name(), "resize/42");
}

#[test]
fn creation_at_the_file_limit_is_refused_with_edquot_until_an_entry_goes() {
    let parent = scratch();
    let ws = WorkspaceBuilder::new("files")
        .max_files(Some(2))
        .dir(Some(parent.path().to_path_buf()))
        .create()
        .unwrap();
    ws.reserve_create().unwrap();
    ws.reserve_create().unwrap();
    let refusals = ferrotemp::stats::stats().quota_refusals;
    assert_edquot(&ws.reserve_create().unwrap_err(), ws.path());
    assert!(ferrotemp::stats::stats().quota_refusals > refusals);
    assert_edquot(&ws.check_create().unwrap_err(), ws.path());
    ws.note_removed(0);
    ws.reserve_create().unwrap();
}

#[test]
fn a_write_past_max_bytes_is_refused_before_anything_is_counted() {
    let parent = scratch();
    let ws = WorkspaceBuilder::new("bytes")
        .max_bytes(Some(1000))
        .dir(Some(parent.path().to_path_buf()))
        .create()
        .unwrap();
    ws.reserve_write(600).unwrap();
    assert_edquot(&ws.reserve_write(401).unwrap_err(), ws.path());
    assert_eq!(ws.written_bytes(), 600);
    ws.reserve_write(400).unwrap();
    // At the limit: a creation is refused too.
    assert_edquot(&ws.check_create().unwrap_err(), ws.path());
    ws.release_bytes(1000);
    ws.check_create().unwrap();
    assert!(ws.usage().unwrap().peak_bytes >= 1000);
}

#[test]
fn usage_matches_du_and_counts_files_written_by_other_code() {
    let parent = scratch();
    let ws = WorkspaceBuilder::new("measure")
        .dir(Some(parent.path().to_path_buf()))
        .create()
        .unwrap();
    std::fs::create_dir(ws.path().join("sub")).unwrap();
    std::fs::write(ws.path().join("sub/a"), vec![7u8; 10_000]).unwrap();
    std::fs::write(ws.path().join("b"), b"x").unwrap();
    std::os::unix::fs::symlink("/etc", ws.path().join("outside")).unwrap();
    let status = Command::new("sh")
        .arg("-c")
        .arg("head -c 70000 /dev/zero > \"$1/from-shell\"")
        .arg("sh")
        .arg(ws.path())
        .status()
        .unwrap();
    assert!(status.success());
    let usage = ws.usage().unwrap();
    assert_eq!(usage.bytes, du_bytes(ws.path()));
    // a, b, the symlink (not followed), from-shell.
    assert_eq!(usage.files, 4);
    assert_eq!(usage.dirs, 1);
    assert!(usage.peak_bytes >= usage.bytes);
}

#[test]
fn hard_linked_blocks_count_once_as_du_counts_them() {
    let parent = scratch();
    let ws = WorkspaceBuilder::new("links")
        .dir(Some(parent.path().to_path_buf()))
        .create()
        .unwrap();
    std::fs::write(ws.path().join("data"), vec![3u8; 50_000]).unwrap();
    for i in 0..3 {
        std::fs::hard_link(ws.path().join("data"), ws.path().join(format!("link{i}"))).unwrap();
    }
    let bytes = ws.usage().unwrap().bytes;
    assert_eq!(bytes, du_bytes(ws.path()));
    assert!(bytes < 100_000, "{bytes}");
}

#[test]
fn a_measurement_over_a_limit_refuses_creations_until_one_finds_it_under() {
    let parent = scratch();
    let ws = WorkspaceBuilder::new("external")
        .max_bytes(Some(8192))
        .dir(Some(parent.path().to_path_buf()))
        .create()
        .unwrap();
    std::fs::write(ws.path().join("big"), vec![1u8; 100_000]).unwrap();
    ws.check_create().unwrap();
    assert!(ws.usage().unwrap().bytes > 8192);
    assert_edquot(&ws.check_create().unwrap_err(), ws.path());
    std::fs::remove_file(ws.path().join("big")).unwrap();
    ws.usage().unwrap();
    ws.check_create().unwrap();
}

#[test]
fn finish_removes_the_tree_on_success_and_on_error_keeps_it_on_failure() {
    let parent = scratch();
    let make = || {
        WorkspaceBuilder::new("job")
            .keep(Some(KeepPolicy::OnError))
            .dir(Some(parent.path().to_path_buf()))
            .create()
            .unwrap()
    };
    let ok = make();
    std::fs::create_dir_all(ok.path().join("x/y")).unwrap();
    let ending = ok.finish(true).unwrap();
    assert!(!ending.kept);
    assert_eq!(ending.usage.dirs, 2);
    assert!(!ok.path().exists());
    // The ending stays: a second finish changes nothing.
    assert!(!ok.finish(false).unwrap().kept);

    let failed = make();
    std::fs::write(failed.path().join("evidence"), b"x").unwrap();
    let ending = failed.finish(false).unwrap();
    assert!(ending.kept);
    assert_eq!(ending.usage.files, 1);
    assert!(failed.path().join("evidence").exists());
    assert_eq!(failed.usage().unwrap(), ending.usage);
    std::fs::remove_dir_all(failed.path()).unwrap();
}

#[test]
fn keep_always_keeps_and_never_removes_even_on_failure() {
    let parent = scratch();
    let always = WorkspaceBuilder::new("always")
        .keep(Some(KeepPolicy::Always))
        .dir(Some(parent.path().to_path_buf()))
        .create()
        .unwrap();
    let path = always.path().to_path_buf();
    drop(always);
    assert!(path.is_dir());
    let never = WorkspaceBuilder::new("never")
        .keep(Some(KeepPolicy::Never))
        .dir(Some(parent.path().to_path_buf()))
        .create()
        .unwrap();
    let path = never.path().to_path_buf();
    assert!(!never.finish(false).unwrap().kept);
    assert!(!path.exists());
}

#[test]
fn a_drop_while_panicking_is_a_failed_job() {
    let parent = scratch();
    let dir = parent.path().to_path_buf();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
    let seen2 = seen.clone();
    let result = std::thread::spawn(move || {
        let ws = WorkspaceBuilder::new("panics")
            .keep(Some(KeepPolicy::OnError))
            .dir(Some(dir))
            .create()
            .unwrap();
        *seen2.lock().unwrap() = Some(ws.path().to_path_buf());
        panic!("job failed");
    })
    .join();
    assert!(result.is_err());
    let path = seen.lock().unwrap().clone().unwrap();
    assert!(path.is_dir(), "kept after the panic");
    std::fs::remove_dir(&path).unwrap();
}

#[test]
fn a_drop_without_finish_removes_the_tree() {
    let parent = scratch();
    let ws = WorkspaceBuilder::new("dropped")
        .keep(Some(KeepPolicy::OnError))
        .dir(Some(parent.path().to_path_buf()))
        .create()
        .unwrap();
    std::fs::write(ws.path().join("f"), b"x").unwrap();
    let path = ws.path().to_path_buf();
    drop(ws);
    assert!(!path.exists());
}

#[test]
fn the_record_carries_the_workspace_name_and_limits_until_it_is_kept() {
    let parent = scratch();
    let ws = WorkspaceBuilder::new("resize-42")
        .max_bytes(Some(2 << 30))
        .max_files(Some(10_000))
        .keep(Some(KeepPolicy::Always))
        .dir(Some(parent.path().to_path_buf()))
        .create()
        .unwrap();
    let listed = guard::list_records(Some(&parent.registry())).unwrap();
    let ours: Vec<_> = listed
        .iter()
        .filter(|r| r.status == OwnerStatus::Alive && r.pid == std::process::id())
        .flat_map(|r| r.entries.iter())
        .filter(|e| e.path == ws.path())
        .collect();
    assert_eq!(ours.len(), 1, "{listed:?}");
    assert_eq!(
        ours[0].workspace,
        Some(WorkspaceMeta {
            name: "resize-42".into(),
            command: None,
            max_bytes: Some(2 << 30),
            max_files: Some(10_000),
        })
    );
    assert!(ws.finish(true).unwrap().kept);
    let listed = guard::list_records(Some(&parent.registry())).unwrap();
    assert!(
        listed
            .iter()
            .all(|r| r.entries.iter().all(|e| e.path != ws.path())),
        "{listed:?}"
    );
    assert!(ws.path().is_dir());
    std::fs::remove_dir(ws.path()).unwrap();
}
