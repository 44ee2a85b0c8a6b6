//! Measurement and counters: `measure_tree` (a tree's disk usage, as `du`) and the
//! process-wide counters behind `ferrotemp.stats()`.

use std::path::Path;

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::convert::{fs_path, to_pyerr};

/// `(bytes, files, dirs)` of the tree at `path`, as `ferrotemp::measure_tree` counts them
/// (bytes on disk as `du -B1 -s`, the root directory included; files and directories below
/// the root). The GIL is released during the walk. Raises `OSError` with `errno` and the
/// path of the entry concerned.
#[pyfunction]
pub(crate) fn measure_tree(py: Python<'_>, path: &Bound<'_, PyAny>) -> PyResult<(u64, u64, u64)> {
    let as_bytes = path.is_instance_of::<PyBytes>();
    let target = fs_path(path)?;
    let usage = py
        .detach(|| ferrotemp::measure_tree(Path::new(&target)))
        .map_err(|err| to_pyerr(py, &err, as_bytes))?;
    Ok((usage.bytes, usage.files, usage.dirs))
}
