//! The crash guard with real processes: children that create entries and are killed with
//! SIGKILL, and sweeps afterwards.
//!
//! Children are this test binary re-executed with `FT_GUARD_CHILD=<mode>`, running only
//! `child_process_entry`; they report through files in a scratch directory. Every test uses
//! its own registry (`FERROTEMP_GUARD_DIR` in children, `guard::set_config` here), never the
//! real one. A test that changes this process's configuration holds a `ConfigRestore`, which
//! puts the environment's back even when an assertion fails, so one failure does not spread.
#![cfg(unix)]

use std::collections::BTreeSet;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use ferrotemp::guard::{self, EntryKind, GuardConfig, Registration, SkipReason, SweepOptions};
use ferrotemp::Builder;

/// Tests change the process-wide guard configuration: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ft-guard-{name}-{}", std::process::id()));
    if dir.exists() {
        ferrotemp::remove_tree_nofollow(&dir).unwrap();
    }
    std::fs::create_dir(&dir).unwrap();
    dir
}

fn cleanup(dir: &Path) {
    let _ = ferrotemp::remove_tree_nofollow(dir);
}

fn config_with_registry(registry: &Path) -> GuardConfig {
    GuardConfig {
        registry_dir: Some(registry.to_path_buf()),
        auto_sweep: false,
        ..GuardConfig::default()
    }
}

/// Sets the guard's configuration and restores the environment's when dropped, so a failed
/// assertion does not leave the next test with this one's settings.
#[must_use = "the configuration is restored when this is dropped"]
struct ConfigRestore;

impl ConfigRestore {
    fn set(config: GuardConfig) -> Self {
        guard::set_config(config);
        ConfigRestore
    }
}

impl Drop for ConfigRestore {
    fn drop(&mut self) {
        guard::reload_config();
    }
}

fn sweep_registry(registry: &Path, dry_run: bool) -> guard::SweepReport {
    guard::sweep(&SweepOptions {
        registry: Some(registry.to_path_buf()),
        dry_run,
        ..SweepOptions::default()
    })
    .unwrap()
}

/// A child process, killed and reaped when dropped.
struct ChildProcess {
    child: Child,
}

impl ChildProcess {
    fn spawn(mode: &str, scratch: &Path, registry: &Path, env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(std::env::current_exe().unwrap());
        command
            .args([
                "child_process_entry",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("FT_GUARD_CHILD", mode)
            .env("FT_GUARD_SCRATCH", scratch)
            .env("FERROTEMP_GUARD_DIR", registry)
            .env("FERROTEMP_GUARD_SWEEP", "0")
            .env_remove("FERROTEMP_KEEP")
            .env_remove("FERROTEMP_GUARD")
            .stdout(Stdio::null());
        for (key, value) in env {
            command.env(key, value);
        }
        Self {
            child: command.spawn().unwrap(),
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

fn wait_for_file(path: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            if text.ends_with("\nend\n") || text == "end\n" {
                return text;
            }
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Reads a list the child wrote: one path per line, then "end".
fn read_list(path: &Path) -> BTreeSet<PathBuf> {
    wait_for_file(path)
        .lines()
        .filter(|l| *l != "end")
        .map(PathBuf::from)
        .collect()
}

fn write_list(path: &Path, items: &[PathBuf]) {
    let mut text = String::new();
    for item in items {
        text.push_str(item.to_str().unwrap());
        text.push('\n');
    }
    text.push_str("end\n");
    let temp = path.with_extension("tmp");
    std::fs::write(&temp, text).unwrap();
    std::fs::rename(&temp, path).unwrap();
}

fn removed_set(report: &guard::SweepReport) -> BTreeSet<PathBuf> {
    report.removed.iter().map(|e| e.path.clone()).collect()
}

fn record_count(registry: &Path) -> usize {
    std::fs::read_dir(registry)
        .map(|d| {
            d.filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".rec")
            })
            .count()
        })
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------
// The child side.

fn sleep_forever() -> ! {
    loop {
        std::thread::sleep(Duration::from_secs(60));
    }
}

/// Creates guarded files and a guarded directory with contents under `work`, plus entries
/// the guard must not touch; writes the lists; returns the owners (to keep them alive).
fn create_entries(work: &Path, scratch: &Path) -> Vec<Box<dyn std::any::Any>> {
    let mut guarded_builder = Builder::new();
    guarded_builder.guarded(true);
    let mut keep_alive: Vec<Box<dyn std::any::Any>> = Vec::new();
    let mut guarded = Vec::new();
    let mut unguarded = Vec::new();
    for i in 0..3 {
        let mut file = ferrotemp::NamedTempFile::with_builder_in(&guarded_builder, work).unwrap();
        file.write_all(&vec![b'x'; 100 * (i + 1)]).unwrap();
        guarded.push(file.path().to_path_buf());
        keep_alive.push(Box::new(file));
    }
    let dir = guarded_builder.tempdir_in(work).unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(dir.path().join("sub/data"), vec![b'y'; 1000]).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", dir.path().join("link")).unwrap();
    guarded.push(dir.path().to_path_buf());
    keep_alive.push(Box::new(dir));
    // delete=False: guarded at creation, then kept, which unregisters it.
    let kept = ferrotemp::NamedTempFile::with_builder_in(&guarded_builder, work).unwrap();
    unguarded.push(kept.keep().1);
    // mkstemp: never guarded.
    let (_file, path) = Builder::new().create_file_in(work).unwrap();
    unguarded.push(path);
    // A guarded-builder file closed normally: removed and unregistered.
    let closed = ferrotemp::NamedTempFile::with_builder_in(&guarded_builder, work).unwrap();
    closed.close().unwrap();
    write_list(&scratch.join("unguarded"), &unguarded);
    write_list(&scratch.join("guarded"), &guarded);
    keep_alive
}

#[test]
fn child_process_entry() {
    let Some(mode) = std::env::var_os("FT_GUARD_CHILD") else {
        return; // An ordinary test run: nothing to do.
    };
    let scratch = PathBuf::from(std::env::var_os("FT_GUARD_SCRATCH").unwrap());
    let work = scratch.join("work");
    match mode.to_str().unwrap() {
        "crash" => {
            let _owners = create_entries(&work, &scratch);
            sleep_forever();
        }
        "fork" => {
            let mut builder = Builder::new();
            builder.guarded(true);
            let parent_file = ferrotemp::NamedTempFile::with_builder_in(&builder, &work).unwrap();
            // A token the child inherits: dropping it there must not touch our record.
            let raw = work.join("raw-registered");
            std::fs::write(&raw, b"raw").unwrap();
            let meta = std::fs::metadata(&raw).unwrap();
            let token = guard::register(&raw, EntryKind::File, meta.dev(), meta.ino())
                .into_token()
                .unwrap();
            // SAFETY: the child only creates files, writes lists and sleeps.
            let pid = unsafe { libc::fork() };
            assert!(pid >= 0);
            if pid == 0 {
                drop(token);
                let child_file =
                    ferrotemp::NamedTempFile::with_builder_in(&builder, &work).unwrap();
                let record = guard::current_record().unwrap().0;
                write_list(
                    &scratch.join("child"),
                    &[
                        PathBuf::from(std::process::id().to_string()),
                        child_file.path().to_path_buf(),
                        record,
                    ],
                );
                std::mem::forget(parent_file); // the parent's, not ours to remove
                std::mem::forget(child_file);
                sleep_forever();
            }
            let record = guard::current_record().unwrap().0;
            write_list(
                &scratch.join("parent"),
                &[parent_file.path().to_path_buf(), raw, record],
            );
            let _keep = (parent_file, token);
            sleep_forever();
        }
        "sweeper" => {
            // Each registration runs a slice of the automatic sweep, on this thread: the
            // number of threads never changes. `FT_GUARD_CREATIONS` files come and go first.
            let threads_before = os_threads();
            let mut most_threads = threads_before;
            let mut builder = Builder::new();
            builder.guarded(true);
            let creations: usize =
                std::env::var("FT_GUARD_CREATIONS").map_or(0, |n| n.parse().unwrap());
            for _ in 0..creations {
                drop(ferrotemp::NamedTempFile::with_builder_in(&builder, &work).unwrap());
                most_threads = most_threads.max(os_threads());
            }
            let file = ferrotemp::NamedTempFile::with_builder_in(&builder, &work).unwrap();
            most_threads = most_threads.max(os_threads());
            write_list(
                &scratch.join("sweeper"),
                &[
                    file.path().to_path_buf(),
                    PathBuf::from(format!("threads-before-{threads_before}")),
                    PathBuf::from(format!("threads-most-{most_threads}")),
                ],
            );
            sleep_forever();
        }
        "exit" => {
            // Entries created and removed, one left live, then a normal exit.
            let mut builder = Builder::new();
            builder.guarded(true);
            for _ in 0..3 {
                ferrotemp::NamedTempFile::with_builder_in(&builder, &work)
                    .unwrap()
                    .close()
                    .unwrap();
            }
            builder.tempdir_in(&work).unwrap().close().unwrap();
            let live = ferrotemp::NamedTempFile::with_builder_in(&builder, &work).unwrap();
            let path = live.path().to_path_buf();
            let record = guard::current_record().unwrap().0;
            if std::env::var_os("FT_GUARD_LEAK").is_some() {
                std::mem::forget(live); // still recorded at exit: left for a sweep
            } else {
                drop(live);
            }
            write_list(&scratch.join("exited"), &[path, record]);
            std::process::exit(0);
        }
        #[cfg(target_os = "linux")]
        "rawfork" => {
            // A fork that runs no pthread_atfork handler (a raw clone, as _Fork or a
            // language runtime may do): the child must not write into the parent's record.
            let mut builder = Builder::new();
            builder.guarded(true);
            let parent_file = ferrotemp::NamedTempFile::with_builder_in(&builder, &work).unwrap();
            let raw = work.join("raw-registered");
            std::fs::write(&raw, b"raw").unwrap();
            let meta = std::fs::metadata(&raw).unwrap();
            let token = guard::register(&raw, EntryKind::File, meta.dev(), meta.ino())
                .into_token()
                .unwrap();
            let parent_record = guard::current_record().unwrap().0;
            // SAFETY: clone(SIGCHLD) is fork without the C library's handlers; this process
            // runs one test thread, and the child exits without returning.
            let pid = unsafe { libc::syscall(libc::SYS_clone, libc::SIGCHLD, 0, 0, 0, 0) };
            assert!(pid >= 0);
            if pid == 0 {
                drop(token); // the parent's: must write nothing (its mapping is not here)
                let child_file =
                    ferrotemp::NamedTempFile::with_builder_in(&builder, &work).unwrap();
                let record = guard::current_record().unwrap().0;
                write_list(
                    &scratch.join("rawchild"),
                    &[child_file.path().to_path_buf(), record],
                );
                drop(child_file);
                std::mem::forget(parent_file); // the parent's, not ours to remove
                std::process::exit(0); // atexit: must not discard the parent's record
            }
            let mut status = 0;
            // SAFETY: waiting for the child just made.
            let waited = unsafe { libc::waitpid(i32::try_from(pid).unwrap(), &mut status, 0) };
            assert_eq!(i64::from(waited), pid);
            write_list(
                &scratch.join("rawparent"),
                &[
                    PathBuf::from(status.to_string()),
                    parent_record,
                    parent_file.path().to_path_buf(),
                ],
            );
            let _keep = (parent_file, token);
            sleep_forever();
        }
        "cwdtemp" => {
            // No usable temp dir but the current directory: discovery's last resort.
            std::env::set_current_dir(&work).unwrap();
            ferrotemp::env::set_default_tempdir(Some(std::env::current_dir().unwrap()));
            guard::set_config(GuardConfig {
                registry_dir: None,
                ..GuardConfig::from_env()
            });
            let mut builder = Builder::new();
            builder.guarded(true);
            let file = ferrotemp::NamedTempFile::with_builder_in(
                &builder,
                ferrotemp::default_tempdir().unwrap(),
            )
            .unwrap();
            let guarded = guard::current_record().is_some();
            let again = ferrotemp::NamedTempFile::with_builder_in(
                &builder,
                ferrotemp::default_tempdir().unwrap(),
            )
            .unwrap();
            let first = guard::take_warning().unwrap_or_default();
            let second = guard::take_warning().unwrap_or_default();
            drop((file, again));
            write_list(
                &scratch.join("cwdtemp"),
                &[
                    PathBuf::from(guarded.to_string()),
                    PathBuf::from(first),
                    PathBuf::from(second),
                ],
            );
        }
        "transient" => {
            // Out of descriptors when the record is first needed: the guard must come back.
            let entry = work.join("entry");
            std::fs::write(&entry, b"x").unwrap();
            let meta = std::fs::metadata(&entry).unwrap();
            let register = || guard::register(&entry, EntryKind::File, meta.dev(), meta.ino());
            let outcome = |r: Registration| match r {
                Registration::Guarded(token) => {
                    std::mem::forget(token);
                    "guarded"
                }
                Registration::Keep => "keep",
                Registration::Unguarded => "unguarded",
            };
            let mut limit = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: plain libc calls on a local struct and descriptor numbers.
            let next_fd = unsafe {
                assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
                let fd = libc::dup(0);
                libc::close(fd);
                fd
            };
            let lowered = libc::rlimit {
                rlim_cur: libc::rlim_t::try_from(next_fd).unwrap(),
                rlim_max: limit.rlim_max,
            };
            // SAFETY: as above.
            assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lowered) }, 0);
            let starved = outcome(register());
            // SAFETY: as above.
            assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) }, 0);
            let backing_off = outcome(register());
            let reason = guard::unavailable_reason().unwrap_or_default();
            std::thread::sleep(Duration::from_millis(300));
            let later = outcome(register());
            let warning = guard::take_warning().unwrap_or_default();
            write_list(
                &scratch.join("transient"),
                &[
                    PathBuf::from(starved),
                    PathBuf::from(backing_off),
                    PathBuf::from(later),
                    PathBuf::from(reason.replace('\n', " ")),
                    PathBuf::from(warning.replace('\n', " ")),
                ],
            );
        }
        "sweep" => {
            // One sweep of the registry, then its outcome and this process's peak memory.
            let registry = PathBuf::from(std::env::var_os("FERROTEMP_GUARD_DIR").unwrap());
            let report = sweep_registry(&registry, false);
            let status = std::fs::read_to_string("/proc/self/status").unwrap();
            let peak_kib = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .map(|v| v.trim().trim_end_matches("kB").trim().to_owned())
                .unwrap();
            let errors: Vec<String> = report
                .errors
                .iter()
                .map(|(path, err)| format!("{}: {err}", path.display()).replace('\n', " "))
                .collect();
            write_list(
                &scratch.join("swept"),
                &[
                    PathBuf::from(peak_kib),
                    PathBuf::from(report.records_removed.to_string()),
                    PathBuf::from(errors.join(" | ")),
                ],
            );
        }
        other => panic!("unknown child mode {other}"),
    }
}

// ---------------------------------------------------------------------------------------
// The tests.

fn spawn_crash_child(name: &str, env: &[(&str, &str)]) -> (PathBuf, PathBuf, ChildProcess) {
    let scratch = scratch(name);
    let registry = scratch.join("registry");
    std::fs::create_dir(scratch.join("work")).unwrap();
    let child = ChildProcess::spawn("crash", &scratch, &registry, env);
    (scratch, registry, child)
}

#[test]
fn sweep_removes_exactly_the_guarded_entries_of_a_killed_process() {
    let _serial = serial();
    let (scratch, registry, mut child) = spawn_crash_child("killed", &[]);
    let guarded = read_list(&scratch.join("guarded"));
    let unguarded = read_list(&scratch.join("unguarded"));
    assert_eq!(guarded.len(), 4);
    assert_eq!(record_count(&registry), 1);
    child.kill();

    let report = sweep_registry(&registry, false);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(removed_set(&report), guarded);
    assert_eq!(report.records_removed, 1);
    // Files of 100, 200 and 300 bytes, and a directory holding 1,000.
    assert_eq!(report.bytes(), 1600);
    for path in &guarded {
        assert!(
            std::fs::symlink_metadata(path).is_err(),
            "{} left",
            path.display()
        );
    }
    for path in &unguarded {
        assert!(path.exists(), "{} removed", path.display());
    }
    assert!(Path::new("/etc/passwd").exists());
    assert_eq!(record_count(&registry), 0);
    // Only what the child was told to keep remains in its work directory.
    let left: BTreeSet<PathBuf> = std::fs::read_dir(scratch.join("work"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(left, unguarded);
    cleanup(&scratch);
}

fn run_exiting_child(name: &str, env: &[(&str, &str)]) -> (PathBuf, PathBuf, Vec<PathBuf>) {
    let scratch = scratch(name);
    let registry = scratch.join("registry");
    std::fs::create_dir(scratch.join("work")).unwrap();
    let mut child = ChildProcess::spawn("exit", &scratch, &registry, env);
    assert!(child.child.wait().unwrap().success());
    let listed = read_list(&scratch.join("exited")).into_iter().collect();
    (scratch, registry, listed)
}

#[test]
fn a_normal_exit_leaves_no_record_behind() {
    let _serial = serial();
    let (scratch, registry, _) = run_exiting_child("exit-clean", &[]);
    assert_eq!(record_count(&registry), 0);
    assert_eq!(std::fs::read_dir(&registry).unwrap().count(), 0);
    cleanup(&scratch);
}

#[test]
fn a_normal_exit_with_live_entries_leaves_them_to_a_sweep() {
    let _serial = serial();
    let (scratch, registry, _) = run_exiting_child("exit-leak", &[("FT_GUARD_LEAK", "1")]);
    let live = std::fs::read_dir(scratch.join("work"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect::<BTreeSet<_>>();
    assert_eq!(live.len(), 1);
    assert_eq!(record_count(&registry), 1);
    let report = sweep_registry(&registry, false);
    assert_eq!(removed_set(&report), live);
    assert_eq!(record_count(&registry), 0);
    cleanup(&scratch);
}

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
fn dry_run_removes_nothing_and_reports_what_would_go() {
    let _serial = serial();
    let (scratch, registry, mut child) = spawn_crash_child("dryrun", &[]);
    let guarded = read_list(&scratch.join("guarded"));
    child.kill();
    let report = sweep_registry(&registry, true);
    assert!(report.dry_run);
    assert_eq!(removed_set(&report), guarded);
    assert_eq!(report.bytes(), 1600);
    for path in &guarded {
        assert!(path.exists());
    }
    assert_eq!(record_count(&registry), 1);
    let report = sweep_registry(&registry, false);
    assert_eq!(removed_set(&report), guarded);
    cleanup(&scratch);
}

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

/// Header offsets (see `ferrotemp::guard::record`).
const H_FLAGS: usize = 12;
const H_PID: usize = 16;
const H_ACTIVE: usize = 32;
const H_PIDNS: usize = 40;
const H_BOOT: usize = 48;
/// Above any `pid_max`: no process has it.
const NO_SUCH_PID: u64 = 0x3fff_fff0;

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

/// Makes the (empty) file a forged record will be written into, and its registry, unless
/// they exist. Call it before creating the entries the record will list: a sweep removes
/// no entry born before its record.
fn plant_record_file(record: &Path) {
    make_registry(record.parent().unwrap());
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(record)
        .unwrap();
}

/// Makes the registry directory `registry` (mode 0700) unless it exists.
fn make_registry(registry: &Path) {
    if !registry.exists() {
        std::fs::create_dir(registry).unwrap();
        std::fs::set_permissions(
            registry,
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
    }
}

/// The record [`forge_dead_record`] writes: plant it before making the entries.
fn dead_record_path(registry: &Path) -> PathBuf {
    registry.join(format!("{NO_SUCH_PID}-dead.rec"))
}

/// Registers `entries` in this process's record (under `registry`), then copies the record
/// as a dead process's (a pid no process has, marked locked, and nobody holds its lock) into
/// [`dead_record_path`], which must have been planted before the entries were made.
fn forge_dead_record(registry: &Path, entries: &[(&Path, EntryKind)]) -> PathBuf {
    let forged = dead_record_path(registry);
    assert!(
        forged.exists(),
        "plant the record before making its entries"
    );
    let tokens: Vec<_> = entries
        .iter()
        .map(|(path, kind)| {
            let meta = std::fs::metadata(path).unwrap();
            guard::register(path, *kind, meta.dev(), meta.ino())
                .into_token()
                .unwrap()
        })
        .collect();
    let (name, _) = guard::current_record().unwrap();
    let mut bytes = std::fs::read(registry.join(name)).unwrap();
    bytes[H_PID..H_PID + 8].copy_from_slice(&NO_SUCH_PID.to_le_bytes());
    bytes[H_FLAGS] = 1;
    std::fs::write(&forged, &bytes).unwrap();
    drop(tokens);
    forged
}

fn big_tree(dir: &Path, files: usize) -> u64 {
    std::fs::create_dir(dir).unwrap();
    for i in 0..files {
        std::fs::write(dir.join(format!("f{i}")), b"0123456789").unwrap();
    }
    10 * files as u64
}

#[test]
fn the_sweep_budget_covers_the_work_inside_trees() {
    let _serial = serial();
    let scratch = scratch("budget");
    let registry = scratch.join("registry");
    let _config = ConfigRestore::set(config_with_registry(&registry));
    let tree = scratch.join("tree");
    plant_record_file(&dead_record_path(&registry));
    let total = big_tree(&tree, 2000);
    let file = scratch.join("file");
    std::fs::write(&file, b"f").unwrap();
    let forged = forge_dead_record(
        &registry,
        &[(&tree, EntryKind::Dir), (&file, EntryKind::File)],
    );

    // An entry budget: the tree's walk stops within it (bytes as counted so far), and the
    // work removing it uses the rest, so the next entry is left for a later sweep.
    let report = guard::sweep(&SweepOptions {
        registry: Some(registry.clone()),
        max_entries: Some(100),
        ..SweepOptions::default()
    })
    .unwrap();
    assert!(!report.complete);
    assert_eq!(removed_set(&report), BTreeSet::from([tree.clone()]));
    assert!(
        report.bytes() > 0 && report.bytes() < total,
        "{}",
        report.bytes()
    );
    assert!(file.exists() && forged.exists());
    let rest = sweep_registry(&registry, false);
    assert!(rest.complete);
    assert_eq!(removed_set(&rest), BTreeSet::from([file.clone()]));
    assert!(!forged.exists());

    // A time budget stops the removal of a tree midway; a later sweep finishes it.
    plant_record_file(&dead_record_path(&registry));
    big_tree(&tree, 5000);
    let forged = forge_dead_record(&registry, &[(&tree, EntryKind::Dir)]);
    let report = guard::sweep(&SweepOptions {
        registry: Some(registry.clone()),
        max_time: Some(Duration::from_millis(1)),
        ..SweepOptions::default()
    })
    .unwrap();
    assert!(!report.complete);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(tree.exists() && forged.exists());
    let rest = sweep_registry(&registry, false);
    assert!(rest.complete && rest.errors.is_empty(), "{:?}", rest.errors);
    assert_eq!(removed_set(&rest), BTreeSet::from([tree.clone()]));
    assert!(!tree.exists() && !forged.exists());
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
    let sleeper = || {
        let child = Command::new("sleep").arg("60").spawn().unwrap();
        let start = guard::record::process_start_time(child.id()).unwrap();
        (child, start)
    };
    let (mut killed, killed_start) = sleeper();
    killed.kill().unwrap();
    killed.wait().unwrap();
    let (mut running, running_start) = sleeper();

    // One dead owner's record per claimer, each renamed as that claimer's sweep left it.
    let claimers = [
        (
            "dead",
            format!("{pid_ns:x}-{}-{killed_start}-abcdefgh", killed.id()),
        ),
        (
            "live",
            format!("{pid_ns:x}-{}-{running_start}-abcdefgh", running.id()),
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
    assert_eq!(removed_set(&report), BTreeSet::from([files[0].0.clone()]));
    assert!(!files[0].1.exists(), "the taken-over record is gone");
    for (file, claimed) in &files[1..] {
        assert!(file.exists() && claimed.exists(), "{}", file.display());
    }

    // Once the live claimer ends without finishing, its claim is taken over too.
    running.kill().unwrap();
    running.wait().unwrap();
    let report = sweep_registry(&registry, false);
    assert_eq!(removed_set(&report), BTreeSet::from([files[1].0.clone()]));
    assert!(files[2].0.exists() && files[2].1.exists());
    cleanup(&scratch);
}

/// The threads of this process, as the kernel counts them (Python's fork warning counts
/// the same way).
fn os_threads() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, Iterator::count)
}

#[test]
fn a_later_process_reclaims_a_dead_ones_entries_by_itself() {
    let _serial = serial();
    let (scratch, registry, mut child) = spawn_crash_child("auto", &[]);
    let guarded = read_list(&scratch.join("guarded"));
    child.kill();
    // Enough creations for the slices to get through the dead record (and a few live
    // ones of other tests): reclaimed by the time the child reports, with no waiting.
    let _sweeper = ChildProcess::spawn(
        "sweeper",
        &scratch,
        &registry,
        &[("FERROTEMP_GUARD_SWEEP", "1"), ("FT_GUARD_CREATIONS", "50")],
    );
    let report: Vec<PathBuf> = read_list(&scratch.join("sweeper")).into_iter().collect();
    let remaining: Vec<_> = guarded.iter().filter(|p| p.exists()).collect();
    assert!(remaining.is_empty(), "not reclaimed: {remaining:?}");
    // Its own entry is live and stays; no thread was started for the sweep.
    let own = report.iter().find(|p| p.is_absolute()).unwrap();
    assert!(own.exists());
    let count = |label: &str| {
        let prefix = format!("threads-{label}-");
        report
            .iter()
            .find_map(|p| p.to_str()?.strip_prefix(&prefix)?.parse::<usize>().ok())
            .unwrap()
    };
    assert_eq!(count("before"), count("most"), "{report:?}");
    cleanup(&scratch);
}

#[test]
fn registrations_sweep_in_bounded_slices() {
    let _serial = serial();
    let scratch = scratch("slices");
    let registry = scratch.join("registry");
    let _config = ConfigRestore::set(config_with_registry(&registry));
    // The record must be older than its entries (a sweep never removes what predates it).
    plant_record_file(&dead_record_path(&registry));
    let files: Vec<PathBuf> = (0..40).map(|i| scratch.join(format!("f{i:02}"))).collect();
    for file in &files {
        std::fs::write(file, b"x").unwrap();
    }
    let entries: Vec<(&Path, EntryKind)> = files
        .iter()
        .map(|f| (f.as_path(), EntryKind::File))
        .collect();
    let forged = forge_dead_record(&registry, &entries);
    guard::set_config(GuardConfig {
        auto_sweep: true,
        ..config_with_registry(&registry)
    });
    let mut builder = Builder::new();
    builder.guarded(true);
    let mut live = vec![ferrotemp::NamedTempFile::with_builder_in(&builder, &scratch).unwrap()];
    // One slice examines at most 8 entries (fewer if its time cap comes first).
    let removed = files.iter().filter(|f| !f.exists()).count();
    assert!(
        removed <= 8,
        "{removed} entries removed by one registration"
    );
    let mut registrations = 1;
    while forged.exists() {
        assert!(registrations < 500, "the slices made no progress");
        live.push(ferrotemp::NamedTempFile::with_builder_in(&builder, &scratch).unwrap());
        registrations += 1;
    }
    assert!(
        registrations >= 5,
        "40 entries in {registrations} slices of 8"
    );
    assert!(files.iter().all(|f| !f.exists()));
    // The live entries of this process were never touched.
    assert!(live.iter().all(|f| f.path().exists()));
    drop(live);
    cleanup(&scratch);
}

#[test]
fn a_sweep_goes_on_from_its_cursor_until_done() {
    let _serial = serial();
    let scratch = scratch("cursor");
    let registry = scratch.join("registry");
    let _config = ConfigRestore::set(config_with_registry(&registry));
    // The record must be older than its entries (a sweep never removes what predates it).
    plant_record_file(&dead_record_path(&registry));
    let files: Vec<PathBuf> = (0..10).map(|i| scratch.join(format!("f{i}"))).collect();
    for file in &files {
        std::fs::write(file, b"x").unwrap();
    }
    let entries: Vec<(&Path, EntryKind)> = files
        .iter()
        .map(|f| (f.as_path(), EntryKind::File))
        .collect();
    let forged = forge_dead_record(&registry, &entries);
    let mut resume = None;
    let mut removed = Vec::new();
    let mut slices = 0;
    loop {
        slices += 1;
        assert!(slices <= 10, "no progress");
        let report = guard::sweep(&SweepOptions {
            registry: Some(registry.clone()),
            max_entries: Some(3),
            resume: resume.take(),
            ..SweepOptions::default()
        })
        .unwrap();
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        // Each slice takes the next entries, never one already done.
        assert!(report.removed.len() <= 3);
        removed.extend(report.removed.into_iter().map(|e| e.path));
        assert_eq!(report.complete, report.resume.is_none());
        match report.resume {
            Some(cursor) => {
                assert!(
                    forged.exists(),
                    "the record stays until its last entry is done"
                );
                resume = Some(cursor);
            }
            None => break,
        }
    }
    assert_eq!(slices, 4);
    assert_eq!(removed, files);
    assert!(files.iter().all(|f| !f.exists()));
    assert!(!forged.exists());

    // A record budget: live records count too, so a slice of one record goes one by one.
    plant_record_file(&dead_record_path(&registry));
    let file = scratch.join("last");
    std::fs::write(&file, b"x").unwrap();
    // (A forged record copies every entry this process has recorded: the live one after.)
    let forged = forge_dead_record(&registry, &[(&file, EntryKind::File)]);
    let live =
        ferrotemp::NamedTempFile::with_builder_in(Builder::new().guarded(true), &scratch).unwrap();
    assert_eq!(record_count(&registry), 2);
    let mut slices = 0;
    let mut resume = None;
    loop {
        slices += 1;
        let report = guard::sweep(&SweepOptions {
            registry: Some(registry.clone()),
            max_records: Some(1),
            resume: resume.take(),
            ..SweepOptions::default()
        })
        .unwrap();
        assert!(report.records_live <= 1);
        match report.resume {
            Some(cursor) => resume = Some(cursor),
            None => break,
        }
    }
    assert_eq!(slices, 2);
    assert!(!file.exists() && !forged.exists());
    assert!(live.path().exists());
    cleanup(&scratch);
}

#[test]
fn keep_mode_keeps_entries_and_records_nothing() {
    let _serial = serial();
    let scratch = scratch("keep");
    let registry = scratch.join("registry");
    let _config = ConfigRestore::set(GuardConfig {
        keep: true,
        ..config_with_registry(&registry)
    });
    assert!(guard::keep_mode());
    let mut builder = Builder::new();
    builder.guarded(true);
    let file = ferrotemp::NamedTempFile::with_builder_in(&builder, &scratch).unwrap();
    let dir = builder.tempdir_in(&scratch).unwrap();
    assert!(!dir.will_delete());
    let (file_path, dir_path) = (file.path().to_path_buf(), dir.path().to_path_buf());
    drop((file, dir));
    assert!(file_path.exists() && dir_path.exists());
    // An explicit close keeps too.
    let closed = builder.tempdir_in(&scratch).unwrap();
    let closed_path = closed.path().to_path_buf();
    closed.close().unwrap();
    assert!(closed_path.exists(), "close() removed a kept directory");
    assert!(guard::register(&file_path, EntryKind::File, 0, 0).is_keep());
    assert!(!registry.exists(), "keep mode created a registry");
    drop(_config);
    assert!(!guard::keep_mode());
    cleanup(&scratch);
}

#[test]
fn guarded_rust_types_register_and_unregister() {
    let _serial = serial();
    let scratch = scratch("rusttypes");
    let registry = scratch.join("registry");
    let _config = ConfigRestore::set(config_with_registry(&registry));
    let live_entries = || {
        let (name, locked) = guard::current_record().unwrap();
        assert!(locked);
        let bytes = std::fs::read(registry.join(name)).unwrap();
        guard::record::parse(&bytes).unwrap().entries
    };
    let mut builder = Builder::new();
    builder.guarded(true);
    let file = ferrotemp::NamedTempFile::with_builder_in(&builder, &scratch).unwrap();
    let dir = builder.tempdir_in(&scratch).unwrap();
    assert!(dir.is_guarded());
    let entries = live_entries();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].path, file.path());
    assert_eq!(
        entries[0].ino(),
        std::fs::metadata(file.path()).unwrap().ino()
    );
    assert_eq!(
        (entries[1].path.as_path(), entries[1].kind),
        (dir.path(), EntryKind::Dir)
    );
    let unguarded = ferrotemp::NamedTempFile::new_in(&scratch).unwrap();
    assert_eq!(live_entries().len(), 2);
    drop((file, unguarded));
    dir.close().unwrap();
    assert!(live_entries().is_empty());
    cleanup(&scratch);
}

#[test]
#[allow(clippy::print_stderr)] // the measurement is the point
fn record_stays_bounded_after_100k_cycles() {
    let _serial = serial();
    let scratch = scratch("bounded");
    let registry = scratch.join("registry");
    let _config = ConfigRestore::set(config_with_registry(&registry));
    let path = scratch.join("tmpabcdefgh");
    // Warm up: the first registration creates the record.
    drop(guard::register(&path, EntryKind::File, 1, 1));
    let start = Instant::now();
    for i in 0..100_000u64 {
        let Registration::Guarded(token) = guard::register(&path, EntryKind::File, 1, i) else {
            panic!("not guarded");
        };
        guard::unregister(token);
    }
    let per_cycle = start.elapsed() / 100_000;
    let (name, _) = guard::current_record().unwrap();
    let size = std::fs::metadata(registry.join(&name)).unwrap().len();
    eprintln!("register+unregister: {per_cycle:?} per cycle; record {size} bytes");
    assert!(size <= 256 * 1024, "record grew to {size} bytes");
    assert!(
        guard::record::parse(&std::fs::read(registry.join(&name)).unwrap())
            .unwrap()
            .entries
            .is_empty()
    );
    cleanup(&scratch);
}

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
    let (_file, path) = Builder::new().create_file_in(&scratch).unwrap();
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
    let (_file, path) = Builder::new().create_file_in(&scratch).unwrap();

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

#[test]
fn the_guard_warns_once_when_unavailable() {
    let _serial = serial();
    let scratch = scratch("warnonce");
    let registry = scratch.join("missing-parent").join("registry");
    let _config = ConfigRestore::set(config_with_registry(&registry));
    let (_file, path) = Builder::new().create_file_in(&scratch).unwrap();
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

/// Puts the current directory back when dropped.
struct CwdRestore(PathBuf);

impl Drop for CwdRestore {
    fn drop(&mut self) {
        let _ = std::env::set_current_dir(&self.0);
    }
}

fn dev_ino(path: &Path) -> (u64, u64) {
    let meta = std::fs::symlink_metadata(path).unwrap();
    (meta.dev(), meta.ino())
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
    let (_file, path) = Builder::new().create_file_in(&scratch).unwrap();
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

// ---------------------------------------------------------------------------------------
// Age-based sweeping.

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

/// Owner start, wall clock, in a version-3 header (see `ferrotemp::guard::record`).
const H_START_NS: usize = 64;
const H_MACHINE: usize = 72;

/// Copies this process's record, as it is now, to `record` (planted earlier, or made now)
/// as a dead process's: a pid no process has, marked locked, nobody holding its lock.
fn copy_record_as_dead(registry: &Path, record: &Path, patch: &dyn Fn(&mut Vec<u8>)) {
    let (name, _) = guard::current_record().unwrap();
    let mut bytes = std::fs::read(registry.join(name)).unwrap();
    bytes[H_PID..H_PID + 8].copy_from_slice(&NO_SUCH_PID.to_le_bytes());
    bytes[H_FLAGS] = 1;
    patch(&mut bytes);
    std::fs::write(record, &bytes).unwrap();
    std::fs::set_permissions(record, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
}

/// Registers `path` (a file) with its full identity, as a guarded creation would.
fn register_file(path: &Path) -> guard::GuardToken {
    let file = std::fs::File::open(path).unwrap();
    guard::register_fd(path, EntryKind::File, &file)
        .into_token()
        .unwrap()
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

/// Not a pass/fail test: `cargo test --release --test guard -- --ignored --nocapture`
/// prints what the guard adds to a `NamedTempFile` round trip on `/dev/shm`.
#[test]
#[ignore = "a measurement; run by hand in release mode"]
#[allow(clippy::print_stderr, clippy::cast_precision_loss)]
fn measure_guarded_named_file_cost() {
    let _serial = serial();
    let shm = Path::new("/dev/shm");
    if !shm.is_dir() {
        return;
    }
    let scratch = scratch("measure");
    let _config = ConfigRestore::set(config_with_registry(&scratch.join("registry")));
    let run = |guarded: bool| {
        let mut builder = Builder::new();
        builder.guarded(guarded);
        let start = Instant::now();
        for _ in 0..20_000 {
            drop(ferrotemp::NamedTempFile::with_builder_in(&builder, shm).unwrap());
        }
        start.elapsed() / 20_000
    };
    run(true); // warm-up, creates the record
    let mut best = (Duration::MAX, Duration::MAX);
    for _ in 0..5 {
        best.0 = best.0.min(run(false));
        best.1 = best.1.min(run(true));
    }
    eprintln!(
        "NamedTempFile create+drop on /dev/shm: off {:?}, on {:?}, ratio {:.3}",
        best.0,
        best.1,
        best.1.as_nanos() as f64 / best.0.as_nanos() as f64
    );
    cleanup(&scratch);
}

#[test]
fn slices_with_a_tiny_time_cap_still_get_through_a_big_directory_entry() {
    let _serial = serial();
    let scratch = scratch("bigtree-slices");
    let registry = scratch.join("registry");
    let _config = ConfigRestore::set(config_with_registry(&registry));
    plant_record_file(&dead_record_path(&registry));
    let tree = scratch.join("tree");
    std::fs::create_dir(&tree).unwrap();
    for i in 0..3000 {
        std::fs::write(tree.join(format!("f{i}")), b"x").unwrap();
    }
    let forged = forge_dead_record(&registry, &[(&tree, EntryKind::Dir)]);
    // The automatic sweep's slices: 8 entries, 16 records, half a millisecond.
    let mut resume = None;
    let mut slices = 0;
    while tree.exists() {
        slices += 1;
        assert!(slices <= 200, "no progress on the tree in 200 slices");
        let report = guard::sweep(&SweepOptions {
            registry: Some(registry.clone()),
            max_entries: Some(8),
            max_records: Some(16),
            max_time: Some(Duration::from_micros(500)),
            resume: resume.take(),
            ..SweepOptions::default()
        })
        .unwrap();
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        assert!(
            report.resume.is_some() || !tree.exists(),
            "the sweep ended with the tree still there: {report:?}"
        );
        resume = report.resume;
    }
    assert!(!forged.exists());
    cleanup(&scratch);
}

#[test]
fn a_relative_dir_with_dotdot_after_a_symlink_names_what_was_made() {
    let _serial = serial();
    let scratch = scratch("reldotdot");
    let registry = scratch.join("registry");
    let _config = ConfigRestore::set(config_with_registry(&registry));
    let work = scratch.join("work");
    std::fs::create_dir_all(scratch.join("real").join("sub")).unwrap();
    std::fs::create_dir(&work).unwrap();
    std::os::unix::fs::symlink("../real/sub", work.join("link")).unwrap();
    let _cwd = CwdRestore(std::env::current_dir().unwrap());
    std::env::set_current_dir(&work).unwrap();
    let mut builder = Builder::new();
    builder.guarded(true);
    // `link/..` is `real/` to the kernel, `work/` lexically.
    let dir = builder.tempdir_in("link/..").unwrap();
    assert!(
        dir.path().is_absolute() && dir.path().is_dir(),
        "{:?}",
        dir.path()
    );
    let file = ferrotemp::NamedTempFile::with_builder_in(&builder, "link/..").unwrap();
    assert!(file.path().is_file(), "{:?}", file.path());
    let made: BTreeSet<_> = std::fs::read_dir(scratch.join("real"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(made.len(), 3, "{made:?}"); // sub, the directory and the file
    drop((dir, file));
    let left: Vec<_> = std::fs::read_dir(scratch.join("real"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, vec![std::ffi::OsString::from("sub")]);
    cleanup(&scratch);
}
