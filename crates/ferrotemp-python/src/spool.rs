//! `MemorySpool`: the in-memory phase of Python's `SpooledTemporaryFile`, an `io.BytesIO`
//! over the core's [`SpoolBuffer`] that can hand its data to an unnamed file.
//!
//! The Python class owns the rollover decision (a subclass may override `rollover()`), so
//! nothing here rolls over by itself, and nothing here knows the rule: the class hands
//! `write_checked` the position past which a write asks the owner to roll (its `_check`'s
//! threshold), and this buffer only compares.
//!
//! Threads and interrupts. The move to disk ([`MemorySpoolPy::move_to`]) is one native call
//! that copies the data (GIL released), positions the new file and switches the owner's
//! `_file` and `_rolled` over, and only then frees the buffer: a `KeyboardInterrupt` (which
//! Python delivers only between bytecodes) finds the spooled file either still in memory with
//! all its data or rolled over with all of it. Other threads' calls during the copy wait for
//! it (GIL released) instead of failing, and once the data has moved this buffer passes
//! every call on to the new file (a thread, or a `TextIOWrapper` in text mode, may still hold
//! it): no write is lost, and none lands in a buffer that is no longer read. The mutex is
//! never held while Python code runs, and the move never waits on another call, so nothing
//! here deadlocks (save Python code run by the switch itself, a subclass's `__setattr__`,
//! that would use the file it is switching).

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use pyo3::exceptions::{PyMemoryError, PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::{MutexExt, PyOnceLock};
use pyo3::types::{PyByteArray, PyBytes, PyList, PySlice};
use pyo3::IntoPyObjectExt;

use super::convert::to_pyerr;
use ferrotemp::spool::{BufferError, SpoolBuffer};

enum Slot {
    Open(SpoolBuffer),
    /// The data is being written to the rollover file with the GIL released; calls wait.
    Moving,
    /// The data lives in the owner's rollover file now: calls are passed on to it.
    Moved(MovedTo),
    Closed,
}

/// Where a moved buffer's calls go.
struct MovedTo {
    /// The binary file holding the data (`newfile`, or `newfile.buffer` in text mode).
    binary: Py<PyAny>,
    /// The text file over it, flushed before each call so that bytes keep their order.
    text: Option<Py<PyAny>>,
}

/// A `BytesIO` whose bytes live in Rust, with a threshold for `write_checked`.
#[pyclass(frozen, module = "ferrotemp._core", name = "MemorySpool")]
pub(crate) struct MemorySpoolPy {
    slot: Mutex<Slot>,
    /// Signalled when a move ends (moved, or back to `Open` after a failure).
    settled: Condvar,
    /// Calls waiting on `settled` (a notification is a syscall, made only for them).
    waiting: AtomicUsize,
    /// A weak reference to the `SpooledTemporaryFile` whose `rollover()` `write_checked`
    /// calls; a weak one, so that the spool and its buffer form no cycle.
    owner: Option<Py<PyAny>>,
    /// `write_checked` calls the owner's `rollover()` once the position is past this;
    /// `None`: never.
    roll_above: Option<i64>,
    /// Whether the owner's `rollover()` is the class's own (which moves the data with
    /// `move_to` and nothing else): a `bytes` write bound to cross `roll_above` is then not
    /// copied into the buffer but handed to the rollover ([`Pending`]), so the rollover's
    /// peak is the buffered data, not the data plus the crossing write.
    defer_crossing: bool,
    /// The crossing write handed to the rollover, until `move_to` writes it to the file or
    /// `write_checked` puts it in the buffer after all (the rollover failed or did not move).
    pending: Mutex<Option<Pending>>,
}

/// A write whose bytes have not been copied anywhere yet: the position already counts them
/// (as after the write), and the data goes at `at`.
struct Pending {
    data: Py<PyBytes>,
    at: u64,
}

/// What a call found: done on the buffer in memory, or to be passed on to the moved data.
enum Found<R> {
    Here(R),
    Moved(Py<PyAny>, Option<Py<PyAny>>),
}

fn closed_error() -> PyErr {
    PyValueError::new_err("I/O operation on closed file.")
}

/// The exception `io.BytesIO` raises for the same refusal, with its message.
fn buffer_error(err: BufferError) -> PyErr {
    match err {
        BufferError::TooLarge => PyMemoryError::new_err(err.to_string()),
        BufferError::PositionTooLarge => PyOverflowError::new_err(err.to_string()),
        _ => PyValueError::new_err(err.to_string()),
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

    /// The slot once no move is under way: a call during a move waits for it to end, with
    /// the GIL released (the mover needs the GIL to finish).
    fn lock_settled(&self, py: Python<'_>) -> MutexGuard<'_, Slot> {
        loop {
            let slot = self.lock(py);
            if !matches!(*slot, Slot::Moving) {
                return slot;
            }
            drop(slot);
            py.detach(|| {
                // Counted before the slot is looked at: a move that settles after this sees
                // the count and notifies (see `settle`).
                self.waiting.fetch_add(1, Ordering::SeqCst);
                let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
                while matches!(*slot, Slot::Moving) {
                    slot = self
                        .settled
                        .wait(slot)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                drop(slot);
                self.waiting.fetch_sub(1, Ordering::SeqCst);
            });
        }
    }

    /// Ends a move: `slot` becomes `next`, and the callers waiting for it go on.
    fn settle(&self, py: Python<'_>, next: Slot) {
        *self.lock(py) = next;
        if self.waiting.load(Ordering::SeqCst) > 0 {
            self.settled.notify_all();
        }
    }

    /// Runs `f` on the open spool; reports a moved buffer's new file instead, or raises the
    /// closed-file error.
    fn with_open<R>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut SpoolBuffer) -> PyResult<R>,
    ) -> PyResult<Found<R>> {
        match &mut *self.lock_settled(py) {
            Slot::Open(spool) => f(spool).map(Found::Here),
            Slot::Moved(to) => Ok(Found::Moved(
                to.binary.clone_ref(py),
                to.text.as_ref().map(|t| t.clone_ref(py)),
            )),
            Slot::Moving | Slot::Closed => Err(closed_error()),
        }
    }

    /// [`with_open`](Self::with_open), calling the moved data's method `name` with `args`
    /// when the data has moved.
    fn on_open<'py, R: IntoPyObject<'py>>(
        &self,
        py: Python<'py>,
        name: &str,
        args: impl pyo3::call::PyCallArgs<'py>,
        f: impl FnOnce(&mut SpoolBuffer) -> PyResult<R>,
    ) -> PyResult<Bound<'py, PyAny>> {
        match self.with_open(py, f)? {
            Found::Here(value) => value.into_bound_py_any(py),
            Found::Moved(binary, text) => forward(py, &binary, text.as_ref(), name, args),
        }
    }

    /// The owner's `rollover()`, found by ordinary attribute lookup (nothing if the owner
    /// is gone).
    fn call_rollover(&self, py: Python<'_>) -> PyResult<()> {
        if let Some(owner) = &self.owner {
            let owner = owner.bind(py).call0()?;
            if !owner.is_none() {
                owner.call_method0("rollover")?;
            }
        }
        Ok(())
    }

    /// For `write_checked`: a `bytes` write that would leave the position past `roll_above`
    /// in an open buffer, when crossing writes are deferred, is not copied: the position
    /// moves past it, as the write would move it, and the bytes wait in `pending` for the
    /// rollover. Returns the count then, `None` for every other write.
    fn defer_if_crossing(
        &self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
    ) -> PyResult<Option<usize>> {
        let (true, Some(limit)) = (self.defer_crossing, self.roll_above) else {
            return Ok(None);
        };
        let Ok(bytes) = data.cast::<PyBytes>() else {
            return Ok(None);
        };
        let len = bytes.as_bytes().len();
        let mut slot = self.lock_settled(py);
        let Slot::Open(buf) = &mut *slot else {
            return Ok(None);
        };
        let at = buf.position();
        // Only a write the buffer would accept (BytesIO's limits), and only one at a time.
        let end = match at.checked_add(len as u64) {
            Some(end) if len > 0 && i64::try_from(end).is_ok() => end,
            _ => return Ok(None),
        };
        if i128::from(end) <= i128::from(limit) {
            return Ok(None);
        }
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        if pending.is_some() {
            return Ok(None);
        }
        buf.seek_whence(i64::try_from(end).unwrap_or(i64::MAX), 0)
            .map_err(buffer_error)?;
        *pending = Some(Pending {
            data: bytes.clone().unbind(),
            at,
        });
        Ok(Some(len))
    }

    /// Puts a deferred write that no rollover took into the buffer at its place (the
    /// position stays where it is), or passes it on to the file the data moved to.
    fn settle_pending(&self, py: Python<'_>) -> PyResult<()> {
        let Some(Pending { data, at }) = self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        else {
            return Ok(());
        };
        let moved = match self.with_open(py, |buf| {
            let here = buf.position();
            let placed = buf
                .seek_whence(i64::try_from(at).unwrap_or(i64::MAX), 0)
                .and_then(|_| buf.write_bytes(data.bind(py).as_bytes()));
            buf.seek_whence(i64::try_from(here).unwrap_or(i64::MAX), 0)
                .map_err(buffer_error)?;
            placed.map_err(buffer_error)
        })? {
            Found::Here(_) => return Ok(()),
            Found::Moved(binary, text) => (binary, text),
        };
        // Moved by a rollover that did not take it (another thread's, begun earlier): the
        // file gets it at its place, its position kept.
        let (binary, text) = moved;
        let here = forward(py, &binary, text.as_ref(), "tell", ())?;
        forward(py, &binary, text.as_ref(), "seek", (at, 0))?;
        forward(py, &binary, text.as_ref(), "write", (data,))?;
        forward(py, &binary, text.as_ref(), "seek", (here, 0))?;
        Ok(())
    }

    fn check_open(&self, py: Python<'_>) -> PyResult<()> {
        self.with_open(py, |_| Ok(())).map(|_| ())
    }

    /// Writes any bytes-like object, as `BytesIO.write`; returns the count and whether the
    /// position is now past `roll_above`.
    fn write_any(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<Found<(usize, bool)>> {
        let write = |buf: &mut SpoolBuffer, bytes: &[u8]| {
            let n = buf.write_bytes(bytes).map_err(buffer_error)?;
            let past = self
                .roll_above
                .is_some_and(|limit| i128::from(buf.position()) > i128::from(limit));
            Ok((n, past))
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
            if !view.getattr("c_contiguous")?.extract::<bool>()? {
                // BytesIO takes only a C-contiguous buffer, and the exporter words the
                // refusal (memoryview, array, numpy differ): let a BytesIO refuse it.
                py.import("io")?
                    .getattr("BytesIO")?
                    .call0()?
                    .call_method1("write", (data,))?;
            }
            view.call_method0("tobytes")?.extract()?
        };
        self.with_open(py, |spool| write(spool, &owned))
    }

    /// `read` and `read1`, which are the same in memory; `name` is the moved data's method.
    fn read_up_to<'py>(
        &self,
        py: Python<'py>,
        name: &str,
        size: Option<i64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.on_open(py, name, (size,), |buf| {
            Ok(PyBytes::new(py, buf.read_up_to(limit(size))))
        })
    }

    fn read_into<'py>(
        &self,
        py: Python<'py>,
        name: &str,
        buffer: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        if let Found::Moved(binary, text) = self.with_open(py, |_| Ok(()))? {
            return forward(py, &binary, text.as_ref(), name, (buffer,));
        }
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
        let data = match self.with_open(py, |buf| Ok(buf.read_up_to(Some(wanted)).to_vec()))? {
            Found::Here(data) => data,
            Found::Moved(binary, text) => {
                view.call_method0("release")?;
                return forward(py, &binary, text.as_ref(), name, (buffer,));
            }
        };
        let n = data.len();
        let target = PySlice::new(py, 0, isize::try_from(n)?, 1);
        view.set_item(target, PyBytes::new(py, &data))?;
        view.call_method0("release")?;
        n.into_bound_py_any(py)
    }
}

/// Calls `name(*args)` on the file a buffer's data moved to, after flushing the text file
/// over it (if any) so that what it holds lands first.
fn forward<'py>(
    py: Python<'py>,
    binary: &Py<PyAny>,
    text: Option<&Py<PyAny>>,
    name: &str,
    args: impl pyo3::call::PyCallArgs<'py>,
) -> PyResult<Bound<'py, PyAny>> {
    if let Some(text) = text {
        let text = text.bind(py);
        if !text.getattr("closed")?.extract::<bool>()? {
            text.call_method0("flush")?;
        }
    }
    binary.bind(py).call_method1(name, args)
}

#[pymethods]
impl MemorySpoolPy {
    /// An empty buffer; `owner` is a weak reference to the object whose `rollover()`
    /// `write_checked` calls once the position is past `roll_above` (never with `None`).
    /// A positive `roll_above` also caps the buffer's geometric growth.
    #[new]
    #[pyo3(signature = (roll_above, owner = None, defer_crossing = false))]
    fn new(roll_above: Option<i64>, owner: Option<Py<PyAny>>, defer_crossing: bool) -> Self {
        let growth_limit = roll_above
            .and_then(|l| usize::try_from(l).ok())
            .unwrap_or(0);
        Self {
            slot: Mutex::new(Slot::Open(SpoolBuffer::with_growth_limit(growth_limit))),
            settled: Condvar::new(),
            waiting: AtomicUsize::new(0),
            owner,
            roll_above,
            defer_crossing,
            pending: Mutex::new(None),
        }
    }

    /// `BytesIO.write`: no rollover check.
    #[pyo3(signature = (data, /))]
    fn write<'py>(&self, py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        match self.write_any(py, data)? {
            Found::Here((n, _)) => n.into_bound_py_any(py),
            Found::Moved(binary, text) => forward(py, &binary, text.as_ref(), "write", (data,)),
        }
    }

    /// `write`, then the owner's `rollover()` (found by ordinary attribute lookup) if the
    /// position is past `roll_above`.
    #[pyo3(signature = (data, /))]
    pub(crate) fn write_checked<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        if let Some(n) = self.defer_if_crossing(py, data)? {
            // The owner's rollover takes the bytes along (`move_to`); whatever it did not
            // take lands in the buffer, before its error (if any) is raised.
            let rolled = self.call_rollover(py);
            self.settle_pending(py)?;
            rolled?;
            return n.into_bound_py_any(py);
        }
        let (n, exceeds) = match self.write_any(py, data)? {
            Found::Here(written) => written,
            Found::Moved(binary, text) => {
                return forward(py, &binary, text.as_ref(), "write", (data,));
            }
        };
        if exceeds {
            self.call_rollover(py)?;
        }
        n.into_bound_py_any(py)
    }

    #[pyo3(signature = (size = None, /))]
    fn read<'py>(&self, py: Python<'py>, size: Option<i64>) -> PyResult<Bound<'py, PyAny>> {
        self.read_up_to(py, "read", size)
    }

    #[pyo3(signature = (size = None, /))]
    fn read1<'py>(&self, py: Python<'py>, size: Option<i64>) -> PyResult<Bound<'py, PyAny>> {
        self.read_up_to(py, "read1", size)
    }

    #[pyo3(signature = (size = None, /))]
    fn readline<'py>(&self, py: Python<'py>, size: Option<i64>) -> PyResult<Bound<'py, PyAny>> {
        self.on_open(py, "readline", (size,), |buf| {
            Ok(PyBytes::new(py, buf.read_line(limit(size))))
        })
    }

    /// Lines until their total length reaches `hint` (all of them when `hint` <= 0).
    #[pyo3(signature = (hint = None, /))]
    fn readlines<'py>(&self, py: Python<'py>, hint: Option<i64>) -> PyResult<Bound<'py, PyAny>> {
        let wanted = limit(hint).filter(|&h| h > 0);
        let lines = match self.with_open(py, |buf| {
            let mut lines = Vec::new();
            let mut total = 0usize;
            loop {
                let line = buf.read_line(None);
                if line.is_empty() {
                    break;
                }
                total += line.len();
                lines.push(line.to_vec());
                if wanted.is_some_and(|h| total >= h) {
                    break;
                }
            }
            Ok(lines)
        })? {
            Found::Here(lines) => lines,
            Found::Moved(binary, text) => {
                return forward(py, &binary, text.as_ref(), "readlines", (hint,));
            }
        };
        Ok(PyList::new(py, lines.iter().map(|l| PyBytes::new(py, l)))?.into_any())
    }

    #[pyo3(signature = (buffer, /))]
    fn readinto<'py>(
        &self,
        py: Python<'py>,
        buffer: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.read_into(py, "readinto", buffer)
    }

    #[pyo3(signature = (buffer, /))]
    fn readinto1<'py>(
        &self,
        py: Python<'py>,
        buffer: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.read_into(py, "readinto1", buffer)
    }

    #[pyo3(signature = (pos, whence = 0, /))]
    fn seek<'py>(&self, py: Python<'py>, pos: i64, whence: i32) -> PyResult<Bound<'py, PyAny>> {
        self.on_open(py, "seek", (pos, whence), |buf| {
            buf.seek_whence(pos, whence).map_err(buffer_error)
        })
    }

    fn tell<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.on_open(py, "tell", (), |buf| Ok(buf.position()))
    }

    /// `BytesIO.truncate`: never extends, never rolls over, leaves the position alone.
    #[pyo3(signature = (size = None, /))]
    fn truncate<'py>(&self, py: Python<'py>, size: Option<i64>) -> PyResult<Bound<'py, PyAny>> {
        self.on_open(py, "truncate", (size,), |buf| {
            let size = match size {
                None => buf.position(),
                Some(size) => u64::try_from(size)
                    .map_err(|_| PyValueError::new_err(format!("negative size value {size}")))?,
            };
            buf.truncate(size);
            Ok(size)
        })
    }

    /// The buffer's bytes; a closed-file error once they have moved to disk.
    fn getvalue<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        match self.with_open(py, |buf| Ok(PyBytes::new(py, buf.as_bytes())))? {
            Found::Here(value) => Ok(value),
            Found::Moved(..) => Err(closed_error()),
        }
    }

    fn flush<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.on_open(py, "flush", (), |_| Ok(()))
    }

    fn readable<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.on_open(py, "readable", (), |_| Ok(true))
    }

    fn writable<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.on_open(py, "writable", (), |_| Ok(true))
    }

    fn seekable<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.on_open(py, "seekable", (), |_| Ok(true))
    }

    fn isatty<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.on_open(py, "isatty", (), |_| Ok(false))
    }

    fn fileno(slf: &Bound<'_, Self>) -> PyResult<()> {
        Err(unsupported(slf.py(), "fileno"))
    }

    fn detach(slf: &Bound<'_, Self>) -> PyResult<()> {
        Err(unsupported(slf.py(), "detach"))
    }

    /// Frees the buffer (after a move, forgets the file the data moved to, which stays
    /// open: it is the owner's now). Idempotent.
    fn close(&self, py: Python<'_>) {
        let old = std::mem::replace(&mut *self.lock_settled(py), Slot::Closed);
        py.detach(move || drop(old));
    }

    /// Closed once closed; after a move, as the file the data moved to is.
    #[getter]
    fn closed(&self, py: Python<'_>) -> PyResult<bool> {
        let moved_to = match &*self.lock_settled(py) {
            Slot::Open(_) => return Ok(false),
            Slot::Moving | Slot::Closed => return Ok(true),
            Slot::Moved(to) => to.binary.clone_ref(py),
        };
        moved_to.bind(py).getattr("closed")?.extract()
    }

    fn __iter__(slf: Bound<'_, Self>) -> PyResult<Bound<'_, Self>> {
        slf.get().check_open(slf.py())?;
        Ok(slf)
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let line = self.readline(py, None)?;
        Ok((line.len()? > 0).then_some(line))
    }

    /// The rollover: writes the data into the open file `fd` (an OS handle on Windows;
    /// `newfile`'s, which stays the caller's) with the GIL released, positions `newfile` at
    /// `pos` (this buffer's position when `None`), and sets `owner._file = newfile` and
    /// `owner._rolled = True`; then frees the buffer, whose later calls go to `newfile`.
    /// Returns false, doing nothing, if another thread's rollover moved the data first. On
    /// failure the data stays here and the owner is left as it was.
    #[pyo3(signature = (owner, newfile, fd, pos, /))]
    fn move_to(
        &self,
        py: Python<'_>,
        owner: &Bound<'_, PyAny>,
        newfile: &Bound<'_, PyAny>,
        fd: i64,
        pos: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        let buffer = {
            let mut slot = self.lock_settled(py);
            match std::mem::replace(&mut *slot, Slot::Moving) {
                Slot::Open(buffer) => buffer,
                other => {
                    let moved = matches!(other, Slot::Moved(_));
                    *slot = other;
                    return if moved {
                        Ok(false)
                    } else {
                        Err(closed_error())
                    };
                }
            }
        };
        // A panic from here on must not leave the buffer `Moving`, which callers wait out.
        let unwinding = SettleOnUnwind(self);
        // A crossing write deferred by `write_checked` goes straight to the file, at its
        // place, after the buffered data; the file's offset stays at the buffer's position.
        let pending = self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let tail = pending.as_ref().map(|p| (p.data.bind(py).as_bytes(), p.at));
        let copied = py.detach(|| -> io::Result<u64> {
            let mut file = borrow_file(fd)?;
            let position = buffer.spill(&mut file)?;
            if let Some((bytes, at)) = tail {
                write_all_at(&file, bytes, at)?;
            }
            Ok(position)
        });
        let switched = copied
            .map_err(|err| to_pyerr(py, &err, false))
            .and_then(|position| switch_owner(owner, newfile, pos, position));
        std::mem::forget(unwinding);
        match switched {
            Ok(moved_to) => {
                self.settle(py, Slot::Moved(moved_to));
                py.detach(move || drop(buffer));
                Ok(true)
            }
            Err(err) => {
                // The deferred write goes back to `write_checked`, which puts it in the
                // buffer that keeps the data.
                *self.pending.lock().unwrap_or_else(PoisonError::into_inner) = pending;
                self.settle(py, Slot::Open(buffer));
                Err(err)
            }
        }
    }
}

/// Writes all of `bytes` at offset `at` of `file`, leaving its offset alone.
#[cfg(unix)]
fn write_all_at(file: &std::fs::File, bytes: &[u8], at: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, bytes, at)
}

#[cfg(windows)]
fn write_all_at(file: &std::fs::File, bytes: &[u8], at: u64) -> io::Result<()> {
    // seek_write moves the offset on Windows: put it back.
    use std::io::Seek;
    let mut file = file;
    let here = file.stream_position()?;
    let mut done = 0;
    while done < bytes.len() {
        let offset = at + done as u64;
        match std::os::windows::fs::FileExt::seek_write(file, &bytes[done..], offset)? {
            0 => return Err(io::ErrorKind::WriteZero.into()),
            n => done += n,
        }
    }
    file.seek(io::SeekFrom::Start(here)).map(drop)
}

/// Closes a buffer whose move panicked (its data is lost with the panic), so that the calls
/// waiting for the move end with the closed-file error instead of waiting for ever.
struct SettleOnUnwind<'a>(&'a MemorySpoolPy);

impl Drop for SettleOnUnwind<'_> {
    fn drop(&mut self) {
        *self.0.slot.lock().unwrap_or_else(PoisonError::into_inner) = Slot::Closed;
        self.0.settled.notify_all();
    }
}

/// Positions `newfile` and makes it the owner's file: the commit of a rollover. Native calls
/// only (no Python code of ours runs between the assignments, so no interrupt lands
/// between them); on failure the owner keeps its old file.
fn switch_owner(
    owner: &Bound<'_, PyAny>,
    newfile: &Bound<'_, PyAny>,
    pos: Option<&Bound<'_, PyAny>>,
    position: u64,
) -> PyResult<MovedTo> {
    match pos {
        Some(pos) => newfile.call_method1("seek", (pos, 0))?,
        None => newfile.call_method1("seek", (position, 0))?,
    };
    let text = newfile.hasattr("buffer")?;
    let moved_to = MovedTo {
        binary: if text {
            newfile.getattr("buffer")?.unbind()
        } else {
            newfile.clone().unbind()
        },
        text: text.then(|| newfile.clone().unbind()),
    };
    let old = owner.getattr("_file")?;
    owner.setattr("_file", newfile)?;
    if let Err(err) = owner.setattr("_rolled", true) {
        let _ = owner.setattr("_file", old);
        return Err(err);
    }
    Ok(moved_to)
}

/// A `File` on the caller's descriptor itself (no `dup`: two syscalls less per rollover),
/// never closed: dropping the `ManuallyDrop` leaves the descriptor to the caller.
#[cfg(unix)]
fn borrow_file(fd: i64) -> io::Result<std::mem::ManuallyDrop<std::fs::File>> {
    use std::os::fd::FromRawFd;
    let raw = i32::try_from(fd).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    if raw < 0 {
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    }
    // SAFETY: the caller's io object keeps `raw` open for the duration of this call, and
    // the `File` is never dropped (so never closes it); it is used only within the call.
    Ok(std::mem::ManuallyDrop::new(unsafe {
        std::fs::File::from_raw_fd(raw)
    }))
}

#[cfg(windows)]
fn borrow_file(handle: i64) -> io::Result<std::mem::ManuallyDrop<std::fs::File>> {
    use std::os::windows::io::{FromRawHandle, RawHandle};
    // SAFETY: the caller's io object keeps the handle open for the duration of this call,
    // and the `File` is never dropped (so never closes it); it is used only within the call.
    Ok(std::mem::ManuallyDrop::new(unsafe {
        std::fs::File::from_raw_handle(handle as isize as RawHandle)
    }))
}
