//! Where the registry goes, and what the guard does when it cannot record: unguarded creations,
//! one warning, and a retry after a transient failure.
#![cfg(unix)]

mod guard_support;

use std::path::Path;

use ferrotemp::guard::{self, EntryKind, Registration};
use ferrotemp::Builder;

use guard_support::children::ChildProcess;
use guard_support::lists::wait_for_file;
use guard_support::{cleanup, config_with_registry, scratch, serial, ConfigRestore};

#[test]
fn no_registry_in_the_current_directory_when_it_is_the_last_resort_temp_dir() {
    let _serial = serial();
    let scratch = scratch("cwdtemp");
    let work = scratch.join("work");
    std::fs::create_dir(&work).unwrap();
    let mut child = ChildProcess::spawn("cwdtemp", &scratch, &scratch.join("unused"), &[]);
    assert!(child.child.wait().unwrap().success());
    let text = wait_for_file(&scratch.join("cwdtemp"));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "false", "a record was made: {text}");
    assert!(lines[1].contains("current directory"), "{text}");
    assert_eq!(lines[2], "", "warned twice: {text}");
    // Nothing left in the directory: no registry, and the files were removed.
    assert_eq!(std::fs::read_dir(&work).unwrap().count(), 0);
    cleanup(&scratch);
}

#[test]
fn a_relative_registry_dir_is_made_absolute() {
    let _serial = serial();
    let _config = ConfigRestore::set(config_with_registry(Path::new("relative/registry")));
    let dir = guard::config().registry_dir.unwrap();
    assert!(dir.is_absolute(), "{}", dir.display());
    assert_eq!(
        dir,
        std::env::current_dir().unwrap().join("relative/registry")
    );
}

#[test]
fn a_transient_failure_does_not_disable_the_guard_for_good() {
    let _serial = serial();
    let scratch = scratch("transient");
    let registry = scratch.join("registry");
    std::fs::create_dir(scratch.join("work")).unwrap();
    let mut child = ChildProcess::spawn("transient", &scratch, &registry, &[]);
    assert!(child.child.wait().unwrap().success());
    let text = wait_for_file(&scratch.join("transient"));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[..3], ["unguarded", "unguarded", "guarded"], "{text}");
    assert!(lines[3].contains("will retry"), "{text}");
    assert!(lines[4].contains("will retry"), "{text}");
    cleanup(&scratch);
}

#[test]
fn the_guard_warns_once_when_unavailable() {
    let _serial = serial();
    let scratch = scratch("warnonce");
    let registry = scratch.join("missing-parent").join("registry");
    let _config = ConfigRestore::set(config_with_registry(&registry));
    let (_file, path) = Builder::new().create_unowned_file_in(&scratch).unwrap();
    assert!(guard::take_warning().is_none());
    assert!(matches!(
        guard::register(&path, EntryKind::File, 1, 1),
        Registration::Unguarded
    ));
    assert!(matches!(
        guard::register(&path, EntryKind::File, 1, 1),
        Registration::Unguarded
    ));
    let warning = guard::take_warning().unwrap();
    assert!(warning.contains("crash guard disabled"), "{warning}");
    assert!(warning.contains("missing-parent"), "{warning}");
    assert!(guard::take_warning().is_none());
    cleanup(&scratch);
}
