//! `SpooledTemporaryFile.write` as a native method of the Python class: a method descriptor
//! (`PyDescr_NewMethod`), so `f.write(data)` runs no Python frame, and `f.write` is a bound
//! builtin method holding `f`, as a Python method would (bpo-18879: a cached method keeps its
//! file alive).
//!
//! The class's `_native_write` says what to do: `MemorySpool.write_checked` bound to the
//! in-memory buffer (binary mode, the owner's own `_check`, not rolled over), which is called
//! here directly on the buffer; anything else (`None`, or a call with keywords or another
//! number of arguments) goes to the class's Python `write`, which is the behaviour of record.

use std::ffi::{c_char, CStr};

use pyo3::exceptions::PyRuntimeError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple, PyType};

use super::spool::MemorySpoolPy;

const DOC: &CStr = c"write($self, s)\n--\n\nWrite s; roll over to a file when past max_size.";

/// The fast path, or `None` for the Python `write`.
fn write_in_memory<'py>(
    py: Python<'py>,
    slf: &Bound<'py, PyAny>,
    data: &Bound<'py, PyAny>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let native = slf.getattr(pyo3::intern!(py, "_native_write"))?;
    if native.is_none() {
        return Ok(None);
    }
    // SAFETY: `native` is a live object; PyCFunction_Check only reads its type.
    if unsafe { ffi::PyCFunction_Check(native.as_ptr()) } == 0 {
        return Ok(None);
    }
    // SAFETY: `native` is a builtin function or method; its `__self__` (borrowed) lives as
    // long as `native`, which outlives the use below.
    let owner = unsafe { ffi::PyCFunction_GetSelf(native.as_ptr()) };
    if owner.is_null() {
        return Ok(None);
    }
    // SAFETY: `owner` is a valid borrowed reference (see above).
    let owner = unsafe { pyo3::Borrowed::from_ptr(py, owner) };
    let Ok(spool) = owner.cast::<MemorySpoolPy>() else {
        return Ok(None);
    };
    spool.get().write_checked(py, data).map(Some)
}

/// Any other call: the class's Python `write` (`_write_py`), with the same arguments.
fn write_in_python<'py>(
    py: Python<'py>,
    slf: &Bound<'py, PyAny>,
    args: *const *mut ffi::PyObject,
    positional: usize,
    kwnames: *mut ffi::PyObject,
) -> PyResult<Bound<'py, PyAny>> {
    // SAFETY: `args` holds `positional` values, then one per name in `kwnames`, all live.
    let arg = |i: usize| unsafe { pyo3::Borrowed::from_ptr(py, *args.add(i)) }.to_owned();
    let call_args = PyTuple::new(py, (0..positional).map(arg))?;
    let kwargs = if kwnames.is_null() {
        None
    } else {
        // SAFETY: a non-null `kwnames` is a live tuple of names.
        let names = unsafe { pyo3::Borrowed::from_ptr(py, kwnames) }.cast::<PyTuple>()?;
        let dict = PyDict::new(py);
        for (i, name) in names.iter().enumerate() {
            dict.set_item(name, arg(positional + i))?;
        }
        Some(dict)
    };
    slf.call_method(pyo3::intern!(py, "_write_py"), call_args, kwargs.as_ref())
}

unsafe extern "C" fn write_trampoline(
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls a method with the GIL held (attached to this thread).
    let py = unsafe { Python::assume_attached() };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: CPython passes a live `self` to a method descriptor's function.
        let slf = unsafe { pyo3::Borrowed::from_ptr(py, slf) }.to_owned();
        let positional = usize::try_from(nargs).unwrap_or(0);
        if positional == 1 && kwnames.is_null() {
            // SAFETY: one positional argument, live for the call.
            let data = unsafe { pyo3::Borrowed::from_ptr(py, *args) };
            if let Some(written) = write_in_memory(py, &slf, &data)? {
                return Ok(written);
            }
        }
        write_in_python(py, &slf, args, positional, kwnames)
    }));
    match result {
        Ok(Ok(value)) => value.into_ptr(),
        Ok(Err(err)) => {
            err.restore(py);
            std::ptr::null_mut()
        }
        Err(_) => {
            PyRuntimeError::new_err("panic in SpooledTemporaryFile.write").restore(py);
            std::ptr::null_mut()
        }
    }
}

/// A native `write` for `cls` (`SpooledTemporaryFile`): a method descriptor whose calls
/// write to the in-memory buffer directly, and otherwise call `cls._write_py` (the Python
/// `write`) with the same arguments.
#[pyfunction]
#[pyo3(name = "_spool_write_method")]
pub(crate) fn spool_write_method<'py>(cls: &Bound<'py, PyType>) -> PyResult<Bound<'py, PyAny>> {
    // The descriptor keeps a pointer to its definition: leaked, one per class (import).
    let def = Box::leak(Box::new(ffi::PyMethodDef {
        ml_name: c"write".as_ptr(),
        ml_meth: ffi::PyMethodDefPointer {
            PyCFunctionFastWithKeywords: write_trampoline,
        },
        ml_flags: ffi::METH_FASTCALL | ffi::METH_KEYWORDS,
        ml_doc: DOC.as_ptr().cast::<c_char>(),
    }));
    // SAFETY: `cls` is a live type object and `def` lives for the process.
    unsafe {
        Bound::from_owned_ptr_or_err(
            cls.py(),
            ffi::PyDescr_NewMethod(cls.as_ptr().cast::<ffi::PyTypeObject>(), def),
        )
    }
}
