//! Unnamed files on Linux: `O_TMPFILE`.

use std::fs::File;
use std::path::Path;
use std::sync::atomic::Ordering;

use rustix::fs::{Mode, OFlags, CWD};

use super::O_TMPFILE_WORKS;

/// The flags of the `O_TMPFILE` open, as the C `open` takes them: Python's `tempfile`'s, so
/// `O_EXCL` (the file can never be linked into the filesystem) and `O_NOFOLLOW` (a `dir`
/// that is a symlink fails with `ELOOP`, and the named fallback is used, as there).
const UNNAMED_FLAGS: OFlags = OFlags::TMPFILE
    .union(OFlags::RDWR)
    .union(OFlags::EXCL)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

#[allow(clippy::cast_possible_wrap, clippy::unnecessary_wraps)]
pub(super) fn unnamed_open_flags() -> Option<i32> {
    Some(UNNAMED_FLAGS.bits() as i32)
}

pub(super) fn open_unnamed(dir: &Path) -> Option<File> {
    if !O_TMPFILE_WORKS.load(Ordering::Relaxed) {
        return None;
    }
    match rustix::fs::openat(CWD, dir, UNNAMED_FLAGS, Mode::from_raw_mode(0o600)) {
        Ok(fd) => Some(File::from(fd)),
        Err(rustix::io::Errno::ISDIR) => {
            O_TMPFILE_WORKS.store(false, Ordering::Relaxed);
            None
        }
        // Any other failure (EOPNOTSUPP, ENOENT, EACCES…) is left to the fallback, which
        // reports it with the standard module's error and file name.
        Err(_) => None,
    }
}

pub(super) fn o_tmpfile_supported_in(dir: &Path) -> bool {
    rustix::fs::openat(CWD, dir, UNNAMED_FLAGS, Mode::from_raw_mode(0o600)).is_ok()
}
