//! Errors that carry the path they concern.
//!
//! Every fallible operation in this crate returns [`std::io::Error`]. When an error concerns
//! a particular path, the `io::Error` wraps a [`PathError`] so callers (the Python bindings
//! among them) can recover both the OS error number and the file name.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// An OS error together with the path it happened on.
#[derive(Debug)]
pub struct PathError {
    path: PathBuf,
    source: io::Error,
}

impl PathError {
    /// The path the failed operation was applied to.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The underlying OS error.
    #[must_use]
    pub fn source_error(&self) -> &io::Error {
        &self.source
    }
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: '{}'", self.source, self.path.display())
    }
}

impl StdError for PathError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&self.source)
    }
}

/// Wraps `err` so that it names `path`, keeping its [`io::ErrorKind`]: [`raw_os_error`],
/// [`error_path`] and [`error_message`] (and, with the `python` feature,
/// `python::to_pyerr`'s `errno` and `filename`) see through it.
///
/// ```
/// use std::io;
/// let err = ferrotemp::error::with_path(io::Error::from_raw_os_error(2), "/tmp/x");
/// assert_eq!(ferrotemp::error::raw_os_error(&err), Some(2));
/// assert_eq!(ferrotemp::error::error_path(&err), Some(std::path::Path::new("/tmp/x")));
/// ```
#[must_use]
pub fn with_path(err: io::Error, path: impl Into<PathBuf>) -> io::Error {
    io::Error::new(
        err.kind(),
        PathError {
            path: path.into(),
            source: err,
        },
    )
}

/// The OS error number of `err`, looking through a [`PathError`] wrapper.
#[must_use]
pub fn raw_os_error(err: &io::Error) -> Option<i32> {
    err.raw_os_error().or_else(|| {
        err.get_ref()
            .and_then(|inner| inner.downcast_ref::<PathError>())
            .and_then(|pe| pe.source.raw_os_error())
    })
}

/// The path named by `err`, if it wraps a [`PathError`].
#[must_use]
pub fn error_path(err: &io::Error) -> Option<&Path> {
    err.get_ref()
        .and_then(|inner| inner.downcast_ref::<PathError>())
        .map(PathError::path)
}

/// The message of `err` without the path (the OS's `strerror` text for OS errors).
#[must_use]
pub fn error_message(err: &io::Error) -> String {
    let inner = err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<PathError>())
        .map_or(err, |pe| &pe.source);
    match inner.raw_os_error() {
        Some(code) => strerror(code),
        None => inner.to_string(),
    }
}

/// The OS description of an error number, without Rust's " (os error N)" tail.
#[must_use]
pub fn strerror(code: i32) -> String {
    let text = io::Error::from_raw_os_error(code).to_string();
    match text.rfind(" (os error ") {
        Some(idx) => text[..idx].to_owned(),
        None => text,
    }
}
