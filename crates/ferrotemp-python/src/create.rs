//! `mkstemp` and `mkdtemp`: the core's builder, with the standard module's audit events and
//! the GIL released around each syscall.

use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

use super::audit;
use super::convert::{fs_os_string, fs_path, path_to_py, tmp_max, to_pyerr};
use ferrotemp::create::{names_exhausted, Builder};
use ferrotemp::env;

/// Whether this interpreter's `mkstemp` names its candidates under `abspath(dir)` (3.10+) in
/// its audit events and errors, rather than under `dir` as given (3.9). `mkdtemp` uses `dir`
/// as given on every version.
fn mkstemp_reports_absolute(py: Python<'_>) -> bool {
    static ABSOLUTE: OnceLock<bool> = OnceLock::new();
    *ABSOLUTE.get_or_init(|| py.version_info() >= (3, 10))
}

/// One attempt's paths: `path` is what is created (`abspath(dir)` joined with the name as
/// drawn, not normalised) and what is returned; `reported` is what the standard module of
/// this interpreter names in its audit events and errors (the same object when equal).
struct Candidate<'py> {
    path: PathBuf,
    reported_path: Option<PathBuf>,
    reported: Bound<'py, PyAny>,
}

impl<'py> Candidate<'py> {
    fn new(
        py: Python<'py>,
        given: &Path,
        absolute: &Path,
        name: &OsStr,
        report_absolute: bool,
        as_bytes: bool,
    ) -> PyResult<Self> {
        let path = absolute.join(name);
        let reported_path = (!report_absolute)
            .then(|| given.join(name))
            .filter(|reported| *reported != path);
        let reported = path_to_py(py, reported_path.as_ref().unwrap_or(&path), as_bytes)?;
        Ok(Self {
            path,
            reported_path,
            reported,
        })
    }

    /// The created path as a Python object.
    fn into_name(self, py: Python<'py>, as_bytes: bool) -> PyResult<Bound<'py, PyAny>> {
        match self.reported_path {
            None => Ok(self.reported),
            Some(_) => path_to_py(py, &self.path, as_bytes),
        }
    }

    /// `err` naming the reported path, as the standard module's `OSError.filename` does.
    fn error(&self, py: Python<'_>, err: &io::Error, as_bytes: bool) -> PyErr {
        match (&self.reported_path, ferrotemp::error::raw_os_error(err)) {
            (Some(reported), Some(code)) => {
                let renamed =
                    ferrotemp::error::with_path(io::Error::from_raw_os_error(code), reported);
                to_pyerr(py, &renamed, as_bytes)
            }
            _ => to_pyerr(py, err, as_bytes),
        }
    }
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
    ferrotemp::names::random_name(ferrotemp::names::DEFAULT_RAND_LEN)
        .map_err(|e| to_pyerr(py, &e, false))
}

/// Creates a file as `tempfile.mkstemp` does: audit events `tempfile.mkstemp` and `open`
/// before each attempt, GIL released around the open. Returns the file, its absolute path
/// (also as a Python object), and whether paths are bytes.
pub(crate) fn create_file_audited<'py>(
    py: Python<'py>,
    dir: &Bound<'py, PyAny>,
    prefix: &Bound<'py, PyAny>,
    suffix: &Bound<'py, PyAny>,
    text: bool,
    attempts: u32,
) -> PyResult<(std::fs::File, PathBuf, Bound<'py, PyAny>, bool)> {
    let ((file, path), name, as_bytes) =
        create_file_audited_with(py, dir, prefix, suffix, text, attempts, false, |b, path| {
            Ok(b.try_create_file(path)?
                .map(|file| (file, path.to_path_buf())))
        })?;
    Ok((file, path, name, as_bytes))
}

/// The loop of [`create_file_audited`], with `try_create` making one attempt at a candidate
/// path (absolute, the name as drawn) in the same release of the GIL (`None`: the name is
/// taken), so that work belonging with the creation — the crash guard's records before and
/// after it — happens there. `guarded` sets the builder's crash-guard flag. Returns what it
/// made, the path as a Python object, and whether paths are bytes.
#[allow(clippy::too_many_arguments)]
pub(crate) fn create_file_audited_with<'py, T: Send>(
    py: Python<'py>,
    dir: &Bound<'py, PyAny>,
    prefix: &Bound<'py, PyAny>,
    suffix: &Bound<'py, PyAny>,
    text: bool,
    attempts: u32,
    guarded: bool,
    try_create: impl Fn(&Builder, &Path) -> io::Result<Option<T>> + Sync,
) -> PyResult<(T, Bound<'py, PyAny>, bool)> {
    let as_bytes = prefix.is_instance_of::<PyBytes>();
    let given = fs_path(dir)?;
    let absolute = env::abspath(&given);
    let report_absolute = mkstemp_reports_absolute(py);
    let mut builder = builder_for(prefix, suffix)?;
    builder
        .binary(!text)
        .max_attempts(attempts)
        .guarded(guarded);
    let flags = builder.open_flags();
    for _ in 0..builder.attempts() {
        let name = builder
            .candidate_name()
            .map_err(|e| to_pyerr(py, &e, as_bytes))?;
        let candidate = Candidate::new(py, &given, &absolute, &name, report_absolute, as_bytes)?;
        audit::path_event(py, c"tempfile.mkstemp", &candidate.reported)?;
        audit::open(py, &candidate.reported, flags)?;
        let path = &candidate.path;
        match py.detach(|| try_create(&builder, path)) {
            Ok(Some(made)) => {
                // Only a failed str conversion could fail here; `made` then goes with its
                // owner's rules, as any other error after creation.
                let name = candidate.into_name(py, as_bytes)?;
                return Ok((made, name, as_bytes));
            }
            Ok(None) => {}
            Err(err) => return Err(candidate.error(py, &err, as_bytes)),
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
    attempts: &Bound<'py, PyAny>,
) -> PyResult<(i64, Bound<'py, PyAny>)> {
    let (file, _, name, _) =
        create_file_audited(py, dir, prefix, suffix, text, tmp_max(attempts)?)?;
    Ok((into_raw_descriptor(file), name))
}

/// The loop of `tempfile.mkdtemp`: audit events `tempfile.mkdtemp` and `os.mkdir` before each
/// attempt (naming the candidate under `dir` as given, as the standard module does), GIL
/// released around `try_create` (which returns `None` for a taken name). `guarded` sets the
/// builder's crash-guard flag. Returns what it made and whether paths are bytes.
pub(crate) fn create_dir_audited<T: Send>(
    py: Python<'_>,
    dir: &Bound<'_, PyAny>,
    prefix: &Bound<'_, PyAny>,
    suffix: &Bound<'_, PyAny>,
    attempts: u32,
    guarded: bool,
    try_create: impl Fn(&Builder, &Path) -> io::Result<Option<T>> + Sync,
) -> PyResult<(T, bool)> {
    let as_bytes = prefix.is_instance_of::<PyBytes>();
    let given = fs_path(dir)?;
    // The standard module makes the directory under `dir` as given (the kernel resolving any
    // `..` after a symlink), so the same directory is named here, made absolute without
    // lexical `..` resolution.
    let absolute = env::absolute(&given);
    let mut builder = builder_for(prefix, suffix)?;
    builder.max_attempts(attempts).guarded(guarded);
    for _ in 0..builder.attempts() {
        let name = builder
            .candidate_name()
            .map_err(|e| to_pyerr(py, &e, as_bytes))?;
        let candidate = Candidate::new(py, &given, &absolute, &name, false, as_bytes)?;
        audit::path_event(py, c"tempfile.mkdtemp", &candidate.reported)?;
        audit::mkdir(py, &candidate.reported, builder.dir_mode())?;
        let path = &candidate.path;
        match py.detach(|| try_create(&builder, path)) {
            Ok(Some(made)) => return Ok((made, as_bytes)),
            Ok(None) => {}
            Err(err) => return Err(candidate.error(py, &err, as_bytes)),
        }
    }
    Err(to_pyerr(py, &names_exhausted("directory"), as_bytes))
}

/// Creates a directory as `tempfile.mkdtemp` does, with already-sanitised arguments of one
/// type. Returns its absolute path (bytes if `prefix` is bytes): `dir` made absolute (`.`
/// components dropped, `..` kept) joined with the name as created.
#[pyfunction]
#[pyo3(signature = (dir, prefix, suffix, attempts, /))]
pub(crate) fn mkdtemp<'py>(
    py: Python<'py>,
    dir: &Bound<'py, PyAny>,
    prefix: &Bound<'py, PyAny>,
    suffix: &Bound<'py, PyAny>,
    attempts: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let attempts = tmp_max(attempts)?;
    let (path, as_bytes) =
        create_dir_audited(py, dir, prefix, suffix, attempts, false, |builder, path| {
            Ok(builder.try_create_dir(path)?.then(|| path.to_path_buf()))
        })?;
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
