//! The lease (`guard::lease`): a duplicate of a record's descriptor inherited by another
//! process keeps the record locked, so a killed owner's entries stay while the holder lives
//! and go with the first sweep after it exits. `ferrotemp run` passes one to its command.
#![cfg(unix)]

mod guard_support;

use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};

use ferrotemp::guard::{self, GuardConfig};

use guard_support::children::ChildProcess;
use guard_support::lists::read_list;
use guard_support::{
    cleanup, config_with_registry, removed_set, scratch, serial, sweep_registry, ConfigRestore,
};

/// Whether `pid` has exited (a zombie holds no descriptor any more).
fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state == "Z"),
        Err(_) => true,
    }
}

#[test]
fn a_lease_keeps_a_killed_owners_entries_until_its_holder_exits() {
    let _serial = serial();
    let scratch = scratch("lease");
    let registry = scratch.join("registry");
    std::fs::create_dir(scratch.join("work")).unwrap();
    let mut owner = ChildProcess::spawn("lease", &scratch, &registry, &[]);
    let leased = read_list(&scratch.join("leased"));
    let holder: u32 = read_list(&scratch.join("holder"))
        .into_iter()
        .next()
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    owner.kill();
    // The owner is dead, the holder of its lease alive: the record is live.
    let report = sweep_registry(&registry, false);
    assert!(report.removed.is_empty(), "{:?}", report.removed);
    assert_eq!(report.records_live, 1);
    assert!(leased.iter().all(|p| p.is_dir()));
    let pid = rustix::process::Pid::from_raw(i32::try_from(holder).unwrap()).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::KILL).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !gone(holder) {
        assert!(Instant::now() < deadline, "the holder did not exit");
        std::thread::sleep(Duration::from_millis(5));
    }
    let report = sweep_registry(&registry, false);
    assert_eq!(removed_set(&report), leased);
    assert_eq!(report.records_removed, 1);
    cleanup(&scratch);
}

#[test]
fn a_lease_is_the_current_record_and_none_without_flock() {
    let _serial = serial();
    let scratch = scratch("lease-self");
    let registry = scratch.join("registry");
    for use_flock in [true, false] {
        let _config = ConfigRestore::set(GuardConfig {
            use_flock,
            ..config_with_registry(&registry)
        });
        assert!(guard::lease().unwrap().is_none(), "no record yet");
        let mut builder = ferrotemp::Builder::new();
        builder.guarded(true);
        let dir = builder.tempdir_in(&scratch).unwrap();
        let lease = guard::lease().unwrap();
        let (name, locked) = guard::current_record().unwrap();
        assert_eq!(locked, use_flock);
        match lease {
            Some(fd) => {
                let leased = rustix::fs::fstat(&fd).unwrap();
                let record = std::fs::metadata(registry.join(&name)).unwrap();
                assert_eq!((leased.st_dev, leased.st_ino), (record.dev(), record.ino()));
                let flags = rustix::io::fcntl_getfd(&fd).unwrap();
                assert!(flags.contains(rustix::io::FdFlags::CLOEXEC));
            }
            None => assert!(!use_flock),
        }
        drop(dir);
    }
    cleanup(&scratch);
}
