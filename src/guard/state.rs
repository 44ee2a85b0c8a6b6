//! The process-wide guard state: configuration, the open record(s), fork handling.

use std::cell::RefCell;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicPtr, AtomicU8, Ordering};
use std::sync::{Mutex, MutexGuard, Once, PoisonError};
use std::time::{Duration, Instant};

use super::record::RecordWriter;

/// A record this process writes, with the epoch its tokens carry and the registry it is in.
struct OpenRecord {
    epoch: u64,
    writer: RecordWriter,
    registry: PathBuf,
}
use super::{
    registry, EntryKind, GuardConfig, GuardToken, Registration, SweepCursor, SweepLimits,
    SweepOptions,
};

struct State {
    config: Option<GuardConfig>,
    /// Records opened by this process, each with its epoch; the last is the current one while
    /// `current_epoch` matches it. Older ones stay open (and locked) until exit: their entries
    /// may still be live.
    records: Vec<OpenRecord>,
    /// Bumped by fork and reconfiguration: tokens of another epoch belong to a record this
    /// process does not write to.
    epoch: u64,
    /// Why the guard gave up in this epoch; no record is tried again until reconfigured.
    unavailable: Option<String>,
    /// Why the last attempt at a record failed for a reason that may pass (out of
    /// descriptors or space, a lock held for an instant); cleared by a success.
    transient: Option<String>,
    /// No record is tried again before this instant, after a transient failure.
    retry_at: Option<Instant>,
    /// The wait before the next attempt: doubled at each transient failure, up to
    /// [`MAX_BACKOFF`], so a broken registry costs one attempt a minute, not one per entry.
    backoff: Duration,
    /// A warning not yet handed out by `take_warning`.
    warning: Option<String>,
    /// Whether a warning was produced already: one per process (and configuration) is enough.
    warned: bool,
    /// This process's automatic sweep, done in slices inside registrations.
    auto_sweep: AutoSweep,
    /// Set by [`shutdown`] at exit: from then on a record left with no live entry is removed
    /// at once rather than left for a sweep.
    exiting: bool,
    /// Entries handed to their callers ([`super::detach`]): unregistered, not removed, at
    /// normal exit.
    detached: Vec<(u64, u32)>,
    /// The process the records belong to (0 before first use). A child forked without the
    /// `pthread_atfork` handlers (a raw `clone`, `_Fork`) finds another pid here and lets the
    /// records go without a write: their mappings do not exist in it (`MADV_DONTFORK`).
    pid: u32,
}

/// The automatic sweep of one epoch. It runs in slices, each inside a registration (after
/// the entry is recorded, with the guard's lock released), so that no thread is ever
/// started behind the caller's back: a thread alive at a `fork` makes Python 3.12+ warn,
/// and is no library's business.
enum AutoSweep {
    /// Not started in this epoch.
    Idle,
    /// Under way in `registry`: where the last slice stopped, and what all slices used.
    Running {
        registry: PathBuf,
        cursor: Option<SweepCursor>,
        /// A slice is running (on some thread): no other starts meanwhile.
        busy: bool,
        entries: usize,
        time: Duration,
    },
    /// Went through the registry, hit the sweep's overall limits, or failed: nothing more
    /// in this epoch.
    Done,
}

/// One slice of the automatic sweep, to run with the guard's lock released.
struct SweepSlice {
    epoch: u64,
    options: SweepOptions,
}

impl State {
    /// The next slice of the automatic sweep, if one is due: the first registration of an
    /// epoch starts the sweep in the current record's registry, each later one goes on
    /// where the last stopped.
    fn next_sweep_slice(&mut self) -> Option<SweepSlice> {
        let limits = SweepLimits::default();
        if matches!(self.auto_sweep, AutoSweep::Idle) {
            self.auto_sweep = AutoSweep::Running {
                registry: self.records.last()?.registry.clone(),
                cursor: None,
                busy: false,
                entries: 0,
                time: Duration::ZERO,
            };
        }
        let AutoSweep::Running {
            registry,
            cursor,
            busy,
            ..
        } = &mut self.auto_sweep
        else {
            return None;
        };
        if *busy {
            return None;
        }
        *busy = true;
        Some(SweepSlice {
            epoch: self.epoch,
            options: SweepOptions {
                registry: Some(registry.clone()),
                dry_run: false,
                max_entries: Some(limits.slice_entries),
                max_time: Some(limits.slice_time),
                max_records: Some(limits.slice_records),
                resume: cursor.take(),
            },
        })
    }

    /// Takes what a slice did: the sweep goes on from where it stopped, or is done.
    fn end_sweep_slice(&mut self, epoch: u64, report: Option<super::SweepReport>, spent: Duration) {
        if epoch != self.epoch {
            return; // reconfigured or forked meanwhile: that sweep is over
        }
        let limits = SweepLimits::default();
        let AutoSweep::Running {
            cursor,
            busy,
            entries,
            time,
            ..
        } = &mut self.auto_sweep
        else {
            return;
        };
        *busy = false;
        *time += spent;
        match report {
            Some(report) => {
                *entries += report.removed.len() + report.skipped.len() + report.errors.len();
                *cursor = report.resume;
            }
            None => *cursor = None,
        }
        if cursor.is_none() || *entries >= limits.max_entries || *time >= limits.max_time {
            self.auto_sweep = AutoSweep::Done;
        }
    }
}

/// Runs one slice of the automatic sweep and hands the result back to the state. A failure
/// (the registry refused, say) ends the automatic sweep for the epoch: the registration it
/// rides on is not the place to report it.
fn run_sweep_slice(slice: &SweepSlice) {
    let started = Instant::now();
    let report = super::sweep(&slice.options).ok();
    let spent = started.elapsed();
    lock().end_sweep_slice(slice.epoch, report, spent);
}

/// The first wait after a transient failure.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Whether a failure to make a record may pass by itself: worth another try later, not a
/// reason to give up for the rest of the process.
fn is_transient(err: &io::Error) -> bool {
    matches!(
        crate::error::raw_os_error(err),
        Some(
            libc::EAGAIN
                | libc::EINTR
                | libc::EMFILE
                | libc::ENFILE
                | libc::ENOSPC
                | libc::ENOMEM
                | libc::EDQUOT
        )
    ) || crate::error::raw_os_error(err) == Some(libc::EWOULDBLOCK)
}

static STATE: Mutex<State> = Mutex::new(State {
    config: None,
    records: Vec::new(),
    epoch: 1,
    unavailable: None,
    transient: None,
    retry_at: None,
    backoff: Duration::ZERO,
    warning: None,
    warned: false,
    auto_sweep: AutoSweep::Idle,
    exiting: false,
    detached: Vec::new(),
    pid: 0,
});

fn lock() -> MutexGuard<'static, State> {
    let mut state = STATE.lock().unwrap_or_else(PoisonError::into_inner);
    state.check_owner();
    state
}

/// A private anonymous page that reads as 1 in the process that armed it and as 0 in any
/// child, however forked (`MADV_WIPEONFORK`, Linux 4.14+): it tells a fork with one load,
/// where `getpid` would cost a system call on every registration. Null where unavailable.
static FORK_MARK: AtomicPtr<AtomicU8> = AtomicPtr::new(std::ptr::null_mut());

/// Whether this process is the one that armed the fork mark (false if there is none).
fn fork_mark_intact() -> bool {
    let mark = FORK_MARK.load(Ordering::Acquire);
    // SAFETY: a non-null mark is a page mapped for the whole program (never unmapped), and
    // a fork keeps it mapped (wiped, not removed).
    !mark.is_null() && unsafe { &*mark }.load(Ordering::Relaxed) == 1
}

/// Sets the fork mark to 1 in this process, mapping it first if needed. Called with the
/// guard's lock held, so never twice at once.
fn arm_fork_mark() {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let mut mark = FORK_MARK.load(Ordering::Acquire);
        if mark.is_null() {
            // SAFETY: a fresh anonymous mapping at an address of the kernel's choosing.
            let Ok(page) = (unsafe {
                rustix::mm::mmap_anonymous(
                    std::ptr::null_mut(),
                    4096,
                    rustix::mm::ProtFlags::READ | rustix::mm::ProtFlags::WRITE,
                    rustix::mm::MapFlags::PRIVATE,
                )
            }) else {
                return;
            };
            // SAFETY: advising on exactly the page just mapped.
            if unsafe { rustix::mm::madvise(page, 4096, rustix::mm::Advice::LinuxWipeOnFork) }
                .is_err()
            {
                // SAFETY: unmapping the page just mapped, which nothing refers to.
                let _ = unsafe { rustix::mm::munmap(page, 4096) };
                return;
            }
            mark = page.cast();
            FORK_MARK.store(mark, Ordering::Release);
        }
        // SAFETY: as in `fork_mark_intact`.
        unsafe { &*mark }.store(1, Ordering::Relaxed);
    }
}

impl State {
    fn config(&mut self) -> &GuardConfig {
        self.config.get_or_insert_with(GuardConfig::from_env)
    }

    fn warn(&mut self, message: String) {
        if !self.warned {
            self.warned = true;
            self.warning = Some(message);
        }
    }

    /// The current record, created on first use; `None` if the guard is unavailable.
    fn current(&mut self) -> Option<(&mut RecordWriter, u64, bool)> {
        let epoch = self.epoch;
        let mut created = false;
        if !matches!(self.records.last(), Some(r) if r.epoch == epoch) {
            if self.unavailable.is_some() {
                return None;
            }
            if self.retry_at.is_some_and(|at| Instant::now() < at) {
                return None;
            }
            match open_record(self.config()) {
                Ok((writer, registry)) => {
                    self.clear_retry();
                    self.records.push(OpenRecord {
                        epoch,
                        writer,
                        registry,
                    });
                    created = true;
                    install_exit_hook();
                }
                Err(err) if is_transient(&err) => {
                    self.backoff = (self.backoff * 2).clamp(FIRST_BACKOFF, MAX_BACKOFF);
                    self.retry_at = Some(Instant::now() + self.backoff);
                    let message = format!("crash guard unavailable for now (will retry): {err}");
                    self.transient = Some(message.clone());
                    self.warn(message);
                    return None;
                }
                Err(err) => {
                    let message = format!("crash guard disabled: {err}");
                    self.unavailable = Some(message.clone());
                    self.warn(message);
                    return None;
                }
            }
        }
        let record = self.records.last_mut()?;
        Some((&mut record.writer, epoch, created))
    }

    /// Forgets transient failures: the next registration tries at once.
    fn clear_retry(&mut self) {
        self.transient = None;
        self.retry_at = None;
        self.backoff = Duration::ZERO;
    }

    /// Removes the records that hold no live entry.
    fn discard_empty(&mut self) {
        let mut kept = Vec::with_capacity(self.records.len());
        for record in self.records.drain(..) {
            if !record.writer.is_empty() {
                kept.push(record);
                continue;
            }
            // A registry that cannot be reopened (or a failed unlink) leaves the record for a
            // sweep, which finds it dead and empty: nothing is lost but a little tidiness.
            match registry::open_registry(&record.registry, false) {
                Ok(dir) => {
                    let _ = record.writer.discard(&dir);
                }
                Err(_) => drop(record),
            }
        }
        self.records = kept;
    }

    /// Lets the records go if this is not the process they belong to (a child forked
    /// without the `pthread_atfork` handlers): no write into them, no unlink of them.
    fn check_owner(&mut self) {
        if fork_mark_intact() {
            return;
        }
        let pid = std::process::id();
        if pid != self.pid {
            if self.pid != 0 {
                self.forget_parent();
            }
            self.pid = pid;
        }
        arm_fork_mark();
    }

    /// In the child after fork: the parent's records are not ours.
    fn forget_parent(&mut self) {
        for record in self.records.drain(..) {
            record.writer.abandon_after_fork();
        }
        self.detached.clear();
        self.epoch += 1;
        self.auto_sweep = AutoSweep::Idle;
        self.clear_retry();
    }
}

fn open_record(config: &GuardConfig) -> io::Result<(RecordWriter, PathBuf)> {
    let path = if let Some(dir) = &config.registry_dir {
        dir.clone()
    } else {
        let tempdir = crate::env::default_tempdir()?;
        if is_cwd_fallback(&tempdir) {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!(
                    "the default temp dir is the current directory ({}), the last resort when \
                     no temp dir is usable; the crash guard does not put its registry there \
                     (set FERROTEMP_GUARD_DIR to choose one)",
                    tempdir.display()
                ),
            ));
        }
        super::registry_path_in(&tempdir)
    };
    let dir = registry::open_registry(&path, true)?;
    match RecordWriter::create(&dir, config.use_flock) {
        Ok(writer) => Ok((writer, path)),
        Err(err) => Err(crate::error::with_path(err, path)),
    }
}

/// Whether `tempdir` is the current directory, chosen as discovery's last resort: not one of
/// the directories the environment or the platform names. The registry never goes there
/// (it would land in the user's checkout, or wherever the program was started).
fn is_cwd_fallback(tempdir: &Path) -> bool {
    let named: Vec<PathBuf> = crate::env::candidate_dirs()
        .into_iter()
        .filter(|c| !matches!(c.source, crate::env::Source::CurrentDir))
        .map(|c| c.dir)
        .collect();
    cwd_fallback(tempdir, std::env::current_dir().ok().as_deref(), &named)
}

fn cwd_fallback(tempdir: &Path, cwd: Option<&Path>, named: &[PathBuf]) -> bool {
    let absolute = |p: &Path| match cwd {
        Some(cwd) => crate::ospath::normpath(&cwd.join(p)),
        None => crate::ospath::normpath(p),
    };
    let dir = absolute(tempdir);
    let is_cwd = tempdir == Path::new(".") || cwd.is_some_and(|cwd| dir == absolute(cwd));
    is_cwd && !named.iter().any(|n| absolute(n) == dir)
}

pub(super) fn config() -> GuardConfig {
    lock().config().clone()
}

/// Whether callers' own entries are recorded too (`FERROTEMP_GUARD=all`), without cloning
/// the configuration.
pub(super) fn record_all() -> bool {
    let mut state = lock();
    let config = state.config();
    config.enabled && config.record_all
}

/// Keeps a recorded entry until normal exit, then unregisters it (see [`super::detach`]).
pub(super) fn detach(epoch: u64, slot: u32) {
    let mut state = lock();
    if state.exiting {
        drop(state);
        unregister(epoch, slot);
        return;
    }
    if state.records.iter().any(|r| r.epoch == epoch) {
        state.detached.push((epoch, slot));
    }
}

/// A close-on-exec duplicate of the current record's descriptor, if it is `flock`ed.
pub(super) fn lease() -> io::Result<Option<std::os::fd::OwnedFd>> {
    let state = lock();
    let Some(record) = state.records.last() else {
        return Ok(None);
    };
    if record.epoch != state.epoch || !record.writer.locked() {
        return Ok(None);
    }
    let fd = rustix::io::fcntl_dupfd_cloexec(record.writer.file(), 3)?;
    Ok(Some(fd))
}

/// `(keep, enabled)` without cloning the configuration: the per-entry fast path.
pub(super) fn switches() -> (bool, bool) {
    let mut state = lock();
    let config = state.config();
    (config.keep, config.enabled)
}

pub(super) fn set_config(mut config: GuardConfig) {
    if let Some(dir) = config.registry_dir.as_mut() {
        if dir.is_relative() {
            *dir = crate::ospath::abspath(dir);
        }
    }
    let mut state = lock();
    state.config = Some(config);
    state.epoch += 1;
    state.auto_sweep = AutoSweep::Idle;
    state.clear_retry();
    // A new configuration may fail for a new reason: worth one new warning.
    state.warned = false;
    state.warning = None;
    if FORK_HANDLERS_OK.load(std::sync::atomic::Ordering::Relaxed) {
        state.unavailable = None;
    }
    // Records no token can add to any more and holding no live entry would only wait for exit.
    state.discard_empty();
}

/// The path a record holds for `path`: absolute and normalised, as sweeps require of an
/// entry. Lexical normalisation is right unless a `..` follows a symlink (a prefix such as
/// `sub/../x` under a symlinked `sub`, kept as given so the returned name is what was made):
/// then the parent is resolved by the kernel instead and the entry's own name joined to it.
fn record_path(path: &Path) -> std::borrow::Cow<'_, Path> {
    use std::os::unix::ffi::OsStrExt;
    use std::path::Component;
    let bytes = path.as_os_str().as_bytes();
    let normal = path.is_absolute()
        && !bytes.ends_with(b"/")
        && !bytes.ends_with(b"/.")
        && !bytes.ends_with(b"/..")
        && !bytes.windows(2).any(|w| w == b"//")
        && !bytes.windows(3).any(|w| w == b"/./")
        && !bytes.windows(4).any(|w| w == b"/../");
    if normal {
        return std::borrow::Cow::Borrowed(path);
    }
    let absolute = crate::ospath::absolute(path);
    if absolute.components().any(|c| c == Component::ParentDir) {
        if let (Some(parent), Some(name)) = (absolute.parent(), absolute.file_name()) {
            if let Ok(real) = std::fs::canonicalize(parent) {
                return std::borrow::Cow::Owned(real.join(name));
            }
        }
    }
    std::borrow::Cow::Owned(crate::ospath::abspath(path))
}

/// Records `path`: live with `identity`, or pending (before its creation) without; a
/// workspace's directory with its `workspace` metadata.
pub(super) fn register(
    path: &Path,
    kind: EntryKind,
    identity: Option<&super::EntryIdentity>,
    workspace: Option<&super::WorkspaceMeta>,
) -> Registration {
    install_fork_handlers();
    let path = record_path(path);
    let (registration, slice) = {
        let mut state = lock();
        let config = state.config();
        if config.keep {
            return Registration::Keep;
        }
        if !config.enabled {
            return Registration::Unguarded;
        }
        let auto_sweep = config.auto_sweep;
        let Some((writer, epoch, _created)) = state.current() else {
            return Registration::Unguarded;
        };
        match writer.add_entry(&path, kind, identity, workspace) {
            Ok(slot) => {
                let slice = if auto_sweep {
                    state.next_sweep_slice()
                } else {
                    None
                };
                (Registration::Guarded(GuardToken { epoch, slot }), slice)
            }
            Err(err) => {
                let message = format!("crash guard could not record {}: {err}", path.display());
                state.warn(message);
                (Registration::Unguarded, None)
            }
        }
    };
    // On the registering thread, with the guard's lock released (the sweep reads the
    // configuration) and, from Python, the GIL too.
    if let Some(slice) = slice {
        run_sweep_slice(&slice);
    }
    registration
}

/// Confirms a pending entry with the identity of what was created.
pub(super) fn confirm(epoch: u64, slot: u32, identity: &super::EntryIdentity) {
    let mut state = lock();
    if let Some(record) = state.records.iter_mut().find(|r| r.epoch == epoch) {
        record.writer.confirm(slot, identity);
    }
}

pub(super) fn unregister(epoch: u64, slot: u32) {
    let mut state = lock();
    let exiting = state.exiting;
    let Some(record) = state.records.iter_mut().find(|r| r.epoch == epoch) else {
        return;
    };
    record.writer.remove(slot);
    if exiting && record.writer.is_empty() {
        state.discard_empty();
    }
}

/// At normal exit: removes this process's records that hold no live entry, and from then on
/// removes a record as soon as its last entry is unregistered (finalizers that run later).
/// Never blocks: if another thread holds the guard's lock, the records are left for a sweep.
pub(super) fn shutdown() {
    let mut state = match STATE.try_lock() {
        Ok(state) => state,
        Err(std::sync::TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
        Err(std::sync::TryLockError::WouldBlock) => return,
    };
    state.check_owner();
    state.exiting = true;
    // The callers' own entries stay where they are: a normal exit is not a crash.
    for (epoch, slot) in std::mem::take(&mut state.detached) {
        if let Some(record) = state.records.iter_mut().find(|r| r.epoch == epoch) {
            record.writer.remove(slot);
        }
    }
    state.discard_empty();
}

extern "C" fn shutdown_at_exit() {
    // A panic must not cross the C boundary; there is nothing to report at exit anyway.
    let _ = std::panic::catch_unwind(shutdown);
}

/// Registers [`shutdown`] with the C library's `atexit`, once: it then runs at every normal
/// exit (after the Python interpreter has finalized its objects, in a Python process), and not
/// on `_exit`, a signal or a crash, which leave the record to a sweep as intended.
fn install_exit_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // SAFETY: `shutdown_at_exit` is `extern "C"`, never unwinds, and lives as long as the
        // program. A failure to register only leaves records for the next sweep.
        let _ = unsafe { libc::atexit(shutdown_at_exit) };
    });
}

pub(super) fn note_entry_failure(path: &Path, err: &io::Error) {
    lock().warn(format!(
        "crash guard could not record {}: {err}",
        path.display()
    ));
}

pub(super) fn take_warning() -> Option<String> {
    lock().warning.take()
}

pub(super) fn unavailable_reason() -> Option<String> {
    let mut state = lock();
    if !state.config().enabled {
        return Some("crash guard disabled by FERROTEMP_GUARD=0".to_owned());
    }
    state
        .unavailable
        .clone()
        .or_else(|| state.transient.clone())
}

/// The current record's name and whether it is `flock`ed, if one is open (for tests and
/// diagnostics).
#[must_use]
pub fn current_record() -> Option<(PathBuf, bool)> {
    let state = lock();
    let record = state.records.last()?;
    (record.epoch == state.epoch)
        .then(|| (PathBuf::from(record.writer.name()), record.writer.locked()))
}

thread_local! {
    /// The guard's lock, held by the forking thread from `prepare` to `parent`/`child`.
    static FORK_HELD: RefCell<Option<MutexGuard<'static, State>>> = const { RefCell::new(None) };
}

extern "C" fn before_fork() {
    // Holding the lock across fork means no other thread is halfway through an update the
    // child would inherit, nor holds a lock that would never be released in the child.
    let guard = lock();
    let _ = FORK_HELD.try_with(|held| *held.borrow_mut() = Some(guard));
}

extern "C" fn after_fork_in_parent() {
    let _ = FORK_HELD.try_with(|held| held.borrow_mut().take());
}

extern "C" fn after_fork_in_child() {
    let _ = FORK_HELD.try_with(|held| {
        if let Some(mut state) = held.borrow_mut().take() {
            state.forget_parent();
            state.pid = std::process::id();
            arm_fork_mark();
        }
    });
}

/// False once registering the fork handlers failed: the guard then stays off for good.
static FORK_HANDLERS_OK: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

fn install_fork_handlers() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // SAFETY: the handlers are `extern "C"`, never unwind (they only lock, move a guard
        // and close descriptors), and live for the whole program.
        let rc = unsafe {
            libc::pthread_atfork(
                Some(before_fork),
                Some(after_fork_in_parent),
                Some(after_fork_in_child),
            )
        };
        if rc != 0 {
            // Without the child handler a forked child would write into its parent's record.
            let message = format!(
                "crash guard disabled: cannot watch for fork: {}",
                io::Error::from_raw_os_error(rc)
            );
            FORK_HANDLERS_OK.store(false, std::sync::atomic::Ordering::Relaxed);
            let mut state = lock();
            state.unavailable = Some(message.clone());
            state.warn(message);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_current_directory_as_last_resort_is_no_place_for_the_registry() {
        let cwd = Path::new("/home/u/checkout");
        let named = [PathBuf::from("/tmp"), PathBuf::from("/var/tmp")];
        assert!(cwd_fallback(cwd, Some(cwd), &named));
        assert!(cwd_fallback(Path::new("."), Some(cwd), &named));
        assert!(cwd_fallback(Path::new("."), None, &named));
        assert!(!cwd_fallback(Path::new("/tmp"), Some(cwd), &named));
        // Named by TMPDIR (or the platform): chosen on purpose, even if it is the cwd.
        let named_cwd = [PathBuf::from("/home/u/checkout/")];
        assert!(!cwd_fallback(cwd, Some(cwd), &named_cwd));
        assert!(!cwd_fallback(
            Path::new("/tmp"),
            Some(Path::new("/tmp")),
            &named
        ));
    }
}
