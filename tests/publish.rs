//! Publishing a temporary file: `persist` (replace), `persist_noclobber` (EEXIST, file given
//! back), cross-device `EXDEV` (file given back, nothing copied), the fsync switch, unnamed
//! files published by `linkat`, and the crash guard forgetting a published file.
//!
//! The race between two *processes* publishing to one destination is in the Python suite
//! (tests/python/test_publish.py), which has a ready child; here two threads race.
#![cfg(target_os = "linux")]

mod guard_support;

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use ferrotemp::guard;
use ferrotemp::publish::{self, PersistOptions};
use ferrotemp::{Builder, NamedTempFile};

use guard_support::{cleanup, config_with_registry, scratch, serial, ConfigRestore};

fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    out.sort();
    out
}

#[test]
fn persist_replaces_the_destination_and_keeps_the_file_open() {
    let dir = scratch("pub-replace");
    let dest = dir.join("out.txt");
    std::fs::write(&dest, b"old").unwrap();
    let mut file = NamedTempFile::new_in(&dir).unwrap();
    file.write_all(b"new content").unwrap();
    let temp = file.path().to_path_buf();
    let mut published = file.persist(&dest).unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), b"new content");
    assert!(!temp.exists());
    assert_eq!(entries(&dir), vec![dest.clone()]);
    // The returned file is the published one.
    published.seek(SeekFrom::Start(0)).unwrap();
    let mut back = String::new();
    published.read_to_string(&mut back).unwrap();
    assert_eq!(back, "new content");
    drop(published);
    assert!(dest.exists(), "dropping the persisted file removed it");
    cleanup(&dir);
}

#[test]
fn persist_noclobber_refuses_an_existing_destination_and_gives_the_file_back() {
    let dir = scratch("pub-noclobber");
    let dest = dir.join("out.txt");
    std::fs::write(&dest, b"old").unwrap();
    let mut file = NamedTempFile::new_in(&dir).unwrap();
    file.write_all(b"new").unwrap();
    let temp = file.path().to_path_buf();
    let err = file.persist_noclobber(&dest).unwrap_err();
    assert_eq!(err.error.kind(), std::io::ErrorKind::AlreadyExists);
    assert_eq!(std::fs::read(&dest).unwrap(), b"old");
    // The file comes back whole and still owned: a second try elsewhere works, and dropping
    // it would remove it.
    let mut back = err.file;
    assert_eq!(back.path(), temp);
    back.write_all(b"!").unwrap();
    let other = dir.join("other.txt");
    back.persist_noclobber(&other).unwrap();
    assert_eq!(std::fs::read(&other).unwrap(), b"new!");
    assert!(!temp.exists());
    cleanup(&dir);
}

#[test]
fn persist_noclobber_to_a_free_name_publishes() {
    let dir = scratch("pub-free");
    let dest = dir.join("fresh");
    let file = NamedTempFile::new_in(&dir).unwrap();
    file.persist_noclobber(&dest).unwrap();
    assert_eq!(entries(&dir), vec![dest]);
    cleanup(&dir);
}

#[test]
fn the_persist_error_converts_to_the_io_error_and_displays_it() {
    let dir = scratch("pub-errconv");
    let dest = dir.join("taken");
    std::fs::write(&dest, b"").unwrap();
    let err = NamedTempFile::new_in(&dir)
        .unwrap()
        .persist_noclobber(&dest)
        .unwrap_err();
    let temp = err.file.path().to_path_buf();
    assert!(err.to_string().contains("persist"));
    let io: std::io::Error = err.into();
    assert_eq!(ferrotemp::error::raw_os_error(&io), Some(17));
    assert_eq!(io.kind(), std::io::ErrorKind::AlreadyExists);
    // Converting dropped the file: it is removed.
    assert!(!temp.exists());
    cleanup(&dir);
}

#[test]
fn temp_path_persist_and_noclobber() {
    let dir = scratch("pub-temppath");
    let dest = dir.join("dest");
    let (mut file, path) = NamedTempFile::new_in(&dir).unwrap().into_parts();
    file.write_all(b"via path").unwrap();
    drop(file);
    std::fs::write(&dest, b"old").unwrap();
    let err = path.persist_noclobber(&dest).unwrap_err();
    assert_eq!(err.error.kind(), std::io::ErrorKind::AlreadyExists);
    let path = err.path;
    assert!(path.path().exists());
    path.persist_with(&dest, PersistOptions::new().fsync(true))
        .unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), b"via path");
    assert_eq!(entries(&dir), vec![dest]);
    cleanup(&dir);
}

#[test]
fn the_fsync_switch_publishes_the_same_way() {
    let dir = scratch("pub-fsync");
    for (i, overwrite) in [true, false].into_iter().enumerate() {
        let dest = dir.join(format!("d{i}"));
        let mut file = NamedTempFile::new_in(&dir).unwrap();
        file.write_all(b"durable").unwrap();
        file.persist_with(
            &dest,
            PersistOptions::new().overwrite(overwrite).fsync(true),
        )
        .unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"durable");
    }
    assert_eq!(entries(&dir).len(), 2);
    cleanup(&dir);
}

#[test]
fn two_threads_racing_noclobber_exactly_one_wins() {
    let dir = scratch("pub-race");
    for round in 0..50 {
        let dest = dir.join(format!("race{round}"));
        let barrier = std::sync::Barrier::new(2);
        let wins: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..2u8)
                .map(|who| {
                    let (dir, dest, barrier) = (&dir, &dest, &barrier);
                    s.spawn(move || {
                        let mut file = NamedTempFile::new_in(dir).unwrap();
                        file.write_all(&[who]).unwrap();
                        barrier.wait();
                        usize::from(file.persist_noclobber(dest).is_ok())
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(wins, 1, "round {round}");
        assert_eq!(std::fs::read(&dest).unwrap().len(), 1);
    }
    // Losers' files were dropped, so removed: only the destinations remain.
    assert_eq!(entries(&dir).len(), 50);
    cleanup(&dir);
}

/// A small tmpfs at `at` (root only); `None`, with the reason printed, when it cannot be made.
struct Tmpfs(PathBuf);

impl Tmpfs {
    #[allow(clippy::print_stderr)] // says why the test was skipped
    fn mount(at: &Path) -> Option<Self> {
        std::fs::create_dir_all(at).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
            .arg(at)
            .output();
        match status {
            Ok(out) if out.status.success() => Some(Tmpfs(at.to_path_buf())),
            other => {
                eprintln!(
                    "skipped: cannot mount a tmpfs at {}: {other:?}",
                    at.display()
                );
                let _ = std::fs::remove_dir(at);
                None
            }
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[test]
fn a_destination_on_another_filesystem_fails_with_exdev_and_gives_the_file_back() {
    let dir = scratch("pub-exdev");
    let Some(mount) = Tmpfs::mount(&dir.join("mnt")) else {
        cleanup(&dir);
        return;
    };
    let dest = mount.0.join("dest");
    for overwrite in [true, false] {
        let mut file = NamedTempFile::new_in(&dir).unwrap();
        file.write_all(b"stay").unwrap();
        let temp = file.path().to_path_buf();
        let err = file
            .persist_with(&dest, PersistOptions::new().overwrite(overwrite))
            .unwrap_err();
        assert_eq!(
            ferrotemp::error::raw_os_error(&err.error),
            Some(18),
            "{overwrite}: {:?}",
            err.error
        );
        assert_eq!(err.file.path(), temp);
        assert_eq!(std::fs::read(&temp).unwrap(), b"stay");
        assert!(!dest.exists(), "something was copied");
    }
    drop(mount);
    cleanup(&dir);
}

#[test]
#[allow(clippy::print_stderr)] // says why it was skipped
fn unnamed_file_published_by_linkat_never_shows_a_temp_name() {
    let dir = scratch("pub-unnamed");
    let Some(mut file) = publish::open_linkable_unnamed(&dir) else {
        eprintln!("skipped: no O_TMPFILE in {}", dir.display());
        cleanup(&dir);
        return;
    };
    file.write_all(b"unnamed").unwrap();
    assert!(entries(&dir).is_empty());
    let dest = dir.join("dest");
    let noclobber = PersistOptions::new().overwrite(false).fsync(true);
    publish::publish_unnamed(&file, &dest, noclobber).unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), b"unnamed");
    // linkat never replaces.
    let err = publish::publish_unnamed(&file, &dest, noclobber).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
    // Replace: through a fresh name renamed over the destination; nothing else remains.
    let mut second = publish::open_linkable_unnamed(&dir).unwrap();
    second.write_all(b"second").unwrap();
    publish::publish_unnamed(&second, &dest, PersistOptions::new()).unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), b"second");
    assert_eq!(entries(&dir), vec![dest]);
    cleanup(&dir);
}

#[test]
fn a_persisted_file_is_unregistered_from_the_crash_guard() {
    let _serial = serial();
    let dir = scratch("pub-guard");
    let registry = dir.join("registry");
    let _config = ConfigRestore::set(config_with_registry(&registry));
    let mut builder = Builder::new();
    builder.guarded(true);
    let control = NamedTempFile::with_builder_in(&builder, &dir).unwrap();
    let file = NamedTempFile::with_builder_in(&builder, &dir).unwrap();
    let temp = file.path().to_path_buf();
    let recorded = || -> Vec<PathBuf> {
        let (name, _) = guard::current_record().unwrap();
        guard::record::parse(&std::fs::read(registry.join(name)).unwrap())
            .unwrap()
            .entries
            .into_iter()
            .map(|e| e.path)
            .collect()
    };
    assert!(recorded().contains(&temp));
    let dest = dir.join("published");
    let persisted = file.persist(&dest).unwrap();
    let after = recorded();
    assert!(
        !after.contains(&temp),
        "the published file is still recorded"
    );
    assert!(after.contains(&control.path().to_path_buf()));
    drop((persisted, control));
    assert!(dest.exists());
    cleanup(&dir);
}
