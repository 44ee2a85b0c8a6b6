//! The core of `ferrotemp.Workspace`: the directory, its counters and limits, its end. The
//! creators, the file objects' write checks and the logging are the Python layer's
//! (`ferrotemp/_workspace.py`).

use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;

use super::convert::{fs_path, path_to_py, to_pyerr};
use ferrotemp::workspace::{parse_size as parse_size_core, KeepPolicy, Usage, Workspace};

pyo3::create_exception!(
    ferrotemp,
    QuotaExceeded,
    PyOSError,
    "A workspace's limit refused a creation or a write: an OSError with errno EDQUOT and \
     filename the workspace's path."
);

/// The error of a workspace call: `QuotaExceeded` for `EDQUOT`, else the usual `OSError`.
fn workspace_err(py: Python<'_>, err: &std::io::Error) -> PyErr {
    let code = ferrotemp::error::raw_os_error(err);
    if code == Some(libc::EDQUOT) {
        let message = ferrotemp::error::error_message(err);
        let filename = ferrotemp::error::error_path(err)
            .and_then(|p| path_to_py(py, p, false).ok())
            .map_or_else(|| py.None(), Bound::unbind);
        return QuotaExceeded::new_err((libc::EDQUOT, message, filename));
    }
    to_pyerr(py, err, false)
}

/// What a workspace holds and has done (`Workspace.usage()`'s fields).
#[pyclass(frozen, get_all, module = "ferrotemp._core", name = "WorkspaceUsage")]
pub(crate) struct WorkspaceUsagePy {
    bytes: u64,
    files: u64,
    dirs: u64,
    peak_bytes: u64,
    created: u64,
    removed: u64,
    cleanup_errors: u64,
    /// Seconds since the workspace was made (to its end, once ended).
    elapsed: f64,
}

impl From<Usage> for WorkspaceUsagePy {
    fn from(u: Usage) -> Self {
        Self {
            bytes: u.bytes,
            files: u.files,
            dirs: u.dirs,
            peak_bytes: u.peak_bytes,
            created: u.created,
            removed: u.removed,
            cleanup_errors: u.cleanup_errors,
            elapsed: u.elapsed.as_secs_f64(),
        }
    }
}

/// How a workspace ended.
#[pyclass(frozen, get_all, module = "ferrotemp._core", name = "WorkspaceEnding")]
pub(crate) struct WorkspaceEndingPy {
    /// Whether the directory was kept.
    kept: bool,
    /// The usage measured just before the end.
    usage: Py<WorkspaceUsagePy>,
    /// The first removal failure as text, if the removal failed (the rest stays recorded for
    /// a sweep).
    error: Option<String>,
}

/// Ends `workspace` (call it with the GIL released): whether it was kept, its usage, and a
/// removal failure as text (the remains stay recorded for a sweep).
pub(crate) fn end_workspace(
    workspace: &Workspace,
    ok: bool,
) -> (bool, std::io::Result<Usage>, Option<String>) {
    match workspace.finish(ok) {
        Ok(ending) => (ending.kept, Ok(ending.usage), None),
        Err(err) => (false, workspace.usage(), Some(err.to_string())),
    }
}

/// [`end_workspace`]'s result as the Python-visible ending.
pub(crate) fn ending_to_py(
    py: Python<'_>,
    (kept, usage, error): (bool, std::io::Result<Usage>, Option<String>),
) -> PyResult<WorkspaceEndingPy> {
    let usage = usage.map_err(|e| to_pyerr(py, &e, false))?;
    Ok(WorkspaceEndingPy {
        kept,
        usage: Py::new(py, WorkspaceUsagePy::from(usage))?,
        error,
    })
}

/// A workspace's directory, counters, limits and end.
#[pyclass(frozen, module = "ferrotemp._core", name = "WorkspaceCore")]
pub(crate) struct WorkspaceCore {
    inner: Workspace,
}

#[pymethods]
impl WorkspaceCore {
    /// Creates the directory (GIL released). `keep` is `"never"`, `"always"`, `"on-error"` or
    /// `None` (FERROTEMP_KEEP's default).
    #[new]
    #[pyo3(signature = (name, max_bytes, max_files, keep, dir, command = None))]
    fn new(
        py: Python<'_>,
        name: String,
        max_bytes: Option<u64>,
        max_files: Option<u64>,
        keep: Option<&str>,
        dir: Option<&Bound<'_, PyAny>>,
        command: Option<String>,
    ) -> PyResult<Self> {
        let keep = match keep {
            None => None,
            Some(text) => Some(KeepPolicy::parse(text).ok_or_else(|| {
                PyValueError::new_err(format!(
                    "keep must be 'never', 'always' or 'on-error', not {text:?}"
                ))
            })?),
        };
        let dir = dir.map(fs_path).transpose()?;
        let mut builder = Workspace::builder(name);
        builder
            .max_bytes(max_bytes)
            .max_files(max_files)
            .keep(keep)
            .dir(dir)
            .command(command);
        let inner = py
            .detach(|| builder.create())
            .map_err(|e| to_pyerr(py, &e, false))?;
        Ok(Self { inner })
    }

    /// The directory's absolute path, `str`.
    #[getter]
    fn path<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        path_to_py(py, self.inner.path(), false)
    }

    #[getter]
    fn name(&self) -> &str {
        self.inner.name()
    }

    #[getter]
    fn max_bytes(&self) -> Option<u64> {
        self.inner.limits().max_bytes
    }

    #[getter]
    fn max_files(&self) -> Option<u64> {
        self.inner.limits().max_files
    }

    /// The keep policy in force (`"always"` in keep mode, whatever was asked).
    #[getter]
    fn keep(&self) -> &'static str {
        self.inner.keep_policy().as_str()
    }

    #[getter]
    fn finished(&self) -> bool {
        self.inner.is_finished()
    }

    /// Bytes written through the workspace's objects and not given back.
    #[getter]
    fn written_bytes(&self) -> u64 {
        self.inner.written_bytes()
    }

    /// Raises `QuotaExceeded` if a creation now would be refused.
    fn check_create(&self, py: Python<'_>) -> PyResult<()> {
        self.inner.check_create().map_err(|e| workspace_err(py, &e))
    }

    /// Counts one entry about to be created, or raises `QuotaExceeded`.
    fn reserve_create(&self, py: Python<'_>) -> PyResult<()> {
        self.inner
            .reserve_create()
            .map_err(|e| workspace_err(py, &e))
    }

    /// Takes back a `reserve_create` whose creation failed.
    fn cancel_create(&self) {
        self.inner.cancel_create();
    }

    /// Counts an entry removed, giving back the bytes it was counted for.
    fn note_removed(&self, bytes: u64) {
        self.inner.note_removed(bytes);
    }

    fn note_cleanup_errors(&self, count: u64) {
        self.inner.note_cleanup_errors(count);
    }

    /// Reserves `n` bytes about to be written, or raises `QuotaExceeded` (reserving nothing).
    fn reserve_write(&self, py: Python<'_>, n: u64) -> PyResult<()> {
        self.inner
            .reserve_write(n)
            .map_err(|e| workspace_err(py, &e))
    }

    fn release_bytes(&self, n: u64) {
        self.inner.release_bytes(n);
    }

    /// Measures the tree (GIL released) and adds the counters.
    fn usage(&self, py: Python<'_>) -> PyResult<WorkspaceUsagePy> {
        let usage = py
            .detach(|| self.inner.usage())
            .map_err(|e| to_pyerr(py, &e, false))?;
        Ok(usage.into())
    }

    /// Ends the workspace (GIL released): removes the tree unless the policy keeps it for a
    /// job that ended `ok`. Never raises for a failed removal: the ending says it.
    fn finish(&self, py: Python<'_>, ok: bool) -> PyResult<WorkspaceEndingPy> {
        let ended = py.detach(|| end_workspace(&self.inner, ok));
        ending_to_py(py, ended)
    }

    fn __repr__(&self) -> String {
        format!(
            "<WorkspaceCore {:?} {:?}>",
            self.inner.name(),
            self.inner.path().display().to_string()
        )
    }
}

/// Reads a size such as `"2 GiB"`, `"500MB"` or `"4096"` (see the core's `parse_size`).
#[pyfunction]
pub(crate) fn parse_size(text: &str) -> PyResult<u64> {
    parse_size_core(text).ok_or_else(|| PyValueError::new_err(format!("not a size: {text:?}")))
}

/// A size for people: `512 B`, `1.5 KiB`, … (the core's `human_size`).
#[pyfunction]
pub(crate) fn human_size(size: u64) -> String {
    ferrotemp::workspace::human_size(size)
}
