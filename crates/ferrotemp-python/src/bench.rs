//! The bare-syscall floor for the benchmarks (`ferrotemp._bench`), timed in Rust with the GIL
//! released: what a temp-file operation costs with no Python and no checks at all. Hidden
//! (underscore names), not API.

#[cfg(unix)]
use std::ffi::CStr;
#[cfg(unix)]
use std::io::Write;
#[cfg(unix)]
use std::time::Instant;

use pyo3::prelude::*;

#[cfg(unix)]
use super::convert::{fs_path, to_pyerr};

/// One floor loop: `n` times the syscalls of one operation, on names made from `dir`, a
/// per-process tag and a counter. Returns the seconds taken.
#[cfg(unix)]
fn time_loop(
    py: Python<'_>,
    dir: &Bound<'_, PyAny>,
    n: u64,
    tag: &str,
    op: fn(&CStr) -> rustix::io::Result<()>,
) -> PyResult<f64> {
    use std::os::unix::ffi::OsStrExt;
    let dir = fs_path(dir)?;
    let base = dir.join(format!("ferrotemp-floor-{tag}-{}-", std::process::id()));
    let base = base.as_os_str().as_bytes().to_vec();
    let result = py.detach(|| {
        let mut name = Vec::with_capacity(base.len() + 24);
        let start = Instant::now();
        for i in 0..n {
            name.clear();
            name.extend_from_slice(&base);
            write!(name, "{i}\0")?;
            let path = CStr::from_bytes_with_nul(&name).map_err(std::io::Error::other)?;
            op(path).map_err(std::io::Error::from)?;
        }
        Ok::<f64, std::io::Error>(start.elapsed().as_secs_f64())
    });
    result.map_err(|e| to_pyerr(py, &e, false))
}

#[cfg(unix)]
fn create_unlink(path: &CStr) -> rustix::io::Result<()> {
    use rustix::fs::{Mode, OFlags, CWD};
    let flags = OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    drop(rustix::fs::openat(
        CWD,
        path,
        flags,
        Mode::from_raw_mode(0o600),
    )?);
    rustix::fs::unlink(path)
}

#[cfg(unix)]
fn mkdir_rmdir(path: &CStr) -> rustix::io::Result<()> {
    rustix::fs::mkdir(path, rustix::fs::Mode::from_raw_mode(0o700))?;
    rustix::fs::rmdir(path)
}

/// Times `n` rounds of `open(O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC)` + `close` + `unlink` in
/// `dir`, in Rust with the GIL released; returns seconds.
#[cfg(unix)]
#[pyfunction]
#[pyo3(name = "_floor_create_unlink", signature = (dir, n, /))]
pub(crate) fn floor_create_unlink(py: Python<'_>, dir: &Bound<'_, PyAny>, n: u64) -> PyResult<f64> {
    time_loop(py, dir, n, "f", create_unlink)
}

/// Times `n` rounds of `mkdir(0700)` + `rmdir` in `dir`, as `_floor_create_unlink`.
#[cfg(unix)]
#[pyfunction]
#[pyo3(name = "_floor_mkdir_rmdir", signature = (dir, n, /))]
pub(crate) fn floor_mkdir_rmdir(py: Python<'_>, dir: &Bound<'_, PyAny>, n: u64) -> PyResult<f64> {
    time_loop(py, dir, n, "d", mkdir_rmdir)
}

#[cfg(not(unix))]
#[pyfunction]
#[pyo3(name = "_floor_create_unlink", signature = (_dir, _n, /))]
pub(crate) fn floor_create_unlink(_dir: &Bound<'_, PyAny>, _n: u64) -> PyResult<f64> {
    Err(pyo3::exceptions::PyNotImplementedError::new_err(
        "the Rust floor loop is written for POSIX systems",
    ))
}

#[cfg(not(unix))]
#[pyfunction]
#[pyo3(name = "_floor_mkdir_rmdir", signature = (_dir, _n, /))]
pub(crate) fn floor_mkdir_rmdir(_dir: &Bound<'_, PyAny>, _n: u64) -> PyResult<f64> {
    Err(pyo3::exceptions::PyNotImplementedError::new_err(
        "the Rust floor loop is written for POSIX systems",
    ))
}
