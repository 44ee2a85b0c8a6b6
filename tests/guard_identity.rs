//! A record's word about an entry is checked against the entry on disk: a path reused by
//! another file (a new inode, or the same inode number), a file born before its owner, each
//! identity part (inode, birth time, generation), and pending entries never confirmed.
#![cfg(unix)]

mod guard_support;

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use ferrotemp::guard::{self, EntryKind, SkipReason};
use ferrotemp::Builder;

use guard_support::children::spawn_crash_child;
use guard_support::forge::{
    copy_record_as_dead, plant_record_file, register_file, H_START_NS, NO_SUCH_PID,
};
use guard_support::lists::read_list;
use guard_support::{
    cleanup, config_with_registry, dev_ino, removed_set, scratch, serial, sweep_registry,
    ConfigRestore,
};

#[test]
fn a_reused_path_with_a_new_inode_survives() {
    let _serial = serial();
    let (scratch, registry, mut child) = spawn_crash_child("reused", &[]);
    let guarded = read_list(&scratch.join("guarded"));
    child.kill();
    let reused = guarded.iter().find(|p| p.is_file()).unwrap().clone();
    let old_ino = std::fs::metadata(&reused).unwrap().ino();
    // Renamed over the old file, the new one cannot get the old inode number.
    let replacement = scratch.join("replacement");
    std::fs::write(&replacement, b"not yours").unwrap();
    std::fs::rename(&replacement, &reused).unwrap();
    assert_ne!(std::fs::metadata(&reused).unwrap().ino(), old_ino);

    let report = sweep_registry(&registry, false);
    assert!(report
        .skipped
        .contains(&(reused.clone(), SkipReason::Replaced)));
    assert_eq!(std::fs::read(&reused).unwrap(), b"not yours");
    assert_eq!(report.entries(), guarded.len() - 1);
    cleanup(&scratch);
}

#[test]
fn an_inode_number_reused_by_an_unrelated_file_survives_a_sweep() {
    let _serial = serial();
    // The dead owner's file is removed by someone, and a new, unrelated file is made at the
    // same name. ext4 hands the lowest free inode number of the group to the next file, at
    // once; another process freeing a lower one meanwhile takes that turn, so a few tries,
    // each with a new owner.
    let mut attempt = 0;
    let (scratch, registry, guarded, reused) = loop {
        attempt += 1;
        let (scratch, registry, mut child) = spawn_crash_child("inode-reuse", &[]);
        let guarded = read_list(&scratch.join("guarded"));
        child.kill();
        let reused = guarded.iter().find(|p| p.is_file()).unwrap().clone();
        let old = dev_ino(&reused);
        std::fs::remove_file(&reused).unwrap();
        std::fs::write(&reused, b"not yours").unwrap();
        if dev_ino(&reused) == old {
            break (scratch, registry, guarded, reused);
        }
        assert!(
            attempt < 10,
            "the filesystem of {} did not reuse the inode number in 10 tries: this test needs \
             one that does (ext4)",
            reused.display()
        );
        drop(child);
        cleanup(&scratch);
    };

    let report = sweep_registry(&registry, false);
    assert!(
        report
            .skipped
            .contains(&(reused.clone(), SkipReason::Replaced)),
        "{:?}",
        report
    );
    assert_eq!(std::fs::read(&reused).unwrap(), b"not yours");
    assert_eq!(report.entries(), guarded.len() - 1);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    cleanup(&scratch);
}

#[test]
fn a_record_naming_a_file_born_before_its_owner_never_removes_it() {
    let _serial = serial();
    let scratch = scratch("born-before");
    let registry = scratch.join("registry");
    let _config = ConfigRestore::set(config_with_registry(&registry));
    let victim = scratch.join("victim");
    std::fs::write(&victim, b"older than any record").unwrap();
    // Birth times have the kernel's tick for resolution: what follows is born later.
    std::thread::sleep(Duration::from_millis(50));

    // (a) A record planted now, naming the older file with its right device, inode, birth
    // time and generation, in a header whose owner start (the test process's) is older
    // still: the record file itself is younger than the file, and its word is not taken.
    let token = register_file(&victim);
    let planted = registry.join(format!("{NO_SUCH_PID}-planted.rec"));
    copy_record_as_dead(&registry, &planted, &|_| {});
    drop(token);
    let report = sweep_registry(&registry, false);
    assert!(
        report
            .skipped
            .contains(&(victim.clone(), SkipReason::BornBeforeOwner)),
        "{report:?}"
    );
    assert!(report.removed.is_empty(), "{report:?}");
    assert_eq!(
        std::fs::read(&victim).unwrap(),
        b"older than any record",
        "a planted record removed a file older than itself"
    );

    // (b) A record file planted before the file, its header saying the owner started after
    // it: the header's owner start rules too.
    let early = registry.join(format!("{NO_SUCH_PID}-early.rec"));
    plant_record_file(&early);
    std::thread::sleep(Duration::from_millis(50));
    let second = scratch.join("second");
    std::fs::write(&second, b"born before the owner started").unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let started = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    )
    .unwrap();
    let token = register_file(&second);
    copy_record_as_dead(&registry, &early, &|b| {
        b[H_START_NS..H_START_NS + 8].copy_from_slice(&started.to_le_bytes());
    });
    drop(token);
    let report = sweep_registry(&registry, false);
    assert!(
        report
            .skipped
            .contains(&(second.clone(), SkipReason::BornBeforeOwner)),
        "{report:?}"
    );
    assert!(second.exists() && victim.exists());
    cleanup(&scratch);
}

/// The inode generation of `path` (`FS_IOC_GETVERSION`), if its filesystem keeps one.
fn inode_generation(path: &Path) -> Option<u32> {
    use std::os::fd::AsRawFd;
    let file = std::fs::File::open(path).unwrap();
    let mut value: libc::c_long = 0;
    // SAFETY: the ioctl writes at most a `long` into `value`; the descriptor is open.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), libc::FS_IOC_GETVERSION, &mut value) };
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    (rc == 0).then_some(value as u32)
}

#[test]
fn each_identity_part_a_record_holds_must_still_match() {
    let _serial = serial();
    let scratch = scratch("identity-parts");
    let registry = scratch.join("registry");
    let _config = ConfigRestore::set(config_with_registry(&registry));
    // One record per case, each in a registry of its own (a sweep removes what it finds),
    // all born before the entry.
    let records: Vec<PathBuf> = (0..4)
        .map(|i| scratch.join(format!("registry-{i}/{NO_SUCH_PID}-parts.rec")))
        .collect();
    for record in &records {
        plant_record_file(record);
    }
    std::thread::sleep(Duration::from_millis(50));
    let entry = scratch.join("entry");
    std::fs::write(&entry, b"x").unwrap();
    let meta = std::fs::symlink_metadata(&entry).unwrap();
    let btime_ns = meta.created().ok().map(|t| {
        i64::try_from(t.duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()).unwrap()
    });
    let actual = guard::EntryIdentity {
        dev: meta.dev(),
        ino: meta.ino(),
        btime_ns,
        generation: inode_generation(&entry),
    };
    // ext4 (this machine's /tmp) gives both parts; elsewhere, those the filesystem gives.
    let mut variants = vec![(
        "inode",
        guard::EntryIdentity {
            ino: actual.ino + 1,
            ..actual
        },
    )];
    if let Some(btime) = actual.btime_ns {
        let id = guard::EntryIdentity {
            btime_ns: Some(btime + 1),
            ..actual
        };
        variants.push(("birth time", id));
    }
    if let Some(generation) = actual.generation {
        let id = guard::EntryIdentity {
            generation: Some(generation.wrapping_add(1)),
            ..actual
        };
        variants.push(("generation", id));
    }
    let forge = |record: &Path, identity: &guard::EntryIdentity| {
        let token = guard::register_pending(&entry, EntryKind::File)
            .into_token()
            .unwrap();
        guard::confirm(&token, identity);
        copy_record_as_dead(&registry, record, &|_| {});
        drop(token);
    };
    for ((part, identity), record) in variants.iter().zip(&records) {
        forge(record, identity);
        let report = sweep_registry(record.parent().unwrap(), false);
        assert!(
            report
                .skipped
                .contains(&(entry.clone(), SkipReason::Replaced)),
            "another {part} was not noticed: {report:?}"
        );
        assert!(entry.exists());
    }
    // Every part right: removed.
    forge(&records[3], &actual);
    let report = sweep_registry(records[3].parent().unwrap(), false);
    assert_eq!(removed_set(&report), BTreeSet::from([entry.clone()]));
    cleanup(&scratch);
}

#[test]
fn a_pending_entry_removes_only_what_its_owner_went_on_to_create() {
    let _serial = serial();
    let scratch = scratch("pending");
    let registry = scratch.join("registry");
    let _config = ConfigRestore::set(config_with_registry(&registry));
    let record = registry.join(format!("{NO_SUCH_PID}-pending.rec"));
    plant_record_file(&record);
    // Someone else's file, there before the owner recorded the name (the collision a
    // creation with O_EXCL meets: EEXIST).
    let collided = scratch.join("collided");
    std::fs::write(&collided, b"someone else's").unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let never_made = scratch.join("never-made");
    let made = scratch.join("made");
    let others = scratch.join("others");
    // The owner died with four entries pending: one never created, one created (after the
    // pending entry was written), one whose name was taken, and one whose name another user
    // took in the meantime.
    let tokens: Vec<_> = [&never_made, &made, &collided, &others]
        .iter()
        .map(|p| {
            guard::register_pending(p, EntryKind::File)
                .into_token()
                .unwrap()
        })
        .collect();
    std::fs::write(&made, b"the owner's").unwrap();
    std::fs::write(&others, b"another user's").unwrap();
    // Handing a file to another user needs root; without it, it stays the owner's.
    let root = rustix::process::geteuid().is_root();
    if root {
        std::os::unix::fs::chown(&others, Some(65534), Some(65534)).unwrap();
    }
    copy_record_as_dead(&registry, &record, &|_| {});
    drop(tokens);
    let parsed = guard::record::parse(&std::fs::read(&record).unwrap()).unwrap();
    assert_eq!(parsed.entries.len(), 4);
    assert!(parsed
        .entries
        .iter()
        .all(|e| e.state == guard::record::EntryState::Pending));

    let report = sweep_registry(&registry, false);
    let mut expected = BTreeSet::from([made.clone()]);
    if !root {
        expected.insert(others.clone());
    }
    assert_eq!(removed_set(&report), expected);
    assert!(report
        .skipped
        .contains(&(collided.clone(), SkipReason::Unconfirmed)));
    assert!(report
        .skipped
        .contains(&(never_made.clone(), SkipReason::Gone)));
    if root {
        assert!(report
            .skipped
            .contains(&(others.clone(), SkipReason::OtherOwner)));
        assert!(others.exists());
    }
    assert_eq!(std::fs::read(&collided).unwrap(), b"someone else's");
    assert!(!record.exists());
    cleanup(&scratch);
}

/// A loop-mounted filesystem image, unmounted (lazily) and removed when dropped.
struct LoopMount {
    dir: PathBuf,
}

impl LoopMount {
    /// Makes a 16 MiB image in `scratch` with `mkfs` and mounts it on `scratch/mnt`; `None`
    /// (with the reason) where that cannot be done: not root, or no `mkfs`/loop devices.
    fn new(scratch: &Path, mkfs: &[&str]) -> Result<Self, String> {
        if !rustix::process::geteuid().is_root() {
            return Err("mounting needs root".to_owned());
        }
        let image = scratch.join("fs.img");
        std::fs::File::create(&image)
            .and_then(|f| f.set_len(16 << 20))
            .map_err(|e| e.to_string())?;
        let made = Command::new(mkfs[0])
            .args(&mkfs[1..])
            .arg(&image)
            .output()
            .map_err(|e| format!("{}: {e}", mkfs[0]))?;
        if !made.status.success() {
            return Err(String::from_utf8_lossy(&made.stderr).into_owned());
        }
        let dir = scratch.join("mnt");
        std::fs::create_dir(&dir).unwrap();
        let mounted = Command::new("mount")
            .args(["-o", "loop"])
            .arg(&image)
            .arg(&dir)
            .output()
            .map_err(|e| e.to_string())?;
        if !mounted.status.success() {
            return Err(String::from_utf8_lossy(&mounted.stderr).into_owned());
        }
        Ok(Self { dir })
    }
}

impl Drop for LoopMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

#[test]
#[allow(clippy::print_stderr)] // says why it was skipped
fn without_birth_times_a_pending_path_is_left_and_the_generation_tells_reuse() {
    let _serial = serial();
    let scratch = scratch("no-btime");
    // ext4 with 128-byte inodes keeps no birth time, but inode generations.
    let mount = match LoopMount::new(&scratch, &["mkfs.ext4", "-q", "-F", "-I", "128"]) {
        Ok(mount) => mount,
        Err(reason) => {
            // Skipped, with the reason: the rule needs a filesystem made by the test.
            eprintln!("skipped: {reason}");
            cleanup(&scratch);
            return;
        }
    };
    let registry = scratch.join("registry");
    let _config = ConfigRestore::set(config_with_registry(&registry));
    let record = registry.join(format!("{NO_SUCH_PID}-nobtime.rec"));
    plant_record_file(&record);
    let made = mount.dir.join("made");
    let reused = mount.dir.join("reused");
    std::fs::write(&reused, b"the owner's").unwrap();
    assert!(
        std::fs::metadata(&reused).unwrap().created().is_err(),
        "a birth time here"
    );
    let live = register_file(&reused);
    let pending = guard::register_pending(&made, EntryKind::File)
        .into_token()
        .unwrap();
    std::fs::write(&made, b"created, never confirmed").unwrap();
    copy_record_as_dead(&registry, &record, &|_| {});
    drop((live, pending));
    // The owner's file is replaced by an unrelated one with the same inode number (nothing
    // else allocates inodes on this filesystem).
    let old = dev_ino(&reused);
    std::fs::remove_file(&reused).unwrap();
    std::fs::write(&reused, b"not yours").unwrap();
    assert_eq!(dev_ino(&reused), old, "the inode number was not reused");

    let report = sweep_registry(&registry, false);
    assert!(report.removed.is_empty(), "{report:?}");
    assert!(
        report
            .skipped
            .contains(&(made.clone(), SkipReason::Unconfirmed)),
        "{report:?}"
    );
    assert!(
        report
            .skipped
            .contains(&(reused.clone(), SkipReason::Replaced)),
        "{report:?}"
    );
    assert_eq!(std::fs::read(&reused).unwrap(), b"not yours");
    assert!(made.exists());
    drop(mount);
    cleanup(&scratch);
}

#[test]
fn a_failed_creation_drops_its_pending_entry_and_a_success_confirms_it() {
    let _serial = serial();
    let scratch = scratch("pending-drop");
    let registry = scratch.join("registry");
    let _config = ConfigRestore::set(config_with_registry(&registry));
    let mut builder = Builder::new();
    builder.guarded(true).rand_len(0).prefix("fixed");
    let work = scratch.join("work");
    std::fs::create_dir(&work).unwrap();
    let file = ferrotemp::NamedTempFile::with_builder_in(&builder, &work).unwrap();
    // The only name is taken: every attempt fails with EEXIST, each dropping its entry.
    assert!(ferrotemp::NamedTempFile::with_builder_in(&builder, &work).is_err());
    let (name, _) = guard::current_record().unwrap();
    let parsed = guard::record::parse(&std::fs::read(registry.join(name)).unwrap()).unwrap();
    assert_eq!(parsed.entries.len(), 1, "{parsed:?}");
    let entry = &parsed.entries[0];
    assert_eq!(entry.path, file.path());
    assert_eq!(entry.state, guard::record::EntryState::Live);
    let (dev, ino) = dev_ino(file.path());
    assert_eq!((entry.dev(), entry.ino()), (dev, ino));
    assert!(entry.identity.btime_ns.is_some() || entry.identity.generation.is_some());
    drop(file);
    cleanup(&scratch);
}
