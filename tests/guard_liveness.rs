//! Whether a record's owner is alive: its lock, its pid (without flock), its pid namespace, its
//! boot and its host; concurrent sweepers, claims of killed sweepers, records being created.
#![cfg(unix)]

mod guard_support;

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use ferrotemp::guard::{self, EntryKind, GuardConfig};

use guard_support::children::spawn_crash_child;
use guard_support::forge::{
    copy_record_as_dead, dead_record_path, forge_dead_record, plant_record_file, register_file,
    H_ACTIVE, H_BOOT, H_FLAGS, H_MACHINE, H_PID, H_PIDNS, NO_SUCH_PID,
};
use guard_support::lists::read_list;
use guard_support::{
    cleanup, config_with_registry, removed_set, scratch, serial, sweep_registry, ConfigRestore,
};

#[test]
fn a_live_process_entries_survive_concurrent_sweeps() {
    let _serial = serial();
    let (scratch, registry, mut child) = spawn_crash_child("live", &[]);
    let guarded = read_list(&scratch.join("guarded"));
    let sweepers: Vec<_> = (0..2)
        .map(|_| {
            let registry = registry.clone();
            std::thread::spawn(move || {
                (0..50)
                    .map(|_| sweep_registry(&registry, false))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for sweeper in sweepers {
        for report in sweeper.join().unwrap() {
            assert!(report.removed.is_empty());
            assert!(report.errors.is_empty(), "{:?}", report.errors);
            assert_eq!(report.records_live, 1);
        }
    }
    for path in &guarded {
        assert!(path.exists());
    }

    // Dead now: two sweepers racing share the work, never both removing one entry.
    child.kill();
    let all = race_two_sweepers(&registry);
    assert_eq!(all.len(), guarded.len());
    assert_eq!(all.into_iter().collect::<BTreeSet<_>>(), guarded);
    cleanup(&scratch);
}

#[test]
fn records_without_flock_fall_back_to_pid_and_start_time() {
    let _serial = serial();
    let (scratch, registry, mut child) =
        spawn_crash_child("noflock", &[("FERROTEMP_GUARD_FLOCK", "0")]);
    let guarded = read_list(&scratch.join("guarded"));
    // This process records and sweeps without flock too: the child holds no lock, so its
    // liveness comes from its pid; claims go by rename or, when the lock can be taken, by it.
    let _config = ConfigRestore::set(GuardConfig {
        use_flock: false,
        ..config_with_registry(&scratch.join("unused"))
    });
    let alive = sweep_registry(&registry, false);
    assert!(alive.removed.is_empty());
    assert_eq!(alive.records_live, 1);
    child.kill();
    let all = race_two_sweepers(&registry);
    assert_eq!(all.len(), guarded.len());
    assert_eq!(all.into_iter().collect::<BTreeSet<_>>(), guarded);
    assert_eq!(std::fs::read_dir(&registry).unwrap().count(), 0);
    cleanup(&scratch);
}

/// Runs two sweepers at once on `registry` and returns every path either removed (a path
/// removed twice would appear twice). Neither may report an error.
fn race_two_sweepers(registry: &Path) -> Vec<PathBuf> {
    let sweepers: Vec<_> = (0..2)
        .map(|_| {
            let registry = registry.to_path_buf();
            std::thread::spawn(move || sweep_registry(&registry, false))
        })
        .collect();
    let mut all = Vec::new();
    for sweeper in sweepers {
        let report = sweeper.join().unwrap();
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        all.extend(report.removed.into_iter().map(|e| e.path));
    }
    all
}

#[test]
fn liveness_follows_lock_pid_namespace_and_boot_whatever_the_sweeper_config() {
    let _serial = serial();
    let scratch = scratch("liveness");
    let registry = scratch.join("registry");
    // This process records and sweeps without flock: its config must not make it ignore
    // locks that owners hold.
    let _config = ConfigRestore::set(GuardConfig {
        use_flock: false,
        ..config_with_registry(&registry)
    });
    let entry = scratch.join("entry");
    let forged = registry.join(format!("{NO_SUCH_PID}-forged.rec"));
    // Forges a record listing `entry` (freshly made) from this process's own, patched.
    let forge = |patch: &dyn Fn(&mut Vec<u8>)| {
        // The forged record's file is born before the entry: a sweep never takes a record's
        // word for a file older than the record.
        plant_record_file(&forged);
        std::fs::write(&entry, b"data").unwrap();
        let meta = std::fs::metadata(&entry).unwrap();
        let token = guard::register(&entry, EntryKind::File, meta.dev(), meta.ino())
            .into_token()
            .unwrap();
        let (name, locked) = guard::current_record().unwrap();
        assert!(!locked);
        let mut bytes = std::fs::read(registry.join(name)).unwrap();
        bytes[H_PID..H_PID + 8].copy_from_slice(&NO_SUCH_PID.to_le_bytes());
        patch(&mut bytes);
        std::fs::write(&forged, &bytes).unwrap();
        std::fs::set_permissions(&forged, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        token // dropped by the caller: the forged copy still lists the entry
    };
    let sweep_forged = || {
        let report = sweep_registry(&registry, false);
        (removed_set(&report).contains(&entry), forged.exists())
    };

    // (a) The owner holds its lock (as from another pid namespace, where its pid means
    // nothing here): live.
    drop(forge(&|b| b[H_FLAGS] = 1));
    let holder = std::fs::File::open(&forged).unwrap();
    rustix::fs::flock(&holder, rustix::fs::FlockOperation::LockExclusive).unwrap();
    assert_eq!(sweep_forged(), (false, true), "a locked record was swept");
    drop(holder);
    // Its lock released: dead.
    assert_eq!(sweep_forged(), (true, false));

    // (b) Without flock, from another pid namespace on this boot: live.
    let ours = guard::record::pid_namespace();
    drop(forge(&|b| {
        b[H_PIDNS..H_PIDNS + 8].copy_from_slice(&(ours ^ 0x5a5a).to_le_bytes());
    }));
    assert_eq!(
        sweep_forged(),
        (false, true),
        "another namespace's record was swept"
    );
    // The same, from another boot: dead.
    drop(forge(&|b| {
        b[H_PIDNS..H_PIDNS + 8].copy_from_slice(&(ours ^ 0x5a5a).to_le_bytes());
        for byte in &mut b[H_BOOT..H_BOOT + 16] {
            *byte ^= 0xff;
        }
    }));
    if guard::record::boot_id() != [0; 16] {
        assert_eq!(
            sweep_forged(),
            (true, false),
            "a record of another boot stayed"
        );
    } else {
        std::fs::remove_file(&forged).unwrap();
    }
    // From this namespace, its pid gone: dead.
    drop(forge(&|_| {}));
    assert_eq!(sweep_forged(), (true, false));

    // (c) A header naming a live owner (this process) before a damaged region: judged by
    // the header, not removed as garbage.
    let pid = u64::from(std::process::id());
    drop(forge(&|b| {
        b[H_PID..H_PID + 8].copy_from_slice(&pid.to_le_bytes());
        b[H_ACTIVE..H_ACTIVE + 8].copy_from_slice(&u64::MAX.to_le_bytes());
    }));
    assert_eq!(
        sweep_forged(),
        (false, true),
        "a live owner's damaged record was swept"
    );
    std::fs::remove_file(&forged).unwrap();
    cleanup(&scratch);
}

#[test]
fn sweeps_never_lock_a_young_record_being_created() {
    let _serial = serial();
    let scratch = scratch("newrecord");
    let registry = scratch.join("registry");
    std::fs::create_dir(&registry).unwrap();
    std::fs::set_permissions(
        &registry,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let young = registry.join("1-abcdefgh.new");
    std::fs::write(&young, b"").unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sweeper = {
        let (registry, stop) = (registry.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                sweep_registry(&registry, false);
            }
        })
    };
    // The creator's own attempts: none may find the lock taken.
    let mut refused = 0;
    for _ in 0..2000 {
        let file = std::fs::File::open(&young).unwrap();
        match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(rustix::io::Errno::WOULDBLOCK) => refused += 1,
            Err(err) => panic!("{err}"),
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    sweeper.join().unwrap();
    assert_eq!(refused, 0, "a sweeper locked a record being created");
    assert!(young.exists());
    cleanup(&scratch);
}

/// A dead record claimed (renamed, on a filesystem without `flock`) by a sweeper that was then
/// SIGKILLed mid-way — say a process killed during a sweep slice inside a creating call — is
/// taken over by the next sweep at once: the claim's name says who claimed it. A claim by a
/// sweeper that still runs, or one whose name does not say (an older ferrotemp's), is left
/// to its sweeper (or to the claim's age).
#[test]
fn a_claim_whose_sweeper_was_killed_is_taken_over_at_once() {
    let _serial = serial();
    let scratch = scratch("claims");
    let registry = scratch.join("registry");
    let _config = ConfigRestore::set(config_with_registry(&registry));
    let pid_ns = guard::record::pid_namespace();
    assert_ne!(pid_ns, 0, "this test needs /proc/self/ns/pid");
    let boot: String = guard::record::boot_id()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_ne!(boot, "0".repeat(32), "this test needs the kernel's boot id");
    let other_boot: String = boot.chars().rev().collect();
    let sleeper = || {
        let child = Command::new("sleep").arg("60").spawn().unwrap();
        let start = guard::record::process_start_time(child.id()).unwrap();
        (child, start)
    };
    let (mut killed, killed_start) = sleeper();
    killed.kill().unwrap();
    killed.wait().unwrap();
    let (mut running, running_start) = sleeper();
    let (our_pid, our_start) = (
        std::process::id(),
        guard::record::process_start_time(std::process::id()).unwrap(),
    );

    // One dead owner's record per claimer, each renamed as that claimer's sweep left it.
    let claimers = [
        (
            "dead",
            format!("{boot}-{pid_ns:x}-{}-{killed_start}-abcdefgh", killed.id()),
        ),
        // This process's own claim whose cursor went (left because an entry was in use, say).
        (
            "ours",
            format!("{boot}-{pid_ns:x}-{our_pid}-{our_start}-abcdefgh"),
        ),
        (
            "live",
            format!(
                "{boot}-{pid_ns:x}-{}-{running_start}-abcdefgh",
                running.id()
            ),
        ),
        // Another boot (or machine): its pid means nothing here, dead or alive.
        (
            "otherboot",
            format!(
                "{other_boot}-{pid_ns:x}-{}-{killed_start}-abcdefgh",
                killed.id()
            ),
        ),
        ("old", "abcdefgh".to_owned()),
    ];
    let mut files = Vec::new();
    for (label, claim) in &claimers {
        plant_record_file(&dead_record_path(&registry));
        let file = scratch.join(format!("entry-{label}"));
        std::fs::write(&file, label).unwrap();
        let forged = forge_dead_record(&registry, &[(&file, EntryKind::File)]);
        let claimed = registry.join(format!("{label}.claimed-{claim}"));
        std::fs::rename(&forged, &claimed).unwrap();
        files.push((file, claimed));
    }

    let report = sweep_registry(&registry, false);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(
        removed_set(&report),
        BTreeSet::from([files[0].0.clone(), files[1].0.clone()])
    );
    assert!(!files[0].1.exists() && !files[1].1.exists(), "taken over");
    for (file, claimed) in &files[2..] {
        assert!(file.exists() && claimed.exists(), "{}", file.display());
    }

    // Once the live claimer ends without finishing, its claim is taken over too.
    running.kill().unwrap();
    running.wait().unwrap();
    let report = sweep_registry(&registry, false);
    assert_eq!(removed_set(&report), BTreeSet::from([files[2].0.clone()]));
    for (file, claimed) in &files[3..] {
        assert!(file.exists() && claimed.exists(), "{}", file.display());
    }
    cleanup(&scratch);
}

/// A record another machine's sweeper claimed (a shared registry without `flock`) is never
/// swept here, however its claimer's pid looks from this machine.
#[test]
fn another_hosts_claimed_record_is_left_alone() {
    let _serial = serial();
    let scratch = scratch("other-host-claim");
    let registry = scratch.join("registry");
    let _config = ConfigRestore::set(config_with_registry(&registry));
    let boot: String = guard::record::boot_id()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let pid_ns = guard::record::pid_namespace();
    // As its sweeper would name it if it shared our boot id and namespace numbering: the
    // record's own machine id must keep it from being taken over.
    let record = registry.join(format!(
        "{NO_SUCH_PID}-elsewhere.claimed-{boot}-{pid_ns:x}-{NO_SUCH_PID}-123456-abcdefgh"
    ));
    plant_record_file(&record);
    let entry = scratch.join("entry");
    std::fs::write(&entry, b"in use on the other host").unwrap();
    let token = register_file(&entry);
    copy_record_as_dead(&registry, &record, &|bytes| {
        for byte in &mut bytes[H_MACHINE..H_MACHINE + 16] {
            *byte ^= 0xa5;
        }
    });
    drop(token);
    let report = sweep_registry(&registry, false);
    assert!(report.removed.is_empty(), "{report:?}");
    assert!(entry.exists() && record.exists());
    cleanup(&scratch);
}

#[test]
fn another_hosts_record_is_never_judged_dead() {
    let _serial = serial();
    let scratch = scratch("other-host");
    let registry = scratch.join("registry");
    let _config = ConfigRestore::set(config_with_registry(&registry));
    let record = registry.join(format!("{NO_SUCH_PID}-elsewhere.rec"));
    plant_record_file(&record);
    let entry = scratch.join("entry");
    std::fs::write(&entry, b"in use on the other host").unwrap();
    let token = register_file(&entry);
    // Dead by every test this host can make (pid gone, lock free), but written on another
    // machine: its lock and pid say nothing here.
    copy_record_as_dead(&registry, &record, &|b| {
        for byte in &mut b[H_MACHINE..H_MACHINE + 16] {
            *byte ^= 0xa5;
        }
    });
    drop(token);
    let report = sweep_registry(&registry, false);
    assert!(report.removed.is_empty(), "{report:?}");
    // This process's own record, and the other host's.
    assert_eq!(report.records_live, 2, "{report:?}");
    assert!(entry.exists() && record.exists());
    // Even held by a live owner there, its entries are judged by age alone by an age-based
    // sweep (here, any age will do), the one sweep that may remove them.
    let holder = std::fs::File::open(&record).unwrap();
    rustix::fs::flock(&holder, rustix::fs::FlockOperation::LockExclusive).unwrap();
    let aged = guard::sweep_older_than(&scratch, "entry".as_ref(), Duration::ZERO, false).unwrap();
    drop(holder);
    assert_eq!(
        removed_set(&aged),
        BTreeSet::from([entry.clone()]),
        "{aged:?}"
    );
    std::fs::write(&entry, b"made again").unwrap();
    // The same record naming this host is dead, and swept.
    let token = register_file(&entry);
    copy_record_as_dead(&registry, &record, &|_| {});
    drop(token);
    let report = sweep_registry(&registry, false);
    assert_eq!(removed_set(&report), BTreeSet::from([entry.clone()]));
    assert!(!record.exists());
    cleanup(&scratch);
}
