//! Forked children: each process keeps its own record, with or without the C library's fork
//! handlers, and never writes into its parent's.
#![cfg(unix)]

mod guard_support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ferrotemp::guard;

use guard_support::children::ChildProcess;
use guard_support::lists::{read_list, wait_for_file};
use guard_support::{cleanup, record_count, removed_set, scratch, serial, sweep_registry};

#[test]
fn a_forked_child_keeps_its_own_record() {
    let _serial = serial();
    let scratch = scratch("fork");
    let registry = scratch.join("registry");
    std::fs::create_dir(scratch.join("work")).unwrap();
    let mut parent = ChildProcess::spawn("fork", &scratch, &registry, &[]);
    let parent_list: Vec<PathBuf> = read_list(&scratch.join("parent")).into_iter().collect();
    let child_text = wait_for_file(&scratch.join("child"));
    let child_list: Vec<&str> = child_text.lines().collect();
    let child_pid: i32 = child_list[0].parse().unwrap();
    let child_file = PathBuf::from(child_list[1]);
    let child_record = child_list[2];
    assert_eq!(record_count(&registry), 2);
    assert!(parent_list.iter().all(|p| p.to_str() != Some(child_record)));

    // SAFETY: signalling the grandchild whose id it wrote.
    assert_eq!(unsafe { libc::kill(child_pid, libc::SIGKILL) }, 0);
    // The grandchild is not ours to reap; its lock goes when it dies.
    let deadline = Instant::now() + Duration::from_secs(10);
    let report = loop {
        let report = sweep_registry(&registry, false);
        if report.records_removed == 1 || Instant::now() > deadline {
            break report;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(removed_set(&report), BTreeSet::from([child_file.clone()]));
    assert_eq!(report.records_live, 1);
    // The parent's entries, its lock (closing the inherited descriptor did not release it)
    // and the token the child dropped are all intact.
    let parent_entries: BTreeSet<PathBuf> = parent_list[..2].iter().cloned().collect();
    for path in &parent_entries {
        assert!(path.exists(), "{} removed", path.display());
    }

    parent.kill();
    let report = sweep_registry(&registry, false);
    assert_eq!(removed_set(&report), parent_entries);
    assert_eq!(record_count(&registry), 0);
    cleanup(&scratch);
}

#[test]
#[cfg(target_os = "linux")]
fn a_child_forked_without_atfork_handlers_leaves_the_parent_record_alone() {
    let _serial = serial();
    let scratch = scratch("rawfork");
    let registry = scratch.join("registry");
    std::fs::create_dir(scratch.join("work")).unwrap();
    let mut parent = ChildProcess::spawn("rawfork", &scratch, &registry, &[]);
    let text = wait_for_file(&scratch.join("rawparent"));
    let lines: Vec<&str> = text.lines().collect();
    // Exited normally with 0: no SIGSEGV from writing into an unmapped record.
    assert_eq!(lines[0], "0", "child wait status {}", lines[0]);
    let child_text = wait_for_file(&scratch.join("rawchild"));
    let child: Vec<&str> = child_text.lines().collect();
    assert_ne!(
        child[1], lines[1],
        "the child wrote into its parent's record"
    );
    assert!(!Path::new(child[0]).exists());
    // The parent's record is intact and live, with both its entries.
    assert!(registry.join(lines[1]).exists());
    let bytes = std::fs::read(registry.join(lines[1])).unwrap();
    let parsed = guard::record::parse(&bytes).unwrap();
    assert_eq!(parsed.entries.len(), 2);
    let report = sweep_registry(&registry, false);
    assert!(report.removed.is_empty());
    parent.kill();
    let report = sweep_registry(&registry, false);
    assert_eq!(report.entries(), 2);
    cleanup(&scratch);
}
