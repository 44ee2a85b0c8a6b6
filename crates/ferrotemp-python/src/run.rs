//! `ferrotemp run` and `ferrotemp.run`: the core's jobs (`ferrotemp::run`). The command
//! line's plain reading and the whole CLI job are the core's, shared with the native
//! `ferrotemp` command; `RunJob` is the API's job, whose wait releases the GIL and lets
//! Python's signal handlers run (Ctrl-C) every 50 ms.

use std::ffi::OsString;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use super::convert::{fs_path, path_to_py, to_pyerr};
use super::workspace::{end_workspace, ending_to_py, WorkspaceEndingPy};
use ferrotemp::run::{CommandLine, Job, RunOptions};
use ferrotemp::workspace::KeepPolicy;

fn keep_policy(keep: Option<&str>) -> PyResult<Option<KeepPolicy>> {
    keep.map(|text| {
        KeepPolicy::parse(text).ok_or_else(|| {
            PyValueError::new_err(format!(
                "keep must be 'never', 'always' or 'on-error', not {text:?}"
            ))
        })
    })
    .transpose()
}

/// `ferrotemp run`'s options and command.
#[pyclass(frozen, module = "ferrotemp._core", name = "RunCommandLine")]
pub(crate) struct RunCommandLinePy {
    inner: CommandLine,
}

#[pymethods]
impl RunCommandLinePy {
    #[new]
    #[pyo3(signature = (cmd, *, dir = None, max_bytes = None, keep = None, name = None, kill_on_quota = false))]
    fn new(
        cmd: Vec<OsString>,
        dir: Option<OsString>,
        max_bytes: Option<u64>,
        keep: Option<&str>,
        name: Option<String>,
        kill_on_quota: bool,
    ) -> PyResult<Self> {
        if cmd.is_empty() {
            return Err(PyValueError::new_err("cmd is empty: give a command to run"));
        }
        Ok(Self {
            inner: CommandLine {
                dir,
                max_bytes,
                keep: keep_policy(keep)?,
                name,
                kill_on_quota,
                cmd,
            },
        })
    }

    #[getter]
    fn dir(&self) -> Option<OsString> {
        self.inner.dir.clone()
    }

    #[getter]
    fn max_bytes(&self) -> Option<u64> {
        self.inner.max_bytes
    }

    #[getter]
    fn keep(&self) -> Option<&'static str> {
        self.inner.keep.map(KeepPolicy::as_str)
    }

    #[getter]
    fn name(&self) -> Option<&str> {
        self.inner.name.as_deref()
    }

    #[getter]
    fn kill_on_quota(&self) -> bool {
        self.inner.kill_on_quota
    }

    #[getter]
    fn cmd(&self) -> Vec<OsString> {
        self.inner.cmd.clone()
    }

    fn __repr__(&self) -> String {
        format!("<RunCommandLine {:?}>", self.inner)
    }
}

/// `ferrotemp run`'s words after `run` in their common forms, or `None` for argparse to read.
#[pyfunction]
#[allow(clippy::needless_pass_by_value)] // PyO3 extracts owned values
pub(crate) fn parse_run_plain(words: Vec<OsString>) -> Option<RunCommandLinePy> {
    ferrotemp::run::parse_plain(&words).map(|inner| RunCommandLinePy { inner })
}

/// The command line as the crash guard's record keeps it for `ferrotemp ls`: quoted for a
/// POSIX shell (as `shlex.join`).
#[pyfunction]
#[allow(clippy::needless_pass_by_value)] // PyO3 extracts owned values
pub(crate) fn shell_command_line(args: Vec<OsString>) -> String {
    ferrotemp::run::command_line(&args)
}

/// Runs `line` as `ferrotemp run` does (GIL released; messages on file descriptor 2) and
/// returns the status to exit with. The signals it passes on stay blocked in this thread.
#[pyfunction]
pub(crate) fn run_command_line(py: Python<'_>, line: &RunCommandLinePy) -> i32 {
    py.detach(|| ferrotemp::run::run_command_line(&line.inner, &mut std::io::stderr()))
}

/// One command in its workspace, for `ferrotemp.run`.
#[pyclass(frozen, module = "ferrotemp._core", name = "RunJob")]
pub(crate) struct RunJobPy {
    job: Mutex<Job>,
    program: String,
    path: std::path::PathBuf,
}

impl RunJobPy {
    fn lock(&self) -> MutexGuard<'_, Job> {
        self.job.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[pymethods]
impl RunJobPy {
    /// Makes the workspace (GIL released).
    #[new]
    #[pyo3(signature = (cmd, *, dir, max_bytes, keep, name, kill_on_quota, env, check_interval, grace))]
    #[allow(clippy::too_many_arguments, clippy::needless_pass_by_value)]
    fn new(
        py: Python<'_>,
        cmd: Vec<OsString>,
        dir: Option<&Bound<'_, PyAny>>,
        max_bytes: Option<u64>,
        keep: Option<&str>,
        name: Option<String>,
        kill_on_quota: bool,
        env: Option<Vec<(OsString, OsString)>>,
        check_interval: f64,
        grace: f64,
    ) -> PyResult<Self> {
        // A time too long to reach (infinity included) is never: no more measurements, or
        // no SIGKILL after SIGTERM.
        let seconds = |value: f64, what: &str| {
            if value.is_nan() || value < 0.0 {
                return Err(PyValueError::new_err(format!(
                    "{what} must be a number of seconds >= 0, not {value}"
                )));
            }
            // Beyond what a Duration holds (infinity included): never.
            Ok(Duration::try_from_secs_f64(value).unwrap_or(Duration::MAX))
        };
        let options = RunOptions {
            dir: dir.map(fs_path).transpose()?,
            max_bytes,
            keep: keep_policy(keep)?,
            name,
            kill_on_quota,
            env,
            check_interval: seconds(check_interval, "check_interval")?,
            grace: seconds(grace, "grace")?,
        };
        let program = cmd
            .first()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let job = py
            .detach(|| Job::new(&cmd, &options))
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::InvalidInput => PyValueError::new_err(e.to_string()),
                _ => to_pyerr(py, &e, false),
            })?;
        Ok(Self {
            path: job.path().to_path_buf(),
            job: Mutex::new(job),
            program,
        })
    }

    /// The workspace's path, `str`.
    #[getter]
    fn path<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        path_to_py(py, &self.path, false)
    }

    /// The status once reaped (`-N` for a signal `N`), else `None`.
    #[getter]
    fn status(&self, py: Python<'_>) -> Option<i32> {
        // The lock is taken with the GIL released: `wait` and `finish` hold it for long.
        py.detach(|| self.lock().status())
    }

    #[getter]
    fn over_quota(&self, py: Python<'_>) -> bool {
        py.detach(|| self.lock().over_quota())
    }

    /// Starts the command; its pid. `OSError` naming the program if it cannot start.
    fn spawn(&self, py: Python<'_>) -> PyResult<i32> {
        let program = self.program.clone();
        py.detach(|| self.lock().spawn())
            .map_err(|e| to_pyerr(py, &ferrotemp::error::with_path(e, program), false))
    }

    /// Waits for the command (GIL released, Python's signal handlers run every 50 ms), with
    /// the quota checks; `on_notice(line)` gets each overrun's report. If a handler raises
    /// (`KeyboardInterrupt`), the command is killed and reaped before the exception goes on.
    fn wait(&self, py: Python<'_>, on_notice: &Bound<'_, PyAny>) -> PyResult<i32> {
        loop {
            let mut notices = Vec::new();
            let waited = py.detach(|| {
                let mut job = self.lock();
                let path = job.path().to_path_buf();
                let until = Instant::now() + Duration::from_millis(50);
                job.wait(Some(until), |n| {
                    notices.push(n.describe(&path, &self.program));
                })
            });
            for line in notices {
                on_notice.call1((line,))?;
            }
            match waited {
                Ok(true) => return Ok(self.lock().status().unwrap_or(0)),
                Ok(false) => {}
                Err(err) => return Err(to_pyerr(py, &err, false)),
            }
            if let Err(err) = py.check_signals() {
                py.detach(|| self.lock().kill_and_reap());
                return Err(err);
            }
        }
    }

    /// Ends the workspace (removed unless the keep policy keeps it for a job that ended
    /// `ok`); kills and reaps the command first if it still runs.
    fn finish(&self, py: Python<'_>, ok: bool) -> PyResult<WorkspaceEndingPy> {
        // Kill, reap and end under the lock with the GIL released: a getter another thread
        // calls meanwhile waits for the lock without holding up this thread's return.
        let ended = py.detach(|| {
            let mut job = self.lock();
            job.kill_and_reap();
            end_workspace(job.workspace(), ok)
        });
        ending_to_py(py, ended)
    }
}
