//! One crash guard per process: a hybrid's copy of the core takes the guard's configuration
//! from the `ferrotemp` package's (`ferrotemp._core`), and where ferrotemp's Python API makes
//! its entries.
//!
//! A hybrid extension links its own copy of this crate, with its own statics: its own guard
//! state, so its own record. Each copy keeps its record in the same registry, under the same
//! settings, rather than handing entries across to the other copy's: the copies may be
//! different versions of the crate (the package's wheel and the hybrid are built apart), and
//! a record already is per process *and* per configuration (see [`guard::set_config`]), which
//! is what every sweep is built for. A process therefore holds at most one live record per
//! copy of the core it has loaded (the package's, and one per hybrid extension), plus, per
//! copy, one for each earlier configuration that still holds live entries. That is safe
//! because a record is judged by its own lock and its owner's identity (pid, start time,
//! boot, pid namespace), never by which copy wrote it: each copy holds the exclusive `flock`
//! of its own record (locks of different open files conflict even within one process), so a
//! sweeper, whichever copy it runs in, sees every record of a live process as live, and after
//! a `SIGKILL` sees them all as dead and sweeps each. Fork and exit are handled per copy
//! (each installs its own `pthread_atfork` and `atexit` handlers).

use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

use super::fs_path;
use crate::create::Builder;
use crate::guard::{self, GuardConfig};

/// Makes this copy of the core's crash guard use the configuration `ferrotemp._core` has in
/// force: the `FERROTEMP_*` variables as the package read them and anything set since
/// through its API. Cheap when nothing changed (one call into the package); a change starts
/// a new record for later entries, as [`guard::set_config`] says. [`builder`] calls it.
///
/// # Errors
///
/// `ImportError` if the `ferrotemp` package cannot be imported; the package's errors.
pub fn sync_guard_config(py: Python<'_>) -> PyResult<()> {
    static SWITCHES: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let switches = SWITCHES
        .import(py, "ferrotemp._core", "guard_switches")?
        .call0()?;
    let flag = |name: &str| -> PyResult<bool> { switches.getattr(name)?.extract() };
    let current = guard::config();
    // A package without `registry_dir` (older) read the same environment as this copy.
    let registry_dir = match switches.getattr("registry_dir") {
        Ok(dir) if dir.is_none() => None,
        Ok(dir) => Some(fs_path(&dir)?),
        Err(_) => current.registry_dir.clone(),
    };
    // A package without `record_all` (older) had no such mode.
    let record_all = match switches.getattr("record_all") {
        Ok(value) => value.extract()?,
        Err(_) => false,
    };
    let wanted = GuardConfig {
        enabled: flag("enabled")?,
        record_all,
        keep: flag("keep")?,
        registry_dir,
        auto_sweep: flag("auto_sweep")?,
        use_flock: flag("use_flock")?,
    };
    if wanted != current {
        guard::set_config(wanted);
    }
    Ok(())
}

/// A [`Builder`] for entries to hand to Python: recorded with the crash guard, as ferrotemp's
/// `NamedTemporaryFile` and `TemporaryDirectory` are, under the package's configuration
/// ([`sync_guard_config`] first). Names are the standard module's (`tmp` + 8 characters);
/// set a prefix or suffix on it as usual. Create in [`gettempdir`].
///
/// # Errors
///
/// As [`sync_guard_config`].
pub fn builder(py: Python<'_>) -> PyResult<Builder> {
    sync_guard_config(py)?;
    let mut builder = Builder::new();
    builder.guarded(true);
    Ok(builder)
}

/// The directory ferrotemp's Python API creates in by default: `ferrotemp.gettempdir()`,
/// which honours `ferrotemp.tempdir` (and `tempfile.tempdir` once installed) set at run time.
///
/// # Errors
///
/// The package's (temp-dir discovery's `FileNotFoundError`).
pub fn gettempdir(py: Python<'_>) -> PyResult<PathBuf> {
    static GETTEMPDIR: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    fs_path(&GETTEMPDIR.import(py, "ferrotemp", "gettempdir")?.call0()?)
}
