//! The registry as a reader sees it: every process's record, whether its owner still runs,
//! and what it guards (`ferrotemp ls`). Nothing is changed: records are opened read-only and
//! their lock is only tried, shared, for an instant (as an age sweep does).

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::fs::{FileType, FlockOperation, Mode, OFlags};
use rustix::io::Errno;

use super::identity;
use super::record::{self, EntryState, Parsed, RecordEntry, RECORD_SUFFIX};
use super::registry;
use super::sweep::{judge, list, read_record, record_live, try_lock, Identity, Owner};
use super::{EntryKind, SkipReason};
use crate::error::with_path;

/// Whether a record's owner still runs, as a sweep would judge it now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerStatus {
    /// The owner runs (it holds the record's lock, or its pid runs with the recorded start).
    Alive,
    /// The owner is gone: its entries wait for a sweep.
    Dead,
    /// Written on another host (a shared temp dir): its owner cannot be judged from here.
    OtherHost,
}

/// One record of the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordListing {
    /// The record's file name in the registry.
    pub name: String,
    /// The owner's process id.
    pub pid: u32,
    /// The owner's start, wall clock, ns since the epoch; 0 when unknown (layout versions 1
    /// and 2).
    pub start_ns: i64,
    /// Whether the owner still runs.
    pub status: OwnerStatus,
    /// The live and pending entries it guards (a workspace's with its metadata).
    pub entries: Vec<RecordEntry>,
    /// Whether the record ended in something unreadable (the entries before it are listed).
    pub truncated: bool,
}

/// Lists the records of the registry at `path` in name order: those of this user that are
/// complete (`.rec`), readable and of a known layout. A missing registry lists nothing; a
/// record that vanishes meanwhile (swept, or its owner exited) is left out.
///
/// # Errors
///
/// The registry's refusal (not ours, a symlink, …) or an error listing it. Unreadable records
/// (damaged, too large, of an unknown layout) are skipped, not errors: a listing shows what
/// it can.
pub(super) fn list_records(path: &Path) -> io::Result<Vec<RecordListing>> {
    let dir = match registry::open_registry(path, false) {
        Ok(dir) => dir,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err),
    };
    let euid = rustix::process::geteuid().as_raw();
    let us = Identity::current();
    let host = record::machine_id();
    let mut names = list(&dir).map_err(|e| with_path(e.into(), path))?;
    names.retain(|name| name.ends_with(RECORD_SUFFIX));
    names.sort_unstable();
    let mut listings = Vec::with_capacity(names.len());
    for name in names {
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
        // Shared and non-blocking: the owner's exclusive lock refuses it, and a sweeper
        // meeting ours takes the record for live this once.
        let lock = try_lock(&fd, FlockOperation::NonBlockingLockShared)
            .map_err(|e| with_path(e.into(), &record_path))?;
        let Ok(Parsed::Record(parsed)) = read_record(fd.as_fd()) else {
            continue;
        };
        drop(fd);
        let status = if parsed.other_host(&host) {
            OwnerStatus::OtherHost
        } else if record_live(lock, &parsed, &us) {
            OwnerStatus::Alive
        } else {
            OwnerStatus::Dead
        };
        listings.push(RecordListing {
            name,
            pid: parsed.pid,
            start_ns: parsed.start_ns,
            status,
            entries: parsed.entries,
            truncated: parsed.truncated,
        });
    }
    Ok(listings)
}

/// What is at a record entry's path now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryPresence {
    /// The entry recorded: a live one by its identity (same device, inode, birth time and
    /// generation where recorded); a pending one by a sweep's rule (something of its kind,
    /// of the owner's user, born after the entry was written).
    Present,
    /// Nothing.
    Gone,
    /// Something else: another kind, another file than the one recorded (an inode number
    /// reused, told apart by the birth time or generation), or, for a pending entry, what
    /// the owner did not create (another user's, or older than the entry).
    Replaced,
    /// It could not be examined (a parent not searchable, …), or, for a pending entry, not
    /// told apart from a name its creation collided with (no birth time here).
    Unknown,
}

impl From<SkipReason> for EntryPresence {
    fn from(reason: SkipReason) -> Self {
        match reason {
            SkipReason::Gone => EntryPresence::Gone,
            SkipReason::Unconfirmed => EntryPresence::Unknown,
            _ => EntryPresence::Replaced,
        }
    }
}

/// Looks at `entry`'s path (without following a symlink at its end) and tells whether it
/// still holds what was recorded, by a sweep's checks; see [`open_present_entry`].
pub(super) fn entry_presence(entry: &RecordEntry) -> EntryPresence {
    match open_present_entry(entry) {
        Ok(_) => EntryPresence::Present,
        Err(presence) => presence,
    }
}

/// Opens `entry` (read-only, non-blocking, without following a symlink; a directory with
/// `O_DIRECTORY`) if its path still holds what was recorded, checked as a sweep checks it
/// (the owner being this user: records of others are not listed), and returns the
/// descriptor, checked to be what was examined: a reader then measures that very entry,
/// whatever the path leads to by then. Otherwise, what is there.
pub(super) fn open_present_entry(entry: &RecordEntry) -> Result<OwnedFd, EntryPresence> {
    use std::os::unix::ffi::OsStrExt;
    let (Some(parent), Some(name)) = (entry.path.parent(), entry.path.file_name()) else {
        return Err(EntryPresence::Unknown);
    };
    let Ok(name) = std::ffi::CString::new(name.as_bytes()) else {
        return Err(EntryPresence::Unknown);
    };
    let gone_or_unknown = |err: Errno| match err {
        Errno::NOENT | Errno::NOTDIR => EntryPresence::Gone,
        _ => EntryPresence::Unknown,
    };
    // Checks and the open go through one descriptor of the parent (whose path may hold
    // symlinks: a `dir=` through one), as a sweep's do.
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let parent = rustix::fs::openat(rustix::fs::CWD, parent, flags, Mode::empty())
        .map_err(gone_or_unknown)?;
    let seen = identity::at(parent.as_fd(), &name).map_err(gone_or_unknown)?;
    let owner = Owner {
        floor_ns: 0,
        uid: rustix::process::geteuid().as_raw(),
    };
    judge(entry, &owner, &seen)?;
    let kind = match entry.kind {
        EntryKind::File => OFlags::NOCTTY,
        EntryKind::Dir => OFlags::DIRECTORY,
    };
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK | kind;
    let fd = match rustix::fs::openat(&parent, name.as_c_str(), flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::LOOP | Errno::NOTDIR | Errno::NXIO) => return Err(EntryPresence::Replaced),
        Err(err) => return Err(gone_or_unknown(err)),
    };
    let now = identity::of_fd(fd.as_fd()).map_err(|_| EntryPresence::Unknown)?;
    if now.dev != seen.dev || now.ino != seen.ino || now.btime_ns != seen.btime_ns {
        return Err(EntryPresence::Replaced);
    }
    if let (EntryState::Live, Some(recorded)) = (entry.state, entry.identity.generation) {
        if identity::generation(fd.as_fd(), now.dev).is_some_and(|g| g != recorded) {
            return Err(EntryPresence::Replaced);
        }
    }
    Ok(fd)
}
