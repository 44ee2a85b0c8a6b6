//! The Rust owners behind the Python objects a hybrid returns: a file's [`TempPath`] and a
//! directory's [`TempDir`], of the hybrid's own copy of the core (its crash-guard record
//! included), held by the objects ferrotemp's Python API builds (`_TemporaryFileCloser`,
//! `TemporaryDirectory`). Those call them by name (`remove`, `release`, `persist`,
//! `cleanup`, `keep`, `will_delete`, `guard_notice`), so any version of the package can drive
//! any version of the core within the same pyo3 minor.

use std::io;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

use super::{fs_path, to_pyerr};
use crate::dir::TempDir;
use crate::error::with_path;
use crate::named::TempPath;
use crate::publish::PersistOptions;
use crate::remove::RemoveError;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What the crash guard asks the Python layer to tell the user about an entry handed over,
/// as `ferrotemp._core.GuardNotice`: keep mode kept it, or the guard is unavailable.
#[pyclass(frozen, get_all, module = "ferrotemp.python", name = "_GuardNotice")]
#[derive(Clone)]
pub(crate) struct Notice {
    kept: bool,
    warning: Option<String>,
}

impl Notice {
    /// The notice for an entry handed over (`kept`: keep mode kept it), if there is one.
    pub(crate) fn for_entry(kept: bool) -> Option<Self> {
        let warning = crate::guard::take_warning();
        (kept || warning.is_some()).then_some(Self { kept, warning })
    }
}

/// The owner of a named file a hybrid made: removes it (`remove`), keeps it (`release`) or
/// publishes it (`persist`) for the `_TemporaryFileCloser` that holds it; dropped while it
/// still owns the file, it removes it (silently) and unregisters it.
#[pyclass(frozen, module = "ferrotemp.python", name = "_OwnedTempPath")]
pub(crate) struct OwnedTempPath {
    path: Mutex<Option<TempPath>>,
    notice: Option<Notice>,
}

impl OwnedTempPath {
    pub(crate) fn new(path: TempPath, notice: Option<Notice>) -> Self {
        Self {
            path: Mutex::new(Some(path)),
            notice,
        }
    }
}

#[pymethods]
impl OwnedTempPath {
    /// Whether removal is armed (false once given up, or when keep mode kept the file).
    #[getter]
    fn will_delete(&self) -> bool {
        lock(&self.path).as_ref().is_some_and(TempPath::will_delete)
    }

    #[getter]
    fn guard_notice(&self) -> Option<Notice> {
        self.notice.clone()
    }

    /// Removes the file now (a file already gone is no error) and unregisters it; later calls
    /// do nothing. The GIL is released around the unlink.
    fn remove(&self, py: Python<'_>) -> PyResult<()> {
        let Some(path) = lock(&self.path).take() else {
            return Ok(());
        };
        py.detach(|| path.close())
            .map_err(|e| to_pyerr(py, &e, false))
    }

    /// Gives the file up: it stays, and the crash guard forgets it.
    fn release(&self) {
        if let Some(path) = lock(&self.path).take() {
            drop(path.release());
        }
    }

    /// Publishes the file at `dest` (see [`TempPath::persist_with_file`]), syncing through
    /// the descriptor `fd` (the Python file's, borrowed) when `fsync`. On failure this still
    /// owns it.
    #[pyo3(signature = (dest, overwrite, fsync, fd, /))]
    fn persist(
        &self,
        py: Python<'_>,
        dest: &Bound<'_, PyAny>,
        overwrite: bool,
        fsync: bool,
        fd: Option<i32>,
    ) -> PyResult<()> {
        let dest = fs_path(dest)?;
        let Some(path) = lock(&self.path).take() else {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "cannot persist a temporary file that has no path any more",
            ));
        };
        let file = fd.and_then(borrow_fd);
        let options = PersistOptions::new().overwrite(overwrite).fsync(fsync);
        match py.detach(|| path.persist_with_file(file.as_deref(), &dest, options)) {
            Ok(()) => Ok(()),
            Err(err) => {
                *lock(&self.path) = Some(err.path);
                Err(to_pyerr(py, &err.error, false))
            }
        }
    }
}

/// `fd` as a `File` that is never closed here (the Python file object owns it).
#[cfg(unix)]
fn borrow_fd(fd: i32) -> Option<std::mem::ManuallyDrop<std::fs::File>> {
    use std::os::fd::FromRawFd;
    // SAFETY: `fd` is the open descriptor of the Python file the caller holds for the call;
    // the `File` is in `ManuallyDrop`, so it is never closed here.
    (fd >= 0).then(|| std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(fd) }))
}

#[cfg(not(unix))]
fn borrow_fd(_fd: i32) -> Option<std::mem::ManuallyDrop<std::fs::File>> {
    None
}

/// The owner of a directory a hybrid made, with what `_core.TempDirOwner` offers
/// `TemporaryDirectory`: `cleanup` removes the tree (never following a symlink) and reports
/// the first error, `keep` gives it up; dropped while it still owns the directory, it removes
/// it if `delete`, else lets it go.
#[pyclass(frozen, module = "ferrotemp.python", name = "_OwnedTempDir")]
pub(crate) struct OwnedTempDir {
    name: Py<PyAny>,
    /// Whether dropping this removes the directory (`TemporaryDirectory`'s `delete`).
    delete: bool,
    /// Keep mode kept it: nothing removes it.
    kept: bool,
    dir: Mutex<Option<TempDir>>,
    notice: Option<Notice>,
}

impl OwnedTempDir {
    pub(crate) fn new(name: Py<PyAny>, dir: TempDir, kept: bool, notice: Option<Notice>) -> Self {
        Self {
            name,
            delete: dir.will_delete() || kept,
            kept,
            dir: Mutex::new(Some(dir)),
            notice,
        }
    }

    pub(crate) fn delete(&self) -> bool {
        self.delete
    }
}

/// `shutil.rmtree`'s audit event, which the standard module's cleanup raises (its arguments
/// gained `dir_fd` in 3.11).
fn audit_rmtree(py: Python<'_>, path: &Bound<'_, PyAny>) -> PyResult<()> {
    static AUDIT: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let audit = AUDIT.import(py, "sys", "audit")?;
    if py.version_info() >= (3, 11) {
        audit.call1(("shutil.rmtree", path, py.None()))?;
    } else {
        audit.call1(("shutil.rmtree", path))?;
    }
    Ok(())
}

/// The standard module's verdict on a removal: entries already gone are fine; otherwise the
/// first failure is raised, naming its path.
fn report(py: Python<'_>, result: Result<(), RemoveError>) -> PyResult<()> {
    let Err(err) = result else {
        return Ok(());
    };
    match err
        .into_failures()
        .into_iter()
        .find(|f| f.error.kind() != io::ErrorKind::NotFound)
    {
        Some(first) => Err(to_pyerr(py, &with_path(first.error, first.path), false)),
        None => Ok(()),
    }
}

#[pymethods]
impl OwnedTempDir {
    #[getter]
    fn name(&self, py: Python<'_>) -> Py<PyAny> {
        self.name.clone_ref(py)
    }

    #[getter]
    fn guard_notice(&self) -> Option<Notice> {
        self.notice.clone()
    }

    /// Whether this still owns the directory.
    #[getter]
    fn active(&self) -> bool {
        lock(&self.dir).is_some()
    }

    /// Removes the directory and everything in it (unless keep mode kept it), with the GIL
    /// released; later calls do nothing. A directory already gone is not an error.
    #[pyo3(signature = (ignore_errors = false))]
    fn cleanup(&self, py: Python<'_>, ignore_errors: bool) -> PyResult<()> {
        let Some(dir) = lock(&self.dir).take() else {
            return Ok(());
        };
        if let Err(err) = audit_rmtree(py, self.name.bind(py)) {
            *lock(&self.dir) = Some(dir);
            return Err(err);
        }
        let kept = self.kept;
        let result = py.detach(move || {
            if dir.will_delete() {
                dir.close()
            } else if kept {
                drop(dir.keep());
                Ok(())
            } else {
                // Made with cleanup disabled (`delete=False` in Python): an explicit cleanup
                // removes it all the same, as the standard module's.
                let path = dir.keep();
                crate::remove::remove_tree_nofollow(Path::new(&path))
            }
        });
        if ignore_errors {
            return Ok(());
        }
        report(py, result)
    }

    /// Gives the directory up: it stays. Later calls do nothing.
    fn keep(&self) {
        if let Some(dir) = lock(&self.dir).take() {
            drop(dir.keep());
        }
    }
}

impl Drop for OwnedTempDir {
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
            drop(dir.keep());
            return;
        }
        // TempDir's own Drop removes the tree; without an interpreter (shutdown) it still does.
        let _ = Python::try_attach(move |py| py.detach(move || drop(dir)));
    }
}
