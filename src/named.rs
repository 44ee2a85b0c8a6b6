//! Named temporary files removed by RAII.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
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

    /// Gives up ownership: the path stays, and is returned.
    #[must_use]
    pub fn keep(mut self) -> PathBuf {
        self.delete = false;
        std::mem::take(&mut self.path)
    }

    fn remove_now(&self) -> io::Result<()> {
        if !self.delete {
            return Ok(());
        }
        match std::fs::remove_file(&self.path) {
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
        if !self.is_guarded() {
            return Ok(self
                .try_create_file(path)?
                .map(|file| (file, TempPath::new(absolute, true))));
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
    /// As [`Builder::create_file_in`], or discovery's error.
    pub fn new() -> io::Result<Self> {
        Self::new_in(env::default_tempdir()?)
    }

    /// A new file in `dir`.
    ///
    /// # Errors
    ///
    /// As [`Builder::create_file_in`].
    pub fn new_in(dir: impl AsRef<Path>) -> io::Result<Self> {
        Self::with_builder_in(&Builder::new(), dir)
    }

    /// A new file in `dir`, named and created as `builder` says.
    ///
    /// # Errors
    ///
    /// As [`Builder::create_file_in`].
    pub fn with_builder_in(builder: &Builder, dir: impl AsRef<Path>) -> io::Result<Self> {
        let ((file, path), _) = builder.make_in(
            dir.as_ref(),
            "file",
            |_, _| Ok(()),
            |candidate| builder.try_create_temp_path(candidate),
        )?;
        Ok(Self { file, path })
    }

    /// The file's absolute path.
    #[must_use]
    pub fn path(&self) -> &Path {
        self.path.path()
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

    /// Keeps the file: returns it and its path, and nothing removes it.
    #[must_use]
    pub fn keep(self) -> (File, PathBuf) {
        let Self { file, path } = self;
        (file, path.keep())
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
    fn keep_leaves_the_file() {
        let dir = scratch("keep");
        let (_file, path) = NamedTempFile::new_in(&dir).unwrap().keep();
        assert!(path.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
