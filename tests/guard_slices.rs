//! Sweeps in bounded slices: entry, record and time budgets, the cursor a slice resumes from, and
//! the automatic sweep that runs a slice inside each guarded creation.
#![cfg(unix)]

mod guard_support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ferrotemp::guard::{self, EntryKind, GuardConfig, SweepOptions};
use ferrotemp::Builder;

use guard_support::children::{spawn_crash_child, ChildProcess};
use guard_support::forge::{dead_record_path, forge_dead_record, plant_record_file};
use guard_support::lists::read_list;
use guard_support::{
    cleanup, config_with_registry, record_count, removed_set, scratch, serial, sweep_registry,
    ConfigRestore,
};

fn big_tree(dir: &Path, files: usize) -> u64 {
    std::fs::create_dir(dir).unwrap();
    for i in 0..files {
        std::fs::write(dir.join(format!("f{i}")), b"0123456789").unwrap();
    }
    10 * files as u64
}

#[test]
fn the_sweep_budget_covers_the_work_inside_trees() {
    let _serial = serial();
    let scratch = scratch("budget");
    let registry = scratch.join("registry");
    let _config = ConfigRestore::set(config_with_registry(&registry));
    let tree = scratch.join("tree");
    plant_record_file(&dead_record_path(&registry));
    let total = big_tree(&tree, 2000);
    let file = scratch.join("file");
    std::fs::write(&file, b"f").unwrap();
    let forged = forge_dead_record(
        &registry,
        &[(&tree, EntryKind::Dir), (&file, EntryKind::File)],
    );

    // An entry budget: the tree's walk stops within it (bytes as counted so far), and the
    // work removing it uses the rest, so the next entry is left for a later sweep.
    let report = guard::sweep(&SweepOptions {
        registry: Some(registry.clone()),
        max_entries: Some(100),
        ..SweepOptions::default()
    })
    .unwrap();
    assert!(!report.complete);
    assert_eq!(removed_set(&report), BTreeSet::from([tree.clone()]));
    assert!(
        report.bytes() > 0 && report.bytes() < total,
        "{}",
        report.bytes()
    );
    assert!(file.exists() && forged.exists());
    let rest = sweep_registry(&registry, false);
    assert!(rest.complete);
    assert_eq!(removed_set(&rest), BTreeSet::from([file.clone()]));
    assert!(!forged.exists());

    // A time budget stops the removal of a tree midway; a later sweep finishes it.
    plant_record_file(&dead_record_path(&registry));
    big_tree(&tree, 5000);
    let forged = forge_dead_record(&registry, &[(&tree, EntryKind::Dir)]);
    let report = guard::sweep(&SweepOptions {
        registry: Some(registry.clone()),
        max_time: Some(Duration::from_millis(1)),
        ..SweepOptions::default()
    })
    .unwrap();
    assert!(!report.complete);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(tree.exists() && forged.exists());
    let rest = sweep_registry(&registry, false);
    assert!(rest.complete && rest.errors.is_empty(), "{:?}", rest.errors);
    assert_eq!(removed_set(&rest), BTreeSet::from([tree.clone()]));
    assert!(!tree.exists() && !forged.exists());
    cleanup(&scratch);
}

#[test]
fn a_later_process_reclaims_a_dead_ones_entries_by_itself() {
    let _serial = serial();
    let (scratch, registry, mut child) = spawn_crash_child("auto", &[]);
    let guarded = read_list(&scratch.join("guarded"));
    child.kill();
    // Enough creations for the slices to get through the dead record (and a few live
    // ones of other tests): reclaimed by the time the child reports, with no waiting.
    let _sweeper = ChildProcess::spawn(
        "sweeper",
        &scratch,
        &registry,
        &[("FERROTEMP_GUARD_SWEEP", "1"), ("FT_GUARD_CREATIONS", "50")],
    );
    let report: Vec<PathBuf> = read_list(&scratch.join("sweeper")).into_iter().collect();
    let remaining: Vec<_> = guarded.iter().filter(|p| p.exists()).collect();
    assert!(remaining.is_empty(), "not reclaimed: {remaining:?}");
    // Its own entry is live and stays; no thread was started for the sweep.
    let own = report.iter().find(|p| p.is_absolute()).unwrap();
    assert!(own.exists());
    let count = |label: &str| {
        let prefix = format!("threads-{label}-");
        report
            .iter()
            .find_map(|p| p.to_str()?.strip_prefix(&prefix)?.parse::<usize>().ok())
            .unwrap()
    };
    assert_eq!(count("before"), count("most"), "{report:?}");
    cleanup(&scratch);
}

#[test]
fn registrations_sweep_in_bounded_slices() {
    let _serial = serial();
    let scratch = scratch("slices");
    let registry = scratch.join("registry");
    let _config = ConfigRestore::set(config_with_registry(&registry));
    // The record must be older than its entries (a sweep never removes what predates it).
    plant_record_file(&dead_record_path(&registry));
    let files: Vec<PathBuf> = (0..40).map(|i| scratch.join(format!("f{i:02}"))).collect();
    for file in &files {
        std::fs::write(file, b"x").unwrap();
    }
    let entries: Vec<(&Path, EntryKind)> = files
        .iter()
        .map(|f| (f.as_path(), EntryKind::File))
        .collect();
    let forged = forge_dead_record(&registry, &entries);
    guard::set_config(GuardConfig {
        auto_sweep: true,
        ..config_with_registry(&registry)
    });
    let mut builder = Builder::new();
    builder.guarded(true);
    let mut live = vec![ferrotemp::NamedTempFile::with_builder_in(&builder, &scratch).unwrap()];
    // One slice examines at most 8 entries (fewer if its time cap comes first).
    let removed = files.iter().filter(|f| !f.exists()).count();
    assert!(
        removed <= 8,
        "{removed} entries removed by one registration"
    );
    let mut registrations = 1;
    while forged.exists() {
        assert!(registrations < 500, "the slices made no progress");
        live.push(ferrotemp::NamedTempFile::with_builder_in(&builder, &scratch).unwrap());
        registrations += 1;
    }
    assert!(
        registrations >= 5,
        "40 entries in {registrations} slices of 8"
    );
    assert!(files.iter().all(|f| !f.exists()));
    // The live entries of this process were never touched.
    assert!(live.iter().all(|f| f.path().exists()));
    drop(live);
    cleanup(&scratch);
}

#[test]
fn a_sweep_goes_on_from_its_cursor_until_done() {
    let _serial = serial();
    let scratch = scratch("cursor");
    let registry = scratch.join("registry");
    let _config = ConfigRestore::set(config_with_registry(&registry));
    // The record must be older than its entries (a sweep never removes what predates it).
    plant_record_file(&dead_record_path(&registry));
    let files: Vec<PathBuf> = (0..10).map(|i| scratch.join(format!("f{i}"))).collect();
    for file in &files {
        std::fs::write(file, b"x").unwrap();
    }
    let entries: Vec<(&Path, EntryKind)> = files
        .iter()
        .map(|f| (f.as_path(), EntryKind::File))
        .collect();
    let forged = forge_dead_record(&registry, &entries);
    let mut resume = None;
    let mut removed = Vec::new();
    let mut slices = 0;
    loop {
        slices += 1;
        assert!(slices <= 10, "no progress");
        let report = guard::sweep(&SweepOptions {
            registry: Some(registry.clone()),
            max_entries: Some(3),
            resume: resume.take(),
            ..SweepOptions::default()
        })
        .unwrap();
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        // Each slice takes the next entries, never one already done.
        assert!(report.removed.len() <= 3);
        removed.extend(report.removed.into_iter().map(|e| e.path));
        assert_eq!(report.complete, report.resume.is_none());
        match report.resume {
            Some(cursor) => {
                assert!(
                    forged.exists(),
                    "the record stays until its last entry is done"
                );
                resume = Some(cursor);
            }
            None => break,
        }
    }
    assert_eq!(slices, 4);
    assert_eq!(removed, files);
    assert!(files.iter().all(|f| !f.exists()));
    assert!(!forged.exists());

    // A record budget: live records count too, so a slice of one record goes one by one.
    plant_record_file(&dead_record_path(&registry));
    let file = scratch.join("last");
    std::fs::write(&file, b"x").unwrap();
    // (A forged record copies every entry this process has recorded: the live one after.)
    let forged = forge_dead_record(&registry, &[(&file, EntryKind::File)]);
    let live =
        ferrotemp::NamedTempFile::with_builder_in(Builder::new().guarded(true), &scratch).unwrap();
    assert_eq!(record_count(&registry), 2);
    let mut slices = 0;
    let mut resume = None;
    loop {
        slices += 1;
        let report = guard::sweep(&SweepOptions {
            registry: Some(registry.clone()),
            max_records: Some(1),
            resume: resume.take(),
            ..SweepOptions::default()
        })
        .unwrap();
        assert!(report.records_live <= 1);
        match report.resume {
            Some(cursor) => resume = Some(cursor),
            None => break,
        }
    }
    assert_eq!(slices, 2);
    assert!(!file.exists() && !forged.exists());
    assert!(live.path().exists());
    cleanup(&scratch);
}

#[test]
fn slices_with_a_tiny_time_cap_still_get_through_a_big_directory_entry() {
    let _serial = serial();
    let scratch = scratch("bigtree-slices");
    let registry = scratch.join("registry");
    let _config = ConfigRestore::set(config_with_registry(&registry));
    plant_record_file(&dead_record_path(&registry));
    let tree = scratch.join("tree");
    std::fs::create_dir(&tree).unwrap();
    for i in 0..3000 {
        std::fs::write(tree.join(format!("f{i}")), b"x").unwrap();
    }
    let forged = forge_dead_record(&registry, &[(&tree, EntryKind::Dir)]);
    // The automatic sweep's slices: 8 entries, 16 records, half a millisecond.
    let mut resume = None;
    let mut slices = 0;
    while tree.exists() {
        slices += 1;
        assert!(slices <= 200, "no progress on the tree in 200 slices");
        let report = guard::sweep(&SweepOptions {
            registry: Some(registry.clone()),
            max_entries: Some(8),
            max_records: Some(16),
            max_time: Some(Duration::from_micros(500)),
            resume: resume.take(),
            ..SweepOptions::default()
        })
        .unwrap();
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        assert!(
            report.resume.is_some() || !tree.exists(),
            "the sweep ended with the tree still there: {report:?}"
        );
        resume = report.resume;
    }
    assert!(!forged.exists());
    cleanup(&scratch);
}
