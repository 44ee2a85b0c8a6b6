//! `MemorySpool`: the in-memory phase of Python's `SpooledTemporaryFile`, an `io.BytesIO`
//! over the core's [`SpooledTempFile`] that can hand its data to an unnamed file.
//!
//! The Python class owns the rollover decision (a subclass may override `rollover()`), so
//! nothing here rolls over by itself: `write_checked` only asks the owner to roll.

use std::io::{self, Seek, SeekFrom, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use pyo3::exceptions::{PyMemoryError, PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::{MutexExt, PyOnceLock};
use pyo3::types::{PyByteArray, PyBytes, PyList, PySlice};

use super::convert::to_pyerr;
use crate::spool::SpooledTempFile;

enum Slot {
    Open(SpooledTempFile),
    /// The data is being written to the rollover file with the GIL released.
    Moving,
    Closed,
}

/// A `BytesIO` whose bytes live in Rust, with the standard module's rollover threshold.
#[pyclass(frozen, module = "ferrotemp._core", name = "MemorySpool")]
pub(crate) struct MemorySpoolPy {
    slot: Mutex<Slot>,
    /// A weak reference to the `SpooledTemporaryFile` whose `rollover()` `write_checked`
    /// calls; a weak one, so that the spool and its buffer form no cycle.
    owner: Option<Py<PyAny>>,
    /// Set once the data has moved to the owner's rollover file. Methods taken from this
    /// buffer before that (`write = f.write`) then forward to the owner, whose own methods
    /// use its new file, as the standard module's methods (which look up `self._file` on
    /// every call) keep working after a rollover.
    moved: AtomicBool,
}

fn closed_error() -> PyErr {
    PyValueError::new_err("I/O operation on closed file.")
}

/// In-memory errors carry `io.BytesIO`'s messages; the class follows `BytesIO` too.
fn memory_error(py: Python<'_>, err: &io::Error) -> PyErr {
    match err.kind() {
        io::ErrorKind::InvalidInput if err.to_string() == "new position too large" => {
            PyOverflowError::new_err(err.to_string())
        }
        io::ErrorKind::InvalidInput => PyValueError::new_err(err.to_string()),
        io::ErrorKind::OutOfMemory => PyMemoryError::new_err(err.to_string()),
        _ => to_pyerr(py, err, false),
    }
}

fn unsupported(py: Python<'_>, what: &str) -> PyErr {
    static UNSUPPORTED: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    match UNSUPPORTED.import(py, "io", "UnsupportedOperation") {
        Ok(class) => PyErr::from_value(match class.call1((what,)) {
            Ok(exc) => exc,
            Err(err) => return err,
        }),
        Err(err) => err,
    }
}

/// A negative or absent size means "everything", as in `BytesIO.read(size)`.
fn limit(size: Option<i64>) -> Option<usize> {
    size.and_then(|n| usize::try_from(n).ok())
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map_or_else(|_| "object".to_owned(), |n| n.to_string())
}

impl MemorySpoolPy {
    fn lock(&self, py: Python<'_>) -> MutexGuard<'_, Slot> {
        self.slot
            .lock_py_attached(py)
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the open spool, or raises the closed-file error.
    fn with_open<R>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut SpooledTempFile) -> PyResult<R>,
    ) -> PyResult<R> {
        match &mut *self.lock(py) {
            Slot::Open(spool) => f(spool),
            Slot::Moving | Slot::Closed => Err(closed_error()),
        }
    }

    /// After a rollover, calls the owner's method `name` with `args` instead.
    fn forward<'py>(
        &self,
        py: Python<'py>,
        name: &str,
        args: impl pyo3::call::PyCallArgs<'py>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        if !self.moved.load(Ordering::Acquire) {
            return Ok(None);
        }
        let owner = match &self.owner {
            Some(owner) => owner.bind(py).call0()?,
            None => return Err(closed_error()),
        };
        if owner.is_none() {
            return Err(closed_error());
        }
        owner.call_method1(name, args).map(Some)
    }

    fn check_open(&self, py: Python<'_>) -> PyResult<()> {
        self.with_open(py, |_| Ok(()))
    }

    /// Writes any bytes-like object, as `BytesIO.write`; returns the count and whether the
    /// position is now past `max_size`.
    fn write_any(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<(usize, bool)> {
        let write = |spool: &mut SpooledTempFile, bytes: &[u8]| {
            let n = spool
                .write_unchecked(bytes)
                .map_err(|e| memory_error(py, &e))?;
            Ok((n, spool.exceeds_max_size()))
        };
        if let Ok(bytes) = data.cast::<PyBytes>() {
            return self.with_open(py, |spool| write(spool, bytes.as_bytes()));
        }
        // Closed is reported before a bad argument, as BytesIO does; the copy is taken
        // without the lock because producing it may run Python code.
        self.check_open(py)?;
        let owned: Vec<u8> = if let Ok(array) = data.cast::<PyByteArray>() {
            array.to_vec()
        } else {
            let view = py
                .import("builtins")?
                .getattr("memoryview")?
                .call1((data,))
                .map_err(|_| {
                    PyTypeError::new_err(format!(
                        "a bytes-like object is required, not '{}'",
                        type_name(data)
                    ))
                })?;
            view.call_method0("tobytes")?.extract()?
        };
        self.with_open(py, |spool| write(spool, &owned))
    }

    fn read_into(&self, py: Python<'_>, buffer: &Bound<'_, PyAny>) -> PyResult<usize> {
        self.check_open(py)?;
        let view = py
            .import("builtins")?
            .getattr("memoryview")?
            .call1((buffer,))?;
        if view.getattr("readonly")?.extract::<bool>()? {
            return Err(PyTypeError::new_err(format!(
                "readinto() argument must be read-write bytes-like object, not {}",
                type_name(buffer)
            )));
        }
        let view = view.call_method1("cast", ("B",))?;
        let wanted: usize = view.getattr("nbytes")?.extract()?;
        let data = self.with_open(py, |spool| {
            Ok(spool.memory_read(Some(wanted)).unwrap_or_default().to_vec())
        })?;
        let n = data.len();
        let target = PySlice::new(py, 0, isize::try_from(n)?, 1);
        view.set_item(target, PyBytes::new(py, &data))?;
        view.call_method0("release")?;
        Ok(n)
    }
}

#[pymethods]
impl MemorySpoolPy {
    /// An empty buffer; `owner` is a weak reference to the object whose `rollover()`
    /// `write_checked` calls.
    #[new]
    #[pyo3(signature = (max_size, owner = None))]
    fn new(max_size: i64, owner: Option<Py<PyAny>>) -> Self {
        Self {
            slot: Mutex::new(Slot::Open(SpooledTempFile::new(max_size))),
            owner,
            moved: AtomicBool::new(false),
        }
    }

    /// `BytesIO.write`: no rollover check.
    #[pyo3(signature = (data, /))]
    fn write(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<usize> {
        self.write_any(py, data).map(|(n, _)| n)
    }

    /// `write`, then the standard module's check: once the position passes `max_size`, the
    /// owner's `rollover()` is called (found by ordinary attribute lookup).
    #[pyo3(signature = (data, /))]
    fn write_checked<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        if let Some(result) = self.forward(py, "write", (data,))? {
            return Ok(result);
        }
        let (n, exceeds) = self.write_any(py, data)?;
        if exceeds {
            if let Some(owner) = &self.owner {
                let owner = owner.bind(py).call0()?;
                if !owner.is_none() {
                    owner.call_method0("rollover")?;
                }
            }
        }
        Ok(n.into_pyobject(py)?.into_any())
    }

    /// Whether the position is past `max_size` (and `max_size` is not 0).
    fn exceeds_max_size(&self, py: Python<'_>) -> PyResult<bool> {
        self.with_open(py, |spool| Ok(spool.exceeds_max_size()))
    }

    #[pyo3(signature = (size = None, /))]
    fn read<'py>(&self, py: Python<'py>, size: Option<i64>) -> PyResult<Bound<'py, PyAny>> {
        if let Some(result) = self.forward(py, "read", (size,))? {
            return Ok(result);
        }
        self.with_open(py, |spool| {
            Ok(PyBytes::new(py, spool.memory_read(limit(size)).unwrap_or_default()).into_any())
        })
    }

    #[pyo3(signature = (size = None, /))]
    fn read1<'py>(&self, py: Python<'py>, size: Option<i64>) -> PyResult<Bound<'py, PyAny>> {
        if let Some(result) = self.forward(py, "read1", (size,))? {
            return Ok(result);
        }
        self.read(py, size)
    }

    #[pyo3(signature = (size = None, /))]
    fn readline<'py>(&self, py: Python<'py>, size: Option<i64>) -> PyResult<Bound<'py, PyAny>> {
        if let Some(result) = self.forward(py, "readline", (size,))? {
            return Ok(result);
        }
        self.with_open(py, |spool| {
            Ok(
                PyBytes::new(py, spool.memory_read_line(limit(size)).unwrap_or_default())
                    .into_any(),
            )
        })
    }

    /// Lines until their total length reaches `hint` (all of them when `hint` <= 0).
    #[pyo3(signature = (hint = None, /))]
    fn readlines<'py>(&self, py: Python<'py>, hint: Option<i64>) -> PyResult<Bound<'py, PyAny>> {
        if let Some(result) = self.forward(py, "readlines", (hint,))? {
            return Ok(result);
        }
        let hint = limit(hint).filter(|&h| h > 0);
        let lines = self.with_open(py, |spool| {
            let mut lines = Vec::new();
            let mut total = 0usize;
            loop {
                let line = spool.memory_read_line(None).unwrap_or_default();
                if line.is_empty() {
                    break;
                }
                total += line.len();
                lines.push(line.to_vec());
                if hint.is_some_and(|h| total >= h) {
                    break;
                }
            }
            Ok(lines)
        })?;
        Ok(PyList::new(py, lines.iter().map(|l| PyBytes::new(py, l)))?.into_any())
    }

    #[pyo3(signature = (buffer, /))]
    fn readinto<'py>(
        &self,
        py: Python<'py>,
        buffer: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        if let Some(result) = self.forward(py, "readinto", (buffer,))? {
            return Ok(result);
        }
        Ok(self.read_into(py, buffer)?.into_pyobject(py)?.into_any())
    }

    #[pyo3(signature = (buffer, /))]
    fn readinto1<'py>(
        &self,
        py: Python<'py>,
        buffer: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        if let Some(result) = self.forward(py, "readinto1", (buffer,))? {
            return Ok(result);
        }
        Ok(self.read_into(py, buffer)?.into_pyobject(py)?.into_any())
    }

    #[pyo3(signature = (pos, whence = 0, /))]
    fn seek<'py>(&self, py: Python<'py>, pos: i64, whence: i32) -> PyResult<Bound<'py, PyAny>> {
        if let Some(result) = self.forward(py, "seek", (pos, whence))? {
            return Ok(result);
        }
        let at = self.with_open(py, |spool| {
            spool
                .seek_whence(pos, whence)
                .map_err(|e| memory_error(py, &e))
        })?;
        Ok(at.into_pyobject(py)?.into_any())
    }

    fn tell<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        if let Some(result) = self.forward(py, "tell", ())? {
            return Ok(result);
        }
        let at = self.with_open(py, |spool| {
            spool.position().map_err(|e| memory_error(py, &e))
        })?;
        Ok(at.into_pyobject(py)?.into_any())
    }

    /// `BytesIO.truncate`: never extends, never rolls over, leaves the position alone.
    #[pyo3(signature = (size = None, /))]
    fn truncate(&self, py: Python<'_>, size: Option<i64>) -> PyResult<u64> {
        self.with_open(py, |spool| {
            let result = match size {
                None => spool.truncate_at_position(),
                Some(size) if size < 0 => {
                    return Err(PyValueError::new_err(format!("negative size value {size}")))
                }
                // The core's truncate(size) rolls over past max_size; the rollover is the
                // Python class's decision, so cut at `size` through the position instead.
                Some(size) => spool.position().and_then(|pos| {
                    spool.seek(SeekFrom::Start(size.unsigned_abs()))?;
                    spool.truncate_at_position()?;
                    spool.seek(SeekFrom::Start(pos))?;
                    Ok(size.unsigned_abs())
                }),
            };
            result.map_err(|e| memory_error(py, &e))
        })
    }

    fn getvalue<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        self.with_open(py, |spool| {
            Ok(PyBytes::new(
                py,
                spool.memory_contents().unwrap_or_default(),
            ))
        })
    }

    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        self.check_open(py)
    }

    fn readable(&self, py: Python<'_>) -> PyResult<bool> {
        self.check_open(py).map(|()| true)
    }

    fn writable(&self, py: Python<'_>) -> PyResult<bool> {
        self.check_open(py).map(|()| true)
    }

    fn seekable(&self, py: Python<'_>) -> PyResult<bool> {
        self.check_open(py).map(|()| true)
    }

    fn isatty(&self, py: Python<'_>) -> PyResult<bool> {
        self.check_open(py).map(|()| false)
    }

    fn fileno(slf: &Bound<'_, Self>) -> PyResult<()> {
        Err(unsupported(slf.py(), "fileno"))
    }

    fn detach(slf: &Bound<'_, Self>) -> PyResult<()> {
        Err(unsupported(slf.py(), "detach"))
    }

    /// Frees the buffer. Idempotent.
    fn close(&self, py: Python<'_>) {
        let old = std::mem::replace(&mut *self.lock(py), Slot::Closed);
        py.detach(move || drop(old));
    }

    #[getter]
    fn closed(&self, py: Python<'_>) -> bool {
        !matches!(*self.lock(py), Slot::Open(_))
    }

    fn __iter__(slf: Bound<'_, Self>) -> PyResult<Bound<'_, Self>> {
        slf.get().check_open(slf.py())?;
        Ok(slf)
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let line = self.readline(py, None)?;
        Ok((!line.cast::<PyBytes>()?.as_bytes().is_empty()).then_some(line.cast_into()?))
    }

    /// Writes the data into the open file `fd` (an OS handle on Windows), which the caller
    /// owns, and leaves that file at this buffer's position; then frees the buffer and
    /// closes this object. The GIL is released while writing; if writing fails the data
    /// stays here.
    #[pyo3(signature = (fd, /))]
    fn move_to(&self, py: Python<'_>, fd: i64) -> PyResult<()> {
        let spool = match std::mem::replace(&mut *self.lock(py), Slot::Moving) {
            Slot::Open(spool) => spool,
            other => {
                *self.lock(py) = other;
                return Err(closed_error());
            }
        };
        let result = py.detach(|| -> io::Result<()> {
            let mut file = borrow_file(fd)?;
            file.write_all(spool.memory_contents().unwrap_or_default())?;
            file.seek(SeekFrom::Start(spool.position()?))?;
            Ok(())
        });
        let mut slot = self.lock(py);
        match result {
            Ok(()) => {
                *slot = Slot::Closed;
                self.moved.store(true, Ordering::Release);
                drop(slot);
                py.detach(move || drop(spool));
                Ok(())
            }
            Err(err) => {
                if matches!(*slot, Slot::Moving) {
                    *slot = Slot::Open(spool);
                }
                Err(to_pyerr(py, &err, false))
            }
        }
    }
}

/// A `File` sharing the caller's open file description (and so its offset), closed on
/// drop without closing the caller's descriptor.
#[cfg(unix)]
fn borrow_file(fd: i64) -> io::Result<std::fs::File> {
    use std::os::fd::BorrowedFd;
    let raw = i32::try_from(fd).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    if raw < 0 {
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    }
    // SAFETY: the caller's io object keeps `raw` open for the duration of this call, and
    // the borrow is only used to duplicate it.
    let borrowed = unsafe { BorrowedFd::borrow_raw(raw) };
    Ok(std::fs::File::from(borrowed.try_clone_to_owned()?))
}

#[cfg(windows)]
fn borrow_file(handle: i64) -> io::Result<std::fs::File> {
    use std::os::windows::io::{BorrowedHandle, RawHandle};
    // SAFETY: the caller's io object keeps the handle open for the duration of this call,
    // and the borrow is only used to duplicate it.
    let borrowed = unsafe { BorrowedHandle::borrow_raw(handle as isize as RawHandle) };
    Ok(std::fs::File::from(borrowed.try_clone_to_owned()?))
}
