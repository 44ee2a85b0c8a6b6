//! `mkstemp` and `mkdtemp`: the core's builder, with the standard module's audit events and
//! the GIL released around each syscall.

use std::path::{Path, PathBuf};

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyString};

use super::convert::{fs_os_string, fs_path, path_to_py, tmp_max, to_pyerr};
use crate::create::{names_exhausted, Builder};
use crate::env;

fn audit(py: Python<'_>, event: &'static str, path: &Path, as_bytes: bool) -> PyResult<()> {
    static AUDIT: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    AUDIT
        .import(py, "sys", "audit")?
        .call1((event, path_to_py(py, path, as_bytes)?))?;
    Ok(())
}

/// A prefix or suffix: only `str` or `bytes`, as the standard module's string concatenation
/// accepts.
fn name_part(obj: &Bound<'_, PyAny>) -> PyResult<std::ffi::OsString> {
    if obj.is_instance_of::<PyBytes>() || obj.is_instance_of::<PyString>() {
        fs_os_string(obj)
    } else {
        Err(PyTypeError::new_err(format!(
            "can only concatenate str (not \"{}\") to str",
            obj.get_type().name()?
        )))
    }
}

pub(crate) fn builder_for(
    prefix: &Bound<'_, PyAny>,
    suffix: &Bound<'_, PyAny>,
) -> PyResult<Builder> {
    let mut builder = Builder::new();
    builder
        .prefix(name_part(prefix)?)
        .suffix(name_part(suffix)?);
    Ok(builder)
}

/// A random name of the standard length, for `mktemp`.
#[pyfunction]
pub(crate) fn random_name(py: Python<'_>) -> PyResult<String> {
    crate::names::random_name(crate::names::DEFAULT_RAND_LEN).map_err(|e| to_pyerr(py, &e, false))
}

/// Creates a file as `tempfile.mkstemp` does: audit event before each attempt, GIL released
/// around the open. Returns the file, its absolute path, and whether paths are bytes.
pub(crate) fn create_file_audited(
    py: Python<'_>,
    dir: &Bound<'_, PyAny>,
    prefix: &Bound<'_, PyAny>,
    suffix: &Bound<'_, PyAny>,
    text: bool,
    attempts: u32,
) -> PyResult<(std::fs::File, PathBuf, bool)> {
    let ((file, path), as_bytes) =
        create_file_audited_with(py, dir, prefix, suffix, text, attempts, false, |b, path| {
            Ok(b.try_create_file(path)?
                .map(|file| (file, env::abspath(path))))
        })?;
    Ok((file, path, as_bytes))
}

/// The loop of [`create_file_audited`], with `try_create` making one attempt at a candidate
/// path in the same release of the GIL (`None`: the name is taken), so that work belonging
/// with the creation — the crash guard's records before and after it — happens there.
/// `guarded` sets the builder's crash-guard flag. Returns what it made and whether paths are
/// bytes.
#[allow(clippy::too_many_arguments)]
pub(crate) fn create_file_audited_with<T: Send>(
    py: Python<'_>,
    dir: &Bound<'_, PyAny>,
    prefix: &Bound<'_, PyAny>,
    suffix: &Bound<'_, PyAny>,
    text: bool,
    attempts: u32,
    guarded: bool,
    try_create: impl Fn(&Builder, &Path) -> std::io::Result<Option<T>> + Sync,
) -> PyResult<(T, bool)> {
    let as_bytes = prefix.is_instance_of::<PyBytes>();
    let dir = fs_path(dir)?;
    let mut builder = builder_for(prefix, suffix)?;
    builder
        .binary(!text)
        .max_attempts(attempts)
        .guarded(guarded);
    for _ in 0..builder.attempts() {
        let path = builder
            .candidate_path(&dir)
            .map_err(|e| to_pyerr(py, &e, as_bytes))?;
        audit(py, "tempfile.mkstemp", &path, as_bytes)?;
        match py.detach(|| try_create(&builder, &path)) {
            Ok(Some(made)) => return Ok((made, as_bytes)),
            Ok(None) => {}
            Err(err) => return Err(to_pyerr(py, &err, as_bytes)),
        }
    }
    Err(to_pyerr(py, &names_exhausted("file"), as_bytes))
}

/// `tempfile.mkstemp` with already-sanitised arguments of one type. Returns the open
/// descriptor and the absolute path (bytes if `prefix` is bytes).
#[pyfunction]
#[pyo3(signature = (dir, prefix, suffix, text, attempts, /))]
pub(crate) fn mkstemp<'py>(
    py: Python<'py>,
    dir: &Bound<'py, PyAny>,
    prefix: &Bound<'py, PyAny>,
    suffix: &Bound<'py, PyAny>,
    text: bool,
    attempts: &Bound<'_, PyAny>,
) -> PyResult<(i64, Bound<'py, PyAny>)> {
    let (file, path, as_bytes) =
        create_file_audited(py, dir, prefix, suffix, text, tmp_max(attempts)?)?;
    Ok((into_raw_descriptor(file), path_to_py(py, &path, as_bytes)?))
}

/// The loop of `tempfile.mkdtemp`: audit event `tempfile.mkdtemp` before each attempt, GIL
/// released around `try_create` (which returns `None` for a taken name). `guarded` sets the
/// builder's crash-guard flag. Returns what it made and whether paths are bytes.
pub(crate) fn create_dir_audited<T: Send>(
    py: Python<'_>,
    dir: &Bound<'_, PyAny>,
    prefix: &Bound<'_, PyAny>,
    suffix: &Bound<'_, PyAny>,
    attempts: u32,
    guarded: bool,
    try_create: impl Fn(&Builder, &Path) -> std::io::Result<Option<T>> + Sync,
) -> PyResult<(T, bool)> {
    let as_bytes = prefix.is_instance_of::<PyBytes>();
    let dir = fs_path(dir)?;
    let mut builder = builder_for(prefix, suffix)?;
    builder.max_attempts(attempts).guarded(guarded);
    for _ in 0..builder.attempts() {
        let path = builder
            .candidate_path(&dir)
            .map_err(|e| to_pyerr(py, &e, as_bytes))?;
        audit(py, "tempfile.mkdtemp", &path, as_bytes)?;
        match py.detach(|| try_create(&builder, &path)) {
            Ok(Some(made)) => return Ok((made, as_bytes)),
            Ok(None) => {}
            Err(err) => return Err(to_pyerr(py, &err, as_bytes)),
        }
    }
    Err(to_pyerr(py, &names_exhausted("directory"), as_bytes))
}

/// Creates a directory as `tempfile.mkdtemp` does, with already-sanitised arguments of one
/// type. Returns its absolute path (bytes if `prefix` is bytes).
#[pyfunction]
#[pyo3(signature = (dir, prefix, suffix, attempts, /))]
pub(crate) fn mkdtemp<'py>(
    py: Python<'py>,
    dir: &Bound<'py, PyAny>,
    prefix: &Bound<'py, PyAny>,
    suffix: &Bound<'py, PyAny>,
    attempts: &Bound<'_, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let (path, as_bytes) = create_dir_audited(
        py,
        dir,
        prefix,
        suffix,
        tmp_max(attempts)?,
        false,
        |builder, path| Ok(builder.try_create_dir(path)?.then(|| env::abspath(path))),
    )?;
    path_to_py(py, &path, as_bytes)
}

#[cfg(unix)]
pub(crate) fn into_raw_descriptor(file: std::fs::File) -> i64 {
    use std::os::fd::IntoRawFd;
    i64::from(file.into_raw_fd())
}

#[cfg(windows)]
pub(crate) fn into_raw_descriptor(file: std::fs::File) -> i64 {
    use std::os::windows::io::IntoRawHandle;
    // The Python layer turns the handle into a C runtime descriptor with
    // msvcrt.open_osfhandle.
    file.into_raw_handle() as i64
}
