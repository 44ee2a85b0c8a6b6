//! `ferrotemp`: the command.
//!
//! `ferrotemp run` with a command line in its common forms ([`ferrotemp::run::parse_plain`])
//! runs here ([`ferrotemp::run::run_command_line`]), without starting Python: a job's start
//! costs what `posix_spawnp` and a workspace cost. Every other command line (`run --help`,
//! an abbreviated option, an error, `info`, `sweep`, `ls`, `bench`) is handed to the Python
//! package, `python -m ferrotemp`, which reads it with argparse and runs `run` through the
//! same core function: the same options, help, messages and statuses either way.
//!
//! The Python interpreter is `FERROTEMP_PYTHON` if set, else the `python3` (or `python`)
//! beside this executable (a venv's or a prefix's `bin`, where pip installs this script),
//! else `python3` on `PATH`.

// The command's one message of its own goes to stderr.
#![allow(clippy::print_stderr)]

use std::ffi::OsString;
use std::process;

fn main() {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    #[cfg(unix)]
    if args.first().is_some_and(|w| w == "run") {
        if let Some(line) = ferrotemp::run::parse_plain(&args[1..]) {
            process::exit(ferrotemp::run::run_command_line(
                &line,
                &mut std::io::stderr(),
            ));
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
    let bindir = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(std::path::Path::to_path_buf));
    if let Some(dir) = bindir {
        for name in ["python3", "python"] {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate.into_os_string();
            }
        }
    }
    OsString::from("python3")
}
