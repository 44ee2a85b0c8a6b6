//! What the guard refuses to trust: a registry that is a symlink, owned by another user, writable
//! by others or reached through another user's directory; record entries that are relative,
//! unnormalised or the registry itself; a record too big to read.
#![cfg(unix)]

mod guard_support;

use std::collections::BTreeSet;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use ferrotemp::guard::{self, EntryKind, Registration, SweepOptions};
use ferrotemp::Builder;

use guard_support::children::ChildProcess;
use guard_support::forge::{
    dead_record_path, forge_dead_record, make_registry, plant_record_file, H_FLAGS, H_PID,
    NO_SUCH_PID,
};
use guard_support::lists::wait_for_file;
use guard_support::{
    cleanup, config_with_registry, dev_ino, removed_set, scratch, serial, sweep_registry,
    ConfigRestore, CwdRestore,
};

#[test]
fn a_registry_that_is_a_symlink_is_refused() {
    let _serial = serial();
    let scratch = scratch("symlink");
    let target = scratch.join("target");
    std::fs::create_dir(&target).unwrap();
    let registry = scratch.join("registry");
    std::os::unix::fs::symlink(&target, &registry).unwrap();
    let _config = ConfigRestore::set(config_with_registry(&registry));
    let _ = guard::take_warning();
    let (_file, path) = Builder::new().create_unowned_file_in(&scratch).unwrap();
    let registration = guard::register(&path, EntryKind::File, 1, 1);
    assert!(matches!(registration, Registration::Unguarded));
    let reason = guard::unavailable_reason().unwrap();
    assert!(reason.contains("symbolic link"), "{reason}");
    assert_eq!(std::fs::read_dir(&target).unwrap().count(), 0);
    assert!(guard::sweep(&SweepOptions {
        registry: Some(registry.clone()),
        ..SweepOptions::default()
    })
    .is_err());
    cleanup(&scratch);
}

#[test]
fn a_registry_owned_by_another_user_or_writable_by_others_is_refused() {
    let _serial = serial();
    let scratch = scratch("foreign");
    let registry = scratch.join("registry");
    std::fs::create_dir(&registry).unwrap();
    let (_file, path) = Builder::new().create_unowned_file_in(&scratch).unwrap();

    std::fs::set_permissions(
        &registry,
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let _config = ConfigRestore::set(config_with_registry(&registry));
    assert!(matches!(
        guard::register(&path, EntryKind::File, 1, 1),
        Registration::Unguarded
    ));
    assert!(guard::unavailable_reason()
        .unwrap()
        .contains("writable by group or others"));
    assert_eq!(std::fs::read_dir(&registry).unwrap().count(), 0);

    if rustix::process::geteuid().is_root() {
        std::fs::set_permissions(
            &registry,
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
        std::os::unix::fs::chown(&registry, Some(65534), Some(65534)).unwrap();
        guard::set_config(config_with_registry(&registry));
        assert!(matches!(
            guard::register(&path, EntryKind::File, 1, 1),
            Registration::Unguarded
        ));
        let reason = guard::unavailable_reason().unwrap();
        assert!(reason.contains("owned by uid 65534"), "{reason}");
        assert_eq!(std::fs::read_dir(&registry).unwrap().count(), 0);
    }
    cleanup(&scratch);
}

/// Copies this process's record (under `registry`) as a dead process's, with entries whose
/// paths no registration would store: each `(raw path, kind, dev, ino)` is registered under a
/// placeholder of the same length, whose bytes are then replaced in the copy.
fn forge_dead_record_raw(registry: &Path, entries: &[(&[u8], EntryKind, u64, u64)]) -> PathBuf {
    let mut placeholders = Vec::new();
    let tokens: Vec<_> = entries
        .iter()
        .enumerate()
        .map(|(i, (raw, kind, dev, ino))| {
            let tag = format!("/Z{i}Z");
            assert!(raw.len() >= tag.len() + 2, "{raw:?} is too short to forge");
            let mut placeholder = tag.into_bytes();
            placeholder.resize(raw.len(), b'Q');
            let path = PathBuf::from(std::ffi::OsStr::from_bytes(&placeholder));
            placeholders.push(placeholder);
            guard::register(&path, *kind, *dev, *ino)
                .into_token()
                .unwrap()
        })
        .collect();
    let (name, _) = guard::current_record().unwrap();
    let mut bytes = std::fs::read(registry.join(name)).unwrap();
    for ((raw, ..), placeholder) in entries.iter().zip(&placeholders) {
        let at = bytes
            .windows(placeholder.len())
            .position(|w| w == placeholder.as_slice())
            .unwrap();
        bytes[at..at + raw.len()].copy_from_slice(raw);
    }
    bytes[H_PID..H_PID + 8].copy_from_slice(&NO_SUCH_PID.to_le_bytes());
    bytes[H_FLAGS] = 1;
    let forged = registry.join(format!("{NO_SUCH_PID}-raw.rec"));
    std::fs::write(&forged, &bytes).unwrap();
    drop(tokens);
    forged
}

#[test]
fn record_entries_that_are_relative_unnormalised_or_the_registry_are_refused() {
    let _serial = serial();
    let scratch = scratch("rawentries");
    let registry = scratch.join("registry");
    let _config = ConfigRestore::set(config_with_registry(&registry));
    std::fs::create_dir_all(scratch.join("sub")).unwrap();
    std::fs::create_dir_all(scratch.join("rel")).unwrap();
    // Older than its entries, as a real record is (a sweep never removes what predates it).
    plant_record_file(&registry.join(format!("{NO_SUCH_PID}-raw.rec")));
    let victims: Vec<PathBuf> = ["victim1", "rel/victim2", "victim3", "ok"]
        .iter()
        .map(|n| {
            let path = scratch.join(n);
            std::fs::write(&path, b"keep").unwrap();
            path
        })
        .collect();
    // This process's own (live) record, which a forged entry names as a file to remove.
    let live = scratch.join("live");
    std::fs::write(&live, b"x").unwrap();
    let live_meta = std::fs::metadata(&live).unwrap();
    // Registered and unregistered: the record stays open (and live) for this process.
    drop(guard::register(
        &live,
        EntryKind::File,
        live_meta.dev(),
        live_meta.ino(),
    ));
    let own_record = registry.join(guard::current_record().unwrap().0);
    let dotdot = format!("{}/sub/../victim1", scratch.display());
    let double = format!("{}//victim3", scratch.display());
    let registry_text = registry.display().to_string();
    let own_text = own_record.display().to_string();
    let ok_text = victims[3].display().to_string();
    let (v1, v2, v3, ok) = (
        dev_ino(&victims[0]),
        dev_ino(&victims[1]),
        dev_ino(&victims[2]),
        dev_ino(&victims[3]),
    );
    let (reg, own) = (dev_ino(&registry), dev_ino(&own_record));
    let forged = forge_dead_record_raw(
        &registry,
        &[
            (dotdot.as_bytes(), EntryKind::File, v1.0, v1.1),
            (b"rel/victim2", EntryKind::File, v2.0, v2.1),
            (double.as_bytes(), EntryKind::File, v3.0, v3.1),
            (registry_text.as_bytes(), EntryKind::Dir, reg.0, reg.1),
            (own_text.as_bytes(), EntryKind::File, own.0, own.1),
            (ok_text.as_bytes(), EntryKind::File, ok.0, ok.1),
        ],
    );
    // A relative entry would be resolved against the sweeper's working directory.
    let _cwd = CwdRestore(std::env::current_dir().unwrap());
    std::env::set_current_dir(&scratch).unwrap();
    let report = sweep_registry(&registry, false);
    assert_eq!(removed_set(&report), BTreeSet::from([victims[3].clone()]));
    assert_eq!(report.errors.len(), 5, "{:?}", report.errors);
    for (_, err) in &report.errors {
        assert!(err.to_string().contains("entry refused"), "{err}");
    }
    for path in &victims[..3] {
        assert!(path.exists(), "{} removed", path.display());
    }
    assert!(own_record.exists(), "a live record was removed");
    assert!(!forged.exists());
    cleanup(&scratch);
}

/// Runs `argv` as uid/gid 65534 (nobody), with no capabilities.
fn as_nobody(argv: &[&str]) -> bool {
    Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .args(argv)
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn a_registry_reached_through_another_users_directory_is_refused() {
    let _serial = serial();
    if !rustix::process::geteuid().is_root() || !as_nobody(&["true"]) {
        return; // needs root and setpriv(1) to act as another user
    }
    let scratch = scratch("foreignparent");
    // The temp dir's parent belongs to another user, who can rename anything in it.
    let shared = scratch.join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::os::unix::fs::chown(&shared, Some(65534), Some(65534)).unwrap();
    let registry = shared.join("registry");
    let _config = ConfigRestore::set(config_with_registry(&registry));
    let (_file, path) = Builder::new().create_unowned_file_in(&scratch).unwrap();
    let _ = guard::take_warning();
    assert!(matches!(
        guard::register(&path, EntryKind::File, 1, 1),
        Registration::Unguarded
    ));
    let warning = guard::take_warning().unwrap();
    assert!(warning.contains("owned by uid 65534"), "{warning}");
    assert!(guard::take_warning().is_none());
    assert!(
        !registry.exists(),
        "a registry was made under another user's directory"
    );

    // The attack: a root-owned file outside any temp tree, named by a record that ends up,
    // root-owned, in a root-owned 0700 directory of the shared one (root's own temp dir
    // there, holding data root was handed); the other user renames that directory into the
    // registry's place.
    let good = scratch.join("good-registry");
    plant_record_file(&dead_record_path(&good));
    let victim = scratch.join("victim");
    std::fs::write(&victim, b"precious").unwrap();
    guard::set_config(config_with_registry(&good));
    let forged = forge_dead_record(&good, &[(&victim, EntryKind::File)]);
    let roots_temp = shared.join("tmpabcdefgh");
    std::fs::create_dir(&roots_temp).unwrap();
    std::fs::set_permissions(
        &roots_temp,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    std::fs::rename(&forged, roots_temp.join("1-planted.rec")).unwrap();
    assert!(as_nobody(&[
        "mv",
        roots_temp.to_str().unwrap(),
        registry.to_str().unwrap()
    ]));
    let err = guard::sweep(&SweepOptions {
        registry: Some(registry.clone()),
        ..SweepOptions::default()
    })
    .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::PermissionDenied, "{err}");
    assert!(err.to_string().contains("owned by uid 65534"), "{err}");
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    // The same registry reached through trusted directories only is swept as usual: what
    // made the difference is the path.
    std::os::unix::fs::chown(&shared, Some(0), Some(0)).unwrap();
    let report = sweep_registry(&registry, false);
    assert_eq!(removed_set(&report), BTreeSet::from([victim.clone()]));
    cleanup(&scratch);
}

#[test]
fn a_huge_record_is_reported_damaged_and_never_read_into_memory() {
    let _serial = serial();
    let scratch = scratch("huge-record");
    let registry = scratch.join("registry");
    make_registry(&registry);
    // Sparse: 2 GiB long, a few bytes on disk, a record's magic at its start.
    let huge = registry.join(format!("{NO_SUCH_PID}-huge.rec"));
    let file = std::fs::File::create(&huge).unwrap();
    std::fs::set_permissions(&huge, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&file, b"FTGUARD1\x03\0\0\0", 0).unwrap();
    file.set_len(2 << 30).unwrap();
    drop(file);
    let mut child = ChildProcess::spawn("sweep", &scratch, &registry, &[]);
    assert!(child.child.wait().unwrap().success());
    let text = wait_for_file(&scratch.join("swept"));
    let lines: Vec<&str> = text.lines().collect();
    let peak_kib: u64 = lines[0].parse().unwrap();
    assert!(
        peak_kib < 256 * 1024,
        "the sweep's peak memory was {peak_kib} KiB"
    );
    assert_eq!(lines[1], "0", "{text}");
    assert!(lines[2].contains("damaged"), "{text}");
    assert!(huge.exists(), "the damaged record was removed");
    cleanup(&scratch);
}
