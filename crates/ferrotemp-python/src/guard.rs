//! The crash guard's sweeps and switches, for `ferrotemp.sweep()` and `ferrotemp sweep`, and
//! the notice a new entry's owner passes on.

use std::path::{Path, PathBuf};
use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use super::convert::{fs_os_string, fs_path, path_to_py, to_pyerr};
use ferrotemp::guard::{self, EntryKind, SkipReason, SweepOptions, SweepReport};

/// What the crash guard asks the owner of an entry just registered to tell the user. Most
/// creations have none: the owner's `guard_notice` is then `None`, so the Python layer pays
/// one attribute read per creation.
#[pyclass(frozen, get_all, module = "ferrotemp._core", name = "GuardNotice")]
#[derive(Clone)]
pub(crate) struct GuardNoticePy {
    /// Keep mode (`FERROTEMP_KEEP=1`) keeps the entry: its path is to be logged.
    kept: bool,
    /// The guard's once-per-process message that it is unavailable, or `None`.
    warning: Option<String>,
}

impl GuardNoticePy {
    /// The notice for an entry just registered (`kept` when keep mode kept it), if any.
    pub(crate) fn for_new_entry(kept: bool) -> Option<Self> {
        let warning = guard::take_warning();
        (kept || warning.is_some()).then_some(Self { kept, warning })
    }
}

fn kind_name(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::File => "file",
        EntryKind::Dir => "dir",
    }
}

fn skip_name(reason: SkipReason) -> &'static str {
    match reason {
        SkipReason::Gone => "gone",
        SkipReason::Replaced => "replaced",
        SkipReason::Symlink => "symlink",
        SkipReason::OtherFilesystem => "other_filesystem",
        SkipReason::OtherOwner => "other_owner",
        SkipReason::InUse => "in_use",
        SkipReason::Recent => "recent",
        SkipReason::NotFileOrDir => "not_file_or_dir",
        SkipReason::TooLarge => "too_large",
        SkipReason::BornBeforeOwner => "born_before_owner",
        SkipReason::Unconfirmed => "unconfirmed",
    }
}

/// An entry a sweep removed (or, dry, would remove).
#[pyclass(frozen, get_all, module = "ferrotemp._core", name = "RemovedEntry")]
pub(crate) struct RemovedEntryPy {
    /// The entry's path, `str`.
    path: Py<PyAny>,
    /// `"file"` or `"dir"`.
    kind: &'static str,
    /// The bytes it held (a directory counts the files inside).
    bytes: u64,
}

/// An entry a sweep examined and left alone.
#[pyclass(frozen, get_all, module = "ferrotemp._core", name = "SkippedEntry")]
pub(crate) struct SkippedEntryPy {
    /// The entry's path, `str`.
    path: Py<PyAny>,
    /// Why it was left alone: `"gone"`, `"replaced"`, `"symlink"`, `"other_filesystem"`,
    /// `"other_owner"`, `"in_use"`, `"recent"`, `"not_file_or_dir"`, `"too_large"`,
    /// `"born_before_owner"` or `"unconfirmed"`.
    reason: &'static str,
}

/// An entry (or record) a sweep failed on.
#[pyclass(frozen, get_all, module = "ferrotemp._core", name = "FailedEntry")]
pub(crate) struct FailedEntryPy {
    /// The path the failure concerns, `str`.
    path: Py<PyAny>,
    /// The error, as text.
    message: String,
}

/// What a sweep removed (or, dry, would remove), left alone and failed on.
#[pyclass(frozen, get_all, module = "ferrotemp._core", name = "SweepOutcome")]
pub(crate) struct SweepOutcomePy {
    /// Whether nothing was removed (`removed` lists what would have been).
    dry_run: bool,
    /// `tuple[RemovedEntry, ...]`.
    removed: Py<PyTuple>,
    /// `tuple[SkippedEntry, ...]`.
    skipped: Py<PyTuple>,
    /// `tuple[FailedEntry, ...]`.
    errors: Py<PyTuple>,
    /// Dead processes' records removed (registry sweeps only).
    records_removed: usize,
    /// Live processes' records left alone (registry sweeps only).
    records_live: usize,
    /// False when a limit stopped the sweep before the end.
    complete: bool,
}

impl SweepOutcomePy {
    fn new(py: Python<'_>, report: &SweepReport) -> PyResult<Self> {
        let path = |p: &Path| path_to_py(py, p, false).map(Bound::unbind);
        let removed = report
            .removed
            .iter()
            .map(|e| {
                let entry = RemovedEntryPy {
                    path: path(&e.path)?,
                    kind: kind_name(e.kind),
                    bytes: e.bytes,
                };
                Bound::new(py, entry)
            })
            .collect::<PyResult<Vec<_>>>()?;
        let skipped = report
            .skipped
            .iter()
            .map(|(p, why)| {
                let entry = SkippedEntryPy {
                    path: path(p)?,
                    reason: skip_name(*why),
                };
                Bound::new(py, entry)
            })
            .collect::<PyResult<Vec<_>>>()?;
        let errors = report
            .errors
            .iter()
            .map(|(p, err)| {
                let entry = FailedEntryPy {
                    path: path(p)?,
                    message: err.to_string(),
                };
                Bound::new(py, entry)
            })
            .collect::<PyResult<Vec<_>>>()?;
        Ok(Self {
            dry_run: report.dry_run,
            removed: PyTuple::new(py, removed)?.unbind(),
            skipped: PyTuple::new(py, skipped)?.unbind(),
            errors: PyTuple::new(py, errors)?.unbind(),
            records_removed: report.records_removed,
            records_live: report.records_live,
            complete: report.complete,
        })
    }
}

/// Sweeps dead processes' records: those of the registry in `root` (a temp dir), or of the
/// configured registry when `root` is `None`. The GIL is released throughout.
#[pyfunction]
#[pyo3(signature = (root, dry_run, /))]
pub(crate) fn sweep<'py>(
    py: Python<'py>,
    root: Option<&Bound<'py, PyAny>>,
    dry_run: bool,
) -> PyResult<SweepOutcomePy> {
    let registry: Option<PathBuf> = match root {
        Some(root) => Some(guard::registry_path_in(&fs_path(root)?)),
        None => None,
    };
    let options = SweepOptions {
        registry,
        dry_run,
        ..SweepOptions::default()
    };
    let report = py
        .detach(|| guard::sweep(&options))
        .map_err(|e| to_pyerr(py, &e, false))?;
    SweepOutcomePy::new(py, &report)
}

/// Removes the top-level entries of `dir` named `prefix…` whose timestamps are all older than
/// `older_than` seconds, by systemd-tmpfiles' rules (see the core's `sweep_older_than`). The
/// GIL is released throughout.
#[pyfunction]
#[pyo3(signature = (dir, prefix, older_than, dry_run, /))]
pub(crate) fn sweep_older_than<'py>(
    py: Python<'py>,
    dir: &Bound<'py, PyAny>,
    prefix: &Bound<'py, PyAny>,
    older_than: f64,
    dry_run: bool,
) -> PyResult<SweepOutcomePy> {
    let dir = fs_path(dir)?;
    let prefix = fs_os_string(prefix)?;
    let cutoff = Duration::try_from_secs_f64(older_than).map_err(|_| {
        PyValueError::new_err("older_than must be a non-negative number of seconds")
    })?;
    let report = py
        .detach(|| guard::sweep_older_than(&dir, &prefix, cutoff, dry_run))
        .map_err(|e| to_pyerr(py, &e, false))?;
    SweepOutcomePy::new(py, &report)
}

/// Turns the crash guard on or off for the whole process, other settings unchanged (a new
/// record starts with each change). For tests of a change at run time (a hybrid extension
/// follows it); users set `FERROTEMP_GUARD`.
#[pyfunction]
#[pyo3(name = "_set_guard_enabled")]
pub(crate) fn set_guard_enabled(enabled: bool) {
    guard::set_config(guard::GuardConfig {
        enabled,
        ..guard::config()
    });
}

/// Why the crash guard is off, or `None` when it is on (or not yet tried).
#[pyfunction]
pub(crate) fn guard_unavailable_reason() -> Option<String> {
    guard::unavailable_reason()
}

/// The registry directory in use: `FERROTEMP_GUARD_DIR`, else the one in the default temp dir.
#[pyfunction]
pub(crate) fn guard_registry_path(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    let path = guard::registry_path().map_err(|e| to_pyerr(py, &e, false))?;
    path_to_py(py, &path, false)
}
