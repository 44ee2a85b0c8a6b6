//! Workspace entries in the crash guard's records: their metadata is recorded and read back
//! by `list_records`, a dead owner's workspace is listed as awaiting a sweep, and the sweep
//! removes it exactly as any guarded directory.
#![cfg(unix)]

mod guard_support;

use std::path::PathBuf;

use ferrotemp::guard::{self, EntryKind, OwnerStatus, RecordListing, WorkspaceMeta};

use guard_support::forge::{copy_record_as_dead, dead_record_path, plant_record_file};
use guard_support::{
    cleanup, config_with_registry, removed_set, scratch, serial, sweep_registry, ConfigRestore,
};

fn meta(name: &str) -> WorkspaceMeta {
    WorkspaceMeta {
        name: name.to_owned(),
        command: None,
        max_bytes: Some(2 << 30),
        max_files: None,
    }
}

fn listing_with(records: &[RecordListing], path: &std::path::Path) -> RecordListing {
    records
        .iter()
        .find(|r| r.entries.iter().any(|e| e.path == path))
        .unwrap_or_else(|| panic!("{} not listed in {records:?}", path.display()))
        .clone()
}

#[test]
fn a_workspace_is_listed_with_its_metadata_under_this_live_process() {
    let _serial = serial();
    let scratch = scratch("ws-live");
    let registry = scratch.join("registry");
    let _config = ConfigRestore::set(config_with_registry(&registry));

    // Recorded before its creation, then confirmed: the no-window way.
    let pending_dir = scratch.join("job-pending");
    let pending = guard::register_workspace_pending(&pending_dir, &meta("pending-job"))
        .into_token()
        .unwrap();
    std::fs::create_dir(&pending_dir).unwrap();
    guard::confirm_fd(&pending, std::fs::File::open(&pending_dir).unwrap());
    // Recorded after its creation, from its descriptor.
    let made_dir = scratch.join("job-made");
    std::fs::create_dir(&made_dir).unwrap();
    let made = guard::register_workspace(
        &made_dir,
        std::fs::File::open(&made_dir).unwrap(),
        &meta("made-job"),
    )
    .into_token()
    .unwrap();

    let records = guard::list_records(Some(&registry)).unwrap();
    let ours = listing_with(&records, &made_dir);
    assert_eq!(ours.pid, std::process::id());
    assert_eq!(ours.status, OwnerStatus::Alive);
    assert!(ours.start_ns > 0);
    let by_path = |p: &PathBuf| ours.entries.iter().find(|e| &e.path == p).unwrap().clone();
    let entry = by_path(&pending_dir);
    assert_eq!(entry.kind, EntryKind::Dir);
    assert_eq!(entry.state, guard::record::EntryState::Live);
    assert_eq!(entry.workspace, Some(meta("pending-job")));
    assert_eq!(by_path(&made_dir).workspace, Some(meta("made-job")));

    // Unregistered: no longer listed.
    drop(pending);
    drop(made);
    let records = guard::list_records(Some(&registry)).unwrap();
    assert!(records.iter().all(|r| r.entries.is_empty()), "{records:?}");
    cleanup(&scratch);
}

#[test]
fn a_dead_owners_workspace_is_listed_awaiting_a_sweep_and_swept_as_a_directory() {
    let _serial = serial();
    let scratch = scratch("ws-dead");
    let registry = scratch.join("registry");
    let _config = ConfigRestore::set(config_with_registry(&registry));
    let dead = dead_record_path(&registry);
    plant_record_file(&dead);
    let workspace = scratch.join("job");
    std::fs::create_dir_all(workspace.join("sub")).unwrap();
    std::fs::write(workspace.join("sub/data"), vec![b'x'; 5000]).unwrap();
    let token = guard::register_workspace(
        &workspace,
        std::fs::File::open(&workspace).unwrap(),
        &meta("crashed-job"),
    )
    .into_token()
    .unwrap();
    copy_record_as_dead(&registry, &dead, &|_| {});
    drop(token);

    let records = guard::list_records(Some(&registry)).unwrap();
    let listed = listing_with(&records, &workspace);
    assert_eq!(listed.status, OwnerStatus::Dead);
    assert_eq!(listed.entries[0].workspace, Some(meta("crashed-job")));

    let report = sweep_registry(&registry, false);
    assert_eq!(removed_set(&report), [workspace.clone()].into());
    assert_eq!(report.removed[0].kind, EntryKind::Dir);
    assert!(report.removed[0].bytes >= 5000);
    assert!(!workspace.exists());
    let records = guard::list_records(Some(&registry)).unwrap();
    assert!(records.iter().all(|r| r.status == OwnerStatus::Alive));
    cleanup(&scratch);
}

#[test]
fn a_missing_registry_lists_nothing() {
    let scratch = scratch("ws-missing");
    assert_eq!(
        guard::list_records(Some(&scratch.join("nope"))).unwrap(),
        []
    );
    cleanup(&scratch);
}

/// The entry of `path` in the registry's records.
fn listed_entry(registry: &std::path::Path, path: &std::path::Path) -> guard::record::RecordEntry {
    let records = guard::list_records(Some(registry)).unwrap();
    records
        .iter()
        .flat_map(|r| r.entries.iter())
        .find(|e| e.path == path)
        .unwrap()
        .clone()
}

#[test]
#[allow(clippy::print_stderr)] // the reason a skip is taken
fn a_pending_entrys_path_holding_another_users_older_directory_is_not_present() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: needs root to give the directory to another user");
        return;
    }
    let _serial = serial();
    let scratch = scratch("presence-other-user");
    let registry = scratch.join("registry");
    let _config = ConfigRestore::set(config_with_registry(&registry));

    // Another user's directory, there before anything was recorded.
    let theirs = scratch.join("job-collided");
    std::fs::create_dir(&theirs).unwrap();
    std::fs::write(theirs.join("their-data"), vec![7u8; 100_000]).unwrap();
    std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20)); // coarse clock: born before

    // Recorded, as before an attempt whose mkdir will meet EEXIST (a kill here leaves it).
    let pending = guard::register_workspace_pending(&theirs, &meta("collided"))
        .into_token()
        .unwrap();
    let entry = listed_entry(&registry, &theirs);
    let presence = guard::entry_presence(&entry);
    let opened = guard::open_present_entry(&entry).map(drop);
    drop(pending);
    cleanup(&scratch);
    assert_ne!(
        presence,
        guard::EntryPresence::Present,
        "another user's older directory taken for a pending entry (ls would measure it)"
    );
    assert_eq!(opened, Err(presence));
}

#[test]
fn a_pending_entry_created_after_its_record_is_present_and_measured_through_its_descriptor() {
    let _serial = serial();
    let scratch = scratch("presence-pending");
    let registry = scratch.join("registry");
    let _config = ConfigRestore::set(config_with_registry(&registry));

    let dir = scratch.join("job-pending");
    let pending = guard::register_workspace_pending(&dir, &meta("pending"))
        .into_token()
        .unwrap();
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("data"), vec![7u8; 100_000]).unwrap();
    let entry = listed_entry(&registry, &dir);
    assert_eq!(entry.state, guard::record::EntryState::Pending);
    let fd = guard::open_present_entry(&entry).unwrap();
    // The path re-pointed after the check: the descriptor still measures what was checked.
    let moved = scratch.join("moved");
    std::fs::rename(&dir, &moved).unwrap();
    std::fs::create_dir(&dir).unwrap();
    let through_fd =
        ferrotemp::measure::measure_tree_at(std::os::fd::AsFd::as_fd(&fd), &dir).unwrap();
    let by_path = ferrotemp::measure_tree(&moved).unwrap();
    drop(pending);
    cleanup(&scratch);
    assert_eq!(through_fd, by_path);
    assert_eq!(through_fd.files, 1);
}

#[test]
fn a_live_entry_replaced_at_its_path_is_not_opened() {
    let _serial = serial();
    let scratch = scratch("presence-live");
    let registry = scratch.join("registry");
    let _config = ConfigRestore::set(config_with_registry(&registry));

    let dir = scratch.join("job-made");
    std::fs::create_dir(&dir).unwrap();
    let token = guard::register_workspace(&dir, std::fs::File::open(&dir).unwrap(), &meta("m"))
        .into_token()
        .unwrap();
    let entry = listed_entry(&registry, &dir);
    assert!(guard::open_present_entry(&entry).is_ok());
    std::fs::rename(&dir, scratch.join("moved")).unwrap();
    std::fs::create_dir(&dir).unwrap();
    let replaced = guard::open_present_entry(&entry).map(drop);
    drop(token);
    cleanup(&scratch);
    assert_eq!(replaced, Err(guard::EntryPresence::Replaced));
}
