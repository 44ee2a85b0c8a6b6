//! Temporary-directory discovery and the facts `ferrotemp info` reports.

use pyo3::prelude::*;
use pyo3::types::PyTuple;

use super::convert::{fs_path, path_to_py, to_pyerr};
use ferrotemp::{env, file};

/// Runs discovery afresh (no cache: the Python layer caches in the module global `tempdir`)
/// and returns the directory as `str`.
#[pyfunction]
pub(crate) fn discover_tempdir(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    match py.detach(env::discover) {
        Ok(found) => path_to_py(py, &found.dir, false),
        Err(err) => Err(to_pyerr(py, &err, false)),
    }
}

/// The directories discovery tries, in order, as `str`.
#[pyfunction]
pub(crate) fn candidate_dirs(py: Python<'_>) -> PyResult<Vec<Bound<'_, PyAny>>> {
    env::candidate_dirs()
        .iter()
        .map(|c| path_to_py(py, &c.dir, false))
        .collect()
}

/// A directory discovery tried and passed over.
#[pyclass(frozen, get_all, module = "ferrotemp._core", name = "RejectedDir")]
pub(crate) struct RejectedDirPy {
    /// The directory, `str`.
    dir: Py<PyAny>,
    /// Why it was passed over, as text.
    error: String,
}

/// The default temporary directory, why it was chosen, and what was tried before it.
#[pyclass(frozen, get_all, module = "ferrotemp._core", name = "Discovery")]
pub(crate) struct DiscoveryPy {
    /// The directory chosen, `str`.
    dir: Py<PyAny>,
    /// Where it came from (`$TMPDIR`, the platform's default, …), as text.
    source: String,
    /// `tuple[RejectedDir, ...]`, in the order they were tried.
    rejected: Py<PyTuple>,
}

/// Runs discovery afresh, with its reasons. The GIL is released throughout.
#[pyfunction]
pub(crate) fn discovery_report(py: Python<'_>) -> PyResult<DiscoveryPy> {
    let found = py
        .detach(env::discover)
        .map_err(|e| to_pyerr(py, &e, false))?;
    let rejected = found
        .rejected
        .iter()
        .map(|(dir, err)| {
            let rejected = RejectedDirPy {
                dir: path_to_py(py, dir, false)?.unbind(),
                error: err.to_string(),
            };
            Bound::new(py, rejected)
        })
        .collect::<PyResult<Vec<_>>>()?;
    Ok(DiscoveryPy {
        dir: path_to_py(py, &found.dir, false)?.unbind(),
        source: found.source.to_string(),
        rejected: PyTuple::new(py, rejected)?.unbind(),
    })
}

/// The filesystem holding a directory, as `ferrotemp info` reports it.
#[pyclass(frozen, get_all, module = "ferrotemp._core", name = "FilesystemInfo")]
pub(crate) struct FilesystemInfoPy {
    /// The filesystem's type (`ext4`, `tmpfs`, …).
    fs_type: String,
    /// Bytes available to this user.
    free_bytes: u64,
    /// The filesystem's size in bytes.
    total_bytes: u64,
    /// Whether an `O_TMPFILE` file can be made there.
    o_tmpfile: bool,
}

/// The filesystem holding `dir`. The GIL is released throughout.
#[pyfunction]
#[pyo3(signature = (dir, /))]
pub(crate) fn filesystem_info(
    py: Python<'_>,
    dir: &Bound<'_, PyAny>,
) -> PyResult<FilesystemInfoPy> {
    let path = fs_path(dir)?;
    let (info, o_tmpfile) = py.detach(|| {
        (
            env::filesystem_info(&path),
            file::o_tmpfile_supported_in(&path),
        )
    });
    let info = info.map_err(|e| to_pyerr(py, &e, false))?;
    Ok(FilesystemInfoPy {
        fs_type: info.fs_type,
        free_bytes: info.free_bytes,
        total_bytes: info.total_bytes,
        o_tmpfile,
    })
}

/// A `FERROTEMP_*` switch as the core reads it.
#[pyclass(frozen, get_all, module = "ferrotemp._core", name = "SwitchReading")]
pub(crate) struct SwitchReadingPy {
    /// The switch's value; the default when the text is not understood.
    value: bool,
    /// `None`, unless the text is not understood: then the warning to show.
    warning: Option<String>,
}

/// The `FERROTEMP_*` switch `name` as the core reads it, `default` when unset.
#[pyfunction]
#[pyo3(signature = (name, default, /))]
pub(crate) fn read_switch(name: &str, default: bool) -> SwitchReadingPy {
    let (value, warning) = env::read_switch(name, default);
    SwitchReadingPy { value, warning }
}

/// The warnings for the `FERROTEMP_*` switches set to a value not understood.
#[pyfunction]
pub(crate) fn switch_warnings() -> Vec<String> {
    env::switch_warnings()
}

/// The crash guard's boolean switches as the configuration in force has them.
#[pyclass(frozen, get_all, module = "ferrotemp._core", name = "GuardSwitches")]
#[allow(clippy::struct_excessive_bools)] // one per switch, as in the core's `GuardConfig`
pub(crate) struct GuardSwitchesPy {
    /// Entries are recorded (`FERROTEMP_GUARD`).
    enabled: bool,
    /// The callers' own entries are recorded too (`FERROTEMP_GUARD=all`).
    record_all: bool,
    /// Every guarded entry is kept (`FERROTEMP_KEEP`).
    keep: bool,
    /// The registry is swept automatically (`FERROTEMP_GUARD_SWEEP`).
    auto_sweep: bool,
    /// Records are locked with `flock` (`FERROTEMP_GUARD_FLOCK`).
    use_flock: bool,
    /// The registry directory set (`FERROTEMP_GUARD_DIR`, absolute), `str`; `None`: the
    /// default temp dir's. A Rust+Python hybrid's copy of the core takes the configuration
    /// in force from here (`ferrotemp::python::sync_guard_config`).
    registry_dir: Option<Py<PyAny>>,
}

/// The crash guard's configuration in force (for the tests of the switches, and for hybrids).
#[pyfunction]
pub(crate) fn guard_switches(py: Python<'_>) -> PyResult<GuardSwitchesPy> {
    let config = ferrotemp::guard::config();
    let registry_dir = match &config.registry_dir {
        Some(dir) => Some(path_to_py(py, dir, false)?.unbind()),
        None => None,
    };
    Ok(GuardSwitchesPy {
        enabled: config.enabled,
        record_all: config.record_all,
        keep: config.keep,
        auto_sweep: config.auto_sweep,
        use_flock: config.use_flock,
        registry_dir,
    })
}
