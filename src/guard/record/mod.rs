//! The per-process record: its on-disk layout (`layout`: the constants, and the parser
//! sweepers and any tool reading a registry use), the memory-mapped writer (`writer`), and
//! the probes that tell its owner from another process (`probe`).
//!
//! # Layout
//!
//! All integers little-endian, offsets in bytes. Version 4 is written; versions 1 to 3 are
//! still read (their differences are noted).
//!
//! ```text
//! header (128 bytes; 64 in versions 1 and 2)
//!    0  magic "FTGUARD1"
//!    8  u32 version (4)
//!   12  u32 flags: bit 0 = the owner holds an exclusive flock on this file
//!                  bit 1 = the machine id is a hash of the host name (no /etc/machine-id)
//!   16  u64 owner pid
//!   24  u64 owner start time (Linux: /proc/<pid>/stat field 22, clock ticks; 0 = unknown)
//!   32  u64 offset of the active region
//!   40  u64 the owner's pid namespace: inode of /proc/self/ns/pid (0 = unknown; v2+)
//!   48  16 bytes boot id (/proc/sys/kernel/random/boot_id, as bytes; zeros = unknown; v2+)
//!   64  i64 owner start, wall clock, ns since the epoch (0 = unknown; v3+)
//!   72  16 bytes machine id (/etc/machine-id as bytes, else see flag bit 1; zeros = unknown; v3+)
//!   88  zeros up to 128
//! region (at a 64-aligned offset)
//!    0  u64 capacity of the entry area
//!    8  u64 bytes of entries written (the commit point of an append)
//!   16  entries, back to back
//! entry (56 bytes + the path padded to 8 + the metadata padded to 8; version 3: 48 bytes,
//!        fields 48..56 and the metadata absent; versions 1 and 2: 32 bytes, fields 26..56
//!        absent)
//!    0  u32 path length
//!    4  u32 slot (the writer's index; meaningless to readers)
//!    8  u64 device          (0 while pending)
//!   16  u64 inode           (0 while pending)
//!   24  u8  state: 1 live, 2 removed, 3 pending (recorded before its creation; v3+)
//!   25  u8  kind: b'f' file, b'd' directory
//!   26  u8  identity flags: bit 0 = birth time valid, bit 1 = generation valid
//!   28  u32 inode generation (FS_IOC_GETVERSION)
//!   32  i64 birth time, ns since the epoch (statx stx_btime)
//!   40  i64 when the entry was written, ns since the epoch, coarse clock (for a pending
//!           entry: before the creation was tried)
//!   48  u32 metadata length (0 = none; at most 1,303; v4)
//!   52  u32 zero
//!   56  path bytes (any byte but NUL)
//!       metadata (v4), after the path's padding:
//!    0  u8  tag: 1 = a workspace (any other: metadata of a later version, ignored)
//!    1  u8  flags: bit 0 = max bytes set, bit 1 = max files set
//!    2  u16 name length (at most 255)
//!    4  u16 command line length (at most 1,024; the metadata is exactly 24 + the two
//!           lengths long)
//!    6  u16 zero
//!    8  u64 max bytes
//!   16  u64 max files
//!   24  name bytes (UTF-8, cut at a character boundary), then the command line's (UTF-8,
//!       cut likewise; `ferrotemp run`'s job)
//! ```
//!
//! The metadata tells readers (`ferrotemp ls`) what a directory entry is for; sweeps ignore
//! it. Its length is bounded and checked against the name's, so a damaged length ends the
//! entry list (`truncated`) as any other damage does.
//!
//! An append writes the entry, then stores the region's new length (a release store, so
//! no reader sees a length before the data it covers); a removal stores one
//! state byte; a confirmation (pending to live) writes the identity, then stores the state
//! byte; a compaction fills the other region and then stores the header's active
//! offset. Each commit is one aligned store, so whatever instant the owner dies at, a reader
//! sees a consistent record: entries past the length, and a region not yet switched to, do
//! not exist, and a pending entry's identity fields are not read.
//!
//! The file is sparse: its length covers the regions, but blocks are reserved (`fallocate`)
//! only for the pages entries are written to, 4 KiB at a time, and kept. A region is compacted
//! when it is full or when its removed entries outweigh both its live ones and 16 KiB, so a
//! record holds the blocks of what its live entries need plus a few pages of each of its two
//! regions, and a nearly full filesystem runs out of space no earlier than it would without
//! it (a page per fifty or so live entries). A record is never longer than
//! [`MAX_RECORD_LEN`]; a sweeper refuses to read a longer file (it is damaged, or not
//! ferrotemp's) rather than load it.
//!
//! # Owner start and host
//!
//! The owner start (offset 64) is the process's start: boot time plus the start time in
//! ticks, read when the record is made, less one second for the tick rounding and clock
//! slew between the two clocks. A sweeper never removes an entry born before the later of
//! it and the record file's own birth time (the kernel's, which a record's writer cannot set
//! back): a record planted by another process of the same user cannot name a file older than
//! the planted record. Versions 1 and 2 have no owner start: only the record's birth time
//! counts.
//!
//! The machine id tells hosts apart where one temp dir is shared (a network filesystem,
//! containers of different machines on one volume): the 16 bytes of `/etc/machine-id` (or
//! `/var/lib/dbus/machine-id`); without either, the FNV-1a hashes (64-bit, two seeds) of the
//! host name, with flag bit 1 set. A record of another host is never judged dead.

mod layout;
mod probe;
mod writer;

pub use layout::{
    classify, parse, read_bounded, EntryState, Parsed, ParsedRecord, RecordEntry, CLAIMED_INFIX,
    FLAG_HOSTNAME_ID, FLAG_LOCKED, MAGIC, MAX_META_NAME, MAX_RECORD_LEN, NEW_SUFFIX,
    OLDEST_VERSION, RECORD_SUFFIX, VERSION,
};
pub use probe::{boot_id, machine_id, pid_namespace, process_start_time};
pub(super) use writer::{flock_unsupported, RecordWriter};
