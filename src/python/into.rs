//! Rust-made temporaries as the objects ferrotemp's Python API returns: [`IntoPyObject`] for
//! [`NamedTempFile`], [`TempPath`], [`TempDir`] and [`SpooledTempFile`], and
//! [`PyNamedTempFile`] for a file opened other than `w+b`.
//!
//! Each conversion imports the `ferrotemp` package and builds its objects through the package's
//! own factories, so they are the same types as `ferrotemp.NamedTemporaryFile()` and the rest
//! return, with the same attributes; what stays Rust's is the owner of the entry (its removal
//! and its crash-guard record: see [`super::sync_guard_config`]).

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

use super::owned::{Notice, OwnedTempDir, OwnedTempPath};
use super::path_to_py;
use crate::dir::TempDir;
use crate::named::{NamedTempFile, TempPath};
use crate::spool::{SpooledData, SpooledTempFile};

/// A [`NamedTempFile`] to hand to Python opened as `NamedTemporaryFile(mode, buffering,
/// encoding, newline, errors=…, delete_on_close=…)` would open it: converting a
/// `NamedTempFile` directly is `PyNamedTempFile::new(file)`, mode `w+b`.
///
/// ```no_run
/// use pyo3::prelude::*;
///
/// #[pyfunction]
/// fn report(py: Python<'_>) -> PyResult<ferrotemp::python::PyNamedTempFile> {
///     let builder = ferrotemp::python::builder(py)?;
///     let dir = ferrotemp::python::gettempdir(py)?;
///     let made = py.detach(|| {
///         let mut file = builder.tempfile_in(&dir)?;
///         std::io::Write::write_all(&mut file, "ok\n".as_bytes())?;
///         Ok::<_, std::io::Error>(file)
///     });
///     let made = made.map_err(|e| ferrotemp::python::to_pyerr(py, &e, false))?;
///     Ok(ferrotemp::python::PyNamedTempFile::new(made).mode("w+").encoding("utf-8"))
/// }
/// ```
#[derive(Debug)]
pub struct PyNamedTempFile {
    file: NamedTempFile,
    mode: String,
    buffering: i32,
    encoding: Option<String>,
    errors: Option<String>,
    newline: Option<String>,
    delete_on_close: bool,
}

impl PyNamedTempFile {
    /// `file` as `NamedTemporaryFile()` with its defaults: mode `w+b`, `delete_on_close`.
    #[must_use]
    pub fn new(file: NamedTempFile) -> Self {
        Self {
            file,
            mode: "w+b".to_owned(),
            buffering: -1,
            encoding: None,
            errors: None,
            newline: None,
            delete_on_close: true,
        }
    }

    /// The `io` mode (`w+b`, `w+`, `r+b`, …): the file is not opened again, so `w` does not
    /// truncate it; the position is the Rust file's.
    #[must_use]
    pub fn mode(mut self, mode: &str) -> Self {
        mode.clone_into(&mut self.mode);
        self
    }

    /// `buffering`, as `open` takes it.
    #[must_use]
    pub fn buffering(mut self, buffering: i32) -> Self {
        self.buffering = buffering;
        self
    }

    /// A text mode's encoding (default: as the standard module's, the locale's).
    #[must_use]
    pub fn encoding(mut self, encoding: &str) -> Self {
        self.encoding = Some(encoding.to_owned());
        self
    }

    /// A text mode's `errors`.
    #[must_use]
    pub fn errors(mut self, errors: &str) -> Self {
        self.errors = Some(errors.to_owned());
        self
    }

    /// A text mode's `newline`.
    #[must_use]
    pub fn newline(mut self, newline: &str) -> Self {
        self.newline = Some(newline.to_owned());
        self
    }

    /// Whether `close()` removes the file (default), or only the end of the `with` block or
    /// the last reference going (Python 3.12's `delete_on_close=False`).
    #[must_use]
    pub fn delete_on_close(mut self, delete_on_close: bool) -> Self {
        self.delete_on_close = delete_on_close;
        self
    }
}

impl From<NamedTempFile> for PyNamedTempFile {
    fn from(file: NamedTempFile) -> Self {
        Self::new(file)
    }
}

fn import<'py>(
    py: Python<'py>,
    cell: &'static PyOnceLock<Py<PyAny>>,
    module: &str,
    name: &str,
) -> PyResult<Bound<'py, PyAny>> {
    cell.import(py, module, name).cloned()
}

/// Whether a path that will not be removed was kept by keep mode (`FERROTEMP_KEEP=1`) rather
/// than made to stay (`disable_cleanup`): the Python object then says `delete` and keeps it.
fn kept_by_keep_mode(will_delete: bool) -> bool {
    !will_delete && crate::guard::keep_mode()
}

#[cfg(unix)]
fn into_fd(file: std::fs::File) -> i64 {
    i64::from(std::os::fd::IntoRawFd::into_raw_fd(file))
}

impl<'py> IntoPyObject<'py> for PyNamedTempFile {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    /// The `_TemporaryFileWrapper` `NamedTemporaryFile` returns: a real `io` object over the
    /// file's descriptor, `name` the path (`str`), and a closer that removes the file as
    /// Python's `delete`/`delete_on_close` say, through the Rust owner. A file made to stay
    /// (cleanup disabled) comes with `delete` off.
    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        static ADOPT: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        let adopt = import(py, &ADOPT, "ferrotemp._files", "_adopt_named")?;
        let (file, path) = self.file.into_parts();
        let name = path_to_py(py, path.path(), false)?;
        let armed = path.will_delete();
        let kept = kept_by_keep_mode(armed);
        let owner = if armed || kept {
            let notice = Notice::for_entry(kept);
            Some(Bound::new(py, OwnedTempPath::new(path, notice))?.into_any())
        } else {
            drop(path.release());
            None
        };
        #[cfg(unix)]
        let fd = into_fd(file);
        #[cfg(not(unix))]
        let fd: i64 = {
            drop(file);
            return Err(pyo3::exceptions::PyNotImplementedError::new_err(
                "ferrotemp::python converts files on POSIX only",
            ));
        };
        adopt.call1((
            fd,
            name,
            owner,
            self.mode,
            self.buffering,
            self.encoding,
            self.errors,
            self.newline,
            self.delete_on_close,
        ))
    }
}

impl<'py> IntoPyObject<'py> for NamedTempFile {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    /// As [`PyNamedTempFile::new`]`(self)`: `NamedTemporaryFile()`'s object, mode `w+b`.
    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        PyNamedTempFile::new(self).into_pyobject(py)
    }
}

impl<'py> IntoPyObject<'py> for TempPath {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    /// The file at the path, opened again (read-write, not following a symlink), as
    /// [`NamedTempFile`] converts: the path keeps its owner, removal and crash-guard record.
    ///
    /// # Errors
    ///
    /// The open's `OSError` (the path is then still removed, as the `TempPath` is dropped).
    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let file = py
            .detach(|| reopen_nofollow(self.path()))
            .map_err(|e| super::to_pyerr(py, &e, false))?;
        NamedTempFile::from_parts(file, self).into_pyobject(py)
    }
}

fn reopen_nofollow(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW);
    }
    options
        .open(path)
        .map_err(|e| crate::error::with_path(e, path))
}

impl<'py> IntoPyObject<'py> for TempDir {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    /// A `ferrotemp.TemporaryDirectory`: `name` the path (`str`), removed (tree and all,
    /// never following a symlink) at the end of its `with` block, by `cleanup()` or when
    /// collected, through the Rust owner. A directory made to stay (cleanup disabled) comes
    /// as `TemporaryDirectory(delete=False)`.
    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        static ADOPT: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        let adopt = import(py, &ADOPT, "ferrotemp._tempdir", "_adopt")?;
        let name = path_to_py(py, self.path(), false)?.unbind();
        let kept = kept_by_keep_mode(self.will_delete());
        let owner = OwnedTempDir::new(name, self, kept, Notice::for_entry(kept));
        let delete = owner.delete();
        adopt.call1((Bound::new(py, owner)?, false, delete))
    }
}

impl<'py> IntoPyObject<'py> for SpooledTempFile {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    /// A `ferrotemp.SpooledTemporaryFile` (mode `w+b`) with the same `max_size`, `dir`,
    /// contents and position: in memory, the bytes are copied; rolled over, the unnamed file
    /// itself is handed over.
    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        static ADOPT: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        let adopt = import(py, &ADOPT, "ferrotemp._spooled", "_adopt")?;
        let max_size = self.max_size();
        let dir = match self.dir() {
            Some(dir) => Some(path_to_py(py, dir, false)?),
            None => None,
        };
        match self.into_inner() {
            SpooledData::InMemory(cursor) => {
                let position = cursor.position();
                let bytes = pyo3::types::PyBytes::new(py, cursor.get_ref());
                adopt.call1((max_size, dir, bytes, position, py.None()))
            }
            #[cfg(unix)]
            SpooledData::OnDisk(file) => adopt.call1((max_size, dir, py.None(), 0, into_fd(file))),
            #[cfg(not(unix))]
            SpooledData::OnDisk(_) => Err(pyo3::exceptions::PyNotImplementedError::new_err(
                "ferrotemp::python converts files on POSIX only",
            )),
        }
    }
}
