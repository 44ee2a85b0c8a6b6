//! The guard behind `TemporaryDirectory`, and the symlink-safe removal as a function.

use std::io;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyBytes;

use super::convert::{fs_path, path_to_py, tmp_max, to_pyerr};
use super::create::create_dir_audited;
use super::guard::{guard_notice, GuardNotice};
use crate::create::Builder;
use crate::dir::TempDir;
use crate::error::with_path;
use crate::remove::{remove_tree_nofollow, RemoveError};

/// Owns a temporary directory: a core `TempDir`, which holds a shared `flock` on it while
/// alive. `cleanup` removes the tree and reports errors; dropping an armed guard removes it
/// silently (or, with `delete` off, only releases the lock).
#[pyclass(frozen, module = "ferrotemp._core", name = "TempDirGuard")]
pub(crate) struct TempDirGuard {
    name: Py<PyAny>,
    as_bytes: bool,
    delete: bool,
    dir: Mutex<Option<TempDir>>,
    notice: GuardNotice,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `shutil.rmtree`'s audit event, which the standard module's cleanup raises through it.
fn audit_rmtree(py: Python<'_>, path: &Bound<'_, PyAny>) -> PyResult<()> {
    static AUDIT: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    AUDIT
        .import(py, "sys", "audit")?
        .call1(("shutil.rmtree", path, py.None()))?;
    Ok(())
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
impl TempDirGuard {
    /// The absolute path, `str` or `bytes` as the arguments were.
    #[getter]
    fn name(&self, py: Python<'_>) -> Py<PyAny> {
        self.name.clone_ref(py)
    }

    /// `None`, unless the crash guard has something to say about this directory: `(kept,
    /// warning)`, as `NamedGuard.guard_notice`.
    #[getter]
    fn guard_notice(&self) -> GuardNotice {
        self.notice.clone()
    }

    /// Whether the guard still owns the directory (neither cleaned up nor kept).
    #[getter]
    fn active(&self) -> bool {
        lock(&self.dir).is_some()
    }

    /// Removes the directory and everything in it, with the GIL released throughout; later
    /// calls do nothing. A directory already gone is not an error.
    #[pyo3(signature = (ignore_errors = false))]
    fn cleanup(&self, py: Python<'_>, ignore_errors: bool) -> PyResult<()> {
        let Some(dir) = lock(&self.dir).take() else {
            return Ok(());
        };
        if let Err(err) = audit_rmtree(py, self.name.bind(py)) {
            // Vetoed by a hook: the directory stays owned, as if cleanup had not been called.
            *lock(&self.dir) = Some(dir);
            return Err(err);
        }
        let result = py.detach(|| dir.close());
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

impl Drop for TempDirGuard {
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
/// guard; `delete` says whether dropping the guard removes it, and so whether the crash guard
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
) -> PyResult<TempDirGuard> {
    let (made, as_bytes) = create_dir_audited(
        py,
        dir,
        prefix,
        suffix,
        tmp_max(attempts)?,
        delete,
        Builder::try_tempdir,
    )?;
    let notice = guard_notice(delete && !made.will_delete());
    let name = match path_to_py(py, made.path(), as_bytes) {
        Ok(name) => name.unbind(),
        Err(err) => {
            py.detach(|| drop(made));
            return Err(err);
        }
    };
    Ok(TempDirGuard {
        name,
        as_bytes,
        delete,
        dir: Mutex::new(Some(made)),
        notice,
    })
}

/// Removes the tree at `path` as `TemporaryDirectory` cleanup does, never following a
/// symlink (a symlink at `path` itself is refused with `ELOOP`); the GIL is released
/// throughout. Errors as the guard's `cleanup`.
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
    let result = py.detach(|| remove_tree_nofollow(Path::new(&target)));
    if ignore_errors {
        return Ok(());
    }
    report(py, result, as_bytes)
}
