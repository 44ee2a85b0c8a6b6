//! Argument conversions: the core's `ferrotemp::python` glue, plus what only the standard
//! module's API needs.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

pub(crate) use ferrotemp::python::{fs_os_string, fs_path, path_to_py, to_pyerr};

/// `TMP_MAX` as a count of names to try. The standard module loops `range(TMP_MAX)`, so any
/// integer (anything with `__index__`) works there: zero or less tries no name, and a huge
/// value is as good as unlimited. The core counts in `u32`; values outside it are clamped
/// (a `u32` of attempts already outlasts any directory). Anything else raises `range()`'s
/// `TypeError`.
pub(crate) fn tmp_max(obj: &Bound<'_, PyAny>) -> PyResult<u32> {
    static INDEX: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    if let Ok(n) = obj.extract::<u32>() {
        return Ok(n);
    }
    let index = INDEX.import(obj.py(), "operator", "index")?.call1((obj,))?;
    Ok(if index.lt(0)? { 0 } else { u32::MAX })
}
