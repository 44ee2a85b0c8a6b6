//! The owner behind `TemporaryDirectory`, and the symlink-safe removal as a function.

use std::io;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyBytes;

use super::convert::{fs_path, tmp_max, to_pyerr};
use super::create::create_dir_audited;
use super::guard::GuardNoticePy;
use ferrotemp::create::Builder;
use ferrotemp::dir::TempDir;
use ferrotemp::error::with_path;
use ferrotemp::remove::{
    remove_tree_nofollow, remove_tree_observed, RemoveError, RemoveOptions, Step, StepOrder,
};
use std::ffi::{c_char, c_int};

/// Owns a temporary directory: a core `TempDir`, which holds a shared `flock` on it while
/// alive. `cleanup` removes the tree and reports errors; dropping an owner that still holds
/// the directory removes it silently (or, with `delete` off, only releases the lock).
#[pyclass(frozen, module = "ferrotemp._core", name = "TempDirOwner")]
pub(crate) struct TempDirOwner {
    name: Py<PyAny>,
    as_bytes: bool,
    delete: bool,
    dir: Mutex<Option<TempDir>>,
    notice: Option<GuardNoticePy>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn sys_audit(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    static AUDIT: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    AUDIT.import(py, "sys", "audit")
}

/// `shutil.rmtree`'s audit event, which the standard module's cleanup raises through it
/// (its arguments gained `dir_fd` in 3.11).
fn audit_rmtree(py: Python<'_>, path: &Bound<'_, PyAny>) -> PyResult<()> {
    static WITH_DIR_FD: PyOnceLock<bool> = PyOnceLock::new();
    let audit = sys_audit(py)?;
    if *WITH_DIR_FD.get_or_init(py, || py.version_info() >= (3, 11)) {
        audit.call1(("shutil.rmtree", path, py.None()))?;
    } else {
        audit.call1(("shutil.rmtree", path))?;
    }
    Ok(())
}

extern "C" {
    /// Exported by every CPython since 3.8 (in the stable ABI's symbol list from 3.13; pyo3's
    /// bindings do not declare it).
    fn PySys_Audit(event: *const c_char, format: *const c_char, ...) -> c_int;
}

/// Whether an audit hook is installed (Python's `sys.addaudithook` or a C-level one), so that
/// per-entry events are worth raising. The limited API has no query for it; `PySys_Audit`
/// itself returns at once when there is no hook and builds the event's arguments only when
/// there is one. The probe passes arguments that cannot be built (a NULL object): with no
/// hook it returns 0 untouched, with one it fails building them (`SystemError`) *before*
/// calling any hook — so no hook ever sees a probe event. Registering a hook of ferrotemp's
/// own to learn the same would slow every audit event of the process.
fn audit_hooks_installed(py: Python<'_>) -> bool {
    // SAFETY: the GIL is held (`py`); the format's one "O" consumes the one pointer argument,
    // and a NULL object there is reported by Py_BuildValue as an error, not dereferenced.
    let rc = unsafe {
        PySys_Audit(
            c"ferrotemp.probe".as_ptr(),
            c"O".as_ptr(),
            std::ptr::null_mut::<pyo3::ffi::PyObject>(),
        )
    };
    if rc < 0 {
        drop(PyErr::take(py));
        return true;
    }
    false
}

/// The order of the running interpreter's `shutil.rmtree` (iterative from 3.13).
fn step_order(py: Python<'_>) -> StepOrder {
    if py.version_info() >= (3, 13) {
        StepOrder::FilesThenDirsLastFirst
    } else {
        StepOrder::ListingDepthFirst
    }
}

/// Raises the audit event `shutil.rmtree`'s descriptor walk raises for `step` (`os.open` →
/// `open`, `os.scandir`, `os.unlink` → `os.remove`, `os.rmdir`), with the same arguments: names
/// relative to the parent's descriptor (ferrotemp's own descriptors and open flags), the root
/// as given.
fn audit_step(py: Python<'_>, root: &Bound<'_, PyAny>, step: Step<'_>) -> PyResult<()> {
    let audit = sys_audit(py)?;
    match step {
        Step::Open {
            dir: None, flags, ..
        } => audit.call1(("open", root, py.None(), flags)),
        Step::Open {
            dir: Some(_),
            name,
            flags,
        } => audit.call1(("open", name, py.None(), flags)),
        Step::List { fd } => audit.call1(("os.scandir", fd)),
        Step::Unlink { dir, name } => audit.call1(("os.remove", name, dir)),
        Step::Rmdir { dir: None, .. } => audit.call1(("os.rmdir", root, -1)),
        Step::Rmdir {
            dir: Some(dir),
            name,
        } => audit.call1(("os.rmdir", name, dir)),
    }
    .map(drop)
}

/// Runs `remove` with an observer that raises each step's audit event first (with the GIL
/// held throughout: only when a hook is installed); a hook's exception stops the removal
/// before that step and is returned as the error.
fn remove_audited<F>(
    py: Python<'_>,
    root: &Bound<'_, PyAny>,
    remove: F,
) -> PyResult<Result<(), RemoveError>>
where
    F: FnOnce(StepOrder, &mut dyn FnMut(Step<'_>) -> bool) -> Result<(), RemoveError>,
{
    let mut raised = None;
    let result = remove(
        step_order(py),
        &mut |step| match audit_step(py, root, step) {
            Ok(()) => true,
            Err(err) => {
                raised = Some(err);
                false
            }
        },
    );
    match raised {
        Some(err) => Err(err),
        None => Ok(result),
    }
}

/// The standard module's `TemporaryDirectory._rmtree` verdict on a removal's failures: entries
/// already gone are fine; otherwise the first failure is raised, with its path as `filename`.
fn report(py: Python<'_>, result: Result<(), RemoveError>, as_bytes: bool) -> PyResult<()> {
    let Err(err) = result else {
        return Ok(());
    };
    match err
        .into_failures()
        .into_iter()
        .find(|f| f.error.kind() != io::ErrorKind::NotFound)
    {
        Some(first) => Err(to_pyerr(py, &with_path(first.error, first.path), as_bytes)),
        None => Ok(()),
    }
}

#[pymethods]
impl TempDirOwner {
    /// The absolute path, `str` or `bytes` as the arguments were.
    #[getter]
    fn name(&self, py: Python<'_>) -> Py<PyAny> {
        self.name.clone_ref(py)
    }

    /// `None`, unless the crash guard has something to say about this directory: a
    /// `GuardNotice`, as `NamedOpener.guard_notice`.
    #[getter]
    fn guard_notice(&self) -> Option<GuardNoticePy> {
        self.notice.clone()
    }

    /// Whether this still owns the directory (neither cleaned up nor kept).
    #[getter]
    fn active(&self) -> bool {
        lock(&self.dir).is_some()
    }

    /// Removes the directory and everything in it, with the GIL released throughout; later
    /// calls do nothing. A directory already gone is not an error. `threads`: at most this
    /// many threads remove (0: one per core).
    #[pyo3(signature = (ignore_errors = false, threads = 0))]
    fn cleanup(&self, py: Python<'_>, ignore_errors: bool, threads: usize) -> PyResult<()> {
        let Some(dir) = lock(&self.dir).take() else {
            return Ok(());
        };
        if let Err(err) = audit_rmtree(py, self.name.bind(py)) {
            // Vetoed by a hook: the directory stays owned, as if cleanup had not been called.
            *lock(&self.dir) = Some(dir);
            return Err(err);
        }
        let result = if audit_hooks_installed(py) {
            remove_audited(py, self.name.bind(py), |order, observer| {
                dir.close_observed(order, observer)
            })?
        } else {
            py.detach(|| dir.close_with_threads(threads))
        };
        if ignore_errors {
            return Ok(());
        }
        report(py, result, self.as_bytes)
    }

    /// Gives up the directory: it stays, and its lock is released. Later calls do nothing.
    fn keep(&self) {
        if let Some(dir) = lock(&self.dir).take() {
            let _ = dir.keep();
        }
    }
}

impl Drop for TempDirOwner {
    fn drop(&mut self) {
        let Some(dir) = self
            .dir
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        else {
            return;
        };
        if !self.delete {
            let _ = dir.keep();
            return;
        }
        // TempDir's own Drop removes the tree; let other threads run meanwhile. When Python
        // cannot be attached (interpreter shutdown) the closure is dropped uncalled, and the
        // tree is removed all the same.
        let _ = Python::try_attach(move |py| py.detach(move || drop(dir)));
    }
}

/// Creates a directory as `mkdtemp` does (same audit event, names, errors) and returns its
/// owner; `delete` says whether dropping the owner removes it, and so whether the crash guard
/// records it.
#[pyfunction]
#[pyo3(signature = (dir, prefix, suffix, attempts, delete, /))]
pub(crate) fn create_tempdir(
    py: Python<'_>,
    dir: &Bound<'_, PyAny>,
    prefix: &Bound<'_, PyAny>,
    suffix: &Bound<'_, PyAny>,
    attempts: &Bound<'_, PyAny>,
    delete: bool,
) -> PyResult<TempDirOwner> {
    let (made, name, as_bytes) = create_dir_audited(
        py,
        dir,
        prefix,
        suffix,
        tmp_max(attempts)?,
        delete,
        Builder::try_tempdir,
    )?;
    let notice = GuardNoticePy::for_new_entry(delete && !made.will_delete());
    Ok(TempDirOwner {
        name: name.unbind(),
        as_bytes,
        delete,
        dir: Mutex::new(Some(made)),
        notice,
    })
}

/// Removes the tree at `path` as `TemporaryDirectory` cleanup does, never following a
/// symlink (a symlink at `path` itself is refused with `ELOOP`); the GIL is released
/// throughout. Errors as `TempDirOwner.cleanup`.
#[pyfunction]
#[pyo3(signature = (path, ignore_errors = false))]
pub(crate) fn remove_tree(
    py: Python<'_>,
    path: &Bound<'_, PyAny>,
    ignore_errors: bool,
) -> PyResult<()> {
    let as_bytes = path.is_instance_of::<PyBytes>();
    let target = fs_path(path)?;
    audit_rmtree(py, path)?;
    let target = Path::new(&target);
    let result = if audit_hooks_installed(py) {
        remove_audited(py, path, |order, observer| {
            remove_tree_observed(target, &RemoveOptions::new(), order, observer).map(drop)
        })?
    } else {
        py.detach(|| remove_tree_nofollow(target))
    };
    if ignore_errors {
        return Ok(());
    }
    report(py, result, as_bytes)
}
