//! Crash guard: temporary entries left behind by a killed process are found and removed.
//!
//! Destructors do not run on `SIGKILL`, an OOM kill or a segfault. The guard keeps, for each
//! process, a small *record* of the named entries it owns, and holds an exclusive `flock` on
//! that record for the process's lifetime. A record whose lock can be taken belongs to a
//! dead process: [`sweep`] removes its entries — only those that are still what was recorded
//! (device, inode, birth time, inode generation: see [`EntryIdentity`]) — and then the record.
//!
//! # Using it
//!
//! ```no_run
//! use ferrotemp::guard::{self, EntryKind, Registration};
//! # fn main() -> std::io::Result<()> {
//! let builder = ferrotemp::Builder::new();
//! let path = builder.candidate_path(&ferrotemp::default_tempdir()?)?;
//! // Before creation: record the path, pending (no syscall once the record exists).
//! let registration = guard::register_pending(&path, EntryKind::File);
//! let Some(file) = builder.try_create_file(&path)? else {
//!     return Ok(()); // the name was taken: dropping the registration drops the entry
//! };
//! if let Registration::Guarded(token) = &registration {
//!     guard::confirm_fd(token, &file); // one statx (and an ioctl where generations exist)
//! }
//! if let Some(warning) = guard::take_warning() {
//!     eprintln!("ferrotemp: {warning}"); // once per process, when the guard is unavailable
//! }
//! match registration {
//!     Registration::Keep => { /* FERROTEMP_KEEP=1: log the path, never remove it */ }
//!     Registration::Guarded(token) => {
//!         drop(file);
//!         std::fs::remove_file(&path)?;
//!         guard::unregister(token); // after the removal: a crash in between is harmless
//!     }
//!     Registration::Unguarded => { /* remove as usual; nothing was recorded */ }
//! }
//! # Ok(()) }
//! ```
//!
//! Rust users get the same guard through [`Builder::guarded`](crate::Builder::guarded): a
//! [`NamedTempFile`](crate::NamedTempFile) or [`TempDir`](crate::TempDir) made by a guarded
//! builder registers itself and unregisters when removed. It is opt-in for Rust because it
//! writes under the temp directory and sweeps other processes' leftovers (in slices, inside
//! later registrations), which a library must not do behind its user's back; the Python
//! package turns it on for `NamedTemporaryFile` and `TemporaryDirectory`.
//!
//! # Registry
//!
//! One directory per user, `<default temp dir>/ferrotemp-guard-<euid>` (or
//! `FERROTEMP_GUARD_DIR`), mode 0700, created if missing. When the default temp dir is the
//! current directory — discovery's last resort, not a directory `TMPDIR`/`TEMP`/`TMP` or the
//! platform names — no registry is made there (it would land in the user's checkout): the
//! guard is off, with one warning. Every time a record is opened (once
//! per process) and every sweep, its whole path is walked from `/` by descriptor and checked
//! (every directory root's or the effective uid's and writable by nobody else unless sticky,
//! the registry itself the effective uid's and not writable by group or others; see
//! `registry.rs`). If it fails, the guard is off for that registry and [`take_warning`] says
//! why, once; nothing is ever written into someone else's directory. Everything inside it is
//! reached relative to the descriptor the walk ended with (`openat`, `unlinkat`,
//! `renameat`), never by path.
//!
//! # Record
//!
//! `<pid>-<random>.rec`, created as `.new`, locked, filled with its header and renamed into
//! place, so a sweeper never sees a half-made record under the final name. The file is
//! memory-mapped: registering an entry writes it into the mapping and unregistering flips one
//! byte, so neither costs a syscall; the page cache keeps what a killed process wrote. The
//! layout (little-endian) is in [`record`]. Paths are stored as raw bytes with their length,
//! so any byte but NUL (newlines included) is fine. Removed entries are compacted away into a
//! second region of the same file, switched to by one aligned 8-byte store, so a crash at any
//! instant leaves a valid record and the file stays bounded (a few times the live entries,
//! at least 64 KiB per region) however many entries come and go.
//!
//! **No window:** the guarded creators record the path first, *pending*
//! ([`register_pending`]), then create it, then confirm the entry with the new entry's
//! identity; a failed attempt (the name taken, included) drops the pending entry at once. A
//! process killed at any instant leaves either nothing, or a recorded entry. A sweep removes a
//! dead owner's pending path only if it is of the owner's user and kind and was born no earlier
//! than the pending entry was written (so never a file the creation collided with); where the
//! filesystem gives no birth time, an existing pending path is left and reported. An entry
//! removed and then killed before unregistration is recorded but gone: the sweep finds
//! nothing at the path (or another file) and skips it.
//!
//! **A record's word:** a process only records what it creates after its record exists. A
//! sweep never removes an entry born before the later of the owner's start and the record
//! file's own birth time (the kernel's, which whoever writes a record cannot set back), so a
//! record planted by another process of the same user cannot name an older file. Entries
//! registered after their creation with [`register`]/[`register_fd`] before the process had
//! a record are therefore never swept.
//!
//! **Hosts:** a record names its machine ([`record::machine_id`]) besides its boot; a record
//! of another machine (a temp dir shared over the network, or by containers of different
//! hosts) is never judged dead, and an age-based sweep judges its entries by age alone.
//!
//! # Fork
//!
//! A `pthread_atfork` child handler drops the inherited record in the child: it closes the
//! inherited descriptor *without* `LOCK_UN` (the lock belongs to the open file description
//! the parent still holds, so an unlock would release the parent's lock) and forgets the
//! mapping, which is `MADV_DONTFORK` and so was never mapped in the child. The child starts its
//! own record at its first registration. Tokens inherited from the parent carry the parent's
//! epoch, so unregistering them in the child does nothing. The prepare handler takes the
//! guard's lock so no other thread holds it mid-update at the instant of the fork.
//!
//! A fork that runs no handler (a raw `clone`, `_Fork`) is caught too: the guard's state
//! remembers its process, and every use first checks it — one load of a `MADV_WIPEONFORK`
//! page, which reads as zero in any child (Linux; elsewhere a `getpid`). In a child the
//! inherited records are let go as above, with no write and no unlink.
//!
//! # Lease
//!
//! [`lease`] gives a duplicate of the current record's descriptor, to be inherited by a child
//! process (`ferrotemp run` passes it to the command it runs). An `flock` belongs to the open
//! file description, so while any process holds a duplicate the record stays locked: if its
//! writer is killed, sweeps go on judging the record live (a lock held by anyone means live)
//! until the last holder exits or closes it, and the first sweep after that reclaims its
//! entries. Everything the record holds is leased, so a process that leases records nothing
//! else it wants swept at once. Records kept without `flock` have no lease ([`lease`] answers
//! `None`): they are judged by their writer's pid alone, so a sweep after the writer's death
//! removes their entries even while a child still uses them (unless it holds something
//! open inside, or runs in a process group the writer led). A child that closes the
//! descriptors it inherited lets the lease go with them.
//!
//! # Exit
//!
//! At normal exit a C `atexit` hook ([`shutdown`]) removes the process's records that hold no
//! live entry, so clean exits leave nothing in the registry; records of processes that died
//! (or exited with entries still live) wait for a sweep.
//!
//! # Sweeping
//!
//! See [`sweep`] (dead processes' records, on demand) and [`sweep_older_than`]
//! (systemd-tmpfiles-style age rules for an application's own prefix).
//!
//! The automatic sweep starts at a process's first registration (and again in a forked
//! child, or after [`set_config`]) and runs **in slices, on the registering thread**: each
//! registration, once its entry is recorded and with the guard's lock (and, from Python, the
//! GIL) released, examines a few records and entries and stops at a small time cap (see
//! [`SweepLimits`]: 16 records, 8 entries or 0.5 ms), leaving a [`SweepCursor`] for the
//! next one. A dead record never changes, so a slice goes on inside it where the last one
//! stopped. Once the registry has been gone through (or the whole sweep's bounds, 10,000
//! entries or 2 s, are used up) registrations cost nothing more. No thread is ever started:
//! a thread alive at `fork` makes Python 3.12+ warn that the child may deadlock, and a
//! library has no business leaving one behind its caller's back. The price is that a
//! process which registers only a few entries sweeps only a few slices; the next process
//! to register goes on (every process sweeps from the start), and `ferrotemp sweep` does
//! it all at once.
//!
//! # Environment
//!
//! Read once per process ([`reload_config`] re-reads it; [`set_config`] overrides it):
//!
//! - `FERROTEMP_GUARD=0` disables the guard.
//! - `FERROTEMP_GUARD=all` records, besides the entries their owners remove, the ones the
//!   caller owns: [`GuardConfig::record_all`] (the Python package's `mkstemp`, `mkdtemp` and
//!   `NamedTemporaryFile(delete=False)` then register with [`detach`]).
//! - `FERROTEMP_KEEP=1` keeps every guarded entry: [`register`] returns
//!   [`Registration::Keep`], records nothing, and the RAII types do not remove the entry.
//! - `FERROTEMP_GUARD_DIR=/path` uses that registry directory instead of the default (a
//!   relative path is taken from the current directory at the time the variable is read).
//! - `FERROTEMP_GUARD_SWEEP=0` stops the automatic sweep (no slice runs inside
//!   registrations); [`sweep`] still works.
//! - `FERROTEMP_GUARD_FLOCK=0` records without `flock`, as on a filesystem without it
//!   (liveness then comes from the boot id, pid namespace, process id and start time in the
//!   record's header); for testing.

use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[cfg(unix)]
mod age;
#[cfg(unix)]
mod fds;
#[cfg(unix)]
mod identity;
#[cfg(unix)]
mod listing;
#[cfg(unix)]
mod procs;
#[cfg(unix)]
pub mod record;
#[cfg(unix)]
mod registry;
#[cfg(unix)]
mod state;
#[cfg(unix)]
mod sweep;
#[cfg(unix)]
mod tree;

// Platform code, one module per platform: the records and sweeps on Unix, nothing elsewhere.
#[cfg(not(unix))]
mod other;
#[cfg(unix)]
mod unix;

#[cfg(not(unix))]
use other as imp;
#[cfg(unix)]
use unix as imp;

#[cfg(unix)]
pub use identity::EntryIdentity;
#[cfg(unix)]
pub use listing::{EntryPresence, OwnerStatus, RecordListing};
#[cfg(unix)]
pub use state::current_record;

/// What kind of entry is guarded; a sweep removes an entry only if it is still of this kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file, removed with `unlink`.
    File,
    /// A directory, removed with everything in it by
    /// [`remove_tree_nofollow`](crate::remove_tree_nofollow).
    Dir,
}

/// What a record keeps of a workspace (a temp directory for one job, with limits) besides
/// its directory entry: for `ferrotemp ls` and other readers of the registry. Sweeps treat a
/// workspace exactly as any guarded directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkspaceMeta {
    /// The job's name (a record keeps its first 255 bytes, cut at a character boundary).
    pub name: String,
    /// The command line the job runs, if it runs one (`ferrotemp run`; a record keeps its
    /// first 1,024 bytes, cut at a character boundary).
    pub command: Option<String>,
    /// The most bytes the workspace may hold, if limited.
    pub max_bytes: Option<u64>,
    /// The most files the workspace may hold, if limited.
    pub max_files: Option<u64>,
}

/// The outcome of [`register`].
#[derive(Debug)]
#[must_use = "dropping a Guarded token unregisters the entry at once"]
pub enum Registration {
    /// The entry is recorded. Drop the token (or pass it to [`unregister`]) after removing the
    /// entry; keep it as long as the entry should be cleaned up after a crash.
    Guarded(GuardToken),
    /// Keep mode (`FERROTEMP_KEEP=1`): nothing was recorded, and the caller must not remove the
    /// entry. Log its path so the user can find it.
    Keep,
    /// The guard is off (disabled, unavailable, or this entry could not be recorded): remove
    /// the entry as usual. [`take_warning`] tells, once, why the guard is unavailable.
    Unguarded,
}

impl Registration {
    /// Whether the caller must keep the entry (keep mode).
    #[must_use]
    pub fn is_keep(&self) -> bool {
        matches!(self, Registration::Keep)
    }

    /// The token, if the entry was recorded.
    #[must_use]
    pub fn into_token(self) -> Option<GuardToken> {
        match self {
            Registration::Guarded(token) => Some(token),
            _ => None,
        }
    }
}

/// Proof that an entry is recorded. Dropping it unregisters the entry (so a `TempPath`
/// holding one unregisters after its own removal, fields dropping after `Drop::drop`).
///
/// Not `Clone`: an entry is unregistered once. A token inherited across `fork` belongs to the
/// parent's record and does nothing in the child.
#[derive(Debug)]
pub struct GuardToken {
    epoch: u64,
    slot: u32,
}

impl Drop for GuardToken {
    fn drop(&mut self) {
        imp::unregister(self.epoch, self.slot);
    }
}

/// The guard's settings; [`GuardConfig::from_env`] gives the environment's.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::struct_excessive_bools)] // independent switches, one per variable
pub struct GuardConfig {
    /// Record entries (`FERROTEMP_GUARD`, default on).
    pub enabled: bool,
    /// Record the entries their callers own too (`FERROTEMP_GUARD=all`, default off): the
    /// Python package's `mkstemp`, `mkdtemp` and `NamedTemporaryFile(delete=False)` then
    /// register with [`detach`], so a process killed leaves nothing a sweep does not
    /// reclaim. The price: a program that means to keep such an entry after it is killed
    /// (or after it `exec`s and the new program ends) loses it; at normal exit they stay.
    /// Implies `enabled`.
    pub record_all: bool,
    /// Keep every guarded entry (`FERROTEMP_KEEP`, default off).
    pub keep: bool,
    /// The registry directory; `None` means [`default_registry_path`] (`FERROTEMP_GUARD_DIR`).
    /// A relative path is made absolute against the current directory when the configuration
    /// is read or set, so a later `chdir` does not move the registry.
    pub registry_dir: Option<PathBuf>,
    /// Sweep the registry automatically, in slices inside registrations (see the module
    /// docs and [`SweepLimits`]; `FERROTEMP_GUARD_SWEEP`, default on).
    pub auto_sweep: bool,
    /// Lock records with `flock` (`FERROTEMP_GUARD_FLOCK`, default on). Off, records are
    /// written as on filesystems without `flock`: their liveness comes from the owner's boot,
    /// pid namespace, process id and start time, and sweepers claim a dead one by renaming
    /// it. A sweeper still tries every record's lock first, whatever this setting: a lock
    /// its owner holds means live.
    pub use_flock: bool,
}

impl Default for GuardConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            record_all: false,
            keep: false,
            registry_dir: None,
            auto_sweep: true,
            use_flock: true,
        }
    }
}

impl GuardConfig {
    /// The configuration the `FERROTEMP_*` variables describe (see the module docs).
    #[must_use]
    pub fn from_env() -> Self {
        // Unrecognised values give the default; the Python package shows their warnings.
        let flag = |name: &str, default: bool| crate::env::read_switch(name, default).0;
        let all = is_all(std::env::var_os("FERROTEMP_GUARD").as_deref());
        Self {
            enabled: all || flag("FERROTEMP_GUARD", true),
            record_all: all,
            keep: flag("FERROTEMP_KEEP", false),
            // Absolute now: a chdir later must not move the registry.
            registry_dir: std::env::var_os("FERROTEMP_GUARD_DIR")
                .filter(|v| !v.is_empty())
                .map(|v| crate::ospath::abspath(Path::new(&v))),
            auto_sweep: flag("FERROTEMP_GUARD_SWEEP", true),
            use_flock: flag("FERROTEMP_GUARD_FLOCK", true),
        }
    }
}

/// Whether a `FERROTEMP_GUARD` value is `all` (any case, spaces around).
#[must_use]
pub fn is_all(value: Option<&OsStr>) -> bool {
    value
        .and_then(OsStr::to_str)
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("all"))
}

/// The configuration in force (read from the environment on first use).
#[must_use]
pub fn config() -> GuardConfig {
    imp::config()
}

/// Re-reads the environment, as at process start. See [`set_config`] for what happens to
/// entries already recorded.
pub fn reload_config() {
    set_config(GuardConfig::from_env());
}

/// Replaces the configuration for the whole process.
///
/// Entries recorded before stay in their record, which stays open and locked until the
/// process exits (closing it would hand live entries to a sweeper); their tokens keep working.
/// Records with no live entry left are removed at once.
/// New registrations go to a new record under the new settings, and a guard that was
/// unavailable is tried again.
pub fn set_config(config: GuardConfig) {
    imp::set_config(config);
}

/// Whether keep mode is on (`FERROTEMP_KEEP=1`): guarded entries must not be removed.
#[must_use]
pub fn keep_mode() -> bool {
    imp::keep_mode()
}

/// Records `path` (absolute, or made absolute against the current directory) with the device
/// and inode the caller obtained from the entry it just created.
///
/// Never fails: a guard that cannot work answers [`Registration::Unguarded`] and leaves one
/// warning for [`take_warning`]. The first registration in a process (or forked child) opens
/// the registry and creates the record; later ones cost no syscall of their own. While the
/// automatic sweep is under way, each registration also runs one bounded slice of it on the
/// calling thread (see the module docs).
///
/// A sweep never removes an entry born before the process's record was made (see
/// [`record`]): an entry created before the first registration stays, reported as
/// [`SkipReason::BornBeforeOwner`]. Create guarded entries with [`register_pending`] first,
/// as [`Builder::guarded`](crate::Builder::guarded) does. Without a birth time or generation
/// recorded, identity rests on the device and inode alone: prefer [`register_fd`].
pub fn register(path: &Path, kind: EntryKind, dev: u64, ino: u64) -> Registration {
    imp::register(path, kind, dev, ino)
}

/// [`register`] with the full identity (device, inode, birth time, generation) of `fd`, the
/// descriptor of the entry just created: one `statx`, plus one `ioctl` where the filesystem
/// keeps inode generations.
#[cfg(unix)]
pub fn register_fd(path: &Path, kind: EntryKind, fd: impl std::os::fd::AsFd) -> Registration {
    let (keep, enabled) = state::switches();
    if keep {
        return Registration::Keep;
    }
    if !enabled {
        return Registration::Unguarded;
    }
    match identity::identify(fd) {
        Ok(id) => state::register(path, kind, Some(&id), None),
        Err(err) => {
            state::note_entry_failure(path, &err.into());
            Registration::Unguarded
        }
    }
}

/// [`register_fd`] for a workspace's directory: a [`EntryKind::Dir`] entry whose record entry
/// also carries `meta` (its name and limits, read back in
/// [`RecordEntry::workspace`](record::RecordEntry::workspace)).
///
/// Registered after its creation, the directory is never swept if this was the process's
/// first registration (see [`register`]); [`register_workspace_pending`] then
/// [`confirm_fd`] leaves no such gap.
#[cfg(unix)]
pub fn register_workspace(
    path: &Path,
    fd: impl std::os::fd::AsFd,
    meta: &WorkspaceMeta,
) -> Registration {
    let (keep, enabled) = state::switches();
    if keep {
        return Registration::Keep;
    }
    if !enabled {
        return Registration::Unguarded;
    }
    match identity::identify(fd) {
        Ok(id) => state::register(path, EntryKind::Dir, Some(&id), Some(meta)),
        Err(err) => {
            state::note_entry_failure(path, &err.into());
            Registration::Unguarded
        }
    }
}

/// [`register_pending`] for a workspace's directory (see [`register_workspace`]): recorded
/// before its creation, then confirmed with [`confirm_fd`]. (Off Unix, where
/// [`register_workspace`] does not exist, nothing is recorded.)
pub fn register_workspace_pending(path: &Path, meta: &WorkspaceMeta) -> Registration {
    imp::register_workspace_pending(path, meta)
}

/// Records `path` *before* it is created, as pending, so that no instant exists in which the
/// entry exists and is not recorded. Then create it: on success, [`confirm_fd`] (or
/// [`confirm`]) with what was made; on any failure (the name taken, `EEXIST`, included) drop
/// the token, which drops the pending entry at once.
///
/// A sweep of a dead owner's pending entry removes the path only if it is plainly the one
/// the owner went on to create: of the recorded kind and of the owner's user, born no earlier
/// than the pending entry was written, and no earlier than the owner's record. Where the
/// filesystem gives no birth time, an existing pending path is left alone and reported
/// ([`SkipReason::Unconfirmed`]).
pub fn register_pending(path: &Path, kind: EntryKind) -> Registration {
    imp::register_pending(path, kind)
}

/// Confirms a [`register_pending`] entry with the identity of `fd`, the entry just created
/// (as [`register_fd`] takes it). If the identity cannot be read, the entry stays pending,
/// which a sweep still handles.
#[cfg(unix)]
pub fn confirm_fd(token: &GuardToken, fd: impl std::os::fd::AsFd) {
    if let Ok(id) = identity::identify(fd) {
        confirm(token, &id);
    }
}

/// [`confirm_fd`], returning the identity it recorded (`None` if it could not be read): a
/// caller that needs the entry's identity later reads it once, here.
#[cfg(unix)]
pub(crate) fn confirm_fd_identity(
    token: &GuardToken,
    fd: impl std::os::fd::AsFd,
) -> Option<EntryIdentity> {
    let id = identity::identify(fd).ok()?;
    confirm(token, &id);
    Some(id)
}

/// Confirms a [`register_pending`] entry with `identity`; a token of a live entry, or of
/// another process's record (inherited across `fork`), is left as it is.
#[cfg(unix)]
pub fn confirm(token: &GuardToken, identity: &EntryIdentity) {
    state::confirm(token.epoch, token.slot, identity);
}

/// Whether entries their callers own are recorded too ([`GuardConfig::record_all`]).
#[must_use]
pub fn record_all() -> bool {
    imp::record_all()
}

/// Hands a recorded entry to its caller, who removes it (or keeps it) as it likes: it stays
/// recorded while the process runs, so a kill leaves it to a sweep, and is unregistered —
/// not removed — when the process exits normally. Nothing unregisters it earlier: an entry
/// its caller removed stays in the record (a sweep finds it gone, or another file at its
/// path, and leaves it), one per detached entry until exit, so a process that makes many
/// fills its record (up to [`record::MAX_RECORD_LEN`]; later entries then go unrecorded).
pub fn detach(token: GuardToken) {
    let (epoch, slot) = (token.epoch, token.slot);
    std::mem::forget(token);
    imp::detach(epoch, slot);
}

/// A duplicate (close-on-exec) of the current record's descriptor, for a child process to
/// inherit as a lease (see the module docs): `None` when there is no current record, or it
/// is kept without `flock` (no lease is possible then).
///
/// # Errors
///
/// Duplicating the descriptor failed (out of descriptors).
#[cfg(unix)]
pub fn lease() -> io::Result<Option<std::os::fd::OwnedFd>> {
    state::lease()
}

/// Unregisters an entry after its normal removal (the same as dropping the token).
pub fn unregister(token: GuardToken) {
    drop(token);
}

/// Removes this process's records that hold no live entry, and from then on removes a record
/// as soon as its last entry is unregistered.
///
/// Runs by itself at normal process exit (a C `atexit` hook installed with the first record;
/// in a Python process that is after the interpreter has finalized its objects), so processes
/// that exit cleanly leave no record behind. `_exit`, a signal or a crash skip it: the record
/// then stays for a sweep, as intended. Entries still live at exit stay recorded, and a later
/// sweep removes them. Call it by hand only when the process is about to end.
pub fn shutdown() {
    imp::shutdown();
}

/// Why the guard is unavailable, the first time it is asked after the guard gave up (the
/// registry was refused, or a record could not be made); `None` otherwise and on every later
/// call, so the caller can warn exactly once.
///
/// A failure that may pass (out of descriptors, memory or space, `EAGAIN`, `EINTR`) does not
/// turn the guard off: registrations answer [`Registration::Unguarded`] for a while (100 ms,
/// doubling at each new failure up to a minute), then a record is tried again.
#[must_use]
pub fn take_warning() -> Option<String> {
    imp::take_warning()
}

/// Why the guard is off, if it is: disabled, or the reason it became unavailable.
#[must_use]
pub fn unavailable_reason() -> Option<String> {
    imp::unavailable_reason()
}

/// The name of the registry directory inside a temp dir: `ferrotemp-guard-<euid>`.
#[must_use]
pub fn registry_name() -> String {
    imp::registry_name()
}

/// The registry inside `tempdir`: `tempdir/ferrotemp-guard-<euid>`.
#[must_use]
pub fn registry_path_in(tempdir: &Path) -> PathBuf {
    tempdir.join(registry_name())
}

/// The default registry: [`registry_path_in`] the default temp dir.
///
/// # Errors
///
/// Temp-dir discovery's error.
pub fn default_registry_path() -> io::Result<PathBuf> {
    Ok(registry_path_in(&crate::env::default_tempdir()?))
}

/// The registry in use: the configured one, else [`default_registry_path`].
///
/// # Errors
///
/// Temp-dir discovery's error.
pub fn registry_path() -> io::Result<PathBuf> {
    match config().registry_dir {
        Some(dir) => Ok(dir),
        None => default_registry_path(),
    }
}

/// What [`sweep`] and [`sweep_older_than`] look at and how far they go.
#[derive(Debug, Clone, Default)]
pub struct SweepOptions {
    /// The registry to sweep; `None` means [`registry_path`].
    pub registry: Option<PathBuf>,
    /// Report what would be removed, and remove nothing.
    pub dry_run: bool,
    /// Stop after this many entries (removed or skipped).
    pub max_entries: Option<usize>,
    /// Stop once this much time has passed.
    pub max_time: Option<Duration>,
    /// Stop after examining this many records (live or dead).
    pub max_records: Option<usize>,
    /// Go on from where an earlier sweep of the same registry stopped
    /// ([`SweepReport::resume`]) rather than from the first record.
    pub resume: Option<SweepCursor>,
}

/// Where a sweep stopped at a limit, to go on from there ([`SweepOptions::resume`]).
///
/// Records are visited in name order; those before the cursor are done. When the sweep
/// stopped inside a dead record, the cursor also names that record (by its identity, so a
/// different file of the same name starts over) and the entry to go on with: a dead record
/// never changes, so the entries before it need no second look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepCursor {
    /// The record name (as listed) from which to go on.
    pub(crate) from: String,
    /// The record the sweep stopped inside, if any.
    pub(crate) partial: Option<PartialRecord>,
    /// The process scan the sweep made, for the next slices to go on with while it is recent.
    #[cfg(unix)]
    pub(crate) processes: Option<std::sync::Arc<sweep::TimedScan>>,
}

/// A dead record a sweep stopped inside (see [`SweepCursor`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PartialRecord {
    /// Its name now (a record claimed by a rename has a new one).
    pub(crate) name: String,
    /// Its device and inode: another file at that name is another record.
    pub(crate) id: crate::file_id::FileId,
    /// The first entry not yet done.
    pub(crate) next_entry: usize,
    /// Whether an entry before it was in use (the record must then stay).
    pub(crate) in_use: bool,
}

/// Why an entry was left alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// Nothing is at the path any more.
    Gone,
    /// Something else is at the path now (another device or inode, or another kind).
    Replaced,
    /// A symbolic link: never followed, never removed.
    Symlink,
    /// On another filesystem than the directory swept (or a mount point inside it).
    OtherFilesystem,
    /// Owned by another user.
    OtherOwner,
    /// Locked with `flock` by a live user.
    InUse,
    /// A timestamp (of the entry or of something inside) is newer than the cutoff.
    Recent,
    /// Neither a regular file nor a directory.
    NotFileOrDir,
    /// Too big or too deep to examine completely within the walk's bounds.
    TooLarge,
    /// Born before its owner's record (or before the owner started): the owner cannot have
    /// created it, so the record's word is not taken (a planted or damaged record).
    BornBeforeOwner,
    /// A pending entry (recorded before its creation) whose path exists but cannot be shown
    /// to be what the owner created: no birth time here, or born before the entry was
    /// written (a name the creation collided with).
    Unconfirmed,
}

/// One entry a sweep removed (or, in a dry run, would remove).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweptEntry {
    /// Its path.
    pub path: PathBuf,
    /// File or directory.
    pub kind: EntryKind,
    /// Bytes it held: a file's size, or the sum of the file sizes in a directory tree.
    pub bytes: u64,
}

/// What a sweep did.
#[derive(Debug, Default)]
pub struct SweepReport {
    /// Whether this was a dry run (nothing removed; `removed` lists what would have been).
    pub dry_run: bool,
    /// Entries removed, or that a dry run would remove.
    pub removed: Vec<SweptEntry>,
    /// Entries examined and left alone, with the reason.
    pub skipped: Vec<(PathBuf, SkipReason)>,
    /// Failures, each with the path it concerns.
    pub errors: Vec<(PathBuf, io::Error)>,
    /// Dead processes' records removed (or that a dry run would remove).
    pub records_removed: usize,
    /// Records of live processes, left alone.
    pub records_live: usize,
    /// False when a limit (count or time) stopped the sweep early.
    pub complete: bool,
    /// Where a sweep stopped by a limit left off ([`SweepOptions::resume`] goes on from
    /// there); `None` when it went through the whole registry.
    pub resume: Option<SweepCursor>,
}

impl SweepReport {
    /// How many entries were removed (or would be).
    #[must_use]
    pub fn entries(&self) -> usize {
        self.removed.len()
    }

    /// How many bytes were reclaimed (or would be), as far as known.
    #[must_use]
    pub fn bytes(&self) -> u64 {
        self.removed.iter().map(|e| e.bytes).sum()
    }
}

/// Removes the entries of dead processes' records in the registry, then those records.
///
/// A record is dead when its `flock` can be taken (`LOCK_EX|LOCK_NB`) and its owner's pid does
/// not run with the recorded start time (an owner that `exec`ed lost its lock but is alive),
/// and no process of a group or session the owner led still runs (its children); an entry a
/// live process holds open (or, for a directory, holds anything inside) is left with its
/// record for a later sweep; entries that are not absolute normalised paths, or name the
/// registry, are refused. It stays locked until
/// it is unlinked, and after locking the sweeper checks that the record's name still refers to
/// the locked inode, so two sweepers never both process one record and a live owner's record
/// is never read as dead. An entry is removed only if its path (not followed if a symlink)
/// still shows the recorded kind, the record's user, device and inode, and the birth time and
/// inode generation where the record holds them (see [`EntryIdentity`]); never if it was born
/// before the owner's record ([`SkipReason::BornBeforeOwner`]); a pending entry only as
/// [`register_pending`] says. Files are unlinked; directories go through
/// [`remove_tree_nofollow`](crate::remove_tree_nofollow). A record of another host is never
/// judged dead, and one longer than [`record::MAX_RECORD_LEN`] is reported damaged and left
/// unread. The lock is always tried first: held
/// by someone, the record is live. Records made without `flock` (unsupported filesystem, or
/// [`GuardConfig::use_flock`] off) are judged by their header: dead if made in another boot
/// (boot id) or if their process id, in the sweeper's own pid namespace, is gone or reused
/// (start time); live if made in another pid namespace (a container sharing the temp dir),
/// whose process ids mean nothing here, or if the namespace is unknown (records of layout
/// version 1). They are claimed by an atomic rename before their entries are touched. A
/// record whose entries are damaged is judged by its header all the same; one of an unknown
/// layout version is left alone.
///
/// A missing registry is an empty sweep. Limits stop early, leaving the rest (the record of
/// an unfinished dead process included) for a later sweep. The work inside a directory entry
/// counts against them: its measuring walk stops at what is left of the budget (its bytes are
/// then those counted so far), the entries its removal deletes are counted, and the removal
/// stops at the time limit, leaving the rest of the tree for a later sweep.
///
/// # Errors
///
/// The registry's refusal (not ours, a symlink, …) or an error listing it. Per-entry failures
/// are in the report.
pub fn sweep(options: &SweepOptions) -> io::Result<SweepReport> {
    imp::sweep(options)
}

/// Bounds of the automatic sweep ([`GuardConfig::auto_sweep`]), which runs in slices inside
/// later registrations rather than on a thread of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SweepLimits {
    /// The most records one slice examines.
    pub slice_records: usize,
    /// The most entries one slice examines (removed or skipped, tree work included).
    pub slice_entries: usize,
    /// The most time one slice spends (checked between entries, and inside tree work).
    pub slice_time: Duration,
    /// The most entries the whole automatic sweep examines, over all its slices.
    pub max_entries: usize,
    /// The most time the whole automatic sweep spends, over all its slices.
    pub max_time: Duration,
}

impl Default for SweepLimits {
    /// Slices of 16 records, 8 entries or 0.5 ms, whichever comes first; in all, 10,000
    /// entries or two seconds.
    fn default() -> Self {
        Self {
            slice_records: 16,
            slice_entries: 8,
            slice_time: Duration::from_micros(500),
            max_entries: 10_000,
            max_time: Duration::from_secs(2),
        }
    }
}

/// Removes the top-level entries of `dir` whose name starts with `prefix` and whose
/// timestamps (access, modification and change, of the entry and of everything inside a
/// directory) are all older than `cutoff`, following systemd-tmpfiles' rules: an entry is
/// skipped if it is a symlink, owned by another user, on another filesystem than `dir` (or
/// holds a mount point), neither a file nor a directory, locked with `flock` (a live
/// `TempDir` holds a shared lock), or too big to examine within the walk's bounds. An entry a
/// live process's record lists (or a directory holding one) is in use too, whatever its age:
/// guarded files hold no lock. The records consulted are those of the registry in use and of
/// `dir`'s own registry; entries guarded in any other registry are not known. A directory is
/// removed only if its path still leads to the directory examined, a file only if its name
/// (checked through a descriptor of `dir`) still does. The registry directories
/// (`ferrotemp-guard-*`) are never touched.
///
/// Timestamps are read before anything is opened, and opens use `O_NOATIME` where allowed,
/// so a dry run does not make entries look recent.
///
/// # Errors
///
/// `InvalidInput` for an empty prefix (which would mean every entry), the error of opening
/// `dir`, or an error reading a registry's records (nothing is removed then: what is in use
/// is not known). Per-entry failures are in the report.
pub fn sweep_older_than(
    dir: &Path,
    prefix: &OsStr,
    cutoff: Duration,
    dry_run: bool,
) -> io::Result<SweepReport> {
    imp::sweep_older_than(dir, prefix, cutoff, dry_run)
}

/// Lists every record of the registry at `registry` (`None`: [`registry_path`]) with its
/// owner's status and its entries, for a view of all guarded temp space (`ferrotemp ls`):
/// see [`RecordListing`]. Nothing is changed; a missing registry lists nothing.
///
/// # Errors
///
/// The registry's refusal (not ours, a symlink, …), temp-dir discovery's error, or an error
/// listing it. Unreadable records are left out.
#[cfg(unix)]
pub fn list_records(registry: Option<&Path>) -> io::Result<Vec<RecordListing>> {
    let path = match registry {
        Some(path) => crate::ospath::abspath(path),
        None => registry_path()?,
    };
    listing::list_records(&path)
}

/// Whether `entry`'s path still holds what its record says (see [`EntryPresence`]), checked
/// as a sweep checks it: a live entry by identity (device, inode, birth time, generation), a
/// pending one by the owner's user (this one: only this user's records are listed) and a
/// birth after the entry was written.
#[cfg(unix)]
#[must_use]
pub fn entry_presence(entry: &record::RecordEntry) -> EntryPresence {
    listing::entry_presence(entry)
}

/// [`entry_presence`], and for an entry present, a descriptor of it (read-only, opened
/// without following a symlink) checked to be what was examined. For readers such as
/// `ferrotemp ls`, which measure only what is still the entry, through this descriptor
/// ([`crate::measure::measure_tree_at`]): the path may be re-pointed between the check and
/// the walk.
///
/// # Errors
///
/// What is at the path instead ([`EntryPresence::Gone`], `Replaced` or `Unknown`).
#[cfg(unix)]
pub fn open_present_entry(
    entry: &record::RecordEntry,
) -> Result<std::os::fd::OwnedFd, EntryPresence> {
    listing::open_present_entry(entry)
}

/// A `stat`'s device (see [`FileId::from_stat`](crate::file_id::FileId::from_stat)).
#[cfg(unix)]
pub(crate) fn stat_dev(st: &rustix::fs::Stat) -> u64 {
    crate::file_id::FileId::from_stat(st).dev
}

/// A `stat`'s inode.
#[cfg(unix)]
pub(crate) fn stat_ino(st: &rustix::fs::Stat) -> u64 {
    crate::file_id::FileId::from_stat(st).ino
}

#[cfg(test)]
mod tests {
    use super::is_all;
    use std::ffi::OsStr;

    #[test]
    fn guard_all_is_read_in_any_case_and_nothing_else_is_all() {
        for all in ["all", "ALL", " All ", "all\n"] {
            assert!(is_all(Some(OsStr::new(all))), "{all:?}");
        }
        for other in ["1", "0", "", "al", "alll", "all1", "everything"] {
            assert!(!is_all(Some(OsStr::new(other))), "{other:?}");
        }
        assert!(!is_all(None));
    }
}
