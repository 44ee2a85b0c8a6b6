//! The crash guard's sweeps and switches, for `ferrotemp.sweep()` and `ferrotemp sweep`.

use std::path::PathBuf;
use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use super::convert::{fs_os_string, fs_path, path_to_py, to_pyerr};
use ferrotemp::guard::{self, EntryKind, SkipReason, SweepOptions, SweepReport};

/// What a new guarded entry's owner must tell the user: `(kept, warning)`, or `None` (the
/// usual case, so the Python layer pays one attribute read per creation).
pub(crate) type GuardNotice = Option<(bool, Option<String>)>;

/// The notice for an entry just registered; `kept` when keep mode kept it.
pub(crate) fn guard_notice(kept: bool) -> GuardNotice {
    let warning = guard::take_warning();
    (kept || warning.is_some()).then_some((kept, warning))
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

type Removed<'py> = Vec<(Bound<'py, PyAny>, &'static str, u64)>;
type Skipped<'py> = Vec<(Bound<'py, PyAny>, &'static str)>;
type Errors<'py> = Vec<(Bound<'py, PyAny>, String)>;

/// A report as plain values: `(dry_run, removed [(path, kind, bytes)], skipped [(path,
/// reason)], errors [(path, message)], records_removed, records_live, complete)`.
type ReportTuple<'py> = (
    bool,
    Removed<'py>,
    Skipped<'py>,
    Errors<'py>,
    usize,
    usize,
    bool,
);

fn report_to_py<'py>(py: Python<'py>, report: &SweepReport) -> PyResult<ReportTuple<'py>> {
    let path = |p: &std::path::Path| path_to_py(py, p, false);
    let removed = report
        .removed
        .iter()
        .map(|e| Ok((path(&e.path)?, kind_name(e.kind), e.bytes)))
        .collect::<PyResult<_>>()?;
    let skipped = report
        .skipped
        .iter()
        .map(|(p, why)| Ok((path(p)?, skip_name(*why))))
        .collect::<PyResult<_>>()?;
    let errors = report
        .errors
        .iter()
        .map(|(p, err)| Ok((path(p)?, err.to_string())))
        .collect::<PyResult<_>>()?;
    Ok((
        report.dry_run,
        removed,
        skipped,
        errors,
        report.records_removed,
        report.records_live,
        report.complete,
    ))
}

/// Sweeps dead processes' records: those of the registry in `root` (a temp dir), or of the
/// configured registry when `root` is `None`. The GIL is released throughout.
#[pyfunction]
#[pyo3(signature = (root, dry_run, /))]
pub(crate) fn sweep<'py>(
    py: Python<'py>,
    root: Option<&Bound<'py, PyAny>>,
    dry_run: bool,
) -> PyResult<ReportTuple<'py>> {
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
    report_to_py(py, &report)
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
) -> PyResult<ReportTuple<'py>> {
    let dir = fs_path(dir)?;
    let prefix = fs_os_string(prefix)?;
    let cutoff = Duration::try_from_secs_f64(older_than).map_err(|_| {
        PyValueError::new_err("older_than must be a non-negative number of seconds")
    })?;
    let report = py
        .detach(|| guard::sweep_older_than(&dir, &prefix, cutoff, dry_run))
        .map_err(|e| to_pyerr(py, &e, false))?;
    report_to_py(py, &report)
}

/// Turns the crash guard on or off for the whole process, other settings unchanged. For
/// benchmarks and tests that compare the two in one process; users set `FERROTEMP_GUARD`.
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
