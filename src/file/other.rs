//! Unnamed files elsewhere: `O_TMPFILE` exists only on Linux, so every caller falls back to
//! a file created and unlinked at once.

use std::fs::File;
use std::path::Path;

pub(super) fn unnamed_open_flags() -> Option<i32> {
    None
}

pub(super) fn open_unnamed(_dir: &Path) -> Option<File> {
    None
}

pub(super) fn o_tmpfile_supported_in(_dir: &Path) -> bool {
    false
}
