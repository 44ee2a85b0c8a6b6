//! Sweeping dead processes' records.

use std::collections::HashSet;
use std::ffi::CStr;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use std::sync::Arc;

use rustix::fs::{AtFlags, Dir, FileType, FlockOperation, Mode, OFlags, Stat, CWD};
use rustix::io::Errno;

use super::fds::FdShare;
use super::identity;
use super::procs;
use super::record::{
    self, EntryState, Parsed, ParsedRecord, RecordEntry, CLAIMED_INFIX, NEW_SUFFIX, RECORD_SUFFIX,
};
use super::tree::{file_bytes, open_nofollow, scan_tree, ScanBounds};
use super::{
    registry, stat_dev, stat_ino, EntryKind, PartialRecord, SkipReason, SweepCursor, SweepOptions,
    SweepReport, SweptEntry,
};
use crate::error::with_path;
use crate::file_id::FileId;

/// A `.new` record older than this was abandoned by a creator that died before renaming it.
const ABANDONED_NEW_AGE: Duration = Duration::from_secs(60);
/// A claimed record older than this was abandoned by a sweeper that died mid-way.
const ABANDONED_CLAIM_AGE: Duration = Duration::from_secs(600);

struct Budget {
    deadline: Option<Instant>,
    max_entries: Option<usize>,
    used: usize,
    max_records: Option<usize>,
    records: usize,
    /// The sweep's share of the process's descriptors.
    fds: FdShare,
}

impl Budget {
    /// Whether the entries or the time are used up.
    fn exhausted(&self) -> bool {
        self.max_entries.is_some_and(|max| self.used >= max)
            || self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// Whether another record may be started: the record count gates only that, so a
    /// record started is gone on with as far as entries and time allow.
    /// The first record of a sweep is always started, and its first entry always examined
    /// (see `sweep_entries`), so that slices make progress on a loaded machine too.
    fn may_start_record(&self) -> bool {
        if matches!(self.max_records, Some(max) if self.records >= max) {
            return false;
        }
        self.records == 0 || !self.exhausted()
    }

    /// The bounds for walking a tree with what is left (at least one entry, so that an
    /// entry started is measured at all).
    fn scan_bounds(&self) -> ScanBounds<'static> {
        ScanBounds {
            max_entries: self
                .max_entries
                .map_or(usize::MAX, |max| max.saturating_sub(self.used).max(1)),
            deadline: self.deadline,
            live: None,
            max_depth: self.fds.scan_depth(),
        }
    }
}

pub(super) fn sweep(options: &SweepOptions) -> std::io::Result<SweepReport> {
    let mut report = SweepReport {
        dry_run: options.dry_run,
        complete: true,
        ..SweepReport::default()
    };
    let fds = FdShare::current();
    if !fds.room() {
        // Too close to the descriptor limit: the user's own opens come first; a later sweep
        // goes on from where this one was asked to.
        report.complete = false;
        report.resume.clone_from(&options.resume);
        return Ok(report);
    }
    let path = match &options.registry {
        Some(path) => crate::ospath::abspath(path),
        None => super::registry_path()?,
    };
    let (dir, real_path) = match registry::open_registry_resolved(&path, false) {
        Ok(opened) => opened,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(report),
        Err(err) => return Err(err),
    };
    let mut budget = Budget {
        deadline: options.max_time.and_then(|t| Instant::now().checked_add(t)),
        max_entries: options.max_entries,
        used: 0,
        max_records: options.max_records,
        records: 0,
        fds,
    };
    let host = record::machine_id();
    let mut names = list(&dir).map_err(|e| with_path(e.into(), &path))?;
    names.sort_unstable();
    // Read only if a record kept without `flock` has to be judged by its header.
    let us = std::cell::OnceCell::new();
    // The process table, scanned once per sweep when a dead record with entries is found (or
    // taken over from the slice before, if recent).
    let mut processes = options
        .resume
        .as_ref()
        .and_then(|cursor| cursor.processes.clone())
        .filter(|scan| scan.scan.complete && scan.at.elapsed() < SCAN_REUSE);
    // (name as listed, name now, where an earlier slice stopped inside it)
    let mut todo: Vec<(&str, &str, Option<&PartialRecord>)> = Vec::with_capacity(names.len() + 1);
    if let Some(cursor) = &options.resume {
        // The record a slice stopped inside comes first; then the names after it.
        if let Some(partial) = &cursor.partial {
            todo.push((&cursor.from, &partial.name, Some(partial)));
            names.retain(|n| *n > cursor.from && *n != partial.name);
        } else {
            names.retain(|n| *n >= cursor.from);
        }
    }
    todo.extend(names.iter().map(|n| (n.as_str(), n.as_str(), None)));
    for (listed, name, partial) in todo {
        if report.resume.is_some() {
            break;
        }
        // Out of budget, or too close to the descriptor limit now: a later sweep goes on
        // from here.
        if !fds.room() || !budget.may_start_record() {
            report.resume = Some(SweepCursor {
                from: listed.to_owned(),
                partial: partial.cloned(),
                processes: processes.clone(),
            });
            break;
        }
        budget.records += 1;
        let mut sweeper = RecordSweep {
            registry: &dir,
            registry_path: &path,
            registry_real: &real_path,
            listed,
            name,
            partial,
            dry_run: options.dry_run,
            us: &us,
            host: &host,
            processes: &mut processes,
            report: &mut report,
            budget: &mut budget,
        };
        sweeper.run();
    }
    // Stopped early (a cursor), or something was left for later (a scan cut short,
    // directories deferred for lack of descriptors): not complete.
    report.complete = report.complete && report.resume.is_none();
    Ok(report)
}

/// The registry's record-like names, in directory order.
pub(super) fn list(dir: &OwnedFd) -> rustix::io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in Dir::read_from(dir)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().to_str() else {
            continue;
        };
        if name.ends_with(RECORD_SUFFIX)
            || name.ends_with(NEW_SUFFIX)
            || name.contains(CLAIMED_INFIX)
        {
            names.push(name.to_owned());
        }
    }
    Ok(names)
}

fn same_file(a: &Stat, b: &Stat) -> bool {
    stat_dev(a) == stat_dev(b) && stat_ino(a) == stat_ino(b)
}

fn age_of(st: &Stat) -> Duration {
    #[allow(clippy::cast_sign_loss)]
    let changed = SystemTime::UNIX_EPOCH + Duration::from_secs(st.st_ctime.max(0) as u64);
    SystemTime::now()
        .duration_since(changed)
        .unwrap_or(Duration::ZERO)
}

/// Who the sweeping process is, for judging records kept without `flock`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Identity {
    /// See [`record::pid_namespace`].
    pid_ns: u64,
    /// See [`record::boot_id`].
    boot_id: [u8; 16],
    /// This process's start time (see [`record::process_start_time`]); 0 if unknown.
    start_time: u64,
}

impl Identity {
    pub(super) fn current() -> Self {
        Self {
            pid_ns: record::pid_namespace(),
            boot_id: record::boot_id(),
            start_time: record::process_start_time(std::process::id()).unwrap_or(0),
        }
    }
}

/// Where a record's pid belongs, as far as its header tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PidTable {
    /// Made in another boot of this host: its process is gone.
    OtherBoot,
    /// Made in another pid namespace: its pid means nothing here.
    OtherNamespace,
    /// Our boot (or unknown) and our pid namespace: its pid names a process of our table.
    Ours,
    /// A side's namespace is unknown where namespaces exist.
    Unknown,
}

fn pid_table(record: &ParsedRecord, us: &Identity) -> PidTable {
    const UNKNOWN_BOOT: [u8; 16] = [0; 16];
    if record.boot_id != UNKNOWN_BOOT && us.boot_id != UNKNOWN_BOOT && record.boot_id != us.boot_id
    {
        return PidTable::OtherBoot;
    }
    match (record.pid_ns, us.pid_ns) {
        // No namespace known on either side: one namespace, unless this system has them.
        (0, 0) if !cfg!(any(target_os = "linux", target_os = "android")) => PidTable::Ours,
        (0, _) | (_, 0) => PidTable::Unknown,
        (theirs, ours) if theirs == ours => PidTable::Ours,
        _ => PidTable::OtherNamespace,
    }
}

/// What the process table says of a record's owner (its pid, in a table known to be ours).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OwnerPid {
    /// The pid runs with the recorded start time: the owner itself (it may have `exec`ed).
    Running,
    /// The pid runs, but no start time tells whether it is the owner.
    Unknown,
    /// No such pid, or a later process with another start time.
    Gone,
}

fn owner_pid(record: &ParsedRecord) -> OwnerPid {
    pid_state(record.pid, record.start_time)
}

/// What the process table says of the process `pid` started at `start_time` (0: unknown).
fn pid_state(raw_pid: u32, start_time: u64) -> OwnerPid {
    let Some(pid) = i32::try_from(raw_pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return OwnerPid::Gone;
    };
    if cfg!(any(target_os = "linux", target_os = "android"))
        && std::path::Path::new("/proc/self/stat").exists()
    {
        // A zombie has ended (it runs nothing, holds nothing) though its pid still answers.
        return match procs::stat_of(raw_pid) {
            Some(st) if !st.ended() && start_time == 0 => OwnerPid::Unknown,
            // The id may have been reused by a later process: the start time tells them apart.
            Some(st) if !st.ended() && st.start_time == start_time => OwnerPid::Running,
            _ => OwnerPid::Gone,
        };
    }
    match rustix::process::test_kill_process(pid) {
        Ok(()) | Err(Errno::PERM) => {}
        Err(_) => return OwnerPid::Gone,
    }
    match record::process_start_time(raw_pid) {
        Some(now) if start_time != 0 => {
            if now == start_time {
                OwnerPid::Running
            } else {
                OwnerPid::Gone
            }
        }
        _ => OwnerPid::Unknown,
    }
}

/// Whether the process that wrote `record` may still run, when no lock tells (records kept
/// without `flock`). Dead: made in another boot, or its pid (in our pid namespace) is gone
/// or now belongs to a later process. Live: the pid runs with the recorded start time, or
/// the record comes from another pid namespace (a container sharing the temp dir), where
/// its pid means nothing here, or its namespace is unknown where namespaces exist (a
/// version-1 record). A sweep must never remove what a live process uses: when in doubt, live.
fn owner_alive(record: &ParsedRecord, us: &Identity) -> bool {
    match pid_table(record, us) {
        PidTable::OtherBoot => false,
        PidTable::OtherNamespace | PidTable::Unknown => true,
        PidTable::Ours => owner_pid(record) != OwnerPid::Gone,
    }
}

/// Whether the owner of a record that says it holds its `flock`, but whose lock is free, is
/// still running all the same: it `exec`ed, and the record's descriptor (close-on-exec) went
/// with the old program. Only a positive proof counts here — same boot, same pid namespace,
/// and the pid running with the recorded start time (which `exec` keeps); anything less
/// leaves the free lock to say dead, as it always did.
fn exec_survivor(record: &ParsedRecord, us: &Identity) -> bool {
    pid_table(record, us) == PidTable::Ours && owner_pid(record) == OwnerPid::Running
}

/// The least time a tree removal gets within a sweep (see [`remove_dir`]).
const MIN_TREE_TIME: Duration = Duration::from_millis(20);
/// How long the slices of one sweep may go on with a process scan an earlier slice made
/// (a scan costs milliseconds; a slice, under one).
const SCAN_REUSE: Duration = Duration::from_secs(1);
/// The least time a process scan gets, whatever is left of a slice's budget: a scan cut short
/// knows nothing, and a sweep that meets one keeps the record for later.
const MIN_SCAN_TIME: Duration = Duration::from_millis(250);

/// A process scan and when it was made, shared by the slices of one sweep.
#[derive(Debug)]
pub(crate) struct TimedScan {
    pub(crate) at: Instant,
    scan: procs::ProcessScan,
}

impl PartialEq for TimedScan {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at
    }
}

impl Eq for TimedScan {}

impl TimedScan {
    fn run(deadline: Option<Instant>) -> Arc<Self> {
        let at = Instant::now();
        let deadline = deadline.map(|d| d.max(at + MIN_SCAN_TIME));
        Arc::new(Self {
            at,
            scan: procs::ProcessScan::run(deadline),
        })
    }
}

/// Whether processes the dead owner of `parsed` led still run: a live process whose
/// process group or session is the owner's pid. Its children (a subprocess it started,
/// which may open its temp files by name at any time) stay in its group unless they
/// left it, so a group leader's entries wait for its whole group; a member's own entries
/// (pid other than the group's) do not. The kernel never gives a pid to a new process
/// while a group or session of that number exists, so such a group is the owner's — unless
/// the pid now runs another process (another start time), whose group it then is.
/// `None` when the process table could not be read to the end (a deadline).
fn owner_group_alive(
    parsed: &ParsedRecord,
    us: &Identity,
    processes: &mut Option<Arc<TimedScan>>,
    deadline: Option<Instant>,
) -> Option<bool> {
    if pid_table(parsed, us) != PidTable::Ours {
        return Some(false);
    }
    if let Some(now) = procs::stat_of(parsed.pid) {
        if parsed.start_time != 0 && now.start_time != parsed.start_time {
            return Some(false);
        }
    }
    let leader = i64::from(parsed.pid);
    let scan = &processes
        .get_or_insert_with(|| TimedScan::run(deadline))
        .scan;
    if !scan.available {
        return Some(false);
    }
    if scan.groups.contains(&leader) || scan.sessions.contains(&leader) {
        return Some(true);
    }
    scan.complete.then_some(false)
}

/// The name a sweeper gives a record it claims: the record's stem, then who claims it (boot
/// id, pid namespace, pid, start time) so that a later sweeper on the same machine and boot can
/// tell a claim whose sweeper died mid-way (killed during a sweep slice inside a creating call,
/// say) and take it over at once, then a random part.
fn claim_name(stem: &str, random: &str, us: &Identity) -> String {
    let boot = hex(&us.boot_id);
    let pid = std::process::id();
    let start = us.start_time;
    format!(
        "{stem}{CLAIMED_INFIX}{boot}-{:x}-{pid}-{start}-{random}",
        us.pid_ns
    )
}

/// Lower-case hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

/// Who claimed a record, as far as its claimed name tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Claimer {
    /// A process of this machine, boot and pid namespace that no longer runs.
    Dead,
    /// This very process (an earlier sweep of it left the record claimed).
    Us,
    /// A process of ours that runs.
    Running,
}

/// Who claimed the record named `name`: `None` when its name does not tell (an older
/// ferrotemp's claim, another machine or boot, another pid namespace, an unknown start time),
/// and the claim's age must decide.
fn claimer_of(name: &str, us: &Identity) -> Option<Claimer> {
    const UNKNOWN_BOOT: [u8; 16] = [0; 16];
    let (_, claim) = name.split_once(CLAIMED_INFIX)?;
    let mut parts = claim.split('-');
    let boot = parts.next()?;
    let pid_ns = u64::from_str_radix(parts.next()?, 16).ok()?;
    let pid: u32 = parts.next()?.parse().ok()?;
    let start: u64 = parts.next()?.parse().ok()?;
    parts.next()?;
    if us.boot_id == UNKNOWN_BOOT || boot != hex(&us.boot_id) {
        return None;
    }
    if pid_ns == 0 || pid_ns != us.pid_ns || start == 0 {
        return None;
    }
    if pid == std::process::id() && start == us.start_time {
        return Some(Claimer::Us);
    }
    match pid_state(pid, start) {
        OwnerPid::Running => Some(Claimer::Running),
        OwnerPid::Gone => Some(Claimer::Dead),
        OwnerPid::Unknown => None,
    }
}

/// What `flock(LOCK_NB)` on a record said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LockState {
    /// Someone else holds it: the owner is alive, whatever else the record says.
    HeldElsewhere,
    /// Taken by us (and held until the descriptor is closed).
    Ours,
    /// The filesystem has no `flock`.
    Unsupported,
}

pub(super) fn try_lock(fd: &OwnedFd, operation: FlockOperation) -> Result<LockState, Errno> {
    match rustix::fs::flock(fd, operation) {
        Ok(()) => Ok(LockState::Ours),
        Err(Errno::WOULDBLOCK) => Ok(LockState::HeldElsewhere),
        Err(err) if record::flock_unsupported(err) => Ok(LockState::Unsupported),
        Err(err) => Err(err),
    }
}

/// Whether the owner of `parsed` still runs, given what trying its lock said. A lock held by
/// someone else always means live. A lock we could take on a record whose owner said it holds
/// one means dead, unless the owner's pid still runs with the recorded start time (it
/// `exec`ed: the lock descriptor is close-on-exec); records without a lock are judged by the
/// header's identity of the owner.
pub(super) fn record_live(lock: LockState, parsed: &ParsedRecord, us: &Identity) -> bool {
    match lock {
        LockState::HeldElsewhere => true,
        LockState::Ours if parsed.locked => exec_survivor(parsed, us),
        LockState::Ours | LockState::Unsupported => owner_alive(parsed, us),
    }
}

/// The `(device, inode)` of every entry listed in a live record of the registry at `path`:
/// what an age-based sweep must leave alone. A missing or refused registry lists nothing
/// (nothing of ours can be recorded there).
///
/// # Errors
///
/// Listing the registry or reading a record failed, or a live record could not be read: the
/// caller cannot tell what is in use and must not remove anything.
pub(super) fn live_entries(path: &Path) -> std::io::Result<HashSet<FileId>> {
    let mut live = HashSet::new();
    let dir = match registry::open_registry(path, false) {
        Ok(dir) => dir,
        Err(err)
            if matches!(
                err.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied
            ) =>
        {
            return Ok(live)
        }
        Err(err) => return Err(err),
    };
    let euid = rustix::process::geteuid().as_raw();
    let us = Identity::current();
    let host = record::machine_id();
    let mut processes = None;
    for name in list(&dir).map_err(|e| with_path(e.into(), path))? {
        if !name.ends_with(RECORD_SUFFIX) {
            continue; // `.new`: no entry yet; claimed: a dead owner's, being swept
        }
        let record_path = path.join(&name);
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK;
        let fd = match rustix::fs::openat(&dir, name.as_str(), flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => continue,
            Err(err) => return Err(with_path(err.into(), record_path)),
        };
        let st = rustix::fs::fstat(&fd).map_err(|e| with_path(e.into(), &record_path))?;
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile || st.st_uid != euid {
            continue;
        }
        // Shared: other age sweeps are not kept out; the owner's exclusive lock refuses it.
        let lock = try_lock(&fd, FlockOperation::NonBlockingLockShared)
            .map_err(|e| with_path(e.into(), &record_path))?;
        match read_record(fd.as_fd()).map_err(|e| with_path(e, &record_path))? {
            Parsed::Record(parsed) => {
                // Another host's entries are judged by age alone (its owner's liveness cannot
                // be told from here); pending ones are too young for any age rule. A dead
                // leader's entries stay in use while its group runs, as for `sweep`; a process
                // table that cannot be read to the end counts as running.
                if !parsed.other_host(&host)
                    && (record_live(lock, &parsed, &us)
                        || (!parsed.entries.is_empty()
                            && owner_group_alive(&parsed, &us, &mut processes, None)
                                != Some(false)))
                {
                    live.extend(
                        parsed
                            .entries
                            .iter()
                            .filter(|e| e.state == EntryState::Live)
                            .map(|e| FileId {
                                dev: e.dev(),
                                ino: e.ino(),
                            }),
                    );
                }
            }
            // Not something ferrotemp writes: it lists nothing in use.
            Parsed::NotARecord | Parsed::TooLarge => {}
            Parsed::UnknownVersion => {
                return Err(with_path(
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        "a crash guard record of an unknown version: cannot tell what is in use",
                    ),
                    record_path,
                ));
            }
        }
    }
    Ok(live)
}

struct RecordSweep<'a> {
    registry: &'a OwnedFd,
    registry_path: &'a Path,
    /// The registry's path with its symbolic links resolved.
    registry_real: &'a Path,
    /// The name the record was listed under (the cursor goes by it).
    listed: &'a str,
    /// Its name now: the listed one, or the claimed one of a record an earlier slice
    /// of this sweep stopped inside.
    name: &'a str,
    /// Where an earlier slice stopped inside this record, if one did.
    partial: Option<&'a PartialRecord>,
    dry_run: bool,
    /// This process, to judge records kept without `flock` by (read on first use).
    us: &'a std::cell::OnceCell<Identity>,
    /// This machine (see [`record::machine_id`]).
    host: &'a ([u8; 16], bool),
    /// The process table, scanned once per sweep when a dead record with entries is found.
    processes: &'a mut Option<Arc<TimedScan>>,
    report: &'a mut SweepReport,
    budget: &'a mut Budget,
}

impl RecordSweep<'_> {
    fn error(&mut self, err: impl Into<std::io::Error>) {
        let path = self.registry_path.join(self.name);
        self.report
            .errors
            .push((path.clone(), with_path(err.into(), path)));
    }

    fn run(&mut self) {
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK;
        let fd = match rustix::fs::openat(self.registry, self.name, flags, Mode::empty()) {
            Ok(fd) => fd,
            // Another sweeper finished it, or its creator renamed it.
            Err(Errno::NOENT) => return,
            Err(err) => return self.error(err),
        };
        let st = match rustix::fs::fstat(&fd) {
            Ok(st) => st,
            Err(err) => return self.error(err),
        };
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile
            || st.st_uid != rustix::process::geteuid().as_raw()
        {
            // Not something this user's ferrotemp made: leave it, whatever it is.
            return;
        }
        if self.name.ends_with(NEW_SUFFIX) {
            return self.sweep_new(&fd, &st);
        }
        // Always tried, whatever this process's own settings: a lock the owner holds means
        // live, wherever the owner runs (another pid namespace included).
        let lock = match try_lock(&fd, FlockOperation::NonBlockingLockExclusive) {
            Ok(LockState::HeldElsewhere) => {
                if self.name.ends_with(RECORD_SUFFIX) {
                    self.report.records_live += 1;
                }
                return;
            }
            Ok(lock) => lock,
            Err(err) => return self.error(err),
        };
        let locked = lock == LockState::Ours;
        // Where an earlier slice stopped inside this very file (not another of its name).
        let resumed = self.partial.filter(|p| p.id == FileId::from_stat(&st));
        // The lock is ours (or there are no locks): the name must still be this file, else it
        // was removed by another sweeper (whose lock we now hold on an unlinked inode) or is
        // a new file of the same name.
        match rustix::fs::statat(self.registry, self.name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(now) if same_file(&now, &st) => {}
            _ => return,
        }
        // `None`: not a record at all (a damaged header).
        let Ok(parsed) = self.read_first(&fd) else {
            return;
        };
        if self.another_hosts(parsed.as_ref()) {
            return;
        }
        let claimed = self.name.contains(CLAIMED_INFIX);
        if claimed {
            // Another sweeper's claim, unless abandoned (its claimer is dead, or, where that
            // cannot be told, the claim is old), or this sweep's own.
            if resumed.is_none() && self.claim_held(&st) {
                return;
            }
        } else if parsed
            .as_ref()
            .is_some_and(|p| record_live(lock, p, self.us.get_or_init(Identity::current)))
        {
            // Judged by its header even when its entries are damaged.
            self.report.records_live += 1;
            return;
        }
        // Judged dead by its header. What the record lists is read again now: a record kept
        // without `flock` may have been read while its owner still wrote to it, and its owner
        // died between that read and the judgement; now it writes no more.
        let parsed = match parsed {
            Some(first) => match self.read_again(&fd, &first) {
                Some(parsed) => Some(parsed),
                None => return,
            },
            None => None,
        };
        if resumed.is_none() {
            if let Some(parsed) = parsed.as_ref().filter(|p| !p.entries.is_empty()) {
                if self.kept_by_owner_group(parsed) {
                    return;
                }
            }
        }
        let name = if locked || self.dry_run || (claimed && resumed.is_some()) {
            self.name.to_owned()
        } else {
            // Without locks, two sweepers are kept apart by an atomic rename: the one that
            // moves the record away owns it.
            match self.claim(&st) {
                Some(name) => name,
                None => return,
            }
        };
        let Some(parsed) = parsed else {
            // Not a record (damaged header): nothing in it can be trusted, only it removed.
            if !self.dry_run {
                let _ = rustix::fs::unlinkat(self.registry, name.as_str(), AtFlags::empty());
            }
            return;
        };
        if parsed.truncated && resumed.is_none() {
            self.error(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "damaged crash guard record; its readable entries were swept",
            ));
        }
        let owner = Owner::of(&parsed, &fd, &st);
        let Some(in_use) = self.sweep_entries(&parsed.entries, &owner, name.as_str(), &st, resumed)
        else {
            return; // the record stays, to be finished by a later sweep
        };
        if in_use {
            // An entry still used by a live process (a directory a worker the dead owner
            // forked still locks, a file a child holds open, a working directory inside) keeps
            // the record, so that a later sweep removes it once that process lets go.
            return;
        }
        self.report.records_removed += 1;
        if !self.dry_run {
            // Unlinked while still locked: no other sweeper can have started on it.
            if let Err(err) = rustix::fs::unlinkat(self.registry, name.as_str(), AtFlags::empty()) {
                self.error(err);
            }
        }
    }

    /// Whether the record must stay because processes its dead owner led still run (counted
    /// live), or because the process table could not be read in time (the sweep incomplete).
    fn kept_by_owner_group(&mut self, parsed: &ParsedRecord) -> bool {
        match self.owner_group_alive(parsed) {
            Some(false) => false,
            Some(true) => {
                self.report.records_live += 1;
                true
            }
            None => {
                self.report.complete = false;
                true
            }
        }
    }

    /// Sweeps the entries of a dead record (named `name` now, `st` its status), from where
    /// an earlier slice stopped if `resumed` says so. Returns whether some entry is still in
    /// use, or `None` when the budget ran out first: the cursor then points at the next entry.
    fn sweep_entries(
        &mut self,
        entries: &[RecordEntry],
        owner: &Owner,
        name: &str,
        st: &Stat,
        resumed: Option<&PartialRecord>,
    ) -> Option<bool> {
        let mut in_use = resumed.is_some_and(|p| p.in_use);
        let start = resumed.map_or(0, |p| p.next_entry);
        for (index, entry) in entries.iter().enumerate().skip(start) {
            // At least one entry per sweep, whatever the clock says: a slice whose time went
            // on listing and judging records still moves the cursor on.
            if self.budget.used > 0 && self.budget.exhausted() {
                self.stop_inside(name, st, index, in_use);
                return None;
            }
            self.budget.used += 1;
            let registry = [self.registry_path, self.registry_real];
            if let Some(why) = registry::refuse_entry(&entry.path, &registry) {
                let err = std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("crash guard record entry refused: {why}"),
                );
                let err = with_path(err, &entry.path);
                self.report.errors.push((entry.path.clone(), err));
                continue;
            }
            if entry.kind == EntryKind::Dir
                && !(self.budget.fds.trees_allowed() && self.budget.fds.room())
            {
                // Not within the sweep's share of descriptors here: a sweep in a process
                // with more room (or later) removes it.
                self.report
                    .skipped
                    .push((entry.path.clone(), SkipReason::TooLarge));
                self.report.complete = false;
                in_use = true;
                continue;
            }
            if self.held_by_a_live_process(entry) {
                self.report
                    .skipped
                    .push((entry.path.clone(), SkipReason::InUse));
                in_use = true;
                continue;
            }
            match sweep_entry(entry, owner, self.dry_run, self.report, self.budget) {
                Outcome::Done => {}
                Outcome::InUse => in_use = true,
                Outcome::Unfinished => {
                    // The budget ran out inside a tree: a later sweep goes on with it.
                    self.stop_inside(name, st, index, in_use);
                    return None;
                }
            }
        }
        Some(in_use)
    }

    /// Leaves the cursor at entry `next_entry` of this record (named `name` now).
    fn stop_inside(&mut self, name: &str, st: &Stat, next_entry: usize, in_use: bool) {
        self.report.resume = Some(SweepCursor {
            processes: self.processes.clone(),
            from: self.listed.to_owned(),
            partial: Some(PartialRecord {
                name: name.to_owned(),
                id: FileId::from_stat(st),
                next_entry,
                in_use,
            }),
        });
    }

    /// The process table, scanned on first use in this sweep.
    fn processes(&mut self) -> &procs::ProcessScan {
        let deadline = self.budget.deadline;
        &self
            .processes
            .get_or_insert_with(|| TimedScan::run(deadline))
            .scan
    }

    fn owner_group_alive(&mut self, parsed: &ParsedRecord) -> Option<bool> {
        let deadline = self.budget.deadline;
        owner_group_alive(
            parsed,
            self.us.get_or_init(Identity::current),
            self.processes,
            deadline,
        )
    }

    /// Whether a live process holds `entry` open (a descriptor, its working or root
    /// directory), or for a directory anything inside it. Unknown (the scan ran out of time)
    /// counts as held: the record then waits for a later sweep.
    fn held_by_a_live_process(&mut self, entry: &RecordEntry) -> bool {
        // Only while the path still leads to the recorded inode: a freed inode number is
        // handed to the next new file at once (ext4), which some other process may hold; a
        // replaced or vanished entry is skipped by the removal's own checks anyway.
        match rustix::fs::lstat(&entry.path) {
            Ok(st) if stat_dev(&st) == entry.dev() && stat_ino(&st) == entry.ino() => {}
            _ => return false,
        }
        // The kernel names held files by their real path: the entry's parent resolved (the
        // entry itself is not followed, were it replaced by a link to somewhere else).
        let real = match (entry.kind, entry.path.parent(), entry.path.file_name()) {
            (EntryKind::Dir, Some(parent), Some(name)) => {
                std::fs::canonicalize(parent).ok().map(|p| p.join(name))
            }
            _ => None,
        };
        let scan = self.processes();
        if !scan.available {
            return false;
        }
        let mut dirs: Vec<&Path> = Vec::new();
        if entry.kind == EntryKind::Dir {
            dirs.push(&entry.path);
            dirs.extend(real.as_deref());
        }
        if !scan.complete {
            // Not known to be free: left for a later sweep.
            self.report.complete = false;
            return true;
        }
        scan.holds(entry.dev(), entry.ino(), &dirs)
    }

    /// A `.new` record, which its creator has not finished. A young one may be mid-creation:
    /// it is left alone without even trying its lock (the creator locks it just after
    /// creating it, and must not find it locked). An old one was abandoned by a creator that
    /// died: removed unless someone holds its lock.
    fn sweep_new(&mut self, fd: &OwnedFd, st: &Stat) {
        if age_of(st) < ABANDONED_NEW_AGE || self.dry_run {
            return;
        }
        match try_lock(fd, FlockOperation::NonBlockingLockExclusive) {
            Ok(LockState::HeldElsewhere) => return,
            Ok(_) => {}
            Err(err) => return self.error(err),
        }
        match rustix::fs::statat(self.registry, self.name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(now) if same_file(&now, st) => {
                let _ = rustix::fs::unlinkat(self.registry, self.name, AtFlags::empty());
            }
            _ => {}
        }
    }

    /// The first read of the record open as `fd`: the record, or `None` if it is not one;
    /// `Err` when the sweep must leave it (a later version's, or an error, reported).
    fn read_first(&mut self, fd: &OwnedFd) -> Result<Option<ParsedRecord>, ()> {
        let parsed = match read_record(fd.as_fd()) {
            Ok(Parsed::Record(parsed)) => Some(parsed),
            // A later version's record: its layout (and its owner) cannot be judged here.
            Ok(Parsed::UnknownVersion) => {
                self.report.records_live += 1;
                return Err(());
            }
            Ok(Parsed::NotARecord) => None,
            Ok(Parsed::TooLarge) => {
                self.error(too_large());
                return Err(());
            }
            Err(err) => {
                self.error(err);
                return Err(());
            }
        };
        #[cfg(test)]
        tests::AFTER_FIRST_READ.with(|hook| {
            if let Some(hook) = hook.borrow_mut().as_mut() {
                hook();
            }
        });
        Ok(parsed)
    }

    /// The record open as `fd` read again, once its owner (as `first`, an earlier read, says)
    /// was judged dead; `None` (and an error where one occurred) if it cannot be read or no
    /// longer names that owner.
    fn read_again(&mut self, fd: &OwnedFd, first: &ParsedRecord) -> Option<ParsedRecord> {
        match read_record(fd.as_fd()) {
            Ok(Parsed::Record(now))
                if now.pid == first.pid && now.start_time == first.start_time =>
            {
                Some(now)
            }
            Ok(Parsed::Record(_) | Parsed::NotARecord | Parsed::UnknownVersion) => None,
            Ok(Parsed::TooLarge) => {
                self.error(too_large());
                None
            }
            Err(err) => {
                self.error(err);
                None
            }
        }
    }

    /// Whether `parsed` is another machine's record (a shared temp dir), counted live:
    /// claimed or not, it is never judged dead here — its lock, its pid and its claimer's say
    /// nothing on this machine; only an age-based sweep removes such entries.
    fn another_hosts(&mut self, parsed: Option<&ParsedRecord>) -> bool {
        let theirs = parsed.is_some_and(|p| p.other_host(self.host));
        if theirs {
            self.report.records_live += 1;
        }
        theirs
    }

    /// Whether the claimed record being swept (status `st`) is still another sweeper's: its
    /// claimer is another process that may still be at work on it, and the claim is not old.
    fn claim_held(&self, st: &Stat) -> bool {
        match claimer_of(self.name, self.us.get_or_init(Identity::current)) {
            // Its sweeper died mid-way, or it is this process's own (whose cursor went):
            // taken over now.
            Some(Claimer::Dead | Claimer::Us) => false,
            // Another live sweeper's, or one whose name does not tell: its sweeper may still
            // be at work, or have left it (an entry was in use); left until the claim is old.
            Some(Claimer::Running) | None => age_of(st) < ABANDONED_CLAIM_AGE,
        }
    }

    /// Renames the record to a unique claimed name; `None` if another sweeper got it first.
    fn claim(&mut self, st: &Stat) -> Option<String> {
        let stem = self.name.split('.').next().unwrap_or(self.name);
        let random = crate::names::random_name(8).ok()?;
        let claimed = claim_name(stem, &random, self.us.get_or_init(Identity::current));
        match rustix::fs::renameat(self.registry, self.name, self.registry, claimed.as_str()) {
            Ok(()) => {}
            Err(Errno::NOENT) => return None,
            Err(err) => {
                self.error(err);
                return None;
            }
        }
        // What was renamed must be what was read.
        match rustix::fs::statat(self.registry, claimed.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(now) if same_file(&now, st) => Some(claimed),
            _ => None,
        }
    }
}

/// Reads the record open as `fd` from its start (a duplicate shares the file offset, so a
/// second read of one descriptor must seek back).
pub(super) fn read_record(fd: std::os::fd::BorrowedFd<'_>) -> std::io::Result<Parsed> {
    use std::io::Seek;
    let mut file = std::fs::File::from(fd.try_clone_to_owned()?);
    file.rewind()?;
    record::read_bounded(&file)
}

/// The error for a record longer than any ferrotemp writes.
fn too_large() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!(
            "damaged crash guard record: longer than {} bytes, more than ferrotemp ever \
             writes; left unread",
            record::MAX_RECORD_LEN
        ),
    )
}

/// What a dead record's entries are checked against besides their own identity.
pub(super) struct Owner {
    /// Nothing born before this (ns since the epoch) can be the owner's: the later of the
    /// owner's start and the record file's birth.
    pub(super) floor_ns: i64,
    /// The record's user: the owner's entries are its.
    pub(super) uid: u32,
}

impl Owner {
    /// The owner of `parsed`, read from `fd` (stat `st`).
    fn of(parsed: &ParsedRecord, fd: &OwnedFd, st: &Stat) -> Self {
        // The owner cannot have created anything before its record existed (nor before it
        // started): the record file's birth time is the kernel's, which no writer of the
        // record sets back, so a planted record cannot name an older file.
        let record_born = identity::of_fd(fd.as_fd()).ok().and_then(|o| o.btime_ns);
        Self {
            floor_ns: parsed.start_ns.max(record_born.unwrap_or(0)),
            uid: st.st_uid,
        }
    }
}

/// Why an entry was left: skipped for a reason, an error, or the budget ran out.
enum Left {
    Skipped(SkipReason),
    Failed(std::io::Error),
    Unfinished,
}

impl Left {
    /// An OS error where "no such entry" means the entry is gone, not a failure.
    fn from_errno(err: Errno, path: &Path) -> Self {
        match err {
            Errno::NOENT => Left::Skipped(SkipReason::Gone),
            err => Left::Failed(with_path(err.into(), path)),
        }
    }
}

/// What became of one entry of a dead record, for the record's sake.
enum Outcome {
    /// Removed, skipped or failed: nothing more to do for it.
    Done,
    /// A live user still holds it: the record must stay for a later sweep.
    InUse,
    /// The sweep's budget ran out while removing it: the record stays, to finish later.
    Unfinished,
}

/// Removes one entry of a dead record if it is still what was recorded, and reports it.
/// The tree work (measuring, removing) counts against `budget`.
fn sweep_entry(
    entry: &RecordEntry,
    owner: &Owner,
    dry_run: bool,
    report: &mut SweepReport,
    budget: &mut Budget,
) -> Outcome {
    match examine_and_remove(entry, owner, dry_run, report, budget) {
        Ok(bytes) => {
            if !dry_run {
                crate::stats::note_reclaimed(bytes);
            }
            report.removed.push(SweptEntry {
                path: entry.path.clone(),
                kind: entry.kind,
                bytes,
            });
            Outcome::Done
        }
        Err(Left::Skipped(reason)) => {
            report.skipped.push((entry.path.clone(), reason));
            if reason == SkipReason::InUse {
                Outcome::InUse
            } else {
                Outcome::Done
            }
        }
        Err(Left::Failed(err)) => {
            report.errors.push((entry.path.clone(), err));
            Outcome::Done
        }
        Err(Left::Unfinished) => Outcome::Unfinished,
    }
}

/// Whether what `seen` at a record's entry (a dead one's, for a sweep; any, for a listing)
/// is what the owner recorded (or, pending,
/// went on to create): the kind, the identity the record holds (device, inode, birth time)
/// or, pending, the owner's user and a birth after the entry was written, and never born
/// before the owner's record. The generation is checked
/// on the opened descriptor, by the caller.
pub(super) fn judge(
    entry: &RecordEntry,
    owner: &Owner,
    seen: &identity::Observed,
) -> Result<(), SkipReason> {
    let kind_matches = match entry.kind {
        EntryKind::File => seen.file_type == FileType::RegularFile,
        EntryKind::Dir => seen.file_type == FileType::Directory,
    };
    if !kind_matches {
        return Err(SkipReason::Replaced);
    }
    // A live entry's recorded identity says it is the very file the owner made, whoever owns
    // it now (a root owner may have handed it to another user); a pending one has only its
    // name, and a file of another user there is not the owner's.
    if entry.state == EntryState::Pending && seen.uid != owner.uid {
        return Err(SkipReason::OtherOwner);
    }
    match entry.state {
        EntryState::Live if !seen.matches(&entry.identity) => {
            return Err(SkipReason::Replaced);
        }
        EntryState::Live => {}
        // Recorded before the creation was tried: the name may be a file the creation
        // collided with (EEXIST), which was born before the entry was written. Without a
        // birth time that cannot be told, and the path is left.
        EntryState::Pending => match seen.btime_ns {
            Some(born) if born >= entry.recorded_ns && entry.recorded_ns > 0 => {}
            _ => return Err(SkipReason::Unconfirmed),
        },
    }
    if seen.btime_ns.is_some_and(|born| born < owner.floor_ns) {
        return Err(SkipReason::BornBeforeOwner);
    }
    Ok(())
}

/// The checks and the removal of [`sweep_entry`]; returns the bytes reclaimed.
fn examine_and_remove(
    entry: &RecordEntry,
    owner: &Owner,
    dry_run: bool,
    report: &mut SweepReport,
    budget: &mut Budget,
) -> Result<u64, Left> {
    let path = &entry.path;
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(Left::Skipped(SkipReason::Gone));
    };
    // Check and removal go through one descriptor of the parent, so the name checked is the
    // name removed. The parent path itself may contain symlinks (a `dir=` through one).
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let parent_fd = rustix::fs::openat(CWD, parent, flags, Mode::empty()).map_err(|err| {
        if err == Errno::NOTDIR {
            Left::Skipped(SkipReason::Gone)
        } else {
            Left::from_errno(err, path)
        }
    })?;
    // A NUL cannot be in a real path: nothing of ours is there.
    let name =
        std::ffi::CString::new(name.as_bytes()).map_err(|_| Left::Skipped(SkipReason::Gone))?;
    let seen = identity::at(parent_fd.as_fd(), &name).map_err(|err| Left::from_errno(err, path))?;
    judge(entry, owner, &seen).map_err(Left::Skipped)?;
    // The entry is opened and held until it is removed: an inode held open cannot be freed,
    // so its number cannot pass to another file between the checks and the removal. A
    // directory someone still holds a lock on (a worker the dead owner forked, say) is in
    // use: left alone. The lock taken here is held until the removal is done.
    let held = match entry.kind {
        EntryKind::Dir => match lock_dir_if_free(&parent_fd, &name) {
            Ok(Some(fd)) => fd,
            Ok(None) => return Err(Left::Skipped(SkipReason::InUse)),
            Err(Errno::LOOP | Errno::NOTDIR) => return Err(Left::Skipped(SkipReason::Replaced)),
            Err(err) => return Err(Left::from_errno(err, path)),
        },
        EntryKind::File => match open_nofollow(&parent_fd, &name, OFlags::NOCTTY) {
            Ok(fd) => fd,
            Err(Errno::LOOP | Errno::NXIO) => return Err(Left::Skipped(SkipReason::Replaced)),
            Err(err) => return Err(Left::from_errno(err, path)),
        },
    };
    let held_seen = identity::of_fd(held.as_fd()).map_err(|err| Left::from_errno(err, path))?;
    if held_seen.dev != seen.dev || held_seen.ino != seen.ino || held_seen.btime_ns != seen.btime_ns
    {
        return Err(Left::Skipped(SkipReason::Replaced));
    }
    if let (EntryState::Live, Some(recorded)) = (entry.state, entry.identity.generation) {
        if identity::generation(held.as_fd(), held_seen.dev) != Some(recorded) {
            return Err(Left::Skipped(SkipReason::Replaced));
        }
    }
    let st = rustix::fs::fstat(&held).map_err(|err| Left::from_errno(err, path))?;
    let bytes = match entry.kind {
        EntryKind::File => file_bytes(&st),
        EntryKind::Dir => dir_bytes(&parent_fd, &name, &st, budget),
    };
    if !dry_run {
        match entry.kind {
            EntryKind::File => {
                // The name must still lead to the inode held.
                match rustix::fs::statat(&parent_fd, &name, AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(now) if same_file(&now, &st) => {}
                    Ok(_) => return Err(Left::Skipped(SkipReason::Replaced)),
                    Err(err) => return Err(Left::from_errno(err, path)),
                }
                rustix::fs::unlinkat(&parent_fd, &name, AtFlags::empty())
                    .map_err(|e| Left::Failed(with_path(e.into(), path)))?;
            }
            EntryKind::Dir => {
                remove_dir(
                    path,
                    FileId {
                        dev: seen.dev,
                        ino: seen.ino,
                    },
                    budget,
                    report,
                )?;
            }
        }
    }
    drop(held);
    Ok(bytes)
}

/// The bytes in the tree `name` of `parent`, walking no further than the budget allows (and
/// counting the walk against it): bytes as counted so far when it runs out.
fn dir_bytes(parent: &OwnedFd, name: &CStr, st: &Stat, budget: &mut Budget) -> u64 {
    match open_nofollow(parent, name, OFlags::DIRECTORY) {
        Ok(fd) => {
            let scan = scan_tree(fd, st, &budget.scan_bounds());
            budget.used += scan.seen;
            scan.bytes
        }
        Err(_) => 0,
    }
}

/// Opens the directory `name` of `parent` without following a link and takes an exclusive
/// `flock` on it if nobody holds one: `Ok(None)` when it is locked by someone else. A
/// filesystem without `flock` counts as unlocked.
fn lock_dir_if_free(parent: &OwnedFd, name: &CStr) -> Result<Option<OwnedFd>, Errno> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(parent, name, flags, Mode::empty())?;
    match rustix::fs::flock(&fd, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(Some(fd)),
        Err(Errno::WOULDBLOCK) => Ok(None),
        Err(err) if super::record::flock_unsupported(err) => Ok(Some(fd)),
        Err(err) => Err(err),
    }
}

/// Removes the tree at `path` only if its root is still `root`: the walk re-resolves
/// the path, so the identity checked above is checked again on the descriptor it removes.
/// The removal stops at the budget's deadline (the rest, root included, is left for a later
/// sweep: [`Left::Unfinished`]) and what it removed counts against the budget. Failures
/// inside the tree are reported; the entry counts as removed only if its root went.
fn remove_dir(
    path: &PathBuf,
    root: FileId,
    budget: &mut Budget,
    report: &mut SweepReport,
) -> Result<(), Left> {
    let mut options = crate::remove::RemoveOptions::new();
    options.expect_root(root.dev, root.ino);
    // One walker: its descriptors are bounded (see `fds`); helpers would each add as many.
    options.threads(1);
    if let Some(deadline) = budget.deadline {
        // At least MIN_TREE_TIME from now, whatever the slice has left: a tree bigger than
        // what a slice's own time removes would otherwise never get smaller.
        options.deadline(deadline.max(Instant::now() + MIN_TREE_TIME));
    }
    let count = |stats: crate::remove::RemoveStats| {
        usize::try_from(stats.files + stats.dirs).unwrap_or(usize::MAX)
    };
    match crate::remove::remove_tree_nofollow_with(path, &options) {
        Ok(stats) => {
            budget.used = budget.used.saturating_add(count(stats));
            Ok(())
        }
        Err(err) => {
            budget.used = budget.used.saturating_add(count(err.stats()));
            let failures = err.into_failures();
            let timed_out = failures
                .iter()
                .any(|f| f.path == *path && f.error.kind() == std::io::ErrorKind::TimedOut);
            let root_failed = failures.iter().any(|f| f.path == *path);
            let mut first = None;
            for failure in failures {
                if failure.path == *path && failure.error.kind() == std::io::ErrorKind::TimedOut {
                    continue;
                }
                if failure.path == *path && first.is_none() {
                    first = Some(with_path(failure.error, &failure.path));
                } else {
                    let error = with_path(failure.error, &failure.path);
                    report.errors.push((failure.path, error));
                }
            }
            match first {
                Some(err) if root_failed => Err(Left::Failed(err)),
                _ if timed_out => Err(Left::Unfinished),
                _ => Ok(()),
            }
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::cell::RefCell;
    use std::os::unix::fs::FileExt;
    use std::process::Command;

    use super::super::{EntryKind, SweepOptions};
    use super::record::{self, RecordWriter};
    use super::*;

    thread_local! {
        /// Runs between a record's first read and the judgement of its owner.
        pub(super) static AFTER_FIRST_READ: RefCell<Option<Box<dyn FnMut()>>> =
            const { RefCell::new(None) };
    }

    /// A record kept without `flock` is read while its owner runs; the owner then removes an
    /// entry, makes another and is SIGKILLed before the sweeper judges it. The sweep goes by
    /// what the record lists once its owner is dead: the new entry is removed, not leaked
    /// with its record gone (the storm test's "dead entry left" with `FERROTEMP_GUARD_FLOCK=0`).
    #[test]
    fn a_record_read_before_its_owner_died_is_read_again() {
        let scratch = std::env::temp_dir().join(format!("ft-reread-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&scratch);
        let registry = scratch.join("registry");
        std::fs::create_dir_all(&registry).unwrap();
        std::fs::set_permissions(
            &registry,
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
        let dir = registry::open_registry(&registry, false).unwrap();

        // The owner: a real process, named in a record this test writes for it.
        let mut owner = Command::new("sleep").arg("60").spawn().unwrap();
        let owner_start = record::process_start_time(owner.id()).unwrap();
        let mut writer = RecordWriter::create(&dir, false).unwrap();
        let record_path = registry.join(writer.name());
        let header = std::fs::OpenOptions::new()
            .write(true)
            .open(&record_path)
            .unwrap();
        // Header offsets of the pid and the start time (checked by the parse below).
        header
            .write_all_at(&u64::from(owner.id()).to_le_bytes(), 16)
            .unwrap();
        header.write_all_at(&owner_start.to_le_bytes(), 24).unwrap();
        let parsed = record::parse(&std::fs::read(&record_path).unwrap()).unwrap();
        assert_eq!((parsed.pid, parsed.start_time), (owner.id(), owner_start));

        let make = |name: &str| {
            let path = scratch.join(name);
            let file = std::fs::File::create(&path).unwrap();
            let id = identity::identify(&file).unwrap();
            (path, id)
        };
        let (old, old_id) = make("old");
        let old_slot = writer
            .add_entry(&old, EntryKind::File, Some(&old_id), None)
            .unwrap();
        let new = scratch.join("new");
        let hook_new = new.clone();
        let mut writer = Some(writer);
        AFTER_FIRST_READ.with(|hook| {
            *hook.borrow_mut() = Some(Box::new(move || {
                // Once, on the first record read: the owner goes on, then dies.
                let Some(mut writer) = writer.take() else {
                    return;
                };
                std::fs::remove_file(&old).unwrap();
                writer.remove(old_slot);
                let file = std::fs::File::create(&hook_new).unwrap();
                let id = identity::identify(&file).unwrap();
                writer
                    .add_entry(&hook_new, EntryKind::File, Some(&id), None)
                    .unwrap();
                owner.kill().unwrap();
                owner.wait().unwrap();
                std::mem::forget(writer); // as a killed owner leaves it: never discarded
            }));
        });
        let report = super::super::sweep(&SweepOptions {
            registry: Some(registry.clone()),
            ..SweepOptions::default()
        })
        .unwrap();
        AFTER_FIRST_READ.with(|hook| hook.borrow_mut().take());
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        let removed: Vec<_> = report.removed.iter().map(|e| e.path.clone()).collect();
        assert_eq!(removed, vec![new.clone()]);
        assert!(!new.exists() && !record_path.exists());
        let _ = std::fs::remove_dir_all(&scratch);
    }
}
