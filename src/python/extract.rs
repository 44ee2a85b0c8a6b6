//! ferrotemp's Python objects taken by a Rust function, borrowed: [`TempFileRef`] (a file's
//! path and descriptor) and [`TempDirRef`] (a directory's path). Python keeps ownership:
//! nothing here closes, removes or unregisters anything.

use std::fs::File;
use std::mem::ManuallyDrop;
use std::path::{Path, PathBuf};

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyString};

use super::fs_path;

fn class<'py>(
    py: Python<'py>,
    cell: &'static PyOnceLock<Py<PyAny>>,
    module: &str,
    name: &str,
) -> PyResult<Bound<'py, PyAny>> {
    cell.import(py, module, name).cloned()
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map_or_else(|_| "object".into(), |n| n.to_string())
}

/// A ferrotemp temporary file passed from Python: what `NamedTemporaryFile`, `TemporaryFile`
/// or `SpooledTemporaryFile` returned (or any `io` file object). Extraction flushes the
/// Python object's buffer, so what Python wrote is in the file; a `SpooledTemporaryFile`
/// still in memory is rolled over, as its `fileno()` does in Python.
///
/// ```no_run
/// use pyo3::prelude::*;
/// use std::io::Read;
///
/// /// The file's contents from its start, read through its descriptor.
/// #[pyfunction]
/// fn read_all(py: Python<'_>, file: ferrotemp::python::TempFileRef<'_>) -> PyResult<Vec<u8>> {
///     let mut out = Vec::new();
///     file.with_file(|f| {
///         use std::os::unix::fs::FileExt;
///         let len = f.metadata()?.len();
///         out.resize(usize::try_from(len).unwrap_or(0), 0);
///         f.read_exact_at(&mut out, 0)
///     })
///     .map_err(|e| ferrotemp::python::to_pyerr(py, &e, false))?;
///     Ok(out)
/// }
/// ```
#[derive(Debug)]
pub struct TempFileRef<'py> {
    object: Bound<'py, PyAny>,
    path: Option<PathBuf>,
    fd: i32,
}

impl<'py> TempFileRef<'py> {
    /// The Python object.
    #[must_use]
    pub fn object(&self) -> &Bound<'py, PyAny> {
        &self.object
    }

    /// The file's path, for a named file (`name` is a path); `None` for an unnamed one.
    #[must_use]
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The descriptor, owned by the Python object: valid while it is open.
    #[must_use]
    pub fn raw_fd(&self) -> i32 {
        self.fd
    }

    /// Runs `f` with the descriptor as a [`File`] that is never closed here. Reads and writes
    /// through it move the shared file position, under the Python object's buffer: seek the
    /// Python object afterwards, or use positional I/O (`read_at`).
    #[cfg(unix)]
    pub fn with_file<R>(&self, f: impl FnOnce(&File) -> R) -> R {
        use std::os::fd::FromRawFd;
        // SAFETY: `fd` is the open descriptor of the Python file this value holds (alive as
        // long as `self`); the `File` is in `ManuallyDrop`, so it is never closed here.
        let file = ManuallyDrop::new(unsafe { File::from_raw_fd(self.fd) });
        f(&file)
    }
}

impl<'a, 'py> FromPyObject<'a, 'py> for TempFileRef<'py> {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        static WRAPPER: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        static SPOOLED: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        static IOBASE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        let py = obj.py();
        let object = obj.to_owned();
        let wrapper = class(py, &WRAPPER, "ferrotemp._files", "_TemporaryFileWrapper")?;
        let (file, path) = if object.is_instance(&wrapper)? {
            let name = object.getattr(pyo3::intern!(py, "name"))?;
            (
                object.getattr(pyo3::intern!(py, "file"))?,
                Some(fs_path(&name)?),
            )
        } else if object.is_instance(&class(
            py,
            &SPOOLED,
            "ferrotemp._spooled",
            "SpooledTemporaryFile",
        )?)? || object.is_instance(&class(py, &IOBASE, "io", "IOBase")?)?
        {
            // A `TemporaryFile`'s name is its descriptor; an io object opened by path has it.
            let name = object.getattr(pyo3::intern!(py, "name")).ok();
            let path = name
                .filter(|n| n.is_instance_of::<PyString>() || n.is_instance_of::<PyBytes>())
                .map(|n| fs_path(&n))
                .transpose()?;
            (object.clone(), path)
        } else {
            return Err(PyTypeError::new_err(format!(
                "expected a ferrotemp temporary file, not {}",
                type_name(&object)
            )));
        };
        file.call_method0(pyo3::intern!(py, "flush"))?;
        let fd = file.call_method0(pyo3::intern!(py, "fileno"))?.extract()?;
        Ok(Self { object, path, fd })
    }
}

/// A `ferrotemp.TemporaryDirectory` passed from Python (or a subclass): its path.
#[derive(Debug)]
pub struct TempDirRef<'py> {
    object: Bound<'py, PyAny>,
    path: PathBuf,
}

impl<'py> TempDirRef<'py> {
    /// The Python object.
    #[must_use]
    pub fn object(&self) -> &Bound<'py, PyAny> {
        &self.object
    }

    /// The directory's path (`name`).
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl<'a, 'py> FromPyObject<'a, 'py> for TempDirRef<'py> {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        static TEMPDIR: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        let py = obj.py();
        let object = obj.to_owned();
        if !object.is_instance(&class(
            py,
            &TEMPDIR,
            "ferrotemp._tempdir",
            "TemporaryDirectory",
        )?)? {
            return Err(PyTypeError::new_err(format!(
                "expected a ferrotemp.TemporaryDirectory, not {}",
                type_name(&object)
            )));
        }
        let path = fs_path(&object.getattr(pyo3::intern!(py, "name"))?)?;
        Ok(Self { object, path })
    }
}
