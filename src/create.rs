//! Secure creation of uniquely named files and directories.

use std::ffi::{OsStr, OsString};
use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use crate::error::with_path;
use crate::{names, ospath};

/// Whether `err`, from creating `path`, means the name is taken and another should be tried:
/// `EEXIST`, or on Windows access denied where the parent is a writable directory (Windows'
/// answer for a directory of that name, which the standard module treats as a collision).
fn is_name_taken(err: &io::Error, path: &Path) -> bool {
    err.kind() == io::ErrorKind::AlreadyExists || imp::is_name_taken_otherwise(err, path)
}

/// One attempt's outcome in the form [`Builder::make_in`] takes: what was made, `None` when
/// the name at `path` is taken, or the error (as the OS gave it).
///
/// # Errors
///
/// `result`'s error, unless it says the name is taken.
pub fn none_if_taken<T>(result: io::Result<T>, path: &Path) -> io::Result<Option<T>> {
    match result {
        Ok(made) => Ok(Some(made)),
        Err(err) if is_name_taken(&err, path) => Ok(None),
        Err(err) => Err(err),
    }
}

/// Configures and creates uniquely named temporary files and directories.
///
/// The owning creators come first: [`Builder::tempfile`] / [`Builder::tempfile_in`] give a
/// [`NamedTempFile`](crate::NamedTempFile) and [`Builder::tempdir`] / [`Builder::tempdir_in`]
/// a [`TempDir`](crate::TempDir), each removed when dropped, as the `tempfile` crate's builder
/// does (and with its names: [`prefix`](Builder::prefix), [`suffix`](Builder::suffix),
/// [`rand_bytes`](Builder::rand_bytes), [`permissions`](Builder::permissions),
/// [`disable_cleanup`](Builder::disable_cleanup)). [`crate::tempfile`] makes an unnamed file.
///
/// ```
/// let file = ferrotemp::Builder::new().prefix("report-").suffix(".csv").tempfile()?;
/// let name = file.path().file_name().unwrap().to_str().unwrap();
/// assert!(name.starts_with("report-") && name.ends_with(".csv"));
/// let dir = ferrotemp::Builder::new().prefix("build-").tempdir()?;
/// assert!(dir.path().is_dir());
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// Names are `prefix + random + suffix`, the random part drawn from the OS CSPRNG. Files are
/// created with `O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC` and mode 0600, directories with mode
/// 0700; a name that is taken is replaced by a fresh one up to [`names::TMP_MAX`] times.
///
/// The raw creators [`Builder::create_unowned_file_in`] and [`Builder::create_unowned_dir_in`]
/// (Python's `mkstemp` and `mkdtemp`) hand back a path that nothing removes: the caller
/// owns it.
// Each flag is an independent switch of the `tempfile` crate's builder or Python's call.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug, Clone)]
pub struct Builder {
    prefix: OsString,
    suffix: OsString,
    rand_len: usize,
    file_mode: u32,
    dir_mode: u32,
    binary: bool,
    max_attempts: u32,
    guarded: bool,
    append: bool,
    disable_cleanup: bool,
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

impl Builder {
    /// A builder with the standard module's defaults: prefix `tmp`, no suffix, 8 random
    /// characters, files 0600, directories 0700, binary, [`names::TMP_MAX`] attempts.
    #[must_use]
    pub fn new() -> Self {
        Self {
            prefix: OsString::from("tmp"),
            suffix: OsString::new(),
            rand_len: names::DEFAULT_RAND_LEN,
            file_mode: 0o600,
            dir_mode: 0o700,
            binary: true,
            max_attempts: names::TMP_MAX,
            guarded: false,
            append: false,
            disable_cleanup: false,
        }
    }

    /// Sets the text placed before the random part.
    pub fn prefix(&mut self, prefix: impl AsRef<OsStr>) -> &mut Self {
        prefix.as_ref().clone_into(&mut self.prefix);
        self
    }

    /// Sets the text placed after the random part.
    pub fn suffix(&mut self, suffix: impl AsRef<OsStr>) -> &mut Self {
        suffix.as_ref().clone_into(&mut self.suffix);
        self
    }

    /// Sets how many random characters a name has.
    pub fn rand_len(&mut self, len: usize) -> &mut Self {
        self.rand_len = len;
        self
    }

    /// Sets how many random characters a name has: the `tempfile` crate's name for
    /// [`Builder::rand_len`].
    pub fn rand_bytes(&mut self, rand: usize) -> &mut Self {
        self.rand_len(rand)
    }

    /// Sets the permissions of created files and directories alike, as the `tempfile` crate's
    /// builder does (default 0600 for files, 0700 for directories). On POSIX the mode bits go
    /// to `open`/`mkdir`, so the umask still applies; elsewhere they are ignored.
    // By value, as the `tempfile` crate's signature.
    #[allow(clippy::needless_pass_by_value)]
    pub fn permissions(&mut self, permissions: std::fs::Permissions) -> &mut Self {
        if let Some(mode) = imp::permission_bits(&permissions) {
            self.file_mode = mode;
            self.dir_mode = mode;
        }
        self
    }

    /// Opens created files in append mode (default off), as the `tempfile` crate's builder.
    pub fn append(&mut self, append: bool) -> &mut Self {
        self.append = append;
        self
    }

    /// Makes what [`Builder::tempfile`] and [`Builder::tempdir`] (and their `_in` forms)
    /// create stay when dropped (default off), as the `tempfile` crate's builder: nothing
    /// removes it, and it is not recorded with the crash guard either.
    pub fn disable_cleanup(&mut self, disable: bool) -> &mut Self {
        self.disable_cleanup = disable;
        self
    }

    /// The older name of [`Builder::disable_cleanup`] (the `tempfile` crate's before 3.19).
    pub fn keep(&mut self, keep: bool) -> &mut Self {
        self.disable_cleanup(keep)
    }

    /// Whether [`Builder::disable_cleanup`] is on.
    #[must_use]
    pub fn is_cleanup_disabled(&self) -> bool {
        self.disable_cleanup
    }

    /// Sets the permission bits of created files (POSIX; the umask still applies).
    pub fn file_permissions(&mut self, mode: u32) -> &mut Self {
        self.file_mode = mode;
        self
    }

    /// Sets the permission bits of created directories (POSIX; the umask still applies).
    pub fn dir_permissions(&mut self, mode: u32) -> &mut Self {
        self.dir_mode = mode;
        self
    }

    /// Chooses binary (the default) or text mode for files on Windows, which only changes the
    /// C runtime flags [`Builder::open_flags`] reports (the descriptor is opened in its mode
    /// by the caller); no effect elsewhere.
    pub fn binary(&mut self, binary: bool) -> &mut Self {
        self.binary = binary;
        self
    }

    /// Sets how many names are tried before giving up (default [`names::TMP_MAX`]).
    pub fn max_attempts(&mut self, attempts: u32) -> &mut Self {
        self.max_attempts = attempts;
        self
    }

    /// Makes the [`NamedTempFile`](crate::NamedTempFile)s and [`TempDir`](crate::TempDir)s
    /// this builder creates register with the [crash guard](crate::guard) (default off), so a
    /// later sweep removes them if the process dies without running destructors. In keep mode
    /// (`FERROTEMP_KEEP=1`) they are kept instead. The `create_unowned_*` calls are never
    /// guarded: what they return belongs to the caller, and neither is what
    /// [`Builder::disable_cleanup`] keeps.
    pub fn guarded(&mut self, guarded: bool) -> &mut Self {
        self.guarded = guarded;
        self
    }

    /// Whether [`Builder::guarded`] is on.
    #[must_use]
    pub fn is_guarded(&self) -> bool {
        self.guarded
    }

    /// How many names are tried before giving up.
    #[must_use]
    pub fn attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The permission bits directories are created with (before the umask).
    #[must_use]
    pub fn dir_mode(&self) -> u32 {
        self.dir_mode
    }

    /// The flags [`Builder::try_create_file`] passes to the C `open` (`O_RDWR | O_CREAT |
    /// O_EXCL | O_NOFOLLOW | O_CLOEXEC` on POSIX; on Windows the C runtime's equivalents,
    /// binary or text), as the standard module's `os.open` call reports them to audit hooks.
    #[must_use]
    pub fn open_flags(&self) -> i32 {
        imp::open_flags(self.binary)
    }

    /// A fresh candidate name: `prefix + random + suffix`, exactly as given (a prefix or
    /// suffix may hold separators or `..`; nothing is normalised).
    ///
    /// # Errors
    ///
    /// Fails only if the OS random source fails.
    pub fn candidate_name(&self) -> io::Result<OsString> {
        let mut name =
            OsString::with_capacity(self.prefix.len() + self.rand_len + self.suffix.len());
        name.push(&self.prefix);
        let mut random = Vec::with_capacity(self.rand_len);
        names::push_random_chars(&mut random, self.rand_len)?;
        // The alphabet is ASCII, so the bytes are valid UTF-8.
        name.push(std::str::from_utf8(&random).unwrap_or_default());
        name.push(&self.suffix);
        Ok(name)
    }

    /// A fresh candidate path: `dir` joined with [`Builder::candidate_name`].
    ///
    /// As with Python's `os.path.join`, an absolute prefix replaces `dir`.
    ///
    /// # Errors
    ///
    /// Fails only if the OS random source fails.
    pub fn candidate_path(&self, dir: &Path) -> io::Result<PathBuf> {
        Ok(dir.join(self.candidate_name()?))
    }

    /// Opens a new file at `path` as every ferrotemp file is opened: read and write,
    /// `O_CREAT|O_EXCL`, this builder's mode (0600 unless set), `O_NOFOLLOW` and close-on-exec
    /// on POSIX. The error is the OS's, without the path.
    pub(crate) fn open_new_file(&self, path: &Path) -> io::Result<File> {
        let mut options = OpenOptions::new();
        options
            .read(true)
            .write(true)
            .append(self.append)
            .create_new(true);
        imp::new_file_options(&mut options, self.file_mode);
        options.open(path)
    }

    /// Tries to create a new file at `path`. `Ok(None)` means the name is taken and another
    /// should be tried.
    ///
    /// # Errors
    ///
    /// The OS error, naming `path`; an embedded NUL gives `InvalidInput`.
    pub fn try_create_file(&self, path: &Path) -> io::Result<Option<File>> {
        none_if_taken(self.open_new_file(path), path).map_err(|err| with_path(err, path))
    }

    /// Tries to create a new directory at `path`. `Ok(false)` means the name is taken.
    ///
    /// # Errors
    ///
    /// The OS error, naming `path`.
    pub fn try_create_dir(&self, path: &Path) -> io::Result<bool> {
        let mut builder = std::fs::DirBuilder::new();
        imp::new_dir_options(&mut builder, self.dir_mode);
        match none_if_taken(builder.create(path), path) {
            Ok(made) => Ok(made.is_some()),
            Err(err) => Err(with_path(err, path)),
        }
    }

    /// The creation loop, the one every creator of ferrotemp goes through: draws a name
    /// ([`Builder::candidate_name`]), joins it to `dir` (as given: the caller makes it
    /// absolute if it wants), calls `per_attempt` with the candidate path and name (the
    /// Python bindings raise their audit events there), then `try_once` to make the entry at
    /// that path. `try_once` answers `Ok(None)` when the name is taken ([`none_if_taken`]
    /// classifies the OS error), and the loop draws another name, up to
    /// [`Builder::max_attempts`] times. Returns what `try_once` made and its path.
    ///
    /// ```
    /// use ferrotemp::create::none_if_taken;
    /// let parent = ferrotemp::TempDir::new()?;
    /// let mut names = Vec::new();
    /// let ((), path) = ferrotemp::Builder::new().make_in(
    ///     parent.path(),
    ///     "directory",
    ///     |_path, name| {
    ///         names.push(name.to_owned());
    ///         Ok::<(), std::io::Error>(())
    ///     },
    ///     |path| none_if_taken(std::fs::create_dir(path), path),
    /// )?;
    /// assert_eq!(names, [path.file_name().unwrap()]);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The first error of `per_attempt` or `try_once`, the random source's, or once every
    /// attempt found its name taken `AlreadyExists`, "No usable temporary {what} name found"
    /// (the standard module's `FileExistsError`).
    ///
    /// Each entry made counts in [`crate::stats`]' `created`.
    pub fn make_in<T, E: From<io::Error>>(
        &self,
        dir: &Path,
        what: &str,
        per_attempt: impl FnMut(&Path, &OsStr) -> Result<(), E>,
        try_once: impl FnMut(&Path) -> Result<Option<T>, E>,
    ) -> Result<(T, PathBuf), E> {
        let made = self.make_in_uncounted(dir, what, per_attempt, try_once)?;
        crate::stats::note_created();
        Ok(made)
    }

    /// [`Builder::make_in`] for the crate's own files (guard records, probes, a published
    /// file's passing name), which are not temporary entries of the user's.
    pub(crate) fn make_in_uncounted<T, E: From<io::Error>>(
        &self,
        dir: &Path,
        what: &str,
        mut per_attempt: impl FnMut(&Path, &OsStr) -> Result<(), E>,
        mut try_once: impl FnMut(&Path) -> Result<Option<T>, E>,
    ) -> Result<(T, PathBuf), E> {
        for _ in 0..self.max_attempts {
            let name = self.candidate_name()?;
            let path = dir.join(&name);
            per_attempt(&path, &name)?;
            if let Some(made) = try_once(&path)? {
                return Ok((made, path));
            }
        }
        Err(names_exhausted(what).into())
    }

    /// Creates a uniquely named file in `dir` and returns it with its absolute path, **owned
    /// by nobody**: nothing removes it (Python's `mkstemp`). [`Builder::tempfile_in`] is the
    /// owning form, which removes the file when dropped.
    ///
    /// The path is `dir` made absolute (as Python's `os.path.abspath`) joined with the name as
    /// created. The name is not normalised, so a prefix such as `sub/../x` under a symlinked
    /// `sub` still names the file made.
    ///
    /// ```
    /// let dir = ferrotemp::tempdir()?;
    /// let (file, path) = ferrotemp::Builder::new().suffix(".log").create_unowned_file_in(&dir)?;
    /// assert!(path.starts_with(&dir));
    /// # drop(file);
    /// std::fs::remove_file(&path)?; // the caller's to remove
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The OS error naming the path tried, or `AlreadyExists` once [`names::TMP_MAX`] names
    /// were taken.
    pub fn create_unowned_file_in(&self, dir: impl AsRef<Path>) -> io::Result<(File, PathBuf)> {
        let dir = ospath::abspath(dir.as_ref());
        self.make_in(
            &dir,
            "file",
            |_, _| Ok(()),
            |path| self.try_create_file(path),
        )
    }

    /// Creates a uniquely named directory in `dir` and returns its absolute path, made as
    /// [`Builder::create_unowned_file_in`]'s and **owned by nobody**: nothing removes it
    /// (Python's `mkdtemp`). [`Builder::tempdir_in`] is the owning form.
    ///
    /// # Errors
    ///
    /// As [`Builder::create_unowned_file_in`].
    pub fn create_unowned_dir_in(&self, dir: impl AsRef<Path>) -> io::Result<PathBuf> {
        let dir = ospath::abspath(dir.as_ref());
        let made = self.make_in(
            &dir,
            "directory",
            |_, _| Ok(()),
            |path| self.try_create_dir(path).map(|made| made.then_some(())),
        );
        made.map(|((), path)| path)
    }
}

/// The error for a directory where every name tried was taken: `AlreadyExists` with the
/// standard module's message ("No usable temporary file name found").
fn names_exhausted(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("No usable temporary {what} name found"),
    )
}

// Platform code, one module per platform.
#[cfg(unix)]
use unix as imp;
#[cfg(windows)]
use windows as imp;

#[cfg(unix)]
mod unix {
    use std::fs::{DirBuilder, OpenOptions};
    use std::io;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    use std::path::Path;

    /// Only `EEXIST` says a name is taken here.
    pub(super) fn is_name_taken_otherwise(_err: &io::Error, _path: &Path) -> bool {
        false
    }

    pub(super) fn open_flags(_binary: bool) -> i32 {
        libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC
    }

    /// `mode`, `O_NOFOLLOW` and close-on-exec.
    pub(super) fn new_file_options(options: &mut OpenOptions, mode: u32) {
        // std already adds O_CLOEXEC; it is repeated here so the intent is visible.
        let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::CLOEXEC;
        #[allow(clippy::cast_possible_wrap)]
        options.mode(mode).custom_flags(flags.bits() as i32);
    }

    pub(super) fn new_dir_options(builder: &mut DirBuilder, mode: u32) {
        builder.mode(mode);
    }

    /// The permission bits of `permissions` (file type bits dropped).
    #[allow(clippy::unnecessary_wraps)] // `None` on Windows
    pub(super) fn permission_bits(permissions: &std::fs::Permissions) -> Option<u32> {
        use std::os::unix::fs::PermissionsExt;
        Some(permissions.mode() & 0o7777)
    }
}

#[cfg(windows)]
mod windows {
    use std::fs::{DirBuilder, OpenOptions};
    use std::io;
    use std::path::Path;

    /// Access denied where the parent is a writable directory: Windows' answer for a
    /// directory of that name.
    pub(super) fn is_name_taken_otherwise(err: &io::Error, path: &Path) -> bool {
        let dir = path.parent().unwrap_or(path);
        err.kind() == io::ErrorKind::PermissionDenied
            && std::fs::metadata(dir).is_ok_and(|m| m.is_dir() && !m.permissions().readonly())
    }

    pub(super) fn open_flags(binary: bool) -> i32 {
        // _O_RDWR | _O_CREAT | _O_EXCL | _O_NOINHERIT, and _O_BINARY or _O_TEXT.
        0x0002 | 0x0100 | 0x0400 | 0x0080 | if binary { 0x8000 } else { 0x4000 }
    }

    /// No mode bits here (the C runtime's permission flag is not what a mode says).
    pub(super) fn new_file_options(_options: &mut OpenOptions, _mode: u32) {}

    pub(super) fn new_dir_options(_builder: &mut DirBuilder, _mode: u32) {}

    /// No mode bits to take from Windows permissions (only a read-only flag).
    pub(super) fn permission_bits(_permissions: &std::fs::Permissions) -> Option<u32> {
        None
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ft-create-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        dir
    }

    #[test]
    fn file_is_0600_with_prefix_and_suffix() {
        let dir = scratch("mode");
        let (_file, path) = Builder::new()
            .prefix("pre.")
            .suffix(".suf")
            .create_unowned_file_in(&dir)
            .unwrap();
        let name = path.file_name().unwrap().to_str().unwrap();
        assert!(name.starts_with("pre."), "{name}");
        assert_eq!(&name[name.len() - 4..], ".suf");
        assert_eq!(name.len(), 4 + 8 + 4);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn dir_is_0700() {
        let dir = scratch("dirmode");
        let created = Builder::new().create_unowned_dir_in(&dir).unwrap();
        let mode = std::fs::metadata(&created).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn make_in_hooks_every_attempt_once_and_gives_up_after_max_attempts() {
        let dir = Path::new("/nonexistent-ferrotemp");
        let mut builder = Builder::new();
        builder.max_attempts(3);
        let mut hooked = Vec::new();
        let mut tried = Vec::new();
        let err = builder
            .make_in(
                dir,
                "file",
                |path, name| {
                    hooked.push((path.to_path_buf(), name.to_owned()));
                    Ok(())
                },
                |path| {
                    tried.push(path.to_path_buf());
                    none_if_taken::<()>(Err(io::ErrorKind::AlreadyExists.into()), path)
                },
            )
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(err.to_string(), "No usable temporary file name found");
        assert_eq!(hooked.len(), 3);
        // Each attempt is at the candidate the hook saw: `dir` joined with the name.
        let hooked_paths: Vec<PathBuf> = hooked.iter().map(|(path, _)| path.clone()).collect();
        let joined: Vec<PathBuf> = hooked.iter().map(|(_, name)| dir.join(name)).collect();
        assert_eq!(tried, hooked_paths);
        assert_eq!(tried, joined);
    }

    #[test]
    fn make_in_returns_what_the_first_free_name_made_with_its_path() {
        let mut taken = 2;
        let (made, path) = Builder::new()
            .make_in(
                Path::new("/d"),
                "file",
                |_, _| Ok(()),
                |path| -> io::Result<Option<PathBuf>> {
                    if taken == 0 {
                        return Ok(Some(path.to_path_buf()));
                    }
                    taken -= 1;
                    Ok(None)
                },
            )
            .unwrap();
        assert_eq!(made, path);
        assert_eq!(taken, 0);
    }

    #[test]
    fn make_in_stops_at_a_hook_error_before_attempting() {
        let mut attempted = false;
        let err = Builder::new()
            .make_in(
                Path::new("/d"),
                "file",
                |_, _| Err(io::Error::other("refused by the hook")),
                |_| -> io::Result<Option<()>> {
                    attempted = true;
                    Ok(Some(()))
                },
            )
            .unwrap_err();
        assert_eq!(err.to_string(), "refused by the hook");
        assert!(!attempted);
    }

    #[test]
    fn make_in_stops_at_an_attempts_error() {
        let mut attempts = 0;
        let err = Builder::new()
            .make_in(
                Path::new("/d"),
                "file",
                |_, _| Ok(()),
                |path| {
                    attempts += 1;
                    none_if_taken::<()>(Err(io::ErrorKind::PermissionDenied.into()), path)
                },
            )
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
        assert_eq!(attempts, 1);
    }

    #[test]
    fn taken_names_are_reported_as_exhausted() {
        let dir = scratch("exhaust");
        let builder = {
            let mut b = Builder::new();
            b.rand_len(0).prefix("only");
            b
        };
        builder.create_unowned_file_in(&dir).unwrap();
        let err = builder.create_unowned_file_in(&dir).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(err.to_string(), "No usable temporary file name found");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_dir_error_names_the_path_tried() {
        let err = Builder::new()
            .create_unowned_file_in("/nonexistent-ferrotemp")
            .unwrap_err();
        assert_eq!(crate::error::raw_os_error(&err), Some(2));
        let path = crate::error::error_path(&err).unwrap();
        assert!(path.starts_with("/nonexistent-ferrotemp"));
    }

    #[test]
    fn nul_in_prefix_is_invalid_input() {
        let dir = scratch("nul");
        let err = Builder::new()
            .prefix("a\0b")
            .create_unowned_file_in(&dir)
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// `scratch/link` points into `scratch/real/deep`, so `link/../` is `real/` on disk but
    /// `scratch/` lexically.
    fn symlinked(name: &str) -> PathBuf {
        let dir = scratch(name);
        std::fs::create_dir_all(dir.join("real/deep")).unwrap();
        std::os::unix::fs::symlink(dir.join("real/deep"), dir.join("link")).unwrap();
        dir
    }

    #[test]
    fn file_path_keeps_the_prefix_as_given_through_a_symlink() {
        let dir = symlinked("file-link");
        let (_file, path) = Builder::new()
            .prefix("link/../x")
            .create_unowned_file_in(&dir)
            .unwrap();
        let text = path.to_str().unwrap();
        assert!(text.starts_with(dir.to_str().unwrap()), "{text}");
        assert!(text.contains("/link/../x"), "not normalised: {text}");
        assert!(
            path.is_file(),
            "the returned path names the file made: {text}"
        );
        let name = path.file_name().unwrap();
        assert!(dir.join("real").join(name).is_file());
        assert!(
            !dir.join(name).exists(),
            "lexical normalisation would name this"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn dir_path_keeps_the_prefix_as_given_through_a_symlink() {
        let dir = symlinked("dir-link");
        let path = Builder::new()
            .prefix("link/../x")
            .create_unowned_dir_in(&dir)
            .unwrap();
        assert!(path.to_str().unwrap().contains("/link/../x"));
        assert!(path.is_dir());
        assert!(dir.join("real").join(path.file_name().unwrap()).is_dir());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn relative_dir_is_made_absolute_lexically_and_the_name_kept() {
        let (_f, path) = Builder::new()
            .prefix("./a.")
            .create_unowned_file_in("./.")
            .unwrap();
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(path.parent().unwrap(), cwd.join("."));
        assert!(path.to_str().unwrap().contains("/./a."));
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn relative_dir_gives_absolute_path() {
        let (_f, path) = Builder::new().create_unowned_file_in(".").unwrap();
        assert!(path.is_absolute());
        std::fs::remove_file(&path).unwrap();
    }
}
