//! The guard behind `NamedTemporaryFile`, and the descriptor behind `TemporaryFile`.

use std::fs::File;
use std::sync::{Mutex, MutexGuard, PoisonError};

use pyo3::prelude::*;

use super::convert::{fs_path, path_to_py, tmp_max, to_pyerr};
use super::create::{create_file_audited_with, into_raw_descriptor};
use super::guard::{guard_notice, GuardNotice};
use crate::file::open_unnamed;
use crate::named::TempPath;

/// Owns a named temporary file's descriptor and path. The Python file object reads and
/// writes through the descriptor (opened with `closefd=False`); dropping this object closes
/// the descriptor and, when deletion is on, removes the path, at once and without the GC.
#[pyclass(frozen, module = "ferrotemp._core", name = "NamedGuard")]
pub(crate) struct NamedGuard {
    fd: i64,
    name: Py<PyAny>,
    as_bytes: bool,
    file: Mutex<Option<File>>,
    path: Mutex<Option<TempPath>>,
    notice: GuardNotice,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[pymethods]
impl NamedGuard {
    /// The descriptor, valid until `close_file`.
    #[getter]
    fn fd(&self) -> i64 {
        self.fd
    }

    /// The absolute path, `str` or `bytes` as the arguments were.
    #[getter]
    fn name(&self, py: Python<'_>) -> Py<PyAny> {
        self.name.clone_ref(py)
    }

    /// `None`, unless the crash guard has something to say about this file: `(kept, warning)`,
    /// where `kept` means keep mode keeps it (log its path) and `warning` is the guard's
    /// one-per-process message that it is unavailable.
    #[getter]
    fn guard_notice(&self) -> GuardNotice {
        self.notice.clone()
    }

    /// Whether the descriptor is still open.
    #[getter]
    fn file_open(&self) -> bool {
        lock(&self.file).is_some()
    }

    /// Closes the descriptor; later calls do nothing.
    fn close_file(&self, py: Python<'_>) {
        let file = lock(&self.file).take();
        py.detach(|| drop(file));
    }

    /// Removes the path if deletion is on; later calls do nothing. A file already removed
    /// is not an error.
    fn remove(&self, py: Python<'_>) -> PyResult<()> {
        let Some(path) = lock(&self.path).take() else {
            return Ok(());
        };
        py.detach(|| path.close())
            .map_err(|e| to_pyerr(py, &e, self.as_bytes))
    }

    /// `close_file` then `remove`, in one call and one release of the GIL.
    fn close_and_remove(&self, py: Python<'_>) -> PyResult<()> {
        let file = lock(&self.file).take();
        let path = lock(&self.path).take();
        py.detach(|| {
            drop(file);
            path.map_or(Ok(()), TempPath::close)
        })
        .map_err(|e| to_pyerr(py, &e, self.as_bytes))
    }

    /// Closes the descriptor and removes the path whatever `delete` says: creation failed.
    fn discard(&self, py: Python<'_>) {
        let file = lock(&self.file).take();
        let path = lock(&self.path).take();
        py.detach(|| {
            drop(file);
            if let Some(path) = path {
                let _ = std::fs::remove_file(path.keep());
            }
        });
    }
}

/// Creates a named file as `mkstemp` does and returns its guard; `delete` says whether the
/// guard removes it, and so whether the crash guard records it.
#[pyfunction]
#[pyo3(signature = (dir, prefix, suffix, attempts, delete, /))]
pub(crate) fn create_named(
    py: Python<'_>,
    dir: &Bound<'_, PyAny>,
    prefix: &Bound<'_, PyAny>,
    suffix: &Bound<'_, PyAny>,
    attempts: &Bound<'_, PyAny>,
    delete: bool,
) -> PyResult<NamedGuard> {
    let ((file, path), as_bytes) = create_file_audited_with(
        py,
        dir,
        prefix,
        suffix,
        false,
        tmp_max(attempts)?,
        delete,
        |builder, candidate| {
            let made = builder.try_create_temp_path(candidate)?;
            Ok(made.map(|(file, mut path)| {
                if !delete {
                    // delete=False: the caller's file, never removed by the guard.
                    path = TempPath::new(path.keep(), false);
                }
                (file, path)
            }))
        },
    )?;
    let notice = guard_notice(delete && !path.will_delete());
    let name = match path_to_py(py, path.path(), as_bytes) {
        Ok(name) => name.unbind(),
        Err(err) => {
            py.detach(|| drop((file, path)));
            return Err(err);
        }
    };
    let fd = raw_descriptor(&file);
    Ok(NamedGuard {
        fd,
        name,
        as_bytes,
        file: Mutex::new(Some(file)),
        path: Mutex::new(Some(path)),
        notice,
    })
}

/// Creates an unnamed file in `dir` (`O_TMPFILE`, else created and unlinked at once) and
/// returns its descriptor, which the caller owns.
#[pyfunction]
#[pyo3(signature = (dir, prefix, suffix, attempts, /))]
pub(crate) fn create_unnamed(
    py: Python<'_>,
    dir: &Bound<'_, PyAny>,
    prefix: &Bound<'_, PyAny>,
    suffix: &Bound<'_, PyAny>,
    attempts: &Bound<'_, PyAny>,
) -> PyResult<i64> {
    let path = fs_path(dir)?;
    if let Some(file) = py.detach(|| open_unnamed(&path)) {
        return Ok(into_raw_descriptor(file));
    }
    // The fallback is mkstemp's, audit event included, with the unlink in the same release
    // of the GIL; only it uses (and so can reject) the prefix and suffix.
    let (unlinked, as_bytes) = create_file_audited_with(
        py,
        dir,
        prefix,
        suffix,
        false,
        tmp_max(attempts)?,
        false,
        |b, path| {
            let Some(file) = b.try_create_file(path)? else {
                return Ok(None);
            };
            Ok(Some(match std::fs::remove_file(path) {
                Ok(()) => Ok(file),
                Err(err) => Err(crate::error::with_path(err, crate::env::abspath(path))),
            }))
        },
    )?;
    unlinked
        .map(into_raw_descriptor)
        .map_err(|e| to_pyerr(py, &e, as_bytes))
}

#[cfg(unix)]
fn raw_descriptor(file: &File) -> i64 {
    use std::os::fd::AsRawFd;
    i64::from(file.as_raw_fd())
}

#[cfg(windows)]
fn raw_descriptor(file: &File) -> i64 {
    use std::os::windows::io::AsRawHandle;
    file.as_raw_handle() as i64
}
