//! PyO3 conversions for Rust+Python hybrids (cargo feature `python`, pyo3 0.27.x): the glue
//! the extension module `ferrotemp._core` is built on, and what an extension of its own needs
//! to make temporaries in Rust and hand them to Python as ferrotemp's objects.
//!
//! - [`IntoPyObject`] for [`NamedTempFile`](crate::NamedTempFile) (and [`PyNamedTempFile`] for
//!   other modes), [`TempPath`](crate::TempPath), [`TempDir`](crate::TempDir) and
//!   [`SpooledTempFile`](crate::SpooledTempFile): the very objects `ferrotemp.NamedTemporaryFile()`,
//!   `TemporaryDirectory()` and `SpooledTemporaryFile()` return (the package is imported at
//!   conversion time), whose removal stays with the Rust owner.
//! - [`TempFileRef`] and [`TempDirRef`] ([`FromPyObject`]): a ferrotemp file (path and
//!   descriptor) or directory passed from Python, borrowed.
//! - [`builder`], [`gettempdir`] and [`sync_guard_config`]: create as the Python API does, with
//!   the crash guard configured as the package's ("one crash guard per process": see
//!   [`sync_guard_config`]'s module for how many records a process holds, and why that is safe).
//! - [`fs_path`] and [`fs_os_string`] take a `str`, `bytes` or `os.PathLike` argument as the
//!   standard `os` functions do; [`path_to_py`] gives a path back as `str` or `bytes`.
//! - [`to_pyerr`] raises an [`io::Error`] from this crate as the standard module would: the
//!   `OSError` subclass its `errno` selects (`FileNotFoundError`, `FileExistsError`, …), with
//!   `errno`, `strerror` and `filename` set. PyO3's own conversion keeps neither `errno`
//!   through a [`PathError`](crate::PathError) nor the file name.
//!
//! A hybrid depends on `ferrotemp` with this feature and on its own `pyo3 = "0.27"` (any
//! 0.27.x, any abi3 level); the `ferrotemp` package must be installed where it runs. No
//! `#[pymodule]` is defined here: the rlib exports no `PyInit_*` symbol.
//!
//! ```no_run
//! use pyo3::prelude::*;
//!
//! /// `mkdtemp(dir)` for Python, keeping the caller's `str`/`bytes` choice.
//! #[pyfunction]
//! fn make_dir<'py>(py: Python<'py>, dir: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
//!     let as_bytes = dir.is_instance_of::<pyo3::types::PyBytes>();
//!     let parent = ferrotemp::python::fs_path(dir)?;
//!     let made = py.detach(|| ferrotemp::Builder::new().tempdir_in(&parent));
//!     let made = made.map_err(|e| ferrotemp::python::to_pyerr(py, &e, as_bytes))?;
//!     ferrotemp::python::path_to_py(py, &made.keep(), as_bytes)
//! }
//!
//! /// A directory of outputs, returned as a `ferrotemp.TemporaryDirectory`.
//! #[pyfunction]
//! fn outputs(py: Python<'_>) -> PyResult<ferrotemp::TempDir> {
//!     let builder = ferrotemp::python::builder(py)?;
//!     let parent = ferrotemp::python::gettempdir(py)?;
//!     let made = py.detach(|| {
//!         let dir = builder.tempdir_in(&parent)?;
//!         std::fs::write(dir.path().join("out.txt"), b"done")?;
//!         Ok::<_, std::io::Error>(dir)
//!     });
//!     made.map_err(|e| ferrotemp::python::to_pyerr(py, &e, false))
//! }
//! ```

mod extract;
mod guard;
mod into;
mod owned;

pub use extract::{TempDirRef, TempFileRef};
pub use guard::{builder, gettempdir, sync_guard_config};
pub use into::PyNamedTempFile;

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};

use pyo3::exceptions::{PyOSError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyString};

use crate::error::{error_message, error_path, raw_os_error};

/// A `str`, `bytes` or `os.PathLike` argument as a filesystem path. `str` is encoded with the
/// filesystem encoding and `surrogateescape`, as `os.fsencode` does.
///
/// # Errors
///
/// `TypeError` for any other object (the standard module's message), or whatever
/// `os.fspath` raises.
pub fn fs_path(obj: &Bound<'_, PyAny>) -> PyResult<PathBuf> {
    Ok(PathBuf::from(fs_os_string(obj)?))
}

/// [`fs_path`] as an [`OsString`], for a name part (prefix, suffix) rather than a path.
///
/// # Errors
///
/// As [`fs_path`].
pub fn fs_os_string(obj: &Bound<'_, PyAny>) -> PyResult<OsString> {
    static FSPATH: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    if let Ok(bytes) = obj.cast::<PyBytes>() {
        return Ok(os_string_from_bytes(bytes.as_bytes()));
    }
    if let Ok(text) = obj.cast::<PyString>() {
        // ASCII is the same bytes in every filesystem encoding: no encoder call for it.
        if let Ok(utf8) = text.to_cow() {
            if utf8.is_ascii() {
                return Ok(OsString::from(utf8.into_owned()));
            }
        }
        return obj.extract::<OsString>();
    }
    let fspath = FSPATH.import(obj.py(), "os", "fspath")?;
    let converted = fspath.call1((obj,)).map_err(|_| {
        PyTypeError::new_err(format!(
            "expected str, bytes or os.PathLike object, not {}",
            obj.get_type()
                .name()
                .map_or_else(|_| "object".into(), |n| n.to_string())
        ))
    })?;
    if converted.is_instance_of::<PyString>() || converted.is_instance_of::<PyBytes>() {
        fs_os_string(&converted)
    } else {
        Err(PyTypeError::new_err(
            "os.fspath() returned neither str nor bytes",
        ))
    }
}

#[cfg(unix)]
fn os_string_from_bytes(bytes: &[u8]) -> OsString {
    use std::os::unix::ffi::OsStringExt;
    OsString::from_vec(bytes.to_vec())
}

#[cfg(not(unix))]
fn os_string_from_bytes(bytes: &[u8]) -> OsString {
    OsString::from(String::from_utf8_lossy(bytes).into_owned())
}

/// A path as `bytes` when `as_bytes`, else as `str` decoded like `os.fsdecode`.
///
/// # Errors
///
/// Only if Python cannot allocate the object.
pub fn path_to_py<'py>(
    py: Python<'py>,
    path: &Path,
    as_bytes: bool,
) -> PyResult<Bound<'py, PyAny>> {
    if as_bytes {
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt;
            return Ok(PyBytes::new(py, path.as_os_str().as_bytes()).into_any());
        }
        #[cfg(not(unix))]
        {
            return Ok(PyBytes::new(py, path.to_string_lossy().as_bytes()).into_any());
        }
    }
    Ok(path.as_os_str().into_pyobject(py)?.into_any())
}

/// Maps a core error to the exception the standard module raises: an `OSError` subclass
/// chosen by CPython from `errno`, with `strerror` and `filename` set (as `bytes` when the
/// caller passed bytes); `ValueError` for an embedded NUL.
#[must_use]
pub fn to_pyerr(py: Python<'_>, err: &io::Error, as_bytes: bool) -> PyErr {
    let message = error_message(err);
    let filename = error_path(err).and_then(|p| path_to_py(py, p, as_bytes).ok());
    match raw_os_error(err) {
        Some(code) => match filename {
            Some(name) => PyOSError::new_err((code, message, name.unbind())),
            None => PyOSError::new_err((code, message)),
        },
        None => match err.kind() {
            io::ErrorKind::InvalidInput => PyValueError::new_err("embedded null byte"),
            io::ErrorKind::AlreadyExists => PyOSError::new_err((libc_errno::EEXIST, message)),
            io::ErrorKind::NotFound => PyOSError::new_err((libc_errno::ENOENT, message)),
            io::ErrorKind::PermissionDenied => PyOSError::new_err((libc_errno::EACCES, message)),
            _ => PyOSError::new_err(message),
        },
    }
}

/// The POSIX error numbers the mapping needs for errors that carry none of their own; the
/// values are the same on every platform CPython supports for these three.
mod libc_errno {
    pub(crate) const ENOENT: i32 = 2;
    pub(crate) const EACCES: i32 = 13;
    pub(crate) const EEXIST: i32 = 17;
}
