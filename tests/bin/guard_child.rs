//! The child process of the crash-guard tests (`tests/guard_*.rs`): the binary
//! `ferrotemp-guard-child`, run as `ferrotemp-guard-child MODE SCRATCH`. Each mode creates
//! entries as a real program would, then sleeps (to be killed with SIGKILL), forks, or exits;
//! it reports through lists in `SCRATCH` (see `guard_support/lists.rs`). The tests set its
//! registry (`FERROTEMP_GUARD_DIR`) and other settings through the environment.
//!
//! A binary target of the package only because Cargo hands integration tests the path of those
//! alone (`CARGO_BIN_EXE_<name>`); nothing else uses it.

#[cfg(unix)]
#[allow(dead_code)] // the reading side is the tests'
#[path = "../guard_support/lists.rs"]
mod lists;

#[cfg(unix)]
fn main() {
    roles::run();
}

/// The crash guard is POSIX-only, and so are its tests.
#[cfg(not(unix))]
fn main() {
    std::process::exit(2);
}

#[cfg(unix)]
mod roles {
    use std::io::Write;
    use std::os::unix::fs::MetadataExt;
    use std::path::{Path, PathBuf};
    use std::time::Duration;

    use ferrotemp::guard::{self, EntryKind, GuardConfig, Registration, SweepOptions};
    use ferrotemp::Builder;

    use crate::lists::write_list;

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
            let mut file =
                ferrotemp::NamedTempFile::with_builder_in(&guarded_builder, work).unwrap();
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
        unguarded.push(kept.keep().unwrap().1);
        // mkstemp: never guarded.
        let (_file, path) = Builder::new().create_unowned_file_in(work).unwrap();
        unguarded.push(path);
        // A guarded-builder file closed normally: removed and unregistered.
        let closed = ferrotemp::NamedTempFile::with_builder_in(&guarded_builder, work).unwrap();
        closed.close().unwrap();
        write_list(&scratch.join("unguarded"), &unguarded);
        write_list(&scratch.join("guarded"), &guarded);
        keep_alive
    }

    /// The threads of this process, as the kernel counts them (Python's fork warning counts
    /// the same way).
    fn os_threads() -> usize {
        std::fs::read_dir("/proc/self/task").map_or(0, Iterator::count)
    }

    /// Plays the role `mode` (the first argument), reporting into `scratch` (the second).
    pub fn run() {
        let mut args = std::env::args_os().skip(1);
        let (Some(mode), Some(scratch)) = (args.next(), args.next()) else {
            panic!("usage: ferrotemp-guard-child MODE SCRATCH (run by the crash-guard tests)");
        };
        let scratch = PathBuf::from(scratch);
        let work = scratch.join("work");
        match mode.to_str().unwrap() {
            "crash" => {
                let _owners = create_entries(&work, &scratch);
                sleep_forever();
            }
            "fork" => {
                let mut builder = Builder::new();
                builder.guarded(true);
                let parent_file =
                    ferrotemp::NamedTempFile::with_builder_in(&builder, &work).unwrap();
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
            "lease" => {
                // A guarded directory, and `sleep` holding a lease on the record (its
                // close-on-exec flag cleared in the child only, as `ferrotemp run` passes it).
                let mut builder = Builder::new();
                builder.guarded(true);
                let dir = builder.tempdir_in(&work).unwrap();
                let lease = guard::lease().unwrap().expect("a record locked with flock");
                let raw = std::os::fd::AsRawFd::as_raw_fd(&lease);
                let mut holder = std::process::Command::new("sleep");
                holder.arg("600");
                // SAFETY: only fcntl, async-signal-safe, runs between fork and exec.
                unsafe {
                    std::os::unix::process::CommandExt::pre_exec(&mut holder, move || {
                        if libc::fcntl(raw, libc::F_SETFD, 0) == -1 {
                            return Err(std::io::Error::last_os_error());
                        }
                        Ok(())
                    });
                }
                let holder = holder.spawn().unwrap();
                drop(lease);
                write_list(&scratch.join("leased"), &[dir.path().to_path_buf()]);
                write_list(
                    &scratch.join("holder"),
                    &[PathBuf::from(holder.id().to_string())],
                );
                let _dir = dir;
                let _holder = holder; // outlives this process, which is killed: never waited
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
                let parent_file =
                    ferrotemp::NamedTempFile::with_builder_in(&builder, &work).unwrap();
                let raw = work.join("raw-registered");
                std::fs::write(&raw, b"raw").unwrap();
                let meta = std::fs::metadata(&raw).unwrap();
                let token = guard::register(&raw, EntryKind::File, meta.dev(), meta.ino())
                    .into_token()
                    .unwrap();
                let parent_record = guard::current_record().unwrap().0;
                // SAFETY: clone(SIGCHLD) is fork without the C library's handlers; this process
                // runs one thread, and the child exits without returning.
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
                let report = guard::sweep(&SweepOptions {
                    registry: Some(registry),
                    ..SweepOptions::default()
                })
                .unwrap();
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
}
