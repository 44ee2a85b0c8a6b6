//! The record's layout: its constants and offsets, the byte encoding the writer uses, and
//! the parser sweepers (and any tool reading a registry) use. The table is in the
//! [module docs](super).

use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use crate::guard::identity::EntryIdentity;
use crate::guard::{EntryKind, WorkspaceMeta};

/// The first bytes of every record.
pub const MAGIC: &[u8; 8] = b"FTGUARD1";
/// The layout version written by this code.
pub const VERSION: u32 = 4;
/// The oldest layout version this code reads.
pub const OLDEST_VERSION: u32 = 1;
/// Header flag: the owner locks the record with `flock`.
pub const FLAG_LOCKED: u32 = 1;
/// Header flag: the machine id is a hash of the host name.
pub const FLAG_HOSTNAME_ID: u32 = 2;
/// The longest record the writer ever makes (about 90,000 live entries of typical paths); a
/// longer file in a registry is damaged or not ferrotemp's, and no sweep reads it.
pub const MAX_RECORD_LEN: u64 = 64 << 20;
/// The suffix of a record in use.
pub const RECORD_SUFFIX: &str = ".rec";
/// The suffix of a record being created (renamed to [`RECORD_SUFFIX`] once complete).
pub const NEW_SUFFIX: &str = ".new";
/// The infix of a record claimed by a sweeper on a filesystem without `flock`.
pub const CLAIMED_INFIX: &str = ".claimed-";

pub(super) const HEADER_LEN: usize = 128;
/// The header length of versions 1 and 2.
pub(super) const HEADER_LEN_V2: usize = 64;
pub(super) const H_VERSION: usize = 8;
pub(super) const H_FLAGS: usize = 12;
pub(super) const H_PID: usize = 16;
pub(super) const H_START: usize = 24;
pub(super) const H_ACTIVE: usize = 32;
pub(super) const H_PIDNS: usize = 40;
pub(super) const H_BOOT: usize = 48;
pub(super) const H_START_NS: usize = 64;
pub(super) const H_MACHINE: usize = 72;
pub(super) const REGION_HDR: usize = 16;
pub(super) const ENTRY_HDR: usize = 56;
/// The entry header of version 3.
pub(super) const ENTRY_HDR_V3: usize = 48;
/// The entry header of versions 1 and 2.
pub(super) const ENTRY_HDR_V2: usize = 32;
pub(super) const E_SLOT: usize = 4;
pub(super) const E_DEV: usize = 8;
pub(super) const E_INO: usize = 16;
pub(super) const E_STATE: usize = 24;
pub(super) const E_KIND: usize = 25;
pub(super) const E_IDFLAGS: usize = 26;
pub(super) const E_GENERATION: usize = 28;
pub(super) const E_BTIME: usize = 32;
pub(super) const E_RECORDED: usize = 40;
pub(super) const E_META_LEN: usize = 48;
/// Metadata tag: a workspace's name and limits.
pub(super) const META_WORKSPACE: u8 = 1;
pub(super) const M_TAG: usize = 0;
pub(super) const M_FLAGS: usize = 1;
pub(super) const M_NAME_LEN: usize = 2;
pub(super) const M_COMMAND_LEN: usize = 4;
pub(super) const M_MAX_BYTES: usize = 8;
pub(super) const M_MAX_FILES: usize = 16;
pub(super) const M_NAME: usize = 24;
pub(super) const M_HAS_MAX_BYTES: u8 = 1;
pub(super) const M_HAS_MAX_FILES: u8 = 2;
/// The longest workspace name a record keeps, in bytes (a longer one is cut, at a character
/// boundary).
pub const MAX_META_NAME: usize = 255;
/// The longest command line a record keeps for a workspace, in bytes (a longer one is cut,
/// at a character boundary).
pub const MAX_META_COMMAND: usize = 1024;
/// The longest metadata an entry carries; a longer length in a file is damage.
pub(super) const MAX_META_LEN: usize = M_NAME + MAX_META_NAME + MAX_META_COMMAND;
pub(super) const LIVE: u8 = 1;
pub(super) const DEAD: u8 = 2;
pub(super) const PENDING: u8 = 3;
pub(super) const ID_BTIME: u8 = 1;
pub(super) const ID_GENERATION: u8 = 2;

/// The length of an entry (this version's layout) with a path and metadata of these lengths.
pub(super) fn entry_len(path_len: usize, meta_len: usize) -> usize {
    ENTRY_HDR + path_len.next_multiple_of(8) + meta_len.next_multiple_of(8)
}

/// The length of an entry of layout `version` (metadata exists from version 4).
pub(super) fn entry_len_v(version: u32, path_len: usize, meta_len: usize) -> usize {
    entry_hdr(version) + path_len.next_multiple_of(8) + meta_len.next_multiple_of(8)
}

pub(super) fn entry_hdr(version: u32) -> usize {
    match version {
        4.. => ENTRY_HDR,
        3 => ENTRY_HDR_V3,
        _ => ENTRY_HDR_V2,
    }
}

/// The length of the entry the writer stored at `at` (this version's layout).
pub(super) fn stored_entry_len(buf: &[u8], at: usize) -> usize {
    let path_len = get_u32(buf, at).unwrap_or(0) as usize;
    let meta_len = get_u32(buf, at + E_META_LEN).unwrap_or(0) as usize;
    entry_len(path_len, meta_len)
}

/// A workspace's metadata as an entry stores it (see the layout table); the name is cut to
/// [`MAX_META_NAME`] bytes at a character boundary.
pub(super) fn encode_workspace(meta: &WorkspaceMeta) -> Vec<u8> {
    let cut = |text: &str, max: usize| {
        let mut end = text.len().min(max);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.as_bytes()[..end].to_vec()
    };
    let name = cut(&meta.name, MAX_META_NAME);
    let command = cut(meta.command.as_deref().unwrap_or(""), MAX_META_COMMAND);
    let mut bytes = vec![0u8; M_NAME + name.len() + command.len()];
    bytes[M_TAG] = META_WORKSPACE;
    let mut flags = 0;
    if let Some(max) = meta.max_bytes {
        flags |= M_HAS_MAX_BYTES;
        put_u64(&mut bytes, M_MAX_BYTES, max);
    }
    if let Some(max) = meta.max_files {
        flags |= M_HAS_MAX_FILES;
        put_u64(&mut bytes, M_MAX_FILES, max);
    }
    bytes[M_FLAGS] = flags;
    let name_len = u16::try_from(name.len()).unwrap_or(u16::MAX); // at most MAX_META_NAME
    bytes[M_NAME_LEN..M_NAME_LEN + 2].copy_from_slice(&name_len.to_le_bytes());
    let command_len = u16::try_from(command.len()).unwrap_or(u16::MAX); // ≤ MAX_META_COMMAND
    bytes[M_COMMAND_LEN..M_COMMAND_LEN + 2].copy_from_slice(&command_len.to_le_bytes());
    bytes[M_NAME..M_NAME + name.len()].copy_from_slice(&name);
    bytes[M_NAME + name.len()..].copy_from_slice(&command);
    bytes
}

/// Reads an entry's metadata: `Err` if it is damaged (lengths that disagree), `Ok(None)` for
/// a tag this code does not know (written by a later version: the entry itself still
/// counts).
fn decode_meta(bytes: &[u8]) -> Result<Option<WorkspaceMeta>, ()> {
    let tag = *bytes.get(M_TAG).ok_or(())?;
    if tag != META_WORKSPACE {
        return Ok(None);
    }
    let flags = *bytes.get(M_FLAGS).ok_or(())?;
    let name_len = usize::from(u16::from_le_bytes(
        bytes
            .get(M_NAME_LEN..M_NAME_LEN + 2)
            .ok_or(())?
            .try_into()
            .map_err(|_| ())?,
    ));
    let command_len = usize::from(u16::from_le_bytes(
        bytes
            .get(M_COMMAND_LEN..M_COMMAND_LEN + 2)
            .ok_or(())?
            .try_into()
            .map_err(|_| ())?,
    ));
    if name_len > MAX_META_NAME
        || command_len > MAX_META_COMMAND
        || M_NAME + name_len + command_len != bytes.len()
    {
        return Err(());
    }
    let name_end = M_NAME + name_len;
    let limit = |bit: u8, off: usize| -> Result<Option<u64>, ()> {
        let value = get_u64(bytes, off).ok_or(())?;
        Ok((flags & bit != 0).then_some(value))
    };
    Ok(Some(WorkspaceMeta {
        name: String::from_utf8_lossy(&bytes[M_NAME..name_end]).into_owned(),
        command: (command_len > 0)
            .then(|| String::from_utf8_lossy(&bytes[name_end..]).into_owned()),
        max_bytes: limit(M_HAS_MAX_BYTES, M_MAX_BYTES)?,
        max_files: limit(M_HAS_MAX_FILES, M_MAX_FILES)?,
    }))
}

pub(super) fn kind_byte(kind: EntryKind) -> u8 {
    match kind {
        EntryKind::File => b'f',
        EntryKind::Dir => b'd',
    }
}

pub(super) fn put_u32(buf: &mut [u8], off: usize, value: u32) {
    buf[off..off + 4].copy_from_slice(&value.to_le_bytes());
}

pub(super) fn put_u64(buf: &mut [u8], off: usize, value: u64) {
    buf[off..off + 8].copy_from_slice(&value.to_le_bytes());
}

pub(super) fn put_i64(buf: &mut [u8], off: usize, value: i64) {
    buf[off..off + 8].copy_from_slice(&value.to_le_bytes());
}

/// Writes an entry's identity fields (not its state byte).
pub(super) fn put_identity(buf: &mut [u8], at: usize, id: &EntryIdentity) {
    put_u64(buf, at + E_DEV, id.dev);
    put_u64(buf, at + E_INO, id.ino);
    let mut flags = 0;
    if let Some(btime) = id.btime_ns {
        flags |= ID_BTIME;
        put_i64(buf, at + E_BTIME, btime);
    }
    if let Some(generation) = id.generation {
        flags |= ID_GENERATION;
        put_u32(buf, at + E_GENERATION, generation);
    }
    buf[at + E_IDFLAGS] = flags;
}

pub(super) fn get_i64(buf: &[u8], off: usize) -> Option<i64> {
    Some(i64::from_le_bytes(
        buf.get(off..off.checked_add(8)?)?.try_into().ok()?,
    ))
}

// Offsets come from files anyone may have damaged: no arithmetic on them may overflow.
pub(super) fn get_u32(buf: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        buf.get(off..off.checked_add(4)?)?.try_into().ok()?,
    ))
}

pub(super) fn get_u64(buf: &[u8], off: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        buf.get(off..off.checked_add(8)?)?.try_into().ok()?,
    ))
}

pub(super) fn to_usize(value: u64) -> Option<usize> {
    usize::try_from(value).ok()
}

/// Whether an entry's creation was confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryState {
    /// Created, with its identity recorded.
    Live,
    /// Recorded before its creation was tried: the path may never have been created, or may
    /// be someone else's file the creation collided with.
    Pending,
}

/// An entry as a sweeper reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordEntry {
    /// The absolute path.
    pub path: PathBuf,
    /// File or directory.
    pub kind: EntryKind,
    /// Live or pending.
    pub state: EntryState,
    /// Its identity (device and inode 0 while pending; birth time and generation where the
    /// filesystem gave them, never in versions 1 and 2).
    pub identity: EntryIdentity,
    /// When the entry was written, ns since the epoch on the coarse clock (before the
    /// creation, for a pending one); 0 when unknown (versions 1 and 2).
    pub recorded_ns: i64,
    /// The workspace this directory is, with its name and limits (version 4 on); sweeps
    /// treat it as any directory.
    pub workspace: Option<WorkspaceMeta>,
}

impl RecordEntry {
    /// The device it was created on.
    #[must_use]
    pub fn dev(&self) -> u64 {
        self.identity.dev
    }

    /// Its inode.
    #[must_use]
    pub fn ino(&self) -> u64 {
        self.identity.ino
    }
}

/// A record as a sweeper reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedRecord {
    /// The layout version.
    pub version: u32,
    /// The owner's process id.
    pub pid: u32,
    /// The owner's start time (see [`process_start_time`](super::process_start_time)); 0 when unknown.
    pub start_time: u64,
    /// The owner's start on the wall clock, ns since the epoch (see the module docs); 0 when
    /// unknown (and in versions 1 and 2).
    pub start_ns: i64,
    /// Whether the owner locked the record with `flock`.
    pub locked: bool,
    /// The owner's pid namespace (see [`pid_namespace`](super::pid_namespace)); 0 when unknown (and in version 1).
    pub pid_ns: u64,
    /// The boot the owner ran in (see [`boot_id`](super::boot_id)); zeros when unknown (and in version 1).
    pub boot_id: [u8; 16],
    /// The owner's host (see [`machine_id`](super::machine_id)); zeros when unknown (and in versions 1 and 2).
    pub machine_id: [u8; 16],
    /// Whether `machine_id` is a hash of the host name.
    pub machine_id_from_hostname: bool,
    /// The live and pending entries.
    pub entries: Vec<RecordEntry>,
    /// Whether the record ended in something unreadable (the entries before it are listed).
    pub truncated: bool,
}

impl ParsedRecord {
    /// Whether the record names a host, and it is not this one (see [`machine_id`](super::machine_id)). Ids of
    /// different sources (machine id, host name hash) are not compared: not known to differ.
    #[must_use]
    pub fn other_host(&self, ours: &([u8; 16], bool)) -> bool {
        self.machine_id != [0; 16]
            && ours.0 != [0; 16]
            && self.machine_id_from_hostname == ours.1
            && self.machine_id != ours.0
    }
}

/// What a file in the registry turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// A record this code can read.
    Record(ParsedRecord),
    /// A record (the magic matches) of a layout version this code does not know.
    UnknownVersion,
    /// Longer than [`MAX_RECORD_LEN`]: damaged, or not ferrotemp's; not read.
    TooLarge,
    /// Not a record at all.
    NotARecord,
}

/// Reads a registry file's bytes: a record, one of an unknown version, or not a record.
#[must_use]
pub fn classify(bytes: &[u8]) -> Parsed {
    if bytes.get(..8) != Some(MAGIC.as_slice()) {
        return Parsed::NotARecord;
    }
    match get_u32(bytes, H_VERSION) {
        Some(version) if (OLDEST_VERSION..=VERSION).contains(&version) => {}
        Some(_) => return Parsed::UnknownVersion,
        None => return Parsed::NotARecord,
    }
    parse(bytes).map_or(Parsed::NotARecord, Parsed::Record)
}

/// Reads the record open as `file`, never holding more than [`MAX_RECORD_LEN`] bytes of it
/// in memory: a longer file is [`Parsed::TooLarge`], left unread.
///
/// # Errors
///
/// The error of `fstat` or of reading.
pub fn read_bounded(file: &File) -> io::Result<Parsed> {
    use std::io::Read;
    if file.metadata()?.len() > MAX_RECORD_LEN {
        return Ok(Parsed::TooLarge);
    }
    let mut bytes = Vec::new();
    // It may grow meanwhile: read no further than the cap, and one byte to tell.
    let reader = file;
    reader.take(MAX_RECORD_LEN + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_RECORD_LEN {
        return Ok(Parsed::TooLarge);
    }
    Ok(classify(&bytes))
}

/// Reads a record's bytes; `None` if it is not a record at all (wrong magic or version, or a
/// header cut short). A header followed by a damaged entry list (or a region that is not
/// there) yields the entries before the damage, marked `truncated`: the header alone still
/// says whose record it is.
#[must_use]
pub fn parse(bytes: &[u8]) -> Option<ParsedRecord> {
    let version = get_u32(bytes, H_VERSION)?;
    if bytes.get(..8)? != MAGIC || !(OLDEST_VERSION..=VERSION).contains(&version) {
        return None;
    }
    let flags = get_u32(bytes, H_FLAGS)?;
    let pid = u32::try_from(get_u64(bytes, H_PID)?).ok()?;
    let start_time = get_u64(bytes, H_START)?;
    let active = get_u64(bytes, H_ACTIVE)?;
    let (pid_ns, boot_id) = if version >= 2 {
        let boot: [u8; 16] = bytes.get(H_BOOT..H_BOOT + 16)?.try_into().ok()?;
        (get_u64(bytes, H_PIDNS)?, boot)
    } else {
        (0, [0; 16])
    };
    let (start_ns, machine_id) = if version >= 3 {
        let machine: [u8; 16] = bytes.get(H_MACHINE..H_MACHINE + 16)?.try_into().ok()?;
        (get_i64(bytes, H_START_NS)?, machine)
    } else {
        (0, [0; 16])
    };
    let mut record = ParsedRecord {
        version,
        pid,
        start_time,
        start_ns,
        locked: flags & FLAG_LOCKED != 0,
        pid_ns,
        boot_id,
        machine_id,
        machine_id_from_hostname: version >= 3 && flags & FLAG_HOSTNAME_ID != 0,
        entries: Vec::new(),
        truncated: false,
    };
    let header_len = if version >= 3 {
        HEADER_LEN
    } else {
        HEADER_LEN_V2
    };
    let region = to_usize(active)
        .filter(|&active| active >= header_len)
        .and_then(|active| {
            let cap = to_usize(get_u64(bytes, active)?)?;
            let len = to_usize(get_u64(bytes, active.checked_add(8)?)?)?;
            Some((active.checked_add(REGION_HDR)?, cap, len))
        });
    let Some((data, cap, len)) = region else {
        record.truncated = true;
        return Some(record);
    };
    let end = match data.checked_add(len.min(cap)) {
        Some(end) if end <= bytes.len() && len <= cap => end,
        _ => {
            record.truncated = true;
            bytes.len()
        }
    };
    let mut at = data;
    while at < end {
        let Some(entry) = parse_entry(&bytes[..end], at, version) else {
            record.truncated = true;
            break;
        };
        at += entry.0;
        if let Some(entry) = entry.1 {
            record.entries.push(entry);
        }
    }
    Some(record)
}

/// One entry at `at`: its size, and the entry if it is live or pending.
fn parse_entry(bytes: &[u8], at: usize, version: u32) -> Option<(usize, Option<RecordEntry>)> {
    let path_len = get_u32(bytes, at)? as usize;
    let meta_len = if version >= 4 {
        get_u32(bytes, at.checked_add(E_META_LEN)?)? as usize
    } else {
        0
    };
    if meta_len > MAX_META_LEN {
        return None;
    }
    let size = entry_len_v(version, path_len, meta_len);
    let hdr = entry_hdr(version);
    let path = bytes.get(at.checked_add(hdr)?..at.checked_add(hdr)?.checked_add(path_len)?)?;
    if at.checked_add(size)? > bytes.len() {
        return None;
    }
    let meta_at = at + hdr + path_len.next_multiple_of(8);
    let meta = bytes.get(meta_at..meta_at + meta_len)?;
    let state = *bytes.get(at + E_STATE)?;
    let kind = match *bytes.get(at + E_KIND)? {
        b'f' => EntryKind::File,
        b'd' => EntryKind::Dir,
        _ => return None,
    };
    let state = match state {
        LIVE => EntryState::Live,
        PENDING if version >= 3 => EntryState::Pending,
        DEAD => return Some((size, None)),
        _ => return None,
    };
    let mut identity = EntryIdentity {
        dev: get_u64(bytes, at + E_DEV)?,
        ino: get_u64(bytes, at + E_INO)?,
        btime_ns: None,
        generation: None,
    };
    let mut recorded_ns = 0;
    if version >= 3 {
        let flags = *bytes.get(at + E_IDFLAGS)?;
        if state == EntryState::Live {
            if flags & ID_BTIME != 0 {
                identity.btime_ns = Some(get_i64(bytes, at + E_BTIME)?);
            }
            if flags & ID_GENERATION != 0 {
                identity.generation = Some(get_u32(bytes, at + E_GENERATION)?);
            }
        } else {
            // A pending entry's identity fields are not committed: never read.
            identity = EntryIdentity::default();
        }
        recorded_ns = get_i64(bytes, at + E_RECORDED)?;
    }
    let workspace = if meta_len == 0 {
        None
    } else {
        decode_meta(meta).ok()?
    };
    let entry = RecordEntry {
        path: PathBuf::from(std::ffi::OsStr::from_bytes(path)),
        kind,
        state,
        identity,
        recorded_ns,
        workspace,
    };
    Some((size, Some(entry)))
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_past_the_cap_is_not_read() {
        let dir = std::env::temp_dir().join(format!("ft-record-huge-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        let path = dir.join("1-huge.rec");
        let file = File::create(&path).unwrap();
        file.set_len(MAX_RECORD_LEN + 1).unwrap();
        assert_eq!(read_bounded(&file).unwrap(), Parsed::TooLarge);
        drop(file);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
