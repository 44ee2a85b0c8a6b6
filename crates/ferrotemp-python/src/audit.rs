//! Audit events (PEP 578) with the names and arguments the standard module's calls raise:
//! `tempfile.mkstemp` / `tempfile.mkdtemp`, then what `os.open` (`open`), `os.mkdir` and
//! `os.unlink` (`os.remove`) raise, each before the action, so a hook that raises stops it.
//!
//! `PySys_Audit` is not in the limited API, but every CPython since 3.8 exports it, and it
//! returns before building its arguments when no hook is installed, so an event costs a
//! function call. `sys.audit` through a Python call cost ≈0.1 µs per event here (three per
//! `NamedTemporaryFile`). On Windows an abi3 extension links against `python3.dll`, which
//! exports only the stable ABI: events go through `sys.audit` there.

use std::ffi::CStr;

use pyo3::prelude::*;

/// `os.mkdir`'s `dir_fd` and `os.unlink`'s: none.
const NO_DIR_FD: i32 = -1;

#[cfg(not(windows))]
mod raw {
    use std::ffi::{c_char, c_int};

    extern "C" {
        /// CPython's `PySys_Audit` (Include/cpython/sysmodule.h, exported since 3.8).
        pub(super) fn PySys_Audit(event: *const c_char, format: *const c_char, ...) -> c_int;
    }
}

#[cfg(not(windows))]
fn check(py: Python<'_>, status: std::ffi::c_int) -> PyResult<()> {
    if status < 0 {
        Err(PyErr::fetch(py))
    } else {
        Ok(())
    }
}

/// An event whose one argument is a path (`tempfile.mkstemp`, `tempfile.mkdtemp`).
pub(crate) fn path_event(py: Python<'_>, event: &CStr, path: &Bound<'_, PyAny>) -> PyResult<()> {
    #[cfg(not(windows))]
    {
        // SAFETY: attached to the interpreter (`py`); both strings are NUL-terminated and
        // static or borrowed for the call; "O" takes one borrowed object pointer.
        let status = unsafe { raw::PySys_Audit(event.as_ptr(), c"O".as_ptr(), path.as_ptr()) };
        check(py, status)
    }
    #[cfg(windows)]
    {
        sys_audit(py)?.call1((event.to_str().unwrap_or_default(), path))?;
        Ok(())
    }
}

/// `open`, as `os.open(path, flags)` raises it: `(path, None, flags)`.
pub(crate) fn open(py: Python<'_>, path: &Bound<'_, PyAny>, flags: i32) -> PyResult<()> {
    #[cfg(not(windows))]
    {
        // SAFETY: as in `path_event`; "OOi" takes two borrowed object pointers (None is
        // immortal or kept alive by the interpreter) and a C int.
        let status = unsafe {
            raw::PySys_Audit(
                c"open".as_ptr(),
                c"OOi".as_ptr(),
                path.as_ptr(),
                pyo3::ffi::Py_None(),
                flags,
            )
        };
        check(py, status)
    }
    #[cfg(windows)]
    {
        sys_audit(py)?.call1(("open", path, py.None(), flags))?;
        Ok(())
    }
}

/// `os.remove`, as `os.unlink(path)` raises it: `(path, -1)`.
pub(crate) fn remove(py: Python<'_>, path: &Bound<'_, PyAny>) -> PyResult<()> {
    #[cfg(not(windows))]
    {
        // SAFETY: as in `open`; "Oi" is a borrowed object pointer and a C int.
        let status = unsafe {
            raw::PySys_Audit(
                c"os.remove".as_ptr(),
                c"Oi".as_ptr(),
                path.as_ptr(),
                NO_DIR_FD,
            )
        };
        check(py, status)
    }
    #[cfg(windows)]
    {
        sys_audit(py)?.call1(("os.remove", path, NO_DIR_FD))?;
        Ok(())
    }
}

/// `os.mkdir`, as `os.mkdir(path, mode)` raises it: `(path, mode, -1)`.
pub(crate) fn mkdir(py: Python<'_>, path: &Bound<'_, PyAny>, mode: u32) -> PyResult<()> {
    #[allow(clippy::cast_possible_wrap)]
    let mode = mode as i32;
    #[cfg(not(windows))]
    {
        // SAFETY: as in `open`; "Oii" is a borrowed object pointer and two C ints.
        let status = unsafe {
            raw::PySys_Audit(
                c"os.mkdir".as_ptr(),
                c"Oii".as_ptr(),
                path.as_ptr(),
                mode,
                NO_DIR_FD,
            )
        };
        check(py, status)
    }
    #[cfg(windows)]
    {
        sys_audit(py)?.call1(("os.mkdir", path, mode, NO_DIR_FD))?;
        Ok(())
    }
}

#[cfg(windows)]
fn sys_audit<'py>(py: Python<'py>) -> PyResult<&'py Bound<'py, PyAny>> {
    use pyo3::sync::PyOnceLock;
    static AUDIT: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    AUDIT.import(py, "sys", "audit")
}
