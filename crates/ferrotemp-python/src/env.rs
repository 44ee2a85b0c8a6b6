//! Temporary-directory discovery and the facts `ferrotemp info` reports.

use pyo3::prelude::*;
use pyo3::types::PyDict;

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

/// Discovery with its reasons: `{"dir", "source", "rejected": [(dir, error text)]}`.
#[pyfunction]
pub(crate) fn discovery_report(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let found = py
        .detach(env::discover)
        .map_err(|e| to_pyerr(py, &e, false))?;
    let report = PyDict::new(py);
    report.set_item("dir", path_to_py(py, &found.dir, false)?)?;
    report.set_item("source", found.source.to_string())?;
    let rejected: Vec<(Bound<'_, PyAny>, String)> = found
        .rejected
        .iter()
        .map(|(dir, err)| Ok((path_to_py(py, dir, false)?, err.to_string())))
        .collect::<PyResult<_>>()?;
    report.set_item("rejected", rejected)?;
    Ok(report)
}

/// `{"fs_type", "free_bytes", "total_bytes", "o_tmpfile"}` for the filesystem holding `dir`.
#[pyfunction]
#[pyo3(signature = (dir, /))]
pub(crate) fn filesystem_info<'py>(
    py: Python<'py>,
    dir: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyDict>> {
    let path = fs_path(dir)?;
    let (info, o_tmpfile) = py.detach(|| {
        (
            env::filesystem_info(&path),
            file::o_tmpfile_supported_in(&path),
        )
    });
    let info = info.map_err(|e| to_pyerr(py, &e, false))?;
    let out = PyDict::new(py);
    out.set_item("fs_type", info.fs_type)?;
    out.set_item("free_bytes", info.free_bytes)?;
    out.set_item("total_bytes", info.total_bytes)?;
    out.set_item("o_tmpfile", o_tmpfile)?;
    Ok(out)
}

/// The `FERROTEMP_*` switch `name` as the core reads it: `(value, warning)`, the warning being
/// `None` unless the value is not understood (then `value` is `default`).
#[pyfunction]
#[pyo3(signature = (name, default, /))]
pub(crate) fn read_switch(name: &str, default: bool) -> (bool, Option<String>) {
    env::read_switch(name, default)
}

/// The crash guard's boolean switches as the configuration in force has them, keyed by their
/// variable names (for `ferrotemp info` and the tests of the switches).
#[pyfunction]
pub(crate) fn guard_switches(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let config = ferrotemp::guard::config();
    let out = PyDict::new(py);
    out.set_item("FERROTEMP_GUARD", config.enabled)?;
    out.set_item("FERROTEMP_KEEP", config.keep)?;
    out.set_item("FERROTEMP_GUARD_SWEEP", config.auto_sweep)?;
    out.set_item("FERROTEMP_GUARD_FLOCK", config.use_flock)?;
    Ok(out)
}
