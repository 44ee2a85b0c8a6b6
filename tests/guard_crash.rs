//! The crash guard with real processes: a child that creates guarded and unguarded entries is
//! killed with SIGKILL, or exits normally, and a sweep afterwards removes exactly what it left.
#![cfg(unix)]

mod guard_support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use guard_support::children::{run_exiting_child, spawn_crash_child};
use guard_support::lists::read_list;
use guard_support::{cleanup, record_count, removed_set, serial, sweep_registry};

#[test]
fn sweep_removes_exactly_the_guarded_entries_of_a_killed_process() {
    let _serial = serial();
    let (scratch, registry, mut child) = spawn_crash_child("killed", &[]);
    let guarded = read_list(&scratch.join("guarded"));
    let unguarded = read_list(&scratch.join("unguarded"));
    assert_eq!(guarded.len(), 4);
    assert_eq!(record_count(&registry), 1);
    child.kill();

    let report = sweep_registry(&registry, false);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(removed_set(&report), guarded);
    assert_eq!(report.records_removed, 1);
    // Files of 100, 200 and 300 bytes, and a directory holding 1,000.
    assert_eq!(report.bytes(), 1600);
    for path in &guarded {
        assert!(
            std::fs::symlink_metadata(path).is_err(),
            "{} left",
            path.display()
        );
    }
    for path in &unguarded {
        assert!(path.exists(), "{} removed", path.display());
    }
    assert!(Path::new("/etc/passwd").exists());
    assert_eq!(record_count(&registry), 0);
    // Only what the child was told to keep remains in its work directory.
    let left: BTreeSet<PathBuf> = std::fs::read_dir(scratch.join("work"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(left, unguarded);
    cleanup(&scratch);
}

#[test]
fn a_normal_exit_leaves_no_record_behind() {
    let _serial = serial();
    let (scratch, registry, _) = run_exiting_child("exit-clean", &[]);
    assert_eq!(record_count(&registry), 0);
    assert_eq!(std::fs::read_dir(&registry).unwrap().count(), 0);
    cleanup(&scratch);
}

#[test]
fn a_normal_exit_with_live_entries_leaves_them_to_a_sweep() {
    let _serial = serial();
    let (scratch, registry, _) = run_exiting_child("exit-leak", &[("FT_GUARD_LEAK", "1")]);
    let live = std::fs::read_dir(scratch.join("work"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect::<BTreeSet<_>>();
    assert_eq!(live.len(), 1);
    assert_eq!(record_count(&registry), 1);
    let report = sweep_registry(&registry, false);
    assert_eq!(removed_set(&report), live);
    assert_eq!(record_count(&registry), 0);
    cleanup(&scratch);
}

#[test]
fn dry_run_removes_nothing_and_reports_what_would_go() {
    let _serial = serial();
    let (scratch, registry, mut child) = spawn_crash_child("dryrun", &[]);
    let guarded = read_list(&scratch.join("guarded"));
    child.kill();
    let report = sweep_registry(&registry, true);
    assert!(report.dry_run);
    assert_eq!(removed_set(&report), guarded);
    assert_eq!(report.bytes(), 1600);
    for path in &guarded {
        assert!(path.exists());
    }
    assert_eq!(record_count(&registry), 1);
    let report = sweep_registry(&registry, false);
    assert_eq!(removed_set(&report), guarded);
    cleanup(&scratch);
}
