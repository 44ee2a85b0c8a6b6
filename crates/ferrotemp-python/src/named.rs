//! `NamedTemporaryFile`'s closer, and the openers that create the files of
//! `NamedTemporaryFile` and `TemporaryFile` when `io.FileIO` calls them.
//!
//! The `io` object owns the descriptor (it is opened with `closefd=True`, as the standard
//! module's); the closer owns the path. The closer is what the wrapper and its cached methods
//! hold, so the last of them to go closes the file and removes the path at once, with no
//! `__del__` and no wait for the garbage collector.

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, PoisonError};

use pyo3::prelude::*;
use pyo3::types::PyBytes;
use pyo3::{PyTraverseError, PyVisit};

use super::audit;
use super::convert::{fs_path, tmp_max, to_pyerr};
use super::create::{create_file_audited_with, create_file_detached, into_raw_descriptor};
use super::guard::GuardNoticePy;
use ferrotemp::file::{open_unnamed, unnamed_open_flags};
use ferrotemp::named::TempPath;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What a closer removes at cleanup.
enum Target {
    /// A file `NamedTemporaryFile` made: its `TempPath` (crash-guard record included).
    /// `armed_at_creation` is the `delete` it was made with; a path made with deletion on that
    /// no longer deletes was kept by keep mode (`FERROTEMP_KEEP=1`), which wins.
    Made {
        path: TempPath,
        armed_at_creation: bool,
    },
    /// A hand-built wrapper's file, removed by its name (`None`: the name is no path, and
    /// cleanup reports that as `os.unlink` would).
    ByName(Option<PathBuf>),
    /// A file made by another copy of the core, a Rust+Python hybrid's (`ferrotemp::python`):
    /// its owner object, of that copy, removes it (`remove()`), lets it go (`release()`),
    /// publishes it (`persist(dest, overwrite, fsync, fd)`) and says whether keep mode kept
    /// it (`will_delete`); its crash-guard record is that copy's.
    Adopted(Py<PyAny>),
    /// Removed, kept, or given up.
    Done,
}

// The four flags are the standard module's four attributes, each settable on its own.
#[allow(clippy::struct_excessive_bools)]
struct CloserState {
    delete: bool,
    delete_on_close: bool,
    close_called: bool,
    cleanup_called: bool,
    target: Target,
}

/// The standard module's `_TemporaryFileCloser` (3.12 semantics on every Python): closes the
/// file and removes its path on `close()` (if `delete` and `delete_on_close`), on `cleanup()`
/// (if `delete`), and when it is dropped — the last reference going, not the GC. `delete`
/// may be changed until then; `delete = False` keeps the file.
#[pyclass(frozen, module = "ferrotemp", name = "_TemporaryFileCloser")]
pub(crate) struct FileCloser {
    file: Py<PyAny>,
    name: Py<PyAny>,
    as_bytes: bool,
    state: Mutex<CloserState>,
}

impl FileCloser {
    fn with_target(
        file: Py<PyAny>,
        name: Py<PyAny>,
        as_bytes: bool,
        delete: bool,
        delete_on_close: bool,
        target: Target,
    ) -> Self {
        Self {
            file,
            name,
            as_bytes,
            state: Mutex::new(CloserState {
                delete,
                delete_on_close,
                close_called: false,
                cleanup_called: false,
                target,
            }),
        }
    }

    /// The io object's descriptor as a `File` to sync, if it has one; never dropped (the io
    /// object owns and closes the descriptor), even if the caller unwinds.
    #[cfg(unix)]
    fn fileno_for_sync(&self, py: Python<'_>) -> Option<std::mem::ManuallyDrop<std::fs::File>> {
        use std::os::fd::FromRawFd;
        let fd: i32 = self
            .file
            .bind(py)
            .call_method0(pyo3::intern!(py, "fileno"))
            .ok()?
            .extract()
            .ok()?;
        // SAFETY: `fd` is the open descriptor of the io object this closer holds (alive for
        // the call); the `File` is in `ManuallyDrop`, so it is never closed here.
        Some(std::mem::ManuallyDrop::new(unsafe {
            std::fs::File::from_raw_fd(fd)
        }))
    }

    #[cfg(not(unix))]
    fn fileno_for_sync(&self, _py: Python<'_>) -> Option<std::mem::ManuallyDrop<std::fs::File>> {
        None
    }

    fn close_file(&self, py: Python<'_>) -> PyResult<()> {
        self.file
            .bind(py)
            .call_method0(pyo3::intern!(py, "close"))
            .map(drop)
    }

    /// `close_file` for the destructor: a file already closed, or torn down by the garbage
    /// collector breaking a reference cycle (its own finalizer has closed it), is left alone.
    fn close_file_if_open(&self, py: Python<'_>) -> PyResult<()> {
        match self.file.bind(py).getattr(pyo3::intern!(py, "closed")) {
            Ok(closed) if !closed.is_truthy().unwrap_or(true) => self.close_file(py),
            _ => Ok(()),
        }
    }

    /// Removes the path if `delete` says so (audit event `os.remove` first), or lets it go.
    fn remove(&self, py: Python<'_>) -> PyResult<()> {
        let (target, delete) = {
            let mut state = lock(&self.state);
            (
                std::mem::replace(&mut state.target, Target::Done),
                state.delete,
            )
        };
        if let Target::Adopted(owner) = target {
            return Self::remove_adopted(py, self.name.bind(py), owner.bind(py), delete);
        }
        let path = match target {
            Target::Done | Target::Adopted(_) => return Ok(()),
            Target::Made { path, .. } if !delete => {
                // Kept: the crash guard forgets it too.
                drop(path.release());
                return Ok(());
            }
            Target::Made {
                path,
                armed_at_creation: true,
            } if !path.will_delete() => {
                // Keep mode kept it at creation.
                drop(path.release());
                return Ok(());
            }
            Target::ByName(_) if !delete => return Ok(()),
            Target::Made { path, .. } => Some(path),
            Target::ByName(_) => None,
        };
        let name = self.name.bind(py);
        if let Err(err) = audit::remove(py, name) {
            // The hook refused: the file stays, as with `os.unlink`.
            drop(path.map(TempPath::release));
            return Err(err);
        }
        let result = match path {
            Some(path) if path.will_delete() => py.detach(|| path.close()),
            // Made with `delete=False`, then `delete` set: removed by its path all the same.
            Some(path) => {
                let path = path.release();
                py.detach(|| remove_if_present(path))
            }
            None => {
                let path = fs_path(name)?;
                py.detach(|| remove_if_present(path))
            }
        };
        result.map_err(|e| to_pyerr(py, &e, self.as_bytes))
    }

    /// `remove` for an adopted file: kept unless `delete` (and keep mode did not keep it);
    /// the audit event `os.remove` first, as for the files made here.
    fn remove_adopted(
        py: Python<'_>,
        name: &Bound<'_, PyAny>,
        owner: &Bound<'_, PyAny>,
        delete: bool,
    ) -> PyResult<()> {
        if !delete
            || !owner
                .getattr(pyo3::intern!(py, "will_delete"))?
                .is_truthy()?
        {
            return owner.call_method0(pyo3::intern!(py, "release")).map(drop);
        }
        if let Err(err) = audit::remove(py, name) {
            owner.call_method0(pyo3::intern!(py, "release"))?;
            return Err(err);
        }
        owner.call_method0(pyo3::intern!(py, "remove")).map(drop)
    }

    fn cleanup_impl(&self, py: Python<'_>, dropping: bool) -> PyResult<()> {
        let close_first = {
            let mut state = lock(&self.state);
            if state.cleanup_called {
                return Ok(());
            }
            state.cleanup_called = true;
            !std::mem::replace(&mut state.close_called, true)
        };
        let closed = match (close_first, dropping) {
            (false, _) => Ok(()),
            (true, false) => self.close_file(py),
            (true, true) => self.close_file_if_open(py),
        };
        // As `try: close() finally: unlink()`: the removal runs whatever the close did, and
        // its error, if any, is the one raised.
        let removed = self.remove(py);
        removed.and(closed)
    }
}

fn remove_if_present(path: PathBuf) -> std::io::Result<()> {
    match std::fs::remove_file(&path) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
            Err(ferrotemp::error::with_path(err, path))
        }
        _ => Ok(()),
    }
}

#[pymethods]
impl FileCloser {
    /// A closer for a file made elsewhere (a hand-built `_TemporaryFileWrapper`): removal is
    /// by `name`, as the standard module's.
    #[new]
    #[pyo3(signature = (file, name, delete = true, delete_on_close = true))]
    fn new(
        file: &Bound<'_, PyAny>,
        name: &Bound<'_, PyAny>,
        delete: bool,
        delete_on_close: bool,
    ) -> Self {
        let as_bytes = name.is_instance_of::<PyBytes>();
        let path = fs_path(name).ok();
        Self::with_target(
            file.clone().unbind(),
            name.clone().unbind(),
            as_bytes,
            delete,
            delete_on_close,
            Target::ByName(path),
        )
    }

    /// A closer for a file made by a Rust+Python hybrid's copy of the core, whose `owner`
    /// (see `Target::Adopted`) removes it.
    #[staticmethod]
    #[pyo3(signature = (file, name, owner, delete_on_close, /))]
    fn _adopt(
        file: &Bound<'_, PyAny>,
        name: &Bound<'_, PyAny>,
        owner: &Bound<'_, PyAny>,
        delete_on_close: bool,
    ) -> Self {
        Self::with_target(
            file.clone().unbind(),
            name.clone().unbind(),
            name.is_instance_of::<PyBytes>(),
            true,
            delete_on_close,
            Target::Adopted(owner.clone().unbind()),
        )
    }

    #[getter]
    fn file(&self, py: Python<'_>) -> Py<PyAny> {
        self.file.clone_ref(py)
    }

    #[getter]
    fn name(&self, py: Python<'_>) -> Py<PyAny> {
        self.name.clone_ref(py)
    }

    /// Whether the file is removed at cleanup; settable until then.
    #[getter]
    fn get_delete(&self) -> bool {
        lock(&self.state).delete
    }

    #[setter]
    fn set_delete(&self, delete: bool) {
        lock(&self.state).delete = delete;
    }

    /// Whether `close()` removes the file too (when `delete`).
    #[getter]
    fn get_delete_on_close(&self) -> bool {
        lock(&self.state).delete_on_close
    }

    #[setter]
    fn set_delete_on_close(&self, delete_on_close: bool) {
        lock(&self.state).delete_on_close = delete_on_close;
    }

    #[getter]
    fn close_called(&self) -> bool {
        lock(&self.state).close_called
    }

    #[getter]
    fn cleanup_called(&self) -> bool {
        lock(&self.state).cleanup_called
    }

    /// Closes the file, then removes it if `delete` and `delete_on_close`; later calls do
    /// nothing.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        {
            let mut state = lock(&self.state);
            if std::mem::replace(&mut state.close_called, true) {
                return Ok(());
            }
        }
        let closed = self.close_file(py);
        let remove = {
            let state = lock(&self.state);
            state.delete && state.delete_on_close
        };
        if remove {
            self.cleanup_impl(py, false).and(closed)
        } else {
            closed
        }
    }

    /// Closes the file if `close()` did not, then removes it if `delete`; later calls do
    /// nothing. A file already gone is no error.
    fn cleanup(&self, py: Python<'_>) -> PyResult<()> {
        self.cleanup_impl(py, false)
    }

    /// Publishes the file at `dest` (see `ferrotemp::publish`): replaces it, or with
    /// `overwrite=False` fails with `FileExistsError`; with `fsync`, syncs the file before
    /// the rename and `dest`'s directory after. Once published nothing removes the file (the
    /// crash guard forgets it too); on failure the closer still owns it. The caller flushes
    /// the file first.
    #[pyo3(signature = (dest, overwrite = true, fsync = false))]
    fn persist(
        &self,
        py: Python<'_>,
        dest: &Bound<'_, PyAny>,
        overwrite: bool,
        fsync: bool,
    ) -> PyResult<()> {
        let dest_path = fs_path(dest)?;
        let options = ferrotemp::PersistOptions::new()
            .overwrite(overwrite)
            .fsync(fsync);
        let target = {
            let mut state = lock(&self.state);
            if state.cleanup_called {
                return Err(pyo3::exceptions::PyValueError::new_err(
                    "cannot persist a temporary file already cleaned up",
                ));
            }
            match std::mem::replace(&mut state.target, Target::Done) {
                target @ (Target::Made { .. } | Target::ByName(Some(_)) | Target::Adopted(_)) => {
                    target
                }
                other => {
                    state.target = other;
                    return Err(pyo3::exceptions::PyValueError::new_err(
                        "cannot persist a temporary file that has no path any more",
                    ));
                }
            }
        };
        let fd = self.fileno_for_sync(py);
        if let Target::Adopted(owner) = target {
            return self.persist_adopted(py, owner, dest, overwrite, fsync, fd.as_deref());
        }
        let result = py.detach(|| match target {
            Target::Made {
                path,
                armed_at_creation,
            } => path
                .persist_with_file(fd.as_deref(), &dest_path, options)
                .map_err(|err| {
                    (
                        err.error,
                        Target::Made {
                            path: err.path,
                            armed_at_creation,
                        },
                    )
                }),
            Target::ByName(Some(path)) => {
                ferrotemp::publish::publish_named(fd.as_deref(), &path, &dest_path, options)
                    .map_err(|err| (err, Target::ByName(Some(path))))
            }
            other => Err((std::io::ErrorKind::InvalidInput.into(), other)),
        });
        let mut state = lock(&self.state);
        match result {
            Ok(()) => {
                state.delete = false;
                Ok(())
            }
            Err((err, target)) => {
                if state.cleanup_called {
                    // Cleaned up meanwhile (another thread): the file goes now.
                    drop(state);
                    if let Target::Made { path, .. } = target {
                        py.detach(|| drop(path));
                    }
                } else {
                    state.target = target;
                }
                Err(to_pyerr(py, &err, self.as_bytes))
            }
        }
    }

    // PyO3 passes the visitor by value.
    #[allow(clippy::needless_pass_by_value)]
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.file)?;
        visit.call(&self.name)
    }
}

impl FileCloser {
    /// `persist` for an adopted file: its owner publishes it (and keeps it on failure).
    fn persist_adopted(
        &self,
        py: Python<'_>,
        owner: Py<PyAny>,
        dest: &Bound<'_, PyAny>,
        overwrite: bool,
        fsync: bool,
        file: Option<&std::fs::File>,
    ) -> PyResult<()> {
        #[cfg(unix)]
        let fd = file.map(std::os::fd::AsRawFd::as_raw_fd);
        #[cfg(not(unix))]
        let fd: Option<i32> = file.and(None);
        let result = owner
            .bind(py)
            .call_method1(pyo3::intern!(py, "persist"), (dest, overwrite, fsync, fd));
        let mut state = lock(&self.state);
        if result.is_ok() {
            state.delete = false;
        }
        if state.cleanup_called {
            drop(state);
            // Cleaned up meanwhile (another thread): the owner still holds it on failure.
            if result.is_err() {
                drop(owner.bind(py).call_method0(pyo3::intern!(py, "remove")));
            }
        } else {
            state.target = Target::Adopted(owner);
        }
        result.map(drop)
    }
}

impl Drop for FileCloser {
    fn drop(&mut self) {
        // As the standard module's `__del__`: errors are reported as unraisable, never
        // raised.
        let attached = Python::try_attach(|py| {
            if let Err(err) = self.cleanup_impl(py, true) {
                err.write_unraisable(py, None);
            }
        });
        if attached.is_none() {
            // No interpreter to close the file with (shutdown): the path is still removed, or
            // kept, as `delete` says.
            let state = self.state.get_mut().unwrap_or_else(PoisonError::into_inner);
            match std::mem::replace(&mut state.target, Target::Done) {
                Target::Made { path, .. } if !state.delete => drop(path.release()),
                Target::ByName(Some(path)) if state.delete => drop(remove_if_present(path)),
                // An adopted file's owner is a Python object, not dropped without the
                // interpreter: its copy's crash-guard record keeps the entry for a sweep.
                _ => {}
            }
        }
    }
}

/// A file `NamedOpener` made, until the closer takes it.
struct Made {
    path: TempPath,
    name: Py<PyAny>,
    as_bytes: bool,
    notice: Option<GuardNoticePy>,
}

/// The opener `NamedTemporaryFile` hands to `io.open`: called as `opener(dir, flags)`, it
/// creates the file as `mkstemp` does (audit events included) and returns its descriptor,
/// which the `io` object then owns; it keeps the path until `closer()` takes it.
#[pyclass(frozen, module = "ferrotemp._core", name = "NamedOpener")]
pub(crate) struct NamedOpener {
    prefix: Py<PyAny>,
    suffix: Py<PyAny>,
    /// `TMP_MAX` as given; read (as `range()` would) only when a file is made.
    attempts: Py<PyAny>,
    delete: bool,
    made: Mutex<Option<Made>>,
}

#[pymethods]
impl NamedOpener {
    #[new]
    #[pyo3(signature = (prefix, suffix, attempts, delete, /))]
    fn new(prefix: Py<PyAny>, suffix: Py<PyAny>, attempts: Py<PyAny>, delete: bool) -> Self {
        Self {
            prefix,
            suffix,
            attempts,
            delete,
            made: Mutex::new(None),
        }
    }

    /// Creates the file in `dir` and returns its descriptor; `flags` (what `io.FileIO`
    /// derived from the mode) are not used: the file is made as `mkstemp` makes it.
    #[pyo3(signature = (dir, _flags, /))]
    fn __call__(&self, py: Python<'_>, dir: &Bound<'_, PyAny>, _flags: i32) -> PyResult<i64> {
        let delete = self.delete;
        // delete=False under FERROTEMP_GUARD=all: recorded, and handed to the caller.
        let detached = !delete && ferrotemp::guard::record_all();
        let ((file, path), name, as_bytes) = create_file_audited_with(
            py,
            dir,
            self.prefix.bind(py),
            self.suffix.bind(py),
            false,
            tmp_max(self.attempts.bind(py))?,
            delete,
            |builder, candidate| {
                if detached {
                    return Ok(create_file_detached(builder, candidate)?
                        .map(|file| (file, TempPath::new(candidate.to_path_buf(), false))));
                }
                let made = builder.try_create_temp_path(candidate)?;
                Ok(made.map(|(file, mut path)| {
                    if !delete {
                        // delete=False: the caller's file, which nothing removes.
                        path = TempPath::new(path.release(), false);
                    }
                    (file, path)
                }))
            },
        )?;
        let notice = GuardNoticePy::for_new_entry(delete && !path.will_delete());
        let previous = lock(&self.made).replace(Made {
            path,
            name: name.unbind(),
            as_bytes,
            notice,
        });
        // An opener is called once; a second call would orphan the first file.
        if let Some(previous) = previous {
            py.detach(|| drop(previous.path.release()));
        }
        Ok(into_raw_descriptor(file))
    }

    /// The absolute path of the file made, `str` or `bytes` as the arguments were.
    #[getter]
    fn name(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        lock(&self.made)
            .as_ref()
            .map(|made| made.name.clone_ref(py))
    }

    /// `None`, unless the crash guard has something to say about the file made: a
    /// `GuardNotice` (keep mode keeps it, or the guard is unavailable).
    #[getter]
    fn guard_notice(&self) -> Option<GuardNoticePy> {
        lock(&self.made)
            .as_ref()
            .and_then(|made| made.notice.clone())
    }

    /// Hands the file made to a new closer for `file`, the `io` object over its descriptor.
    #[pyo3(signature = (file, delete_on_close, /))]
    fn closer(&self, file: Py<PyAny>, delete_on_close: bool) -> PyResult<FileCloser> {
        let Some(made) = lock(&self.made).take() else {
            return Err(pyo3::exceptions::PyRuntimeError::new_err(
                "no file was made by this opener",
            ));
        };
        Ok(FileCloser::with_target(
            file,
            made.name,
            made.as_bytes,
            self.delete,
            delete_on_close,
            Target::Made {
                path: made.path,
                armed_at_creation: self.delete,
            },
        ))
    }

    /// `NamedTemporaryFile`'s three steps after `io` made `file` (`raw` its `FileIO`), in one
    /// call: sets `raw.name` to the path, reports the crash guard's notice if there is one
    /// (`ferrotemp._guard_notice.report_notice`), then hands the file made to a new closer.
    /// Returns `(closer, name)`. On failure the opener still holds the file (`discard()`).
    #[pyo3(signature = (file, raw, delete_on_close, /))]
    fn finish(
        &self,
        py: Python<'_>,
        file: Py<PyAny>,
        raw: &Bound<'_, PyAny>,
        delete_on_close: bool,
    ) -> PyResult<(FileCloser, Py<PyAny>)> {
        static REPORT: pyo3::sync::PyOnceLock<Py<PyAny>> = pyo3::sync::PyOnceLock::new();
        let (name, notice) = match lock(&self.made).as_ref() {
            Some(made) => (made.name.clone_ref(py), made.notice.clone()),
            None => {
                return Err(pyo3::exceptions::PyRuntimeError::new_err(
                    "no file was made by this opener",
                ))
            }
        };
        raw.setattr(pyo3::intern!(py, "name"), &name)?;
        if let Some(notice) = notice {
            REPORT
                .import(py, "ferrotemp._guard_notice", "report_notice")?
                .call1((notice, &name))?;
        }
        Ok((self.closer(file, delete_on_close)?, name))
    }

    /// Removes the file made whatever `delete` says (creation failed after it); the `io`
    /// machinery has closed its descriptor.
    fn discard(&self, py: Python<'_>) {
        if let Some(made) = lock(&self.made).take() {
            py.detach(|| {
                let _ = std::fs::remove_file(made.path.release());
            });
        }
    }
}

/// The opener `TemporaryFile` hands to `io.open`: called as `opener(dir, flags)`, it makes an
/// unnamed file in `dir` and returns its descriptor, which the caller owns. With `o_tmpfile`
/// it opens with `O_TMPFILE` (audit event `open` first) and raises `OSError` when that
/// cannot be done, for the caller to try again without; without, it creates a named file as
/// `mkstemp` does and unlinks it (audit events `tempfile.mkstemp`, `open`, `os.remove`): the
/// standard module's two attempts.
#[pyclass(frozen, module = "ferrotemp._core", name = "UnnamedOpener")]
pub(crate) struct UnnamedOpener {
    prefix: Py<PyAny>,
    suffix: Py<PyAny>,
    /// `TMP_MAX` as given; read only if `O_TMPFILE` cannot be used, as the standard module.
    attempts: Py<PyAny>,
    o_tmpfile: bool,
}

#[pymethods]
impl UnnamedOpener {
    #[new]
    #[pyo3(signature = (prefix, suffix, attempts, o_tmpfile, /))]
    fn new(prefix: Py<PyAny>, suffix: Py<PyAny>, attempts: Py<PyAny>, o_tmpfile: bool) -> Self {
        Self {
            prefix,
            suffix,
            attempts,
            o_tmpfile,
        }
    }

    #[pyo3(signature = (dir, _flags, /))]
    fn __call__(&self, py: Python<'_>, dir: &Bound<'_, PyAny>, _flags: i32) -> PyResult<i64> {
        if self.o_tmpfile {
            let path = fs_path(dir)?;
            if let Some(flags) = unnamed_open_flags() {
                audit::open(py, dir, flags)?;
            }
            return match py.detach(|| open_unnamed(&path)) {
                Some(file) => Ok(into_raw_descriptor(file)),
                None => Err(pyo3::exceptions::PyOSError::new_err((
                    EOPNOTSUPP,
                    "O_TMPFILE cannot be used here",
                ))),
            };
        }
        let ((file, path), name, as_bytes) = create_file_audited_with(
            py,
            dir,
            self.prefix.bind(py),
            self.suffix.bind(py),
            false,
            tmp_max(self.attempts.bind(py))?,
            false,
            |builder, path| {
                Ok(builder
                    .try_create_file(path)?
                    .map(|file| (file, path.to_path_buf())))
            },
        )?;
        // A hook that refuses the removal leaves the file, as the standard module does.
        audit::remove(py, &name)?;
        py.detach(|| match std::fs::remove_file(&path) {
            Ok(()) => Ok(file),
            Err(err) => Err(ferrotemp::error::with_path(err, path)),
        })
        .map(into_raw_descriptor)
        .map_err(|e| to_pyerr(py, &e, as_bytes))
    }
}

/// Linux's `EOPNOTSUPP`, what a filesystem without `O_TMPFILE` answers.
const EOPNOTSUPP: i32 = 95;

/// Whether `TemporaryFile` should try `O_TMPFILE` first: Linux, until the kernel shows it
/// does not know the flag.
#[pyfunction]
pub(crate) fn o_tmpfile_enabled() -> bool {
    ferrotemp::file::o_tmpfile_enabled() && unnamed_open_flags().is_some()
}
