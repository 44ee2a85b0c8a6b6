//! The helper child process: the `ferrotemp-guard-child` binary (`tests/bin/guard_child.rs`),
//! which plays one role (a mode) and reports through files in a scratch directory.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::lists::read_list;
use super::scratch;

/// A child process, killed and reaped when dropped.
pub struct ChildProcess {
    pub child: Child,
}

impl ChildProcess {
    /// Runs the child binary in role `mode`, reporting into `scratch`, with its guard's
    /// registry at `registry`, no automatic sweep, and `env` on top.
    pub fn spawn(mode: &str, scratch: &Path, registry: &Path, env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ferrotemp-guard-child"));
        command
            .arg(mode)
            .arg(scratch)
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

    pub fn kill(&mut self) {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn spawn_crash_child(name: &str, env: &[(&str, &str)]) -> (PathBuf, PathBuf, ChildProcess) {
    let scratch = scratch(name);
    let registry = scratch.join("registry");
    std::fs::create_dir(scratch.join("work")).unwrap();
    let child = ChildProcess::spawn("crash", &scratch, &registry, env);
    (scratch, registry, child)
}

pub fn run_exiting_child(name: &str, env: &[(&str, &str)]) -> (PathBuf, PathBuf, Vec<PathBuf>) {
    let scratch = scratch(name);
    let registry = scratch.join("registry");
    std::fs::create_dir(scratch.join("work")).unwrap();
    let mut child = ChildProcess::spawn("exit", &scratch, &registry, env);
    assert!(child.child.wait().unwrap().success());
    let listed = read_list(&scratch.join("exited")).into_iter().collect();
    (scratch, registry, listed)
}
