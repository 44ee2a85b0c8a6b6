//! A file's identity on this host: its device and inode.

/// Which file or directory a path led to: its device and inode. Two opens that give the same
/// `FileId` reached the same file while both were held; once a file is gone its inode may be
/// reused, which is why the guard's records also keep a birth time where there is one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileId {
    /// The device (`st_dev`).
    pub dev: u64,
    /// The inode (`st_ino`).
    pub ino: u64,
}

impl FileId {
    /// The identity a `stat` reported.
    // `Stat` field types differ between rustix backends (and platforms): the casts are here.
    #[cfg(unix)]
    #[must_use]
    #[allow(
        clippy::unnecessary_cast,
        clippy::cast_sign_loss,
        clippy::useless_conversion
    )]
    pub fn from_stat(st: &rustix::fs::Stat) -> Self {
        Self {
            dev: st.st_dev as u64,
            ino: st.st_ino as u64,
        }
    }
}
