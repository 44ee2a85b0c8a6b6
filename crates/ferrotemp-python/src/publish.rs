//! Publishing an unnamed file from Python: `atomic_write(..., overwrite=False)` writes to an
//! `O_TMPFILE` file (no name in the directory at any moment, nothing to sweep after a crash)
//! and gives it its name with `linkat`, which fails with `EEXIST` if the name is taken.

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::audit;
use super::convert::{fs_path, to_pyerr};
use super::create::into_raw_descriptor;

/// Opens an unnamed file in `dir` that `publish_unnamed` can later name (`O_TMPFILE` without
/// `O_EXCL`, mode 0600; audit event `open` first) and returns its descriptor, which the caller
/// owns; `None` where the kernel or the filesystem cannot (use a named temporary file then).
#[pyfunction]
pub(crate) fn open_linkable_unnamed(
    py: Python<'_>,
    dir: &Bound<'_, PyAny>,
) -> PyResult<Option<i64>> {
    let path = fs_path(dir)?;
    if let Some(flags) = ferrotemp::file::unnamed_open_flags() {
        audit::open(py, dir, flags)?;
    }
    Ok(py
        .detach(|| ferrotemp::publish::open_linkable_unnamed(&path))
        .map(into_raw_descriptor))
}

/// Names the unnamed file open at descriptor `fd` `dest` (see
/// `ferrotemp::publish::publish_unnamed`): `FileExistsError` if `dest` exists and not
/// `overwrite`; with `fsync`, the file is synced first and the directory after. The descriptor
/// stays the caller's.
#[pyfunction]
#[pyo3(signature = (fd, dest, overwrite, fsync, /))]
pub(crate) fn publish_unnamed(
    py: Python<'_>,
    fd: i32,
    dest: &Bound<'_, PyAny>,
    overwrite: bool,
    fsync: bool,
) -> PyResult<()> {
    let as_bytes = dest.is_instance_of::<PyBytes>();
    let dest_path = fs_path(dest)?;
    let options = ferrotemp::PersistOptions::new()
        .overwrite(overwrite)
        .fsync(fsync);
    py.detach(|| {
        with_borrowed_file(fd, |file| {
            ferrotemp::publish::publish_unnamed(file, &dest_path, options)
        })
    })
    .map_err(|err| to_pyerr(py, &err, as_bytes))
}

#[cfg(unix)]
fn with_borrowed_file<T>(fd: i32, body: impl FnOnce(&std::fs::File) -> T) -> T {
    use std::os::fd::FromRawFd;
    // SAFETY: the caller's open descriptor, used for the call only; the `File` is wrapped in
    // `ManuallyDrop` and never dropped, so the descriptor is not closed here.
    let file = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(fd) });
    body(&file)
}

#[cfg(not(unix))]
fn with_borrowed_file<T>(_fd: i32, _body: impl FnOnce(&std::fs::File) -> T) -> T {
    unreachable!("open_linkable_unnamed never returns a descriptor here")
}
