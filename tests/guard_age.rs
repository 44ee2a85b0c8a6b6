//! Age-based sweeping by prefix: the cutoff, symlinks, owners, locks, live records' entries and
//! other filesystems.
#![cfg(unix)]

mod guard_support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use ferrotemp::guard::{self, GuardConfig, SkipReason};
use ferrotemp::Builder;

use guard_support::{cleanup, config_with_registry, removed_set, scratch, serial, ConfigRestore};

fn age_fixture(scratch: &Path) {
    std::fs::write(scratch.join("myapp_old"), b"12345").unwrap();
    std::fs::create_dir_all(scratch.join("myapp_olddir/a/b")).unwrap();
    std::fs::write(scratch.join("myapp_olddir/a/b/data"), b"1234567890").unwrap();
    std::fs::write(scratch.join("other_old"), b"x").unwrap();
    std::fs::write(scratch.join("outside"), b"target").unwrap();
    std::os::unix::fs::symlink(scratch.join("outside"), scratch.join("myapp_link")).unwrap();
    std::fs::write(scratch.join("myapp_locked"), b"x").unwrap();
    std::fs::create_dir(scratch.join("myapp_freshinside")).unwrap();
}

#[test]
fn age_sweep_follows_prefix_cutoff_symlink_owner_and_flock_rules() {
    let _serial = serial();
    let scratch = scratch("age");
    age_fixture(&scratch);
    let locked = std::fs::File::open(scratch.join("myapp_locked")).unwrap();
    rustix::fs::flock(&locked, rustix::fs::FlockOperation::LockShared).unwrap();
    let live_dir = Builder::new()
        .prefix("myapp_")
        .tempdir_in(&scratch)
        .unwrap();
    let is_root = rustix::process::geteuid().is_root();
    if is_root {
        std::fs::write(scratch.join("myapp_foreign"), b"x").unwrap();
        std::os::unix::fs::chown(scratch.join("myapp_foreign"), Some(65534), None).unwrap();
    }
    // ctime cannot be set back: let the fixture age past a one-second cutoff instead.
    std::thread::sleep(Duration::from_millis(1200));
    std::fs::write(scratch.join("myapp_fresh"), b"x").unwrap();
    std::fs::write(scratch.join("myapp_freshinside/new"), b"x").unwrap();
    let cutoff = Duration::from_secs(1);

    let dry = guard::sweep_older_than(&scratch, "myapp_".as_ref(), cutoff, true).unwrap();
    let expected: BTreeSet<PathBuf> =
        [scratch.join("myapp_old"), scratch.join("myapp_olddir")].into();
    assert_eq!(removed_set(&dry), expected);
    assert_eq!(dry.bytes(), 15);
    assert!(expected.iter().all(|p| p.exists()));

    // The dry run's walk did not make anything look recent.
    let report = guard::sweep_older_than(&scratch, "myapp_".as_ref(), cutoff, false).unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(removed_set(&report), expected);
    assert!(expected.iter().all(|p| !p.exists()));
    let skipped = |name: &str| {
        report
            .skipped
            .iter()
            .find(|(p, _)| *p == scratch.join(name))
            .map(|(_, r)| *r)
    };
    assert_eq!(skipped("myapp_link"), Some(SkipReason::Symlink));
    assert_eq!(skipped("myapp_locked"), Some(SkipReason::InUse));
    assert_eq!(skipped("myapp_fresh"), Some(SkipReason::Recent));
    assert_eq!(skipped("myapp_freshinside"), Some(SkipReason::Recent));
    let live_name = live_dir.path().file_name().unwrap().to_str().unwrap();
    assert_eq!(skipped(live_name), Some(SkipReason::InUse));
    if is_root {
        assert_eq!(skipped("myapp_foreign"), Some(SkipReason::OtherOwner));
    }
    assert_eq!(skipped("other_old"), None);
    assert!(scratch.join("other_old").exists() && scratch.join("outside").exists());
    assert!(scratch.join("myapp_link").symlink_metadata().is_ok());
    drop((locked, live_dir));
    cleanup(&scratch);
}

#[test]
fn age_sweep_leaves_entries_of_live_records_alone() {
    let _serial = serial();
    for use_flock in [true, false] {
        let scratch = scratch(if use_flock {
            "agelive"
        } else {
            "agelive-noflock"
        });
        let registry = scratch.join("registry");
        let _config = ConfigRestore::set(GuardConfig {
            use_flock,
            ..config_with_registry(&registry)
        });
        let mut builder = Builder::new();
        builder.prefix("myapp_").guarded(true);
        // Guarded files hold no lock: only the record says they are in use.
        let live_file = ferrotemp::NamedTempFile::with_builder_in(&builder, &scratch).unwrap();
        let outer = scratch.join("myapp_outer");
        std::fs::create_dir_all(outer.join("sub")).unwrap();
        let inner = ferrotemp::NamedTempFile::with_builder_in(&builder, outer.join("sub")).unwrap();
        std::fs::write(scratch.join("myapp_plain"), b"x").unwrap();
        std::thread::sleep(Duration::from_millis(1200));
        let report =
            guard::sweep_older_than(&scratch, "myapp_".as_ref(), Duration::from_secs(1), false)
                .unwrap();
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        assert_eq!(
            removed_set(&report),
            BTreeSet::from([scratch.join("myapp_plain")])
        );
        let skipped = &report.skipped;
        assert!(
            skipped.contains(&(live_file.path().to_path_buf(), SkipReason::InUse)),
            "{skipped:?}"
        );
        assert!(
            skipped.contains(&(outer.clone(), SkipReason::InUse)),
            "{skipped:?}"
        );
        assert!(live_file.path().exists() && inner.path().exists());
        drop((live_file, inner));
        cleanup(&scratch);
    }
}

#[test]
fn age_sweep_needs_a_prefix() {
    let scratch = scratch("ageprefix");
    let err = guard::sweep_older_than(&scratch, "".as_ref(), Duration::ZERO, true).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    cleanup(&scratch);
}

/// Detaches the mount at its path when dropped.
struct LazyUnmount(PathBuf);

impl Drop for LazyUnmount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn age_sweep_skips_another_filesystem() {
    let _serial = serial();
    let scratch = scratch("agefs");
    let mount_point = scratch.join("myapp_mnt");
    std::fs::create_dir(&mount_point).unwrap();
    let mounted = rustix::process::geteuid().is_root()
        && Command::new("mount")
            .args(["-t", "tmpfs", "none"])
            .arg(&mount_point)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    if !mounted {
        cleanup(&scratch);
        return; // needs root and mount(8): nothing to check here
    }
    // Detached even if an assertion fails (a plain umount can find it busy for an instant).
    let unmount = LazyUnmount(mount_point.clone());
    std::thread::sleep(Duration::from_millis(1200));
    let report =
        guard::sweep_older_than(&scratch, "myapp_".as_ref(), Duration::from_secs(1), false)
            .unwrap();
    drop(unmount);
    assert_eq!(
        report.skipped,
        vec![(mount_point.clone(), SkipReason::OtherFilesystem)]
    );
    assert!(report.removed.is_empty());
    cleanup(&scratch);
}
