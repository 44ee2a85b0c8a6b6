//! Unnamed temporary files: no name ever appears in the directory where the platform allows,
//! and the kernel frees the file when its last descriptor closes.

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::create::Builder;
use crate::env;

// Platform code, one module per platform: `O_TMPFILE` on Linux, none elsewhere.
#[cfg(target_os = "linux")]
mod linux;
#[cfg(not(target_os = "linux"))]
mod other;

#[cfg(target_os = "linux")]
use linux as imp;
#[cfg(not(target_os = "linux"))]
use other as imp;

/// Cleared once the kernel shows it does not know `O_TMPFILE` (it then reads the flag as
/// `O_DIRECTORY` and opening fails with `EISDIR`), so later calls skip straight to the
/// fallback. A filesystem that merely lacks support does not clear it.
static O_TMPFILE_WORKS: AtomicBool = AtomicBool::new(cfg!(target_os = "linux"));

/// The flags [`open_unnamed`] passes to the C `open` (`O_TMPFILE | O_RDWR | O_EXCL |
/// O_NOFOLLOW | O_CLOEXEC`), for audit hooks; `None` where there is no `O_TMPFILE`.
#[must_use]
pub fn unnamed_open_flags() -> Option<i32> {
    imp::unnamed_open_flags()
}

/// Opens an unnamed file in `dir` with `O_TMPFILE`. `None` means this directory (or this
/// kernel, or this platform) cannot do it and the caller should fall back to
/// [`create_and_unlink`].
#[must_use]
pub fn open_unnamed(dir: &Path) -> Option<File> {
    imp::open_unnamed(dir)
}

/// Whether this process has seen `O_TMPFILE` work or not yet fail for lack of kernel
/// support.
#[must_use]
pub fn o_tmpfile_enabled() -> bool {
    O_TMPFILE_WORKS.load(Ordering::Relaxed)
}

/// Tries `O_TMPFILE` in `dir` once, without touching the process-wide switch: whether an
/// unnamed file can be created there.
#[must_use]
pub fn o_tmpfile_supported_in(dir: &Path) -> bool {
    imp::o_tmpfile_supported_in(dir)
}

/// Creates an unnamed temporary file in `dir`, using `builder` for the fallback's name.
///
/// # Errors
///
/// The error of the named fallback (creation or removal), naming the path tried.
pub fn tempfile_in_with(builder: &Builder, dir: &Path) -> io::Result<File> {
    match open_unnamed(dir) {
        Some(file) => Ok(file),
        None => create_and_unlink(builder, dir),
    }
}

/// The fallback for an unnamed file: create a named one as `builder` says, then unlink it.
///
/// # Errors
///
/// The error of the creation or the removal, naming the path tried.
pub fn create_and_unlink(builder: &Builder, dir: &Path) -> io::Result<File> {
    let (file, path) = builder.create_unowned_file_in(dir)?;
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(file),
        Err(err) => Err(crate::error::with_path(err, path)),
    }
}

/// Creates an unnamed temporary file in `dir`: `O_TMPFILE` where the filesystem supports
/// it, else a file created and unlinked at once. Either way it vanishes when closed.
///
/// # Errors
///
/// As [`tempfile_in_with`].
pub fn tempfile_in(dir: impl AsRef<Path>) -> io::Result<File> {
    tempfile_in_with(&Builder::new(), dir.as_ref())
}

/// [`tempfile_in`] the default temporary directory.
///
/// # Errors
///
/// As [`tempfile_in`], or discovery's error.
pub fn tempfile() -> io::Result<File> {
    tempfile_in(env::default_tempdir()?)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::io::{Read, Seek, SeekFrom, Write};

    #[test]
    fn unnamed_file_leaves_no_entry_and_holds_data() {
        let dir = std::env::temp_dir().join(format!("ft-unnamed-{}", std::process::id()));
        std::fs::create_dir(&dir).unwrap();
        let mut file = tempfile_in(&dir).unwrap();
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        file.write_all(b"hello").unwrap();
        file.seek(SeekFrom::Start(0)).unwrap();
        let mut back = String::new();
        file.read_to_string(&mut back).unwrap();
        assert_eq!(back, "hello");
        std::fs::remove_dir(&dir).unwrap();
    }

    #[test]
    fn unnamed_file_in_missing_dir_reports_enoent_with_path() {
        let err = tempfile_in("/nonexistent-ferrotemp-dir").unwrap_err();
        assert_eq!(crate::error::raw_os_error(&err), Some(2));
        assert!(crate::error::error_path(&err).is_some());
    }
}
