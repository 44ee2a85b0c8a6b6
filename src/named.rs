//! Named temporary files removed by RAII.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::ops::Deref;
use std::path::{Path, PathBuf};

use crate::create::Builder;
use crate::error::with_path;
use crate::guard::{GuardToken, Registration};
use crate::publish::{PathPersistError, PersistError, PersistOptions};
use crate::{env, ospath};

/// A path that is removed when this value is dropped (unless disarmed).
///
/// `close` removes it and reports errors; `Drop` removes it silently. A file already gone is
/// not an error: the goal, no file at this path from us, is met.
#[derive(Debug)]
pub struct TempPath {
    path: PathBuf,
    delete: bool,
    /// The crash-guard registration, dropped (unregistering) after the removal in `Drop`.
    guard: Option<GuardToken>,
}

impl TempPath {
    /// Takes ownership of `path`: it is removed on drop when `delete` is true.
    #[must_use]
    pub fn new(path: PathBuf, delete: bool) -> Self {
        Self {
            path,
            delete,
            guard: None,
        }
    }

    /// Takes ownership of `path`, just created as `file`, to remove it on drop, and records it
    /// with the [crash guard](crate::guard) (one `statx`); in keep mode it is kept instead
    /// ([`TempPath::will_delete`] is then false). Recording after the creation leaves an
    /// instant in which a kill leaks the file: [`Builder::try_create_temp_path`] records
    /// first.
    #[must_use]
    pub fn new_guarded(path: PathBuf, file: &File) -> Self {
        let mut temp = Self::new(path, true);
        #[cfg(unix)]
        {
            let registration =
                crate::guard::register_fd(&temp.path, crate::guard::EntryKind::File, file);
            temp.set_guard(registration);
        }
        #[cfg(not(unix))]
        {
            let _ = file;
            temp.delete = !crate::guard::keep_mode();
        }
        temp
    }

    /// Applies a [crash guard](crate::guard) registration of this path: a token is held
    /// until the path is removed or kept (then the entry is unregistered); keep mode
    /// ([`Registration::Keep`]) disarms removal.
    pub fn set_guard(&mut self, registration: Registration) {
        match registration {
            Registration::Guarded(token) => self.guard = Some(token),
            Registration::Keep => self.delete = false,
            Registration::Unguarded => {}
        }
    }

    /// Whether the path is recorded by the crash guard.
    #[must_use]
    pub fn is_guarded(&self) -> bool {
        self.guard.is_some()
    }

    /// The path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether dropping this value removes the path.
    #[must_use]
    pub fn will_delete(&self) -> bool {
        self.delete
    }

    /// Removes the path now (if armed), reporting any error other than "already gone".
    ///
    /// # Errors
    ///
    /// The OS error of the unlink, naming the path.
    pub fn close(mut self) -> io::Result<()> {
        let result = self.remove_now();
        self.delete = false;
        result
    }

    /// Takes ownership of an existing `path` to remove it on drop, as the `tempfile` crate's
    /// `TempPath::from_path` (not recorded with the crash guard).
    #[must_use]
    pub fn from_path(path: impl Into<PathBuf>) -> Self {
        Self::new(path.into(), true)
    }

    /// [`TempPath::from_path`] with `path` made absolute against the current directory first
    /// (so a later `chdir` does not change what is removed), as the `tempfile` crate's
    /// `TempPath::try_from_path`.
    ///
    /// # Errors
    ///
    /// The current directory's error, for a relative `path`.
    pub fn try_from_path(path: impl Into<PathBuf>) -> io::Result<Self> {
        let path = path.into();
        let absolute = if path.is_absolute() {
            path
        } else {
            std::env::current_dir()?.join(path)
        };
        Ok(Self::from_path(absolute))
    }

    /// Gives up ownership: the path stays, and is returned (the `tempfile` crate's signature;
    /// it does not fail here: [`TempPath::release`] is the same without the `Result`).
    ///
    /// # Errors
    ///
    /// None today; the `Result` (and its error type) is the `tempfile` crate's.
    pub fn keep(self) -> Result<PathBuf, PathPersistError> {
        Ok(self.release())
    }

    /// Gives up ownership: the path stays, its crash-guard record goes, and the path is
    /// returned.
    #[must_use]
    pub fn release(mut self) -> PathBuf {
        self.delete = false;
        std::mem::take(&mut self.path)
    }

    /// Turns removal on drop off (`true`) or back on (`false`), as the `tempfile` crate's
    /// `disable_cleanup`. Turning it off also drops the crash-guard record (a kept path must
    /// not be swept); turning it back on does not record the path again.
    pub fn disable_cleanup(&mut self, disable: bool) {
        self.delete = !disable;
        if disable {
            self.guard = None;
        }
    }

    fn remove_now(&self) -> io::Result<()> {
        if !self.delete {
            return Ok(());
        }
        let removed = std::fs::remove_file(&self.path);
        crate::stats::note_removal(&removed, |err| err.kind() == io::ErrorKind::NotFound);
        match removed {
            Err(err) if err.kind() != io::ErrorKind::NotFound => Err(with_path(err, &self.path)),
            _ => Ok(()),
        }
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        // Drop must stay silent; callers who need the error use `close`.
        let _ = self.remove_now();
    }
}

impl Deref for TempPath {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<Path> for TempPath {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<OsStr> for TempPath {
    fn as_ref(&self) -> &OsStr {
        self.path.as_os_str()
    }
}

impl Builder {
    /// Tries once to create a file at exactly `path` (a [`Builder::candidate_path`]) owned
    /// by a [`TempPath`] that removes it: the attempt [`NamedTempFile::with_builder_in`]
    /// passes to [`Builder::make_in`], for callers that add their own step to each attempt.
    /// `Ok(None)` means the name is taken.
    ///
    /// A [guarded](Builder::guarded) builder records the path with the crash guard *before*
    /// creating it (pending), then confirms it with the new file's identity, so a kill at any
    /// instant leaves nothing unrecorded; a failed attempt drops the pending entry at once.
    ///
    /// # Errors
    ///
    /// As [`Builder::try_create_file`].
    pub fn try_create_temp_path(&self, path: &Path) -> io::Result<Option<(File, TempPath)>> {
        // Kept as given when absolute, as `try_tempdir` (the record normalises its own copy).
        // A relative one is joined to the current directory without lexical `..` resolution,
        // so it names what the kernel creates (after a symlink, `x/..` is not `.`).
        let absolute = if path.is_absolute() {
            path.to_path_buf()
        } else {
            ospath::absolute(path)
        };
        if !self.is_guarded() || self.is_cleanup_disabled() {
            let delete = !self.is_cleanup_disabled();
            return Ok(self
                .try_create_file(path)?
                .map(|file| (file, TempPath::new(absolute, delete))));
        }
        let registration = crate::guard::register_pending(&absolute, crate::guard::EntryKind::File);
        // On `None` or an error the registration is dropped here: the pending entry goes.
        let Some(file) = self.try_create_file(path)? else {
            return Ok(None);
        };
        #[cfg(unix)]
        if let Registration::Guarded(token) = &registration {
            crate::guard::confirm_fd(token, &file);
        }
        let mut temp = TempPath::new(absolute, true);
        temp.set_guard(registration);
        Ok(Some((file, temp)))
    }

    /// Creates a [`NamedTempFile`] in the default temporary directory, named as this builder
    /// says: the `tempfile` crate's `Builder::tempfile`.
    ///
    /// # Errors
    ///
    /// As [`Builder::tempfile_in`], or discovery's error.
    pub fn tempfile(&self) -> io::Result<NamedTempFile> {
        self.tempfile_in(env::default_tempdir()?)
    }

    /// Creates a [`NamedTempFile`] in `dir`, named as this builder says.
    ///
    /// # Errors
    ///
    /// The OS error naming the path tried, or `AlreadyExists` once every name tried was taken.
    pub fn tempfile_in(&self, dir: impl AsRef<Path>) -> io::Result<NamedTempFile> {
        NamedTempFile::with_builder_in(self, dir)
    }
}

/// A named temporary file: open for reading and writing, removed when dropped.
///
/// ```
/// use std::io::Write;
/// let mut file = ferrotemp::NamedTempFile::new()?;
/// file.write_all(b"data")?;
/// let path = file.path().to_owned();
/// assert!(path.exists());
/// file.close()?;
/// assert!(!path.exists());
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct NamedTempFile {
    // Declared first so the descriptor closes before the path is removed.
    file: File,
    path: TempPath,
}

impl NamedTempFile {
    /// A new file in the default temporary directory.
    ///
    /// # Errors
    ///
    /// As [`Builder::tempfile_in`], or discovery's error.
    pub fn new() -> io::Result<Self> {
        Self::new_in(env::default_tempdir()?)
    }

    /// A new file in `dir`.
    ///
    /// # Errors
    ///
    /// As [`Builder::tempfile_in`].
    pub fn new_in(dir: impl AsRef<Path>) -> io::Result<Self> {
        Self::with_builder_in(&Builder::new(), dir)
    }

    /// A new file in `dir`, named and created as `builder` says.
    ///
    /// # Errors
    ///
    /// As [`Builder::tempfile_in`].
    pub fn with_builder_in(builder: &Builder, dir: impl AsRef<Path>) -> io::Result<Self> {
        let ((file, path), _) = builder.make_in(
            dir.as_ref(),
            "file",
            |_, _| Ok(()),
            |candidate| builder.try_create_temp_path(candidate),
        )?;
        Ok(Self { file, path })
    }

    /// A new file in the default temporary directory whose name starts with `prefix`.
    ///
    /// # Errors
    ///
    /// As [`Builder::tempfile_in`], or discovery's error.
    pub fn with_prefix(prefix: impl AsRef<OsStr>) -> io::Result<Self> {
        Builder::new().prefix(prefix).tempfile()
    }

    /// A new file in `dir` whose name starts with `prefix`.
    ///
    /// # Errors
    ///
    /// As [`Builder::tempfile_in`].
    pub fn with_prefix_in(prefix: impl AsRef<OsStr>, dir: impl AsRef<Path>) -> io::Result<Self> {
        Builder::new().prefix(prefix).tempfile_in(dir)
    }

    /// A new file in the default temporary directory whose name ends with `suffix`.
    ///
    /// # Errors
    ///
    /// As [`Builder::tempfile_in`], or discovery's error.
    pub fn with_suffix(suffix: impl AsRef<OsStr>) -> io::Result<Self> {
        Builder::new().suffix(suffix).tempfile()
    }

    /// A new file in `dir` whose name ends with `suffix`.
    ///
    /// # Errors
    ///
    /// As [`Builder::tempfile_in`].
    pub fn with_suffix_in(suffix: impl AsRef<OsStr>, dir: impl AsRef<Path>) -> io::Result<Self> {
        Builder::new().suffix(suffix).tempfile_in(dir)
    }

    /// Joins an open file and the [`TempPath`] that owns its path (the inverse of
    /// [`NamedTempFile::into_parts`]).
    #[must_use]
    pub fn from_parts(file: File, path: TempPath) -> Self {
        Self { file, path }
    }

    /// The file's absolute path.
    #[must_use]
    pub fn path(&self) -> &Path {
        self.path.path()
    }

    /// Opens the file again by its path: a second, independent descriptor (its own offset),
    /// read and write. The file opened is checked to be this one (same device and inode on
    /// POSIX), so a file swapped in at the path is refused.
    ///
    /// # Errors
    ///
    /// The OS error of the open, naming the path; `NotFound` naming the path if another file
    /// now stands there.
    pub fn reopen(&self) -> io::Result<File> {
        imp::reopen(&self.file, self.path())
    }

    /// Turns removal on drop off (`true`) or back on (`false`): see
    /// [`TempPath::disable_cleanup`].
    pub fn disable_cleanup(&mut self, disable: bool) {
        self.path.disable_cleanup(disable);
    }

    /// Removes the path now and returns the open file, which lives on unnamed (and vanishes
    /// when closed).
    #[must_use]
    pub fn into_file(self) -> File {
        let Self { file, path } = self;
        drop(path);
        file
    }

    /// Closes the file and returns the [`TempPath`] that still owns (and removes) its path.
    #[must_use]
    pub fn into_temp_path(self) -> TempPath {
        let Self { file, path } = self;
        drop(file);
        path
    }

    /// The open file.
    #[must_use]
    pub fn as_file(&self) -> &File {
        &self.file
    }

    /// The open file, mutably.
    pub fn as_file_mut(&mut self) -> &mut File {
        &mut self.file
    }

    /// Closes the file and removes it, reporting a failed removal.
    ///
    /// # Errors
    ///
    /// The OS error of the unlink, naming the path.
    pub fn close(self) -> io::Result<()> {
        let Self { file, path } = self;
        drop(file);
        path.close()
    }

    /// Keeps the file: returns it and its path, and nothing removes it (the `tempfile`
    /// crate's signature; it does not fail here).
    ///
    /// # Errors
    ///
    /// None today; the `Result` (and its error type) is the `tempfile` crate's.
    pub fn keep(self) -> Result<(File, PathBuf), PersistError> {
        let Self { file, path } = self;
        Ok((file, path.release()))
    }

    /// Splits into the open file and the [`TempPath`] that owns (and removes) the path.
    #[must_use]
    pub fn into_parts(self) -> (File, TempPath) {
        (self.file, self.path)
    }
}

// --- Publishing (persist): the temp file becomes a permanent one at `dest`. -----------------

impl TempPath {
    /// Moves the file to `dest`, replacing what is there (`rename`); the path is then no
    /// longer owned, and the crash guard forgets it. On failure the `TempPath` comes back in
    /// the error, still owning the path. See [`crate::publish`] for the guarantees.
    ///
    /// # Errors
    ///
    /// `EXDEV` when `dest` is on another filesystem (nothing is copied), or the rename's error.
    pub fn persist(self, dest: impl AsRef<Path>) -> Result<(), PathPersistError> {
        self.persist_with(dest, PersistOptions::new())
    }

    /// As [`TempPath::persist`], but fails with `EEXIST` (path given back) when `dest` exists.
    ///
    /// # Errors
    ///
    /// `EEXIST`, `EXDEV`, or the rename's or link's error.
    pub fn persist_noclobber(self, dest: impl AsRef<Path>) -> Result<(), PathPersistError> {
        self.persist_with(dest, PersistOptions::new().overwrite(false))
    }

    /// Publishes as `options` say (overwrite or not, fsync or not).
    ///
    /// # Errors
    ///
    /// As [`crate::publish::publish_named`]; the path is given back.
    pub fn persist_with(
        self,
        dest: impl AsRef<Path>,
        options: PersistOptions,
    ) -> Result<(), PathPersistError> {
        self.publish(None, dest.as_ref(), options)
            .map_err(|(error, path)| PathPersistError { error, path })
    }

    /// As [`TempPath::persist_with`], syncing through `file` (the open file at this path,
    /// held elsewhere) rather than opening the path again.
    ///
    /// # Errors
    ///
    /// As [`TempPath::persist_with`].
    pub fn persist_with_file(
        self,
        file: Option<&File>,
        dest: impl AsRef<Path>,
        options: PersistOptions,
    ) -> Result<(), PathPersistError> {
        self.publish(file, dest.as_ref(), options)
            .map_err(|(error, path)| PathPersistError { error, path })
    }

    fn publish(
        mut self,
        file: Option<&File>,
        dest: &Path,
        options: PersistOptions,
    ) -> Result<(), (io::Error, Self)> {
        match crate::publish::publish_named(file, &self.path, dest, options) {
            Ok(()) => {
                // Published: nothing to remove, and the guard's entry (whose path is gone)
                // is unregistered as the token drops.
                self.delete = false;
                self.guard = None;
                Ok(())
            }
            // A failed directory sync after the rename: the file is published all the same.
            Err(error) if !self.path.exists() && dest.exists() => {
                self.delete = false;
                self.guard = None;
                Err((error, self))
            }
            Err(error) => Err((error, self)),
        }
    }
}

impl NamedTempFile {
    /// Moves the file to `dest`, replacing what is there, and returns the open file, which
    /// nothing removes any more. On failure the `NamedTempFile` comes back in the
    /// [`PersistError`]. See [`crate::publish`] for the guarantees.
    ///
    /// ```
    /// use std::io::Write;
    /// let dir = ferrotemp::TempDir::new()?;
    /// let mut file = ferrotemp::NamedTempFile::new_in(dir.path())?;
    /// file.write_all(b"config")?;
    /// file.persist(dir.path().join("app.conf"))?;
    /// assert_eq!(std::fs::read(dir.path().join("app.conf"))?, b"config");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `EXDEV` when `dest` is on another filesystem (nothing is copied), or the rename's error.
    pub fn persist(self, dest: impl AsRef<Path>) -> Result<File, PersistError> {
        self.persist_with(dest, PersistOptions::new())
    }

    /// As [`NamedTempFile::persist`], but fails with `EEXIST` (file given back) when `dest`
    /// exists.
    ///
    /// # Errors
    ///
    /// `EEXIST`, `EXDEV`, or the rename's or link's error.
    pub fn persist_noclobber(self, dest: impl AsRef<Path>) -> Result<File, PersistError> {
        self.persist_with(dest, PersistOptions::new().overwrite(false))
    }

    /// Publishes as `options` say (overwrite or not; fsync of the file before the rename and
    /// of the destination's directory after it).
    ///
    /// # Errors
    ///
    /// As [`crate::publish::publish_named`]; the file is given back.
    pub fn persist_with(
        self,
        dest: impl AsRef<Path>,
        options: PersistOptions,
    ) -> Result<File, PersistError> {
        let Self { file, path } = self;
        match path.publish(Some(&file), dest.as_ref(), options) {
            Ok(()) => Ok(file),
            Err((error, path)) => Err(PersistError {
                error,
                file: Self { file, path },
            }),
        }
    }
}

impl Read for NamedTempFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.file.read(buf)
    }
}

impl Write for NamedTempFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Seek for NamedTempFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.file.seek(pos)
    }
}

// As `&File`: reads and writes through a shared reference share the descriptor's offset.
impl Read for &NamedTempFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&self.file).read(buf)
    }
}

impl Write for &NamedTempFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&self.file).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        (&self.file).flush()
    }
}

impl Seek for &NamedTempFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        (&self.file).seek(pos)
    }
}

impl AsRef<Path> for NamedTempFile {
    fn as_ref(&self) -> &Path {
        self.path()
    }
}

#[cfg(unix)]
impl std::os::fd::AsFd for NamedTempFile {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.file.as_fd()
    }
}

#[cfg(unix)]
impl std::os::fd::AsRawFd for NamedTempFile {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.file.as_raw_fd()
    }
}

#[cfg(windows)]
impl std::os::windows::io::AsHandle for NamedTempFile {
    fn as_handle(&self) -> std::os::windows::io::BorrowedHandle<'_> {
        self.file.as_handle()
    }
}

#[cfg(windows)]
impl std::os::windows::io::AsRawHandle for NamedTempFile {
    fn as_raw_handle(&self) -> std::os::windows::io::RawHandle {
        self.file.as_raw_handle()
    }
}

// Platform code, one module per platform.
#[cfg(not(unix))]
use other as imp;
#[cfg(unix)]
use unix as imp;

#[cfg(unix)]
mod unix {
    use std::fs::{File, OpenOptions};
    use std::io;
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    use std::path::Path;

    use crate::error::with_path;

    /// Opens `path` read-write without following a symlink, and checks it is `file`.
    pub(super) fn reopen(file: &File, path: &Path) -> io::Result<File> {
        #[allow(clippy::cast_possible_wrap)]
        let reopened = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(path)
            .map_err(|err| with_path(err, path))?;
        let (was, now) = (file.metadata()?, reopened.metadata()?);
        if (was.dev(), was.ino()) != (now.dev(), now.ino()) {
            let err = io::Error::new(
                io::ErrorKind::NotFound,
                "the temporary file was replaced at its path",
            );
            return Err(with_path(err, path));
        }
        Ok(reopened)
    }
}

#[cfg(not(unix))]
mod other {
    use std::fs::{File, OpenOptions};
    use std::io;
    use std::path::Path;

    use crate::error::with_path;

    /// Opens `path` read-write (no identity check: std gives no file index here).
    pub(super) fn reopen(_file: &File, path: &Path) -> io::Result<File> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|err| with_path(err, path))
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ft-named-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        dir
    }

    #[test]
    fn drop_removes_the_file() {
        let dir = scratch("drop");
        let mut file = NamedTempFile::new_in(&dir).unwrap();
        file.write_all(b"x").unwrap();
        let path = file.path().to_owned();
        assert!(path.exists());
        drop(file);
        assert!(!path.exists());
        std::fs::remove_dir(&dir).unwrap();
    }

    #[test]
    fn read_write_seek_round_trip() {
        let dir = scratch("rw");
        let mut file = NamedTempFile::new_in(&dir).unwrap();
        file.write_all(b"hello").unwrap();
        file.seek(SeekFrom::Start(1)).unwrap();
        let mut out = String::new();
        file.read_to_string(&mut out).unwrap();
        assert_eq!(out, "ello");
        assert_eq!(std::fs::read(file.path()).unwrap(), b"hello");
        file.close().unwrap();
        std::fs::remove_dir(&dir).unwrap();
    }

    #[test]
    fn close_tolerates_a_file_removed_behind_its_back() {
        let dir = scratch("gone");
        let file = NamedTempFile::new_in(&dir).unwrap();
        std::fs::remove_file(file.path()).unwrap();
        file.close().unwrap();
        std::fs::remove_dir(&dir).unwrap();
    }

    #[test]
    fn close_reports_a_failed_removal() {
        let dir = scratch("fail");
        let file = NamedTempFile::new_in(&dir).unwrap();
        let path = file.path().to_owned();
        // A directory in the file's place makes unlink fail with EISDIR (even for root).
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
        let err = file.close().unwrap_err();
        assert_eq!(crate::error::error_path(&err), Some(path.as_path()));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn reopen_refuses_a_file_swapped_in_at_the_path() {
        let dir = scratch("reopen");
        let file = NamedTempFile::new_in(&dir).unwrap();
        std::fs::remove_file(file.path()).unwrap();
        std::fs::write(file.path(), b"someone else's").unwrap();
        let err = file.reopen().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert_eq!(crate::error::error_path(&err), Some(file.path()));
        drop(file);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn reopen_does_not_follow_a_symlink_swapped_in() {
        let dir = scratch("reopen-link");
        let file = NamedTempFile::new_in(&dir).unwrap();
        let target = dir.join("target");
        std::fs::write(&target, b"x").unwrap();
        std::fs::remove_file(file.path()).unwrap();
        std::os::unix::fs::symlink(&target, file.path()).unwrap();
        assert!(file.reopen().is_err());
        drop(file);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn disable_cleanup_keeps_and_reenabling_removes() {
        let dir = scratch("disable");
        let mut kept = NamedTempFile::new_in(&dir).unwrap();
        kept.disable_cleanup(true);
        let kept_path = kept.path().to_owned();
        drop(kept);
        assert!(kept_path.exists());
        let mut removed = NamedTempFile::new_in(&dir).unwrap();
        removed.disable_cleanup(true);
        removed.disable_cleanup(false);
        let removed_path = removed.path().to_owned();
        drop(removed);
        assert!(!removed_path.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn builder_disable_cleanup_is_not_recorded_by_the_guard() {
        let dir = scratch("disable-guarded");
        let file = Builder::new()
            .guarded(true)
            .disable_cleanup(true)
            .tempfile_in(&dir)
            .unwrap();
        assert!(!file.path.is_guarded());
        assert!(!file.path.will_delete());
        drop(file);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn into_file_removes_the_name_and_keeps_the_data() {
        let dir = scratch("into-file");
        let mut named = NamedTempFile::new_in(&dir).unwrap();
        named.write_all(b"data").unwrap();
        let mut file = named.into_file();
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        file.seek(SeekFrom::Start(0)).unwrap();
        let mut back = Vec::new();
        file.read_to_end(&mut back).unwrap();
        assert_eq!(back, b"data");
        std::fs::remove_dir(&dir).unwrap();
    }

    #[test]
    fn try_from_path_owns_an_absolute_path() {
        let temp = TempPath::try_from_path("relative-name").unwrap();
        assert_eq!(
            temp.path(),
            std::env::current_dir().unwrap().join("relative-name")
        );
        let kept = temp.keep().unwrap();
        assert!(kept.is_absolute());
    }

    #[test]
    fn keep_leaves_the_file() {
        let dir = scratch("keep");
        let (_file, path) = NamedTempFile::new_in(&dir).unwrap().keep().unwrap();
        assert!(path.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
