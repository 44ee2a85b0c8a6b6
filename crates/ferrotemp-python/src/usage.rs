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

/// The process-wide counters of the core (`ferrotemp.stats()`), a snapshot.
#[pyclass(frozen, get_all, module = "ferrotemp._core", name = "Stats")]
pub(crate) struct StatsPy {
    /// Named files and directories created.
    created: u64,
    /// Owned entries removed by their owner (close, cleanup, garbage collection).
    removed: u64,
    /// Entries removed by sweeps.
    entries_reclaimed: u64,
    /// Bytes those entries held.
    bytes_reclaimed: u64,
    /// Removals by an owner that failed.
    cleanup_errors: u64,
    /// Creations or writes refused by a workspace's limits.
    quota_refusals: u64,
}

#[pymethods]
impl StatsPy {
    fn __repr__(&self) -> String {
        format!(
            "Stats(created={}, removed={}, entries_reclaimed={}, bytes_reclaimed={}, \
             cleanup_errors={}, quota_refusals={})",
            self.created,
            self.removed,
            self.entries_reclaimed,
            self.bytes_reclaimed,
            self.cleanup_errors,
            self.quota_refusals
        )
    }

    /// The counters as a dict (for JSON and logging).
    fn as_dict(&self) -> std::collections::BTreeMap<&'static str, u64> {
        [
            ("created", self.created),
            ("removed", self.removed),
            ("entries_reclaimed", self.entries_reclaimed),
            ("bytes_reclaimed", self.bytes_reclaimed),
            ("cleanup_errors", self.cleanup_errors),
            ("quota_refusals", self.quota_refusals),
        ]
        .into_iter()
        .collect()
    }
}

/// A snapshot of the process-wide counters.
#[pyfunction]
pub(crate) fn stats() -> StatsPy {
    let s = ferrotemp::stats::stats();
    StatsPy {
        created: s.created,
        removed: s.removed,
        entries_reclaimed: s.entries_reclaimed,
        bytes_reclaimed: s.bytes_reclaimed,
        cleanup_errors: s.cleanup_errors,
        quota_refusals: s.quota_refusals,
    }
}

/// Counts one creation or write refused by a quota (for limits checked in Python).
#[pyfunction]
pub(crate) fn note_quota_refusal() {
    ferrotemp::stats::note_quota_refusal();
}
