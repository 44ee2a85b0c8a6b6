//! `ferrotemp`: the command.
//!
//! `ferrotemp run` with a command line in its common forms ([`ferrotemp::run::parse_plain`])
//! runs here ([`ferrotemp::run::run_command_line`]), without starting Python: a job's start
//! costs what `posix_spawnp` and a workspace cost. Every other command line (`run --help`,
//! an abbreviated option, an error, `info`, `sweep`, `ls`, `bench`) is handed to the Python
//! package's command line, which reads it with argparse and runs `run` through the same core
//! function: the same options, help, messages and statuses either way.
//!
//! The Python command line is, in order: `FERROTEMP_PYTHON` (an interpreter) if set; else
//! the `ferrotemp-py` console script beside this executable, which pip installs with it and
//! which names the interpreter the package was installed for; else `python3` on `PATH`. An
//! interpreter is started with `-c`, not `-m`, and drops the current directory from its
//! path first: a `ferrotemp` package in the directory the command runs from is never run.

// The command's own messages go to stderr.
#![allow(clippy::print_stderr)]

use std::ffi::OsString;
use std::path::PathBuf;
use std::process;

/// What an interpreter runs: the package's command line, the current directory (the `''`
/// that `-c` puts first on the path, unless `-P`/`PYTHONSAFEPATH` is in force) taken off the
/// path before the import.
const PYTHON_MAIN: &str = "import sys\nif sys.path[:1] == ['']: del sys.path[0]\n\
                           from ferrotemp.__main__ import main\nsys.exit(main())";

fn main() {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    #[cfg(unix)]
    if args.first().is_some_and(|w| w == "run") {
        if let Some(line) = ferrotemp::run::parse_plain(&args[1..]) {
            // What the Python package says at import, said here too.
            for warning in ferrotemp::env::switch_warnings() {
                eprintln!("ferrotemp: {warning}");
            }
            process::exit(ferrotemp::run::run_command_line(
                &line,
                &mut std::io::stderr(),
            ));
        }
    }
    process::exit(hand_to_python(&args));
}

/// Replaces this process with the Python package's command line (see the crate docs);
/// returns only on failure (status 2, having said why).
fn hand_to_python(args: &[OsString]) -> i32 {
    let (program, mut command) = python_command();
    command.args(args);
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
        "ferrotemp: error: cannot start the Python command line ({}): {err}; set \
         FERROTEMP_PYTHON to an interpreter with ferrotemp installed",
        program.display()
    );
    2
}

fn python_command() -> (PathBuf, process::Command) {
    let interpreter = |python: PathBuf| {
        let mut command = process::Command::new(&python);
        command.arg("-c").arg(PYTHON_MAIN);
        (python, command)
    };
    if let Some(python) = std::env::var_os("FERROTEMP_PYTHON").filter(|p| !p.is_empty()) {
        return interpreter(python.into());
    }
    let script = format!("ferrotemp-py{}", std::env::consts::EXE_SUFFIX);
    // Beside the path this was started by, or (where that is a symlink not resolved, as on
    // macOS) beside the file it leads to.
    let exe = std::env::current_exe().ok();
    let real = exe.as_ref().and_then(|exe| exe.canonicalize().ok());
    let beside = [exe, real]
        .into_iter()
        .flatten()
        .filter_map(|exe| exe.parent().map(|dir| dir.join(&script)))
        .find(|path| path.is_file());
    if let Some(script) = beside {
        let command = process::Command::new(&script);
        return (script, command);
    }
    interpreter(PathBuf::from("python3"))
}
