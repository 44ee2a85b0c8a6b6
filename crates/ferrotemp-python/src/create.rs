//! `mkstemp` and `mkdtemp`: the core's builder, with the standard module's audit events and
//! the GIL released around each syscall.

use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

use super::audit;
use super::convert::{fs_os_string, fs_path, path_to_py, tmp_max, to_pyerr};
use ferrotemp::create::Builder;
use ferrotemp::guard;
use ferrotemp::ospath;

/// How the standard module of this interpreter names one attempt's candidate (the path the
/// loop creates: `abspath(dir)` joined with the name as drawn, not normalised) in its audit
/// events and errors: `reported`, and `reported_path` when that is not the candidate itself.
struct Candidate<'py> {
    reported_path: Option<PathBuf>,
    reported: Bound<'py, PyAny>,
}

impl<'py> Candidate<'py> {
    fn new(py: Python<'py>, setting: &Setting, path: &Path, name: &OsStr) -> PyResult<Self> {
        // Under `given` equal to `base` (an absolute `dir`, the usual case) the candidate
        // is named as it is: no need to join it again to find that out.
        let reported_path = (!setting.report_absolute && setting.given != setting.base)
            .then(|| setting.given.join(name))
            .filter(|reported| reported != path);
        let reported = path_to_py(
            py,
            reported_path.as_deref().unwrap_or(path),
            setting.as_bytes,
        )?;
        Ok(Self {
            reported_path,
            reported,
        })
    }

    /// The created `path` (this candidate's) as a Python object.
    fn into_name(
        self,
        py: Python<'py>,
        path: &Path,
        as_bytes: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        match self.reported_path {
            None => Ok(self.reported),
            Some(_) => path_to_py(py, path, as_bytes),
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

/// One call's setting for [`audited_loop`].
struct Setting {
    /// `dir` as given: the standard module names `mkdtemp`'s candidates under it.
    given: PathBuf,
    /// The directory the candidates are made in.
    base: PathBuf,
    /// Whether the standard module names candidates under `base` (else under `given`).
    report_absolute: bool,
    /// Whether paths are `bytes`.
    as_bytes: bool,
}

/// Why [`audited_loop`] made nothing.
enum Stop {
    /// Python raised: an audit hook, or a path that cannot become a Python object.
    Raised(PyErr),
    /// The attempt at the last candidate failed.
    Attempt(io::Error),
    /// The loop's own error: the random source, or every name taken.
    Loop(io::Error),
}

impl From<io::Error> for Stop {
    fn from(err: io::Error) -> Self {
        Stop::Loop(err)
    }
}

impl From<PyErr> for Stop {
    fn from(err: PyErr) -> Self {
        Stop::Raised(err)
    }
}

/// The core's creation loop ([`Builder::make_in`]) with the standard module's audit events:
/// `audit` raises them for each candidate, named as this interpreter's standard module names
/// it, with the GIL held; `try_create` makes the attempt at the candidate path with the GIL
/// released (`None`: the name is taken), so that work belonging with the creation — the crash
/// guard's records before and after it — happens there. Errors are the standard module's,
/// naming the candidate as it reports it. Returns what was made and the candidate it was made
/// at (`None` cannot happen: each attempt is audited before it is made).
fn audited_loop<'py, T: Send>(
    py: Python<'py>,
    builder: &Builder,
    setting: &Setting,
    what: &str,
    audit: impl Fn(&Bound<'py, PyAny>) -> PyResult<()>,
    try_create: impl Fn(&Builder, &Path) -> io::Result<Option<T>> + Sync,
) -> PyResult<(T, PathBuf, Option<Candidate<'py>>)> {
    let mut last = None;
    let made = builder.make_in(
        &setting.base,
        what,
        |path, name| {
            let candidate = Candidate::new(py, setting, path, name)?;
            audit(&candidate.reported)?;
            last = Some(candidate);
            Ok::<(), Stop>(())
        },
        |path| {
            py.detach(|| try_create(builder, path))
                .map_err(Stop::Attempt)
        },
    );
    let as_bytes = setting.as_bytes;
    match made {
        Ok((made, path)) => Ok((made, path, last)),
        Err(Stop::Raised(err)) => Err(err),
        Err(Stop::Attempt(err)) => Err(match &last {
            Some(candidate) => candidate.error(py, &err, as_bytes),
            None => to_pyerr(py, &err, as_bytes),
        }),
        Err(Stop::Loop(err)) => Err(to_pyerr(py, &err, as_bytes)),
    }
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

/// [`create_file_audited`] with `try_create` making each attempt (see [`audited_loop`]).
/// `guarded` sets the builder's crash-guard flag. Returns what it made, the path as a Python
/// object, and whether paths are bytes.
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
    let setting = Setting {
        base: ospath::abspath(&given),
        given,
        // The standard module's mkstemp names its candidates under `abspath(dir)` in its audit
        // events and errors; mkdtemp names them under `dir` as given.
        report_absolute: true,
        as_bytes,
    };
    let mut builder = builder_for(prefix, suffix)?;
    builder
        .binary(!text)
        .max_attempts(attempts)
        .guarded(guarded);
    let flags = builder.open_flags();
    let audit = |reported: &Bound<'py, PyAny>| {
        audit::path_event(py, c"tempfile.mkstemp", reported)?;
        audit::open(py, reported, flags)
    };
    let (made, path, candidate) = audited_loop(py, &builder, &setting, "file", audit, try_create)?;
    // Only a failed str conversion could fail here; `made` then goes with its owner's rules,
    // as any other error after creation.
    let name = match candidate {
        Some(candidate) => candidate.into_name(py, &path, as_bytes)?,
        None => path_to_py(py, &path, as_bytes)?,
    };
    Ok((made, name, as_bytes))
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
    let attempts = tmp_max(attempts)?;
    if ferrotemp::guard::record_all() {
        let (file, name, _) =
            create_file_audited_with(py, dir, prefix, suffix, text, attempts, false, |b, path| {
                create_file_detached(b, path)
            })?;
        return Ok((into_raw_descriptor(file), name));
    }
    let (file, _, name, _) = create_file_audited(py, dir, prefix, suffix, text, attempts)?;
    Ok((into_raw_descriptor(file), name))
}

/// `FERROTEMP_GUARD=all`: creates the file at `path` (absolute) recorded with the crash guard
/// first (pending, then confirmed) and hands the entry to the caller ([`guard::detach`]): a
/// kill leaves it to a sweep, a normal exit leaves it be.
pub(crate) fn create_file_detached(
    builder: &Builder,
    path: &Path,
) -> io::Result<Option<std::fs::File>> {
    let registration = guard::register_pending(path, guard::EntryKind::File);
    // On `None` or an error the registration is dropped: the pending entry goes with it.
    let Some(file) = builder.try_create_file(path)? else {
        return Ok(None);
    };
    if let guard::Registration::Guarded(token) = registration {
        #[cfg(unix)]
        guard::confirm_fd(&token, &file);
        guard::detach(token);
    }
    Ok(Some(file))
}

/// [`create_file_detached`] for a directory (`mkdtemp` under `FERROTEMP_GUARD=all`).
fn create_dir_detached(builder: &Builder, path: &Path) -> io::Result<bool> {
    let registration = guard::register_pending(path, guard::EntryKind::Dir);
    if !builder.try_create_dir(path)? {
        return Ok(false);
    }
    if let guard::Registration::Guarded(token) = registration {
        // Unconfirmed if it cannot be opened: a sweep then handles it as a pending entry.
        #[cfg(unix)]
        if let Ok(dir) = open_dir_nofollow(path) {
            guard::confirm_fd(&token, &dir);
        }
        guard::detach(token);
    }
    Ok(true)
}

#[cfg(unix)]
fn open_dir_nofollow(path: &Path) -> io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

/// `tempfile.mkdtemp`'s creation: audit events `tempfile.mkdtemp` and `os.mkdir` before each
/// attempt (naming the candidate under `dir` as given, as the standard module does), GIL
/// released around `try_create` (see [`audited_loop`]). `guarded` sets the builder's
/// crash-guard flag. Returns what it made, its absolute path as a Python object, and whether
/// paths are bytes.
pub(crate) fn create_dir_audited<'py, T: Send>(
    py: Python<'py>,
    dir: &Bound<'py, PyAny>,
    prefix: &Bound<'py, PyAny>,
    suffix: &Bound<'py, PyAny>,
    attempts: u32,
    guarded: bool,
    try_create: impl Fn(&Builder, &Path) -> io::Result<Option<T>> + Sync,
) -> PyResult<(T, Bound<'py, PyAny>, bool)> {
    let as_bytes = prefix.is_instance_of::<PyBytes>();
    let given = fs_path(dir)?;
    let setting = Setting {
        // The standard module makes the directory under `dir` as given (the kernel resolving
        // any `..` after a symlink), so the same directory is named here, made absolute
        // without lexical `..` resolution.
        base: ospath::absolute(&given),
        given,
        report_absolute: false,
        as_bytes,
    };
    let mut builder = builder_for(prefix, suffix)?;
    builder.max_attempts(attempts).guarded(guarded);
    let dir_mode = builder.dir_mode();
    let audit = |reported: &Bound<'_, PyAny>| {
        audit::path_event(py, c"tempfile.mkdtemp", reported)?;
        audit::mkdir(py, reported, dir_mode)
    };
    let (made, path, candidate) =
        audited_loop(py, &builder, &setting, "directory", audit, try_create)?;
    let name = match candidate {
        Some(candidate) => candidate.into_name(py, &path, as_bytes)?,
        None => path_to_py(py, &path, as_bytes)?,
    };
    Ok((made, name, as_bytes))
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
    let detached = ferrotemp::guard::record_all();
    let ((), name, _) = create_dir_audited(py, dir, prefix, suffix, attempts, false, |b, path| {
        let made = if detached {
            create_dir_detached(b, path)?
        } else {
            b.try_create_dir(path)?
        };
        Ok(made.then_some(()))
    })?;
    Ok(name)
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
