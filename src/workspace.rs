//! Jobs: a [`Workspace`] is one guarded temporary directory per job, with limits, live
//! usage and a keep policy.
//!
//! A service runs jobs, and each job wants a scratch directory: made at the start with a name
//! that says which job it is, measured while it runs, removed when the job succeeds and kept
//! for inspection when it fails. A [`Workspace`] is that directory (mode 0700, named
//! `<name>-XXXXXXXX`), recorded by the [crash guard](crate::guard) with its name and limits so
//! a sweep reclaims it if the process is killed, and `ferrotemp ls` can show it.
//!
//! # What is enforced, and what is measured
//!
//! - **Enforced at write time**, by the callers of [`Workspace::reserve_create`] and
//!   [`Workspace::reserve_write`] (the Python package's creators and file objects): a creation
//!   while the workspace is at or over a limit, and a write that would take the bytes written
//!   through the workspace's own objects past `max_bytes`, fail with `EDQUOT` naming the
//!   workspace's path, before anything is created or written.
//! - **Found by measurement**: what anything else writes into the directory (a subprocess, a
//!   library opening a path inside it). [`Workspace::usage`] walks the tree by descriptor
//!   (blocks on disk, hard links once, as `du -B1`); a measurement that finds the tree over a
//!   limit (the directory's own blocks not counted against `max_bytes`) makes later
//!   creations fail until a measurement finds it back under.
//!
//! Kernel project quotas would enforce a limit for every writer; nothing here precludes them
//! (the directory could be given a project id at creation), but they are not used.
//!
//! # The end
//!
//! [`Workspace::finish`] (or dropping the value) removes the tree with
//! [`remove_tree_nofollow_with`](crate::remove::remove_tree_nofollow_with), unless the
//! [`KeepPolicy`] keeps it. The workspace holds a descriptor of its directory: it measures
//! through it and removes only that directory (its device and inode), never another put at
//! its path since (unlike a [`TempDir`], which removes a same-user replacement as the
//! standard module does: a workspace is no standard-module object). The policy:
//! `Always`, or `OnError` when the job failed (a drop during a panic counts as failed). A kept
//! workspace is unrecorded from the crash guard (an age sweep still finds it later). Keep
//! mode (`FERROTEMP_KEEP=1`) keeps every workspace, as it keeps every guarded entry;
//! `FERROTEMP_KEEP=on-error` makes `OnError` the default policy.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::create::Builder;
use crate::dir::TempDir;
use crate::error::with_path;
use crate::guard::{self, Registration};
use crate::remove::RemoveError;

/// When a workspace's directory outlives the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepPolicy {
    /// Always removed at the end (the default).
    Never,
    /// Never removed by the workspace (a debugging mode).
    Always,
    /// Kept when the job failed, removed when it succeeded.
    OnError,
}

impl KeepPolicy {
    /// `"never"`, `"always"` or `"on-error"` (also `on_error`; any case, spaces around).
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "never" => Some(Self::Never),
            "always" => Some(Self::Always),
            "on-error" | "on_error" => Some(Self::OnError),
            _ => None,
        }
    }

    /// The name [`KeepPolicy::parse`] reads.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Never => "never",
            Self::Always => "always",
            Self::OnError => "on-error",
        }
    }

    /// The default `FERROTEMP_KEEP` sets: `Always` for a value the crash guard reads as on
    /// (`1`, `true`, …), `OnError` for `on-error`, `None` otherwise (unset, off, or not
    /// understood: the guard's reading, which warns about it, stands).
    #[must_use]
    pub fn from_env() -> Option<Self> {
        let value = std::env::var_os("FERROTEMP_KEEP")?;
        if Self::parse(&value.to_string_lossy()) == Some(Self::OnError) {
            return Some(Self::OnError);
        }
        crate::env::read_switch("FERROTEMP_KEEP", false)
            .0
            .then_some(Self::Always)
    }

    /// Whether a job that ended `ok` keeps its directory under this policy.
    #[must_use]
    pub fn keeps(self, ok: bool) -> bool {
        match self {
            Self::Never => false,
            Self::Always => true,
            Self::OnError => !ok,
        }
    }
}

/// A workspace's limits; `None` is no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// The most bytes the workspace may hold.
    pub max_bytes: Option<u64>,
    /// The most entries (files and directories, as an inode quota counts them) the workspace
    /// may hold, its own directory not counted.
    pub max_files: Option<u64>,
}

/// What a workspace holds and has done; see [`Workspace::usage`].
///
/// `bytes` and `peak_bytes` are blocks on disk, as `du -B1` and `ferrotemp ls` show them;
/// the bytes written through the workspace's objects (what `max_bytes` refuses writes
/// against, [`Workspace::written_bytes`]) and the process-wide statistics of sweeps
/// (`bytes_reclaimed`) are file lengths.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Bytes on disk in the tree (blocks, hard links once: `du -B1 -s`), measured.
    pub bytes: u64,
    /// Non-directory entries in the tree, measured.
    pub files: u64,
    /// Directories in the tree, the workspace's own not counted, measured.
    pub dirs: u64,
    /// The most bytes seen at once: by measurement, or written through the workspace's own
    /// objects, whichever was more.
    pub peak_bytes: u64,
    /// Entries the workspace's creators made.
    pub created: u64,
    /// Of those, how many the workspace saw removed.
    pub removed: u64,
    /// Entries that could not be removed (at the end, or reported by a creator's cleanup).
    pub cleanup_errors: u64,
    /// Time since the workspace was made (up to its end, once ended).
    pub elapsed: Duration,
}

/// How a workspace ended; see [`Workspace::finish`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ending {
    /// Whether the directory was kept (by the policy or keep mode).
    pub kept: bool,
    /// The usage measured just before the end.
    pub usage: Usage,
}

/// Makes a [`Workspace`].
#[derive(Debug, Clone)]
pub struct WorkspaceBuilder {
    name: String,
    limits: Limits,
    keep: Option<KeepPolicy>,
    dir: Option<PathBuf>,
    command: Option<String>,
}

impl WorkspaceBuilder {
    /// A workspace named `name` (the directory's prefix, sanitised, and the record's name).
    #[must_use]
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            limits: Limits::default(),
            keep: None,
            dir: None,
            command: None,
        }
    }

    /// The byte limit (see [`parse_size`] for `"2 GiB"`).
    pub fn max_bytes(&mut self, max: Option<u64>) -> &mut Self {
        self.limits.max_bytes = max;
        self
    }

    /// The entry limit.
    pub fn max_files(&mut self, max: Option<u64>) -> &mut Self {
        self.limits.max_files = max;
        self
    }

    /// The keep policy; `None` (the default) is `FERROTEMP_KEEP=on-error`'s `OnError`, else
    /// `Never`.
    pub fn keep(&mut self, keep: Option<KeepPolicy>) -> &mut Self {
        self.keep = keep;
        self
    }

    /// The directory to make the workspace in; `None` is the default temp directory.
    pub fn dir(&mut self, dir: Option<PathBuf>) -> &mut Self {
        self.dir = dir;
        self
    }

    /// The command line the job runs (`ferrotemp run`), kept in the record for readers such
    /// as `ferrotemp ls`.
    pub fn command(&mut self, command: Option<String>) -> &mut Self {
        self.command = command;
        self
    }

    /// Creates the directory and records it with the crash guard.
    ///
    /// # Errors
    ///
    /// Creation's error (naming the parent directory), or temp-dir discovery's.
    pub fn create(&self) -> io::Result<Workspace> {
        let parent = match &self.dir {
            Some(dir) => dir.clone(),
            None => crate::env::default_tempdir()?,
        };
        let mut policy = match self.keep {
            Some(policy) => policy,
            None => KeepPolicy::from_env().unwrap_or(KeepPolicy::Never),
        };
        let meta = guard::WorkspaceMeta {
            name: self.name.clone(),
            command: self.command.clone(),
            max_bytes: self.limits.max_bytes,
            max_files: self.limits.max_files,
        };
        // Recorded as a workspace before each mkdir (pending, so a kill at any instant leaves
        // nothing unrecorded and the directory is born after this process's record), then
        // confirmed with the directory's identity; a failed attempt drops its entry.
        let builder = {
            let mut builder = Builder::new();
            builder.prefix(dir_prefix(&self.name));
            builder
        };
        let parent = crate::ospath::absolute(&parent);
        let ((dir, registration, root), _) = builder.make_in(
            &parent,
            "directory",
            |_, _| Ok::<(), io::Error>(()),
            |candidate| {
                let registration = guard::register_workspace_pending(candidate, &meta);
                let Some(dir) = builder.try_tempdir(candidate)? else {
                    return Ok(None);
                };
                let root = open_root(&registration, dir.path())?;
                Ok(Some((dir, registration, root)))
            },
        )?;
        if registration.is_keep() {
            policy = KeepPolicy::Always;
        }
        Ok(Workspace {
            name: self.name.clone(),
            path: dir.path().to_path_buf(),
            limits: self.limits,
            policy,
            started: Instant::now(),
            counters: Counters::default(),
            measured: Mutex::new(None),
            root,
            end: Mutex::new(End::Running { dir, registration }),
        })
    }
}

#[derive(Debug, Default)]
struct Counters {
    created: AtomicU64,
    removed: AtomicU64,
    written: AtomicU64,
    peak: AtomicU64,
    cleanup_errors: AtomicU64,
    /// Set by a measurement that found the tree over a limit; cleared by one under.
    measured_over: AtomicBool,
}

/// What the last measurement found: entries in the tree, and how many the creators had made
/// when it started. Live entries are at most `entries` plus those made since: a file its
/// creator did not see removed (dropped unclosed, removed by other code) stops counting
/// against `max_files` once a measurement finds it gone.
#[derive(Debug, Clone, Copy)]
struct Measured {
    entries: u64,
    created_before: u64,
}

/// What holds the workspace's own directory: a descriptor of it (its identity, and what
/// [`Workspace::usage`] measures through), so that a directory renamed into its path is
/// neither measured nor removed.
#[cfg(unix)]
type Root = std::os::fd::OwnedFd;
#[cfg(not(unix))]
type Root = ();

#[derive(Debug)]
enum End {
    Running {
        dir: TempDir,
        registration: Registration,
    },
    Ended(Ending),
}

/// A job's temporary directory with limits, usage and a keep policy (see the module docs).
///
/// ```
/// let ws = ferrotemp::WorkspaceBuilder::new("resize-42").max_files(Some(100)).create()?;
/// ws.reserve_create()?;
/// std::fs::write(ws.path().join("out.csv"), b"a,b\n")?;
/// assert_eq!(ws.usage()?.files, 1);
/// let ending = ws.finish(true)?;
/// assert!(!ending.kept);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Workspace {
    name: String,
    path: PathBuf,
    limits: Limits,
    policy: KeepPolicy,
    started: Instant,
    counters: Counters,
    measured: Mutex<Option<Measured>>,
    root: Root,
    end: Mutex<End>,
}

impl Workspace {
    /// [`WorkspaceBuilder::new`].
    #[must_use]
    pub fn builder(name: impl Into<String>) -> WorkspaceBuilder {
        WorkspaceBuilder::new(name)
    }

    /// The name given.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The directory's absolute path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The limits.
    #[must_use]
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The keep policy in force (keep mode makes it `Always`).
    #[must_use]
    pub fn keep_policy(&self) -> KeepPolicy {
        self.policy
    }

    /// Whether [`Workspace::finish`] has run.
    #[must_use]
    pub fn is_finished(&self) -> bool {
        matches!(*self.lock_end(), End::Ended(_))
    }

    /// The `EDQUOT` error naming the workspace, counted in the process's statistics.
    fn refusal(&self) -> io::Error {
        crate::stats::note_quota_refusal();
        with_path(edquot(), &self.path)
    }

    /// Fails with `EDQUOT` if a creation now would be refused: at or over `max_files` live
    /// entries, at or over `max_bytes` written, or over a limit at the last measurement.
    ///
    /// # Errors
    ///
    /// `EDQUOT` naming the workspace's path.
    pub fn check_create(&self) -> io::Result<()> {
        let c = &self.counters;
        let live = self.live(c.created.load(Ordering::Relaxed));
        let over_files = self.limits.max_files.is_some_and(|max| live >= max);
        let over_bytes = self
            .limits
            .max_bytes
            .is_some_and(|max| c.written.load(Ordering::Relaxed) >= max);
        if over_files || over_bytes || c.measured_over.load(Ordering::Relaxed) {
            return Err(self.refusal());
        }
        Ok(())
    }

    /// [`Workspace::check_create`], then counts one entry created; if the creation then
    /// fails, [`Workspace::cancel_create`] takes it back. Concurrent callers cannot pass
    /// `max_files` together.
    ///
    /// # Errors
    ///
    /// `EDQUOT` naming the workspace's path.
    pub fn reserve_create(&self) -> io::Result<()> {
        self.check_create()?;
        let created = self.counters.created.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(max) = self.limits.max_files {
            if self.live(created) > max {
                self.counters.created.fetch_sub(1, Ordering::Relaxed);
                return Err(self.refusal());
            }
        }
        Ok(())
    }

    /// Live entries of the creators' when `created` had been made: those made and not seen
    /// removed, or, if less, what the last measurement found plus those made since it
    /// started.
    fn live(&self, created: u64) -> u64 {
        let counted = created.saturating_sub(self.counters.removed.load(Ordering::Relaxed));
        let measured = *self.measured.lock().unwrap_or_else(PoisonError::into_inner);
        measured.map_or(counted, |m| {
            counted.min(
                m.entries
                    .saturating_add(created.saturating_sub(m.created_before)),
            )
        })
    }

    /// Takes back a [`Workspace::reserve_create`] whose creation failed.
    pub fn cancel_create(&self) {
        self.counters.created.fetch_sub(1, Ordering::Relaxed);
    }

    /// Counts an entry made by a creator removed, with the `bytes` it was counted for.
    pub fn note_removed(&self, bytes: u64) {
        self.counters.removed.fetch_add(1, Ordering::Relaxed);
        self.release_bytes(bytes);
    }

    /// Counts entries that could not be removed.
    pub fn note_cleanup_errors(&self, count: u64) {
        self.counters
            .cleanup_errors
            .fetch_add(count, Ordering::Relaxed);
    }

    /// Reserves `n` more bytes written through the workspace's objects, or fails with
    /// `EDQUOT` (reserving nothing) if that would pass `max_bytes`. Call it before writing.
    ///
    /// # Errors
    ///
    /// `EDQUOT` naming the workspace's path.
    pub fn reserve_write(&self, n: u64) -> io::Result<()> {
        let written = &self.counters.written;
        let now = match self.limits.max_bytes {
            None => written.fetch_add(n, Ordering::Relaxed).saturating_add(n),
            Some(max) => {
                let mut current = written.load(Ordering::Relaxed);
                loop {
                    let next = current.saturating_add(n);
                    if next > max {
                        return Err(self.refusal());
                    }
                    match written.compare_exchange_weak(
                        current,
                        next,
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    ) {
                        Ok(_) => break next,
                        Err(seen) => current = seen,
                    }
                }
            }
        };
        self.counters.peak.fetch_max(now, Ordering::Relaxed);
        Ok(())
    }

    /// Gives back `n` bytes counted by [`Workspace::reserve_write`] (their file was removed,
    /// or a write wrote less than reserved).
    pub fn release_bytes(&self, n: u64) {
        let _ = self
            .counters
            .written
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |w| {
                Some(w.saturating_sub(n))
            });
    }

    /// Bytes written through the workspace's objects and not released: what write-time
    /// enforcement counts.
    #[must_use]
    pub fn written_bytes(&self) -> u64 {
        self.counters.written.load(Ordering::Relaxed)
    }

    fn counted_usage(&self, measured: crate::measure::TreeUsage, created_before: u64) -> Usage {
        let c = &self.counters;
        let dirs = measured.dirs;
        *self.measured.lock().unwrap_or_else(PoisonError::into_inner) = Some(Measured {
            entries: measured.files.saturating_add(dirs),
            created_before,
        });
        // The limit is on the content: the directory's own blocks (a few KiB on most
        // filesystems, none on tmpfs) are not the job's.
        let content = measured.bytes.saturating_sub(own_blocks(&self.root));
        let over = self.limits.max_bytes.is_some_and(|m| content > m)
            || self
                .limits
                .max_files
                .is_some_and(|m| measured.files + dirs > m);
        c.measured_over.store(over, Ordering::Relaxed);
        let peak = c.peak.fetch_max(measured.bytes, Ordering::Relaxed);
        Usage {
            bytes: measured.bytes,
            files: measured.files,
            dirs,
            peak_bytes: peak.max(measured.bytes),
            created: c.created.load(Ordering::Relaxed),
            removed: c.removed.load(Ordering::Relaxed),
            cleanup_errors: c.cleanup_errors.load(Ordering::Relaxed),
            elapsed: self.started.elapsed(),
        }
    }

    /// Whether the last measurement ([`Workspace::usage`]) found the tree over a limit: for
    /// `max_bytes`, its content (the directory's own blocks not counted).
    #[must_use]
    pub fn measured_over(&self) -> bool {
        self.counters.measured_over.load(Ordering::Relaxed)
    }

    /// What `max_bytes` is compared with in a measurement's `usage`: its bytes without the
    /// workspace directory's own blocks.
    #[must_use]
    pub fn content_bytes(&self, usage: &Usage) -> u64 {
        usage.bytes.saturating_sub(own_blocks(&self.root))
    }

    /// Measures the tree (see [`crate::measure::measure_tree`]) and adds the counters. After
    /// the end, the usage measured then.
    ///
    /// # Errors
    ///
    /// The walk's error, naming the path it concerns.
    pub fn usage(&self) -> io::Result<Usage> {
        if let End::Ended(ending) = &*self.lock_end() {
            return Ok(ending.usage);
        }
        let created_before = self.counters.created.load(Ordering::Relaxed);
        let measured = self.measure()?;
        Ok(self.counted_usage(measured, created_before))
    }

    /// Measures the workspace's own directory, through its descriptor.
    fn measure(&self) -> io::Result<crate::measure::TreeUsage> {
        #[cfg(unix)]
        {
            use std::os::fd::AsFd;
            crate::measure::measure_tree_at(self.root.as_fd(), &self.path)
        }
        #[cfg(not(unix))]
        {
            crate::measure::measure_tree(&self.path)
        }
    }

    /// Removes the workspace's own directory: the one its descriptor holds, and nothing
    /// else put at its path since (left in place, an error). Already gone is no error.
    #[cfg(unix)]
    fn remove(&self, dir: TempDir) -> Result<(), RemoveError> {
        let path = dir.keep();
        let mut options = crate::remove::RemoveOptions::new();
        if let Ok(st) = rustix::fs::fstat(&self.root) {
            let id = crate::file_id::FileId::from_stat(&st);
            options.expect_root(id.dev, id.ino);
        }
        let removed = crate::remove::remove_tree_nofollow_with(&path, &options);
        let gone = |err: &RemoveError| {
            let failures = err.failures();
            failures.len() == 1
                && failures[0].path == path
                && failures[0].error.kind() == io::ErrorKind::NotFound
        };
        crate::stats::note_removal(&removed, gone);
        match removed {
            Err(err) if gone(&err) => Ok(()),
            other => other.map(|_| ()),
        }
    }

    #[cfg(not(unix))]
    fn remove(&self, dir: TempDir) -> Result<(), RemoveError> {
        dir.close()
    }

    fn lock_end(&self) -> MutexGuard<'_, End> {
        self.end.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Ends the workspace: measures it, then removes the tree unless the policy keeps it for
    /// a job that ended `ok` (or not). A kept directory is unrecorded from the crash guard.
    /// Later calls return the first ending (with `kept` as it was).
    ///
    /// # Errors
    ///
    /// The removal's failures (counted in `cleanup_errors`); the directory's remains then stay
    /// recorded, so a sweep after the process ends finishes the job.
    pub fn finish(&self, ok: bool) -> Result<Ending, RemoveError> {
        let mut end = self.lock_end();
        let (dir, registration) = match &*end {
            End::Ended(ending) => return Ok(ending.clone()),
            End::Running { .. } => match std::mem::replace(
                &mut *end,
                End::Ended(Ending {
                    kept: false,
                    usage: Usage::default(),
                }),
            ) {
                End::Running { dir, registration } => (dir, registration),
                End::Ended(_) => unreachable!("matched Running above"),
            },
        };
        let created_before = self.counters.created.load(Ordering::Relaxed);
        let mut usage = match self.measure() {
            Ok(measured) => self.counted_usage(measured, created_before),
            Err(_) => self.counted_usage(crate::measure::TreeUsage::default(), created_before),
        };
        let kept = self.policy.keeps(ok);
        let result = if kept {
            let _ = dir.keep();
            drop(registration);
            Ok(())
        } else {
            match self.remove(dir) {
                Ok(()) => {
                    drop(registration);
                    Ok(())
                }
                Err(err) => {
                    let failures = u64::try_from(err.failures().len()).unwrap_or(u64::MAX);
                    self.note_cleanup_errors(failures);
                    usage.cleanup_errors += failures;
                    // What is left stays recorded: a sweep once this process is gone takes it.
                    std::mem::forget(registration);
                    Err(err)
                }
            }
        };
        let ending = Ending { kept, usage };
        *end = End::Ended(ending.clone());
        result.map(|()| ending)
    }
}

impl Drop for Workspace {
    /// Ends the workspace if [`Workspace::finish`] was not called: a drop while the thread
    /// panics is a failed job. Errors are not reported.
    fn drop(&mut self) {
        if !self.is_finished() {
            let _ = self.finish(!std::thread::panicking());
        }
    }
}

fn edquot() -> io::Error {
    #[cfg(unix)]
    {
        io::Error::from_raw_os_error(libc::EDQUOT)
    }
    #[cfg(not(unix))]
    {
        io::Error::new(io::ErrorKind::QuotaExceeded, "Disk quota exceeded")
    }
}

/// The bytes on disk of the workspace's directory itself.
fn own_blocks(root: &Root) -> u64 {
    #[cfg(unix)]
    {
        rustix::fs::fstat(root).map_or(0, |st| {
            u64::try_from(st.st_blocks).unwrap_or(0).saturating_mul(512)
        })
    }
    #[cfg(not(unix))]
    {
        let () = *root;
        0
    }
}

/// Opens the directory just made at `path` (the workspace's hold on it) and confirms a
/// pending workspace entry with its identity.
#[cfg(unix)]
fn open_root(registration: &Registration, path: &Path) -> io::Result<Root> {
    use rustix::fs::{Mode, OFlags, CWD};
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(CWD, path, flags, Mode::empty())
        .map_err(|e| with_path(e.into(), path))?;
    if let Registration::Guarded(token) = registration {
        guard::confirm_fd(token, &fd);
    }
    Ok(fd)
}

#[cfg(not(unix))]
fn open_root(_registration: &Registration, _path: &Path) -> io::Result<Root> {
    Ok(())
}

/// The directory-name prefix for a workspace called `name`: `<name>-`, with every character
/// other than ASCII letters, digits, `.`, `_` and `-` made `_` (no `/`, NUL, spaces or control
/// characters in a name), a leading `.` made `_` (not hidden, never `.` or `..`), at most 64
/// characters of the name; `ws-` for an empty name.
#[must_use]
pub fn dir_prefix(name: &str) -> OsString {
    let mut prefix: String = name
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if prefix.starts_with('.') {
        prefix.replace_range(..1, "_");
    }
    if prefix.is_empty() {
        prefix.push_str("ws");
    }
    prefix.push('-');
    prefix.into()
}

/// A size for people, as the command line shows sizes: `512 B`, `1.5 KiB`, … `2.0 TiB`
/// (one decimal, powers of 1024).
#[must_use]
pub fn human_size(size: u64) -> String {
    #[allow(clippy::cast_precision_loss)] // one decimal shown
    let mut value = size as f64;
    for unit in ["B", "KiB", "MiB", "GiB"] {
        if value < 1024.0 {
            return if unit == "B" {
                format!("{size} B")
            } else {
                format!("{value:.1} {unit}")
            };
        }
        value /= 1024.0;
    }
    format!("{value:.1} TiB")
}

/// Reads a size: an integer count of bytes, or a number (decimals allowed) and a unit, with or
/// without a space: `B`; `K`, `M`, `G`, `T`, `P` and `KiB` … `PiB` (powers of 1024); `KB` …
/// `PB` (powers of 1000), as coreutils reads them. Case is ignored except that a lone `b` is
/// bytes.
///
/// ```
/// use ferrotemp::workspace::parse_size;
/// assert_eq!(parse_size("2 GiB"), Some(2 << 30));
/// assert_eq!(parse_size("500MB"), Some(500_000_000));
/// assert_eq!(parse_size("1.5K"), Some(1536));
/// assert_eq!(parse_size("4096"), Some(4096));
/// assert_eq!(parse_size("lots"), None);
/// ```
#[must_use]
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let unit = unit.trim().to_ascii_lowercase();
    let multiplier: u128 = match unit.as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "p" | "pib" => 1 << 50,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        "pb" => 1_000_000_000_000_000,
        _ => return None,
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() || fraction.len() > 18 {
        return None;
    }
    let digits = |s: &str| -> Option<u128> {
        if s.is_empty() {
            Some(0)
        } else {
            s.parse::<u128>().ok()
        }
    };
    let scale = 10u128.pow(u32::try_from(fraction.len()).ok()?);
    let value = digits(whole)?
        .checked_mul(scale)?
        .checked_add(digits(fraction)?)?
        .checked_mul(multiplier)?
        / scale;
    u64::try_from(value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_binary_and_decimal_units_and_refuse_nonsense() {
        assert_eq!(parse_size("0"), Some(0));
        assert_eq!(parse_size(" 10 b "), Some(10));
        assert_eq!(parse_size("1k"), Some(1024));
        assert_eq!(parse_size("1KB"), Some(1000));
        assert_eq!(parse_size("3 MiB"), Some(3 << 20));
        assert_eq!(parse_size("0.5G"), Some(1 << 29));
        assert_eq!(parse_size("2TB"), Some(2_000_000_000_000));
        for bad in [
            "",
            "GiB",
            "-1",
            "1.2.3",
            "1 XB",
            "99999999999999999999999",
            "1e3",
        ] {
            assert_eq!(parse_size(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn prefixes_drop_slashes_nul_and_leading_dots() {
        assert_eq!(dir_prefix("resize-42"), "resize-42-");
        assert_eq!(dir_prefix("../etc/passwd"), "_._etc_passwd-");
        assert_eq!(dir_prefix("a\0b c"), "a_b_c-");
        assert_eq!(dir_prefix(""), "ws-");
        assert_eq!(dir_prefix(".hidden"), "_hidden-");
        assert_eq!(dir_prefix(&"x".repeat(100)).len(), 65);
    }

    #[cfg(unix)]
    #[test]
    fn a_directory_renamed_into_the_path_is_neither_measured_nor_removed() {
        let parent = crate::TempDir::new().unwrap();
        let ws = Workspace::builder("swap")
            .dir(Some(parent.path().to_path_buf()))
            .create()
            .unwrap();
        std::fs::write(ws.path().join("own"), b"x").unwrap();
        let moved = parent.path().join("moved");
        std::fs::rename(ws.path(), &moved).unwrap();
        std::fs::create_dir(ws.path()).unwrap();
        std::fs::write(ws.path().join("a"), b"a").unwrap();
        std::fs::write(ws.path().join("b"), b"b").unwrap();
        assert_eq!(ws.usage().unwrap().files, 1);
        assert!(ws.finish(true).is_err());
        assert!(ws.path().join("a").exists());
        assert!(moved.join("own").exists());
    }

    #[test]
    fn a_measurement_lowers_the_live_count() {
        let parent = crate::TempDir::new().unwrap();
        let ws = Workspace::builder("live")
            .dir(Some(parent.path().to_path_buf()))
            .max_files(Some(1))
            .create()
            .unwrap();
        ws.reserve_create().unwrap();
        assert!(ws.reserve_create().is_err());
        assert_eq!(ws.usage().unwrap().files, 0);
        ws.reserve_create().unwrap();
        assert!(ws.reserve_create().is_err());
    }

    #[test]
    fn keep_policies_parse_and_decide() {
        assert_eq!(KeepPolicy::parse(" On-Error"), Some(KeepPolicy::OnError));
        assert_eq!(KeepPolicy::parse("sometimes"), None);
        assert!(KeepPolicy::OnError.keeps(false));
        assert!(!KeepPolicy::OnError.keeps(true));
        assert!(KeepPolicy::Always.keeps(true));
        assert!(!KeepPolicy::Never.keeps(false));
    }
}
