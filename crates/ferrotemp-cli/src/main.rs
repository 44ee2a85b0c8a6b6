//! `ferrotemp`: the command.
//!
//! `ferrotemp run` with a command line in its common forms ([`ferrotemp::run::parse_plain`])
//! runs here, without starting Python: a job's start costs what `posix_spawnp` and a
//! workspace cost. Every other command line (`run --help`, an abbreviated option, an error,
//! `info`, `sweep`, `ls`, `bench`) is handed to the Python package, `python -m ferrotemp`,
//! which reads it with argparse: the same options, help and one-line errors either way.
//!
//! The Python interpreter is `FERROTEMP_PYTHON` if set, else the `python3` (or `python`)
//! beside this executable (a venv's or a prefix's `bin`, where pip installs this script),
//! else `python3` on `PATH`.

// The command's messages go to stderr, as the Python CLI's do.
#![allow(clippy::print_stderr)]

use std::ffi::OsString;
use std::process;

fn main() {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    #[cfg(unix)]
    if args.first().is_some_and(|w| w == "run") {
        if let Some(line) = ferrotemp::run::parse_plain(&args[1..]) {
            process::exit(native::run(line));
        }
    }
    process::exit(hand_to_python(&args));
}

/// Replaces this process with `python -m ferrotemp ARGS`; returns only on failure (status 2,
/// having said why).
fn hand_to_python(args: &[OsString]) -> i32 {
    let python = python_interpreter();
    let mut command = process::Command::new(&python);
    command.arg("-m").arg("ferrotemp").args(args);
    #[cfg(unix)]
    let err = {
        use std::os::unix::process::CommandExt;
        command.exec()
    };
    #[cfg(not(unix))]
    let err = match command.status() {
        Ok(status) => return status.code().unwrap_or(1),
        Err(err) => err,
    };
    eprintln!(
        "ferrotemp: error: cannot start Python ({}): {err}; set FERROTEMP_PYTHON to an \
         interpreter with ferrotemp installed",
        python.to_string_lossy()
    );
    2
}

fn python_interpreter() -> OsString {
    if let Some(python) = std::env::var_os("FERROTEMP_PYTHON").filter(|p| !p.is_empty()) {
        return python;
    }
    if let Some(dir) = std::env::current_exe().ok().and_then(|exe| exe.parent().map(Into::into)) {
        let dir: std::path::PathBuf = dir;
        for name in ["python3", "python"] {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate.into_os_string();
            }
        }
    }
    OsString::from("python3")
}

#[cfg(unix)]
mod native {
    use std::io;
    use std::path::PathBuf;

    use ferrotemp::error::{error_message, error_path, raw_os_error};
    use ferrotemp::run::{shell_status, Job, PlainCommandLine, QuotaNotice, RunOptions};

    fn say(message: &str) {
        eprintln!("ferrotemp run: {message}");
    }

    /// An `OSError` as Python prints it: `[Errno 2] No such file or directory: '/x'`.
    fn describe(err: &io::Error) -> String {
        let mut text = match raw_os_error(err) {
            Some(code) => format!("[Errno {code}] {}", error_message(err)),
            None => error_message(err),
        };
        if let Some(path) = error_path(err) {
            text.push_str(&format!(": '{}'", path.display()));
        }
        text
    }

    fn human(size: u64) -> String {
        #[allow(clippy::cast_precision_loss)]
        let mut value = size as f64;
        for unit in ["B", "KiB", "MiB", "GiB"] {
            if value < 1024.0 {
                return if unit == "B" {
                    format!("{size} B")
                } else {
                    format!("{value:.1} {unit}")
                };
            }
            value /= 1024.0;
        }
        format!("{value:.1} TiB")
    }

    /// Runs the job; the status `ferrotemp run` exits with.
    pub(crate) fn run(line: PlainCommandLine) -> i32 {
        let options = RunOptions {
            dir: line.dir.map(PathBuf::from),
            max_bytes: line.max_bytes,
            keep: line.keep,
            name: line.name,
            kill_on_quota: line.kill_on_quota,
            ..RunOptions::default()
        };
        let program = line.cmd[0].to_string_lossy().into_owned();
        let mut job = match Job::new(&line.cmd, &options) {
            Ok(job) => job,
            Err(err) => {
                eprintln!(
                    "ferrotemp run: error: cannot make the workspace: {} (see --help)",
                    describe(&err)
                );
                return 2;
            }
        };
        let status = run_job(&mut job, &program);
        let path = job.path().display().to_string();
        match job.finish(status == 0) {
            Ok(ending) if ending.kept => say(&format!("kept {path}")),
            Ok(_) => {}
            Err(err) => say(&format!("could not remove {path}: {err}")),
        }
        status
    }

    fn run_job(job: &mut Job, program: &str) -> i32 {
        let path = job.path().display().to_string();
        let notice = |n: &QuotaNotice| {
            let what = format!(
                "{path} holds {}, over --max-bytes {}",
                human(n.used),
                human(n.limit)
            );
            if n.stopping {
                say(&format!("{what}; stopping {program} (SIGTERM)"));
            } else {
                say(&what);
            }
        };
        // Blocked from before the start, so that none is lost; the command starts with an
        // empty mask. Left blocked to the end: a signal that comes after the command's end
        // must not turn its status into a death of ours.
        #[cfg(target_os = "linux")]
        let forwarding = match ferrotemp::run::Forwarding::block() {
            Ok(forwarding) => forwarding,
            Err(err) => {
                say(&format!("cannot block signals: {}", describe(&err)));
                return 1;
            }
        };
        if let Err(err) = job.spawn() {
            say(&format!("{program}: {}", error_message(&err)));
            return if err.kind() == io::ErrorKind::NotFound { 127 } else { 126 };
        }
        #[cfg(target_os = "linux")]
        let waited = job.wait_forwarding(&forwarding, notice);
        // No sigtimedwait (macOS): no signal is passed on.
        #[cfg(not(target_os = "linux"))]
        let waited = job.wait(None, notice).map(|_| ());
        if let Err(err) = waited {
            say(&format!("waiting for {program}: {}", describe(&err)));
            job.kill(libc::SIGKILL);
            return 1;
        }
        #[cfg(target_os = "linux")]
        std::mem::forget(forwarding);
        shell_status(job.status().unwrap_or(1))
    }
}
