//! An example Rust+Python hybrid: temporaries made in Rust and returned to Python as the
//! objects `ferrotemp`'s API returns (`ferrotemp::python`), and ferrotemp files taken from
//! Python and read in Rust. The module `ferrotemp_hybrid_example`; its tests are
//! `tests/python/test_hybrid.py` in the ferrotemp repository.

#![warn(clippy::pedantic)]
// PyO3 hands extracted arguments over by value.
#![allow(clippy::needless_pass_by_value)]

use std::io::{self, Seek, SeekFrom, Write};

use pyo3::prelude::*;

use ferrotemp::python::{self as ft, PyNamedTempFile, TempDirRef, TempFileRef};
use ferrotemp::{NamedTempFile, SpooledTempFile, TempDir, TempPath};

fn pyerr(py: Python<'_>) -> impl Fn(io::Error) -> PyErr + '_ {
    move |e| ft::to_pyerr(py, &e, false)
}

/// Writes `text` into a new file made as `NamedTemporaryFile` makes one (in `dir`, else the
/// default temp dir), rewound.
fn render_file(
    py: Python<'_>,
    text: &str,
    suffix: &str,
    dir: Option<&Bound<'_, PyAny>>,
    keep: bool,
) -> PyResult<NamedTempFile> {
    let mut builder = ft::builder(py)?;
    builder.suffix(suffix).disable_cleanup(keep);
    let parent = match dir {
        Some(dir) => ft::fs_path(dir)?,
        None => ft::gettempdir(py)?,
    };
    py.detach(|| {
        let mut file = builder.tempfile_in(&parent)?;
        file.write_all(text.as_bytes())?;
        file.flush()?;
        file.seek(SeekFrom::Start(0))?;
        Ok(file)
    })
    .map_err(pyerr(py))
}

/// Renders `text` into a file and returns it as `NamedTemporaryFile()` would (`w+b`, removed
/// on close); with `keep`, as `NamedTemporaryFile(delete=False)`.
#[pyfunction]
#[pyo3(signature = (text, suffix = ".txt", dir = None, keep = false))]
fn render(
    py: Python<'_>,
    text: &str,
    suffix: &str,
    dir: Option<&Bound<'_, PyAny>>,
    keep: bool,
) -> PyResult<NamedTempFile> {
    render_file(py, text, suffix, dir, keep)
}

/// As `render`, opened as `NamedTemporaryFile("w+", encoding="utf-8",
/// delete_on_close=delete_on_close)`.
#[pyfunction]
#[pyo3(signature = (text, delete_on_close = true))]
fn render_text(py: Python<'_>, text: &str, delete_on_close: bool) -> PyResult<PyNamedTempFile> {
    let file = render_file(py, text, ".txt", None, false)?;
    Ok(PyNamedTempFile::new(file)
        .mode("w+")
        .encoding("utf-8")
        .delete_on_close(delete_on_close))
}

/// Renders `text` and hands over only the path (a `TempPath`), which converts to the same
/// `NamedTemporaryFile` object, opened again.
#[pyfunction]
fn render_path(py: Python<'_>, text: &str) -> PyResult<TempPath> {
    Ok(render_file(py, text, ".txt", None, false)?.into_temp_path())
}

/// A directory of outputs, `name -> contents`, in a `subdir` of it too, returned as a
/// `ferrotemp.TemporaryDirectory`; with `keep`, as `TemporaryDirectory(delete=False)`.
#[pyfunction]
#[pyo3(signature = (outputs, keep = false))]
fn render_dir(py: Python<'_>, outputs: Vec<(String, String)>, keep: bool) -> PyResult<TempDir> {
    let mut builder = ft::builder(py)?;
    builder.disable_cleanup(keep);
    let parent = ft::gettempdir(py)?;
    py.detach(|| {
        let dir = builder.tempdir_in(&parent)?;
        std::fs::create_dir(dir.path().join("subdir"))?;
        for (name, text) in &outputs {
            std::fs::write(dir.path().join(name), text)?;
            std::fs::write(dir.path().join("subdir").join(name), text)?;
        }
        Ok(dir)
    })
    .map_err(pyerr(py))
}

/// `data` in a spool of `max_size` bytes, returned as a `ferrotemp.SpooledTemporaryFile` (on
/// disk if `data` is longer), positioned at the start.
#[pyfunction]
fn spool(py: Python<'_>, data: &[u8], max_size: usize) -> PyResult<SpooledTempFile> {
    let dir = ft::gettempdir(py)?;
    py.detach(|| {
        let mut spool = SpooledTempFile::new_in(max_size, dir);
        spool.write_all(data)?;
        spool.seek(SeekFrom::Start(0))?;
        Ok(spool)
    })
    .map_err(pyerr(py))
}

/// The whole contents of a ferrotemp file passed from Python, read in Rust through its
/// descriptor (positional reads: the Python object's position does not move).
#[pyfunction]
fn read_file(py: Python<'_>, file: TempFileRef<'_>) -> PyResult<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    file.with_file(|f| {
        let len = usize::try_from(f.metadata()?.len()).unwrap_or(usize::MAX);
        let mut out = vec![0; len];
        f.read_exact_at(&mut out, 0)?;
        Ok(out)
    })
    .map_err(pyerr(py))
}

/// The path Rust sees for a ferrotemp file passed from Python, as `str` (not a `PathBuf`,
/// which pyo3 would make a `pathlib.Path`); `None`: unnamed.
#[pyfunction]
fn file_path<'py>(py: Python<'py>, file: TempFileRef<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
    file.path()
        .map(|p| ft::path_to_py(py, p, false))
        .transpose()
}

/// The names in a `ferrotemp.TemporaryDirectory` passed from Python, sorted.
#[pyfunction]
fn list_dir(py: Python<'_>, dir: TempDirRef<'_>) -> PyResult<Vec<String>> {
    let path = dir.path().to_path_buf();
    py.detach(|| {
        let mut names = std::fs::read_dir(&path)
            .map_err(|e| ferrotemp::error::with_path(e, &path))?
            .map(|entry| entry.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<io::Result<Vec<_>>>()?;
        names.sort();
        Ok(names)
    })
    .map_err(pyerr(py))
}

#[pymodule]
fn ferrotemp_hybrid_example(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(render, m)?)?;
    m.add_function(wrap_pyfunction!(render_text, m)?)?;
    m.add_function(wrap_pyfunction!(render_path, m)?)?;
    m.add_function(wrap_pyfunction!(render_dir, m)?)?;
    m.add_function(wrap_pyfunction!(spool, m)?)?;
    m.add_function(wrap_pyfunction!(read_file, m)?)?;
    m.add_function(wrap_pyfunction!(file_path, m)?)?;
    m.add_function(wrap_pyfunction!(list_dir, m)?)?;
    Ok(())
}
