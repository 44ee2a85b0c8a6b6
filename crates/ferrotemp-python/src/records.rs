//! The crash guard's records as a reader sees them, for `ferrotemp ls`: every process's
//! record with its owner's status and its entries (a workspace's with its name and limits).

use pyo3::prelude::*;
use pyo3::types::PyTuple;

#[cfg(unix)]
use super::convert::{fs_path, path_to_py, to_pyerr};

/// A workspace's name and limits, as its record entry keeps them.
#[pyclass(frozen, get_all, module = "ferrotemp._core", name = "WorkspaceInfo")]
pub(crate) struct WorkspaceInfoPy {
    /// The job's name (its first 255 bytes).
    name: String,
    /// The most bytes it may hold, or `None`.
    max_bytes: Option<u64>,
    /// The most files it may hold, or `None`.
    max_files: Option<u64>,
    /// The command line its job runs (`ferrotemp run`; its first 1,024 bytes), or `None`.
    command: Option<String>,
}

/// One guarded entry of a record.
#[pyclass(frozen, get_all, module = "ferrotemp._core", name = "GuardEntry")]
pub(crate) struct GuardEntryPy {
    /// Its path, `str`.
    path: Py<PyAny>,
    /// `"file"` or `"dir"`.
    kind: &'static str,
    /// `"live"`, or `"pending"` (recorded before its creation, not yet confirmed).
    state: &'static str,
    /// When it was recorded, ns since the epoch (0 when unknown).
    recorded_ns: i64,
    /// What is at its path now: `"present"` (the entry recorded), `"gone"`, `"replaced"`
    /// (another file, or another kind) or `"unknown"` (it could not be examined).
    presence: &'static str,
    /// The workspace it is, or `None`.
    workspace: Option<Py<WorkspaceInfoPy>>,
    /// `(bytes, files, dirs)` measured through the descriptor its presence check opened
    /// (with `measure=True`, for a present entry), or `None`.
    usage: Option<(u64, u64, u64)>,
    /// The `OSError` measuring it raised, or `None`.
    measure_error: Option<Py<PyAny>>,
}

/// One process's record.
#[pyclass(frozen, get_all, module = "ferrotemp._core", name = "GuardRecord")]
pub(crate) struct GuardRecordPy {
    /// The record's file name in the registry.
    name: String,
    /// The owner's process id.
    pid: u32,
    /// The owner's start, ns since the epoch (0 when unknown).
    start_ns: i64,
    /// `"alive"`, `"dead"` (its entries await a sweep) or `"other_host"`.
    status: &'static str,
    /// `tuple[GuardEntry, ...]`.
    entries: Py<PyTuple>,
    /// Whether the record ended in something unreadable.
    truncated: bool,
}

/// A string quoted and escaped for a `repr` (Rust's escapes, close to Python's).
fn quoted(text: &str) -> String {
    format!("{text:?}")
}

fn optional(value: Option<u64>) -> String {
    value.map_or_else(|| "None".to_owned(), |v| v.to_string())
}

#[pymethods]
impl WorkspaceInfoPy {
    fn __repr__(&self) -> String {
        format!(
            "WorkspaceInfo(name={}, max_bytes={}, max_files={})",
            quoted(&self.name),
            optional(self.max_bytes),
            optional(self.max_files)
        )
    }
}

#[pymethods]
impl GuardEntryPy {
    fn __repr__(&self, py: Python<'_>) -> String {
        let path = self
            .path
            .bind(py)
            .repr()
            .map_or_else(|_| "?".to_owned(), |r| r.to_string());
        format!(
            "GuardEntry(path={path}, kind={}, state={}, presence={}, workspace={})",
            quoted(self.kind),
            quoted(self.state),
            quoted(self.presence),
            self.workspace
                .as_ref()
                .map_or_else(|| "None".to_owned(), |w| w.get().__repr__())
        )
    }
}

#[pymethods]
impl GuardRecordPy {
    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "GuardRecord(pid={}, status={}, entries={}, name={})",
            self.pid,
            quoted(self.status),
            self.entries.bind(py).len(),
            quoted(&self.name)
        )
    }
}

#[cfg(unix)]
fn record_to_py(
    py: Python<'_>,
    record: &ferrotemp::guard::RecordListing,
    presences: &[EntryFound],
) -> PyResult<GuardRecordPy> {
    use ferrotemp::guard::record::EntryState;
    use ferrotemp::guard::{EntryKind, EntryPresence, OwnerStatus};
    let entries = record
        .entries
        .iter()
        .zip(presences)
        .map(|(e, (presence, measured))| {
            let workspace = match &e.workspace {
                Some(meta) => Some(Py::new(
                    py,
                    WorkspaceInfoPy {
                        name: meta.name.clone(),
                        max_bytes: meta.max_bytes,
                        max_files: meta.max_files,
                        command: meta.command.clone(),
                    },
                )?),
                None => None,
            };
            let entry = GuardEntryPy {
                path: path_to_py(py, &e.path, false)?.unbind(),
                kind: match e.kind {
                    EntryKind::File => "file",
                    EntryKind::Dir => "dir",
                },
                state: match e.state {
                    EntryState::Live => "live",
                    EntryState::Pending => "pending",
                },
                recorded_ns: e.recorded_ns,
                presence: match presence {
                    EntryPresence::Present => "present",
                    EntryPresence::Gone => "gone",
                    EntryPresence::Replaced => "replaced",
                    EntryPresence::Unknown => "unknown",
                },
                workspace,
                usage: match measured {
                    Some(Ok(u)) => Some((u.bytes, u.files, u.dirs)),
                    _ => None,
                },
                measure_error: match measured {
                    Some(Err(err)) => Some(to_pyerr(py, err, false).into_value(py).into_any()),
                    _ => None,
                },
            };
            Bound::new(py, entry)
        })
        .collect::<PyResult<Vec<_>>>()?;
    Ok(GuardRecordPy {
        name: record.name.clone(),
        pid: record.pid,
        start_ns: record.start_ns,
        status: match record.status {
            OwnerStatus::Alive => "alive",
            OwnerStatus::Dead => "dead",
            OwnerStatus::OtherHost => "other_host",
        },
        entries: PyTuple::new(py, entries)?.unbind(),
        truncated: record.truncated,
    })
}

/// What is at an entry's path, and with `measure`, its usage measured through the descriptor
/// the check opened (errors naming paths under the entry's).
#[cfg(unix)]
type EntryFound = (
    ferrotemp::guard::EntryPresence,
    Option<std::io::Result<ferrotemp::TreeUsage>>,
);

#[cfg(unix)]
fn find_entry(entry: &ferrotemp::guard::record::RecordEntry, measure: bool) -> EntryFound {
    use ferrotemp::guard::{self, EntryPresence};
    use std::os::fd::AsFd;
    let fd = match guard::open_present_entry(entry) {
        Ok(fd) => fd,
        Err(presence) => return (presence, None),
    };
    if !measure {
        return (EntryPresence::Present, None);
    }
    let measured = ferrotemp::measure::measure_tree_at(fd.as_fd(), &entry.path);
    (EntryPresence::Present, Some(measured))
}

/// Every record of the registry in `root` (a temp dir), or of the configured registry when
/// `root` is `None`, in name order, each entry with what is at its path now and, with
/// `measure`, the usage of each present entry, measured through the descriptor its check
/// opened; a missing registry lists nothing. The GIL is released while the records are read
/// and measured. Elsewhere than on POSIX there are no records: an empty list.
#[pyfunction]
#[pyo3(signature = (root, /, *, measure = false))]
pub(crate) fn list_records<'py>(
    py: Python<'py>,
    root: Option<&Bound<'py, PyAny>>,
    measure: bool,
) -> PyResult<Vec<GuardRecordPy>> {
    #[cfg(unix)]
    {
        use ferrotemp::guard;
        let registry = match root {
            Some(root) => Some(guard::registry_path_in(&fs_path(root)?)),
            None => None,
        };
        let (records, found) = py
            .detach(|| {
                let records = guard::list_records(registry.as_deref())?;
                let found: Vec<Vec<_>> = records
                    .iter()
                    .map(|r| r.entries.iter().map(|e| find_entry(e, measure)).collect())
                    .collect();
                Ok::<_, std::io::Error>((records, found))
            })
            .map_err(|e| to_pyerr(py, &e, false))?;
        records
            .iter()
            .zip(&found)
            .map(|(r, f)| record_to_py(py, r, f))
            .collect()
    }
    #[cfg(not(unix))]
    {
        let _ = (py, root, measure);
        Ok(Vec::new())
    }
}
