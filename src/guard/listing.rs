//! The registry as a reader sees it: every process's record, whether its owner still runs,
//! and what it guards (`ferrotemp ls`). Nothing is changed: records are opened read-only and
//! their lock is only tried, shared, for an instant (as an age sweep does).

use std::io;
use std::os::fd::AsFd;
use std::path::Path;

use rustix::fs::{FileType, FlockOperation, Mode, OFlags};
use rustix::io::Errno;

use super::identity;
use super::record::{self, EntryState, Parsed, RecordEntry, RECORD_SUFFIX};
use super::registry;
use super::sweep::{list, read_record, record_live, try_lock, Identity};
use super::EntryKind;
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
    /// The entry recorded (a live one: same device, inode, birth time and generation where
    /// recorded; a pending one: something of its kind).
    Present,
    /// Nothing.
    Gone,
    /// Something else: another kind, or another file than the one recorded (an inode number
    /// reused, told apart by the birth time or generation).
    Replaced,
    /// It could not be examined (a parent not searchable, …).
    Unknown,
}

/// Looks at `entry`'s path (without following a symlink) and tells whether it still holds
/// what was recorded, by the identity a sweep checks. A file or directory is opened
/// (read-only, non-blocking) only to read its inode generation.
pub(super) fn entry_presence(entry: &RecordEntry) -> EntryPresence {
    use std::os::unix::ffi::OsStrExt;
    let Ok(path) = std::ffi::CString::new(entry.path.as_os_str().as_bytes()) else {
        return EntryPresence::Unknown;
    };
    let seen = match identity::at(rustix::fs::CWD, &path) {
        Ok(seen) => seen,
        Err(Errno::NOENT | Errno::NOTDIR) => return EntryPresence::Gone,
        Err(_) => return EntryPresence::Unknown,
    };
    let kind_matches = match entry.kind {
        EntryKind::File => seen.file_type == FileType::RegularFile,
        EntryKind::Dir => seen.file_type == FileType::Directory,
    };
    if !kind_matches {
        return EntryPresence::Replaced;
    }
    if entry.state == EntryState::Pending {
        return EntryPresence::Present;
    }
    if !seen.matches(&entry.identity) {
        return EntryPresence::Replaced;
    }
    let Some(recorded) = entry.identity.generation else {
        return EntryPresence::Present;
    };
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK;
    match rustix::fs::openat(rustix::fs::CWD, path.as_c_str(), flags, Mode::empty()) {
        Ok(fd) => match identity::of_fd(fd.as_fd()) {
            Ok(now) if now.matches(&entry.identity) => {
                match identity::generation(fd.as_fd(), now.dev) {
                    Some(generation) if generation != recorded => EntryPresence::Replaced,
                    _ => EntryPresence::Present,
                }
            }
            Ok(_) => EntryPresence::Replaced,
            Err(_) => EntryPresence::Unknown,
        },
        Err(Errno::NOENT) => EntryPresence::Gone,
        Err(_) => EntryPresence::Unknown,
    }
}
