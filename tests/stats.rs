//! The process-wide counters, exactly: this test binary has one test, so nothing else in the
//! process creates or removes entries meanwhile.
#![cfg(target_os = "linux")]

use std::ffi::OsStr;
use std::fs;
use std::time::Duration;

use ferrotemp::stats::{note_quota_refusal, stats, Stats};
use ferrotemp::{Builder, NamedTempFile, TempDir, TempPath};

fn delta(before: Stats, after: Stats) -> Stats {
    Stats {
        created: after.created - before.created,
        removed: after.removed - before.removed,
        entries_reclaimed: after.entries_reclaimed - before.entries_reclaimed,
        bytes_reclaimed: after.bytes_reclaimed - before.bytes_reclaimed,
        cleanup_errors: after.cleanup_errors - before.cleanup_errors,
        quota_refusals: after.quota_refusals - before.quota_refusals,
    }
}

/// Runs `what` and returns how the counters moved.
fn counted(what: impl FnOnce()) -> Stats {
    let before = stats();
    what();
    delta(before, stats())
}

#[test]
fn counters_follow_creation_removal_failure_sweeps_and_refusals() {
    let scratch = Builder::new()
        .prefix("ft-stats-")
        .create_unowned_dir_in(std::env::temp_dir())
        .unwrap();

    // A named file: created, then removed by close; a directory: removed by drop.
    let moved = counted(|| NamedTempFile::new_in(&scratch).unwrap().close().unwrap());
    assert_eq!(
        (moved.created, moved.removed, moved.cleanup_errors),
        (1, 1, 0)
    );
    let moved = counted(|| drop(TempDir::new_in(&scratch).unwrap()));
    assert_eq!(
        (moved.created, moved.removed, moved.cleanup_errors),
        (1, 1, 0)
    );

    // Unowned entries count as created only.
    let moved = counted(|| {
        let (_, path) = Builder::new().create_unowned_file_in(&scratch).unwrap();
        fs::remove_file(path).unwrap();
    });
    assert_eq!((moved.created, moved.removed), (1, 0));

    // An entry already gone is neither removed nor an error.
    let moved = counted(|| {
        let dir = TempDir::new_in(&scratch).unwrap();
        fs::remove_dir(dir.path()).unwrap();
        dir.close().unwrap();
    });
    assert_eq!(
        (moved.created, moved.removed, moved.cleanup_errors),
        (1, 0, 0)
    );

    // A removal that fails (a TempPath naming a non-empty directory) is a cleanup error.
    let blocker = scratch.join("not-a-file");
    fs::create_dir(&blocker).unwrap();
    fs::write(blocker.join("inside"), b"x").unwrap();
    let moved = counted(|| assert!(TempPath::from_path(&blocker).close().is_err()));
    assert_eq!((moved.removed, moved.cleanup_errors), (0, 1));

    // An age sweep reclaims two entries and counts what they held; a dry run counts nothing.
    fs::write(scratch.join("old-a"), vec![b'a'; 10_000]).unwrap();
    fs::create_dir(scratch.join("old-b")).unwrap();
    fs::write(scratch.join("old-b/inner"), vec![b'b'; 5_000]).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let old = OsStr::new("old-");
    let moved = counted(|| {
        let dry =
            ferrotemp::guard::sweep_older_than(&scratch, old, Duration::from_millis(10), true)
                .unwrap();
        assert_eq!(dry.entries(), 2);
    });
    assert_eq!(moved, Stats::default());
    let mut reclaimed = 0;
    let moved = counted(|| {
        let report =
            ferrotemp::guard::sweep_older_than(&scratch, old, Duration::from_millis(10), false)
                .unwrap();
        assert_eq!(report.entries(), 2, "{report:?}");
        reclaimed = report.bytes();
    });
    assert_eq!(moved.entries_reclaimed, 2);
    assert_eq!(moved.bytes_reclaimed, reclaimed);
    assert!(reclaimed >= 15_000, "{reclaimed}");

    let moved = counted(note_quota_refusal);
    assert_eq!(
        moved,
        Stats {
            quota_refusals: 1,
            ..Stats::default()
        }
    );

    fs::remove_dir_all(&scratch).unwrap();
}
