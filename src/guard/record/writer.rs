//! The record's writer: the memory-mapped file one process appends its entries to.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};

use rustix::fs::{FallocateFlags, FlockOperation, Mode, OFlags};
use rustix::io::Errno;
use rustix::mm::{Advice, MapFlags, ProtFlags};

use crate::guard::identity::{coarse_now_ns, EntryIdentity};
use crate::guard::EntryKind;

/// The first bytes of every record.
pub const MAGIC: &[u8; 8] = b"FTGUARD1";
/// The layout version written by this code.
pub const VERSION: u32 = 3;
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

const HEADER_LEN: usize = 128;
/// The header length of versions 1 and 2.
const HEADER_LEN_V2: usize = 64;
const H_VERSION: usize = 8;
const H_FLAGS: usize = 12;
const H_PID: usize = 16;
const H_START: usize = 24;
const H_ACTIVE: usize = 32;
const H_PIDNS: usize = 40;
const H_BOOT: usize = 48;
const H_START_NS: usize = 64;
const H_MACHINE: usize = 72;
const REGION_HDR: usize = 16;
const ENTRY_HDR: usize = 48;
/// The entry header of versions 1 and 2.
const ENTRY_HDR_V2: usize = 32;
const E_SLOT: usize = 4;
const E_DEV: usize = 8;
const E_INO: usize = 16;
const E_STATE: usize = 24;
const E_KIND: usize = 25;
const E_IDFLAGS: usize = 26;
const E_GENERATION: usize = 28;
const E_BTIME: usize = 32;
const E_RECORDED: usize = 40;
const LIVE: u8 = 1;
const DEAD: u8 = 2;
const PENDING: u8 = 3;
const ID_BTIME: u8 = 1;
const ID_GENERATION: u8 = 2;
/// Blocks are reserved for the file in steps of this size.
const RESERVE_STEP: usize = 4096;
/// Removed entries' bytes that make an append compact the region first (when the live ones
/// are fewer): a record that sees many entries come and go uses a few pages of each of its
/// two regions, not the regions' whole capacity.
const COMPACT_DEAD: usize = 4 * RESERVE_STEP;
/// The smallest entry area: a region this size holds ~1,000 typical entries, so compaction
/// (a memcpy of the live ones) happens at most once per ~1,000 registrations.
const MIN_CAP: usize = 64 * 1024;
/// A trailing stale region is truncated away only when it is this much larger than needed,
/// so a steady state does not grow and shrink the file at every compaction.
const SHRINK_SLACK: usize = 1 << 20;
const FREE: usize = usize::MAX;

fn entry_len(path_len: usize) -> usize {
    ENTRY_HDR + path_len.next_multiple_of(8)
}

/// The header, entry header and entry length of layout `version`.
fn entry_len_v(version: u32, path_len: usize) -> usize {
    entry_hdr(version) + path_len.next_multiple_of(8)
}

fn entry_hdr(version: u32) -> usize {
    if version >= 3 {
        ENTRY_HDR
    } else {
        ENTRY_HDR_V2
    }
}

fn kind_byte(kind: EntryKind) -> u8 {
    match kind {
        EntryKind::File => b'f',
        EntryKind::Dir => b'd',
    }
}

/// A shared, writable mapping of the whole record file.
struct Mapping {
    ptr: *mut u8,
    len: usize,
}

// The mapping is only reached through `RecordWriter`, itself behind the guard's mutex.
unsafe impl Send for Mapping {}

impl Mapping {
    fn new(fd: impl AsFd, len: usize) -> io::Result<Self> {
        // SAFETY: a fresh mapping at an address of the kernel's choosing aliases nothing.
        let ptr = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
                fd,
                0,
            )?
        };
        // A forked child must never write into its parent's record; not mapping it there at
        // all turns any such bug into a clean fault instead of corruption. Best effort.
        #[cfg(any(target_os = "linux", target_os = "android"))]
        // SAFETY: advising on exactly the range just mapped.
        let _ = unsafe { rustix::mm::madvise(ptr, len, Advice::LinuxDontFork) };
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        let _ = Advice::Normal;
        Ok(Self {
            ptr: ptr.cast(),
            len,
        })
    }

    fn bytes(&mut self) -> &mut [u8] {
        // SAFETY: the mapping is `len` bytes, alive until drop, and `&mut self` is exclusive.
        // The file is never shorter than `len` while mapped (see `RecordWriter::map`), so
        // every page reads; stores go only to pages with blocks (`RecordWriter::backed`).
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }

    /// After fork: the mapping does not exist in the child (`MADV_DONTFORK`), and where it
    /// was, something else may be mapped later; never unmap it.
    fn forget(self) {
        std::mem::forget(self);
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the range `new` mapped; no slice outlives `&mut self`.
        let _ = unsafe { rustix::mm::munmap(self.ptr.cast(), self.len) };
    }
}

fn put_u32(buf: &mut [u8], off: usize, value: u32) {
    buf[off..off + 4].copy_from_slice(&value.to_le_bytes());
}

fn put_u64(buf: &mut [u8], off: usize, value: u64) {
    buf[off..off + 8].copy_from_slice(&value.to_le_bytes());
}

fn put_i64(buf: &mut [u8], off: usize, value: i64) {
    buf[off..off + 8].copy_from_slice(&value.to_le_bytes());
}

/// Writes an entry's identity fields (not its state byte).
fn put_identity(buf: &mut [u8], at: usize, id: &EntryIdentity) {
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

fn get_i64(buf: &[u8], off: usize) -> Option<i64> {
    Some(i64::from_le_bytes(
        buf.get(off..off.checked_add(8)?)?.try_into().ok()?,
    ))
}

// Offsets come from files anyone may have damaged: no arithmetic on them may overflow.
fn get_u32(buf: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        buf.get(off..off.checked_add(4)?)?.try_into().ok()?,
    ))
}

fn get_u64(buf: &[u8], off: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        buf.get(off..off.checked_add(8)?)?.try_into().ok()?,
    ))
}

fn to_usize(value: u64) -> Option<usize> {
    usize::try_from(value).ok()
}

/// Makes sure `[from, to)` of the file, pages the writer never wrote, has blocks behind it,
/// extending the file to `to` if it is shorter.
///
/// A store into a mapped page with no block behind it raises `SIGBUS` when the filesystem is
/// full — exactly when temp files pile up. Reserving the blocks up front turns that into an
/// ordinary error here.
fn reserve(file: &File, from: usize, to: usize) -> io::Result<()> {
    let len = (to - from) as u64;
    match rustix::fs::fallocate(file, FallocateFlags::empty(), from as u64, len) {
        Ok(()) => Ok(()),
        Err(Errno::OPNOTSUPP | Errno::NOSYS | Errno::INVAL) => {
            // No fallocate here: writing zeros allocates the blocks just as well (the callers
            // pass only pages never written).
            let zeros = vec![0u8; 64 * 1024];
            let mut at = from;
            while at < to {
                let n = (to - at).min(zeros.len());
                file.write_all_at(&zeros[..n], at as u64)?;
                at += n;
            }
            Ok(())
        }
        Err(err) => Err(err.into()),
    }
}

/// Whether `flock` failing with `err` means "not supported here" rather than a real error.
pub(in crate::guard) fn flock_unsupported(err: Errno) -> bool {
    // ENOTSUP and EOPNOTSUPP are one value on Linux and two elsewhere.
    matches!(
        err,
        Errno::NOLCK | Errno::OPNOTSUPP | Errno::NOSYS | Errno::INVAL
    ) || err == Errno::NOTSUP
}

/// Takes the exclusive lock on a record just created: `Ok(false)` if the filesystem has no
/// `flock`. A sweeper may hold the lock for an instant (an older one locked `.new` files
/// before looking at their age): a few short retries, about 60 ms in all, ride that out.
fn lock_new_record(file: &File) -> io::Result<bool> {
    let mut delay = std::time::Duration::from_micros(500);
    for attempt in 0.. {
        match rustix::fs::flock(file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => return Ok(true),
            Err(err) if flock_unsupported(err) => return Ok(false),
            Err(Errno::WOULDBLOCK | Errno::INTR) if attempt < 7 => {
                std::thread::sleep(delay);
                delay *= 2;
            }
            Err(err) => return Err(err.into()),
        }
    }
    unreachable!("the loop returns")
}

/// The start time of process `pid` in clock ticks since boot (Linux `/proc/<pid>/stat`
/// field 22), which tells a process from a later one reusing its id; `None` if unknown.
#[must_use]
pub fn process_start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    // Field 2 (the command) is in parentheses and may hold anything: parse after the last ')'.
    let close = stat.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(&stat[close + 1..]).ok()?;
    // After ')' come fields 3, 4, …; field 22 is the 20th of them.
    rest.split_ascii_whitespace().nth(19)?.parse().ok()
}

/// The pid namespace this process is in: the inode of `/proc/self/ns/pid`; 0 if unknown
/// (not Linux, or no `/proc`). Process ids mean something only within one namespace.
#[must_use]
pub fn pid_namespace() -> u64 {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if let Ok(st) = rustix::fs::stat("/proc/self/ns/pid") {
        return crate::guard::stat_ino(&st);
    }
    0
}

/// This boot's id (`/proc/sys/kernel/random/boot_id`, a UUID, as its 16 bytes); zeros if
/// unknown. A record made under another boot id belongs to a process that no longer runs.
#[must_use]
pub fn boot_id() -> [u8; 16] {
    let mut id = [0u8; 16];
    let Ok(text) = std::fs::read_to_string("/proc/sys/kernel/random/boot_id") else {
        return id;
    };
    let hex: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
    if hex.len() != 32 {
        return id;
    }
    for (byte, pair) in id.iter_mut().zip(hex.chunks(2)) {
        let digits = std::str::from_utf8(pair).unwrap_or("00");
        *byte = u8::from_str_radix(digits, 16).unwrap_or(0);
    }
    id
}

/// The wall-clock time (ns since the epoch) at which the process that started `ticks` clock
/// ticks after boot started: boot time by the clocks now, plus the ticks; 0 if unknown.
fn start_wall_ns(ticks: u64) -> i64 {
    if ticks == 0 {
        return 0;
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let clock_ns = |clock| {
            let mut ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: `ts` is a valid timespec for the call to fill.
            (unsafe { libc::clock_gettime(clock, &raw mut ts) } == 0)
                .then(|| i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec))
        };
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        let (Some(real), Some(boot), Ok(hz)) = (
            clock_ns(libc::CLOCK_REALTIME),
            clock_ns(libc::CLOCK_BOOTTIME),
            Ok::<i128, ()>(i128::from(hz)),
        ) else {
            return 0;
        };
        if hz <= 0 {
            return 0;
        }
        let start = real - boot + i128::from(ticks) * 1_000_000_000 / hz;
        // Ticks are whole (10 ms), and the two clocks drift apart by NTP slew: a second of
        // margin keeps the estimate at or before the true start.
        i64::try_from(start - 1_000_000_000).unwrap_or(0).max(0)
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    0
}

/// 64-bit FNV-1a of `bytes` from `seed`.
fn fnv1a(seed: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(seed, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// This machine's id, as 16 bytes, and whether it is a hash of the host name: the hex of
/// `/etc/machine-id` (or dbus's copy of it), else FNV-1a of the host name with two seeds;
/// zeros if neither is known.
#[must_use]
pub fn machine_id() -> ([u8; 16], bool) {
    for path in ["/etc/machine-id", "/var/lib/dbus/machine-id"] {
        if let Some(id) = std::fs::read_to_string(path)
            .ok()
            .and_then(|t| parse_hex16(&t))
        {
            if id != [0; 16] {
                return (id, false);
            }
        }
    }
    let mut name = [0u8; 256];
    // SAFETY: the buffer is valid for its length; the result is NUL-terminated when it fits.
    if unsafe { libc::gethostname(name.as_mut_ptr().cast(), name.len()) } != 0 {
        return ([0; 16], false);
    }
    let host = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
    if host.is_empty() {
        return ([0; 16], false);
    }
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&fnv1a(0xcbf2_9ce4_8422_2325, host).to_le_bytes());
    id[8..].copy_from_slice(&fnv1a(0x6c62_272e_07bb_0142, host).to_le_bytes());
    (id, true)
}

/// 32 hex digits (other characters ignored) as 16 bytes.
fn parse_hex16(text: &str) -> Option<[u8; 16]> {
    let hex: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
    if hex.len() != 32 {
        return None;
    }
    let mut id = [0u8; 16];
    for (byte, pair) in id.iter_mut().zip(hex.chunks(2)) {
        *byte = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(id)
}

/// The writer side of a record: owned by one process, which holds the file's lock.
pub(in crate::guard) struct RecordWriter {
    /// Holds the `flock` (when `locked`) and keeps the mapping's file alive.
    file: File,
    /// The whole file mapped. Its length is the only length the writer goes by: the file is
    /// never shorter (it is extended, sparse, before a larger mapping is made, and shrunk only
    /// after a smaller one replaced it), though it may be longer after a failed shrink.
    map: Mapping,
    /// Which 4 KiB pages of the file have blocks behind them (`reserve`). The writer never
    /// stores into a page that has none; the mapping may be longer than the file (pages past
    /// its end are never touched). Pages are reserved once and kept: a record's blocks are
    /// those of the pages its regions ever used, a few when entries come and go.
    backed: Vec<bool>,
    active: usize,
    cap: usize,
    len: usize,
    live_bytes: usize,
    /// Offset (within the active region's entry area) of each slot's entry, or `FREE`.
    slots: Vec<usize>,
    free: Vec<u32>,
    name: String,
    locked: bool,
    /// Tests: make the next shrink's `set_len` fail.
    #[cfg(test)]
    fail_shrink: bool,
}

impl RecordWriter {
    /// Creates a new record in the registry `dir`: `<pid>-<random>.new`, locked, sized,
    /// mapped, headed, then renamed to `.rec`.
    pub(in crate::guard) fn create(dir: &OwnedFd, use_flock: bool) -> io::Result<Self> {
        let pid = std::process::id();
        let start = process_start_time(pid).unwrap_or(0);
        let mut builder = crate::create::Builder::new();
        builder
            .prefix(format!("{pid}-"))
            .suffix(NEW_SUFFIX)
            .rand_len(8)
            .max_attempts(16);
        let flags =
            OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        // Names are tried relative to the registry's descriptor: joined to an empty directory,
        // each candidate path is the bare name.
        let made = builder.make_in(
            Path::new(""),
            "record",
            |_, _| Ok(()),
            |candidate| {
                let opened = rustix::fs::openat(dir, candidate, flags, Mode::RUSR | Mode::WUSR);
                let Some(fd) =
                    crate::create::none_if_taken(opened.map_err(io::Error::from), candidate)?
                else {
                    return Ok(None);
                };
                // The name is ASCII (the pid, the name alphabet, the suffix): this borrows it.
                let temp = candidate.to_string_lossy();
                let stem = temp.strip_suffix(NEW_SUFFIX).unwrap_or(&temp);
                let name = format!("{stem}{RECORD_SUFFIX}");
                match Self::init(File::from(fd), dir, &temp, name, pid, start, use_flock) {
                    Ok(writer) => Ok(Some(writer)),
                    Err(err) => {
                        let _ = rustix::fs::unlinkat(dir, candidate, rustix::fs::AtFlags::empty());
                        Err(err)
                    }
                }
            },
        );
        made.map(|(writer, _)| writer)
    }

    fn init(
        file: File,
        dir: &OwnedFd,
        temp: &str,
        name: String,
        pid: u32,
        start: u64,
        use_flock: bool,
    ) -> io::Result<Self> {
        let locked = use_flock && lock_new_record(&file)?;
        // Mapped for a full first region, but only the first page has blocks: the rest are
        // reserved as entries need them.
        let map_len = HEADER_LEN + REGION_HDR + MIN_CAP;
        reserve(&file, 0, RESERVE_STEP)?;
        // Sparse past the first page: no blocks until `ensure_backed`.
        file.set_len(map_len as u64)?;
        let mut map = Mapping::new(&file, map_len)?;
        let (machine, from_hostname) = machine_id();
        let mut flags = if locked { FLAG_LOCKED } else { 0 };
        if from_hostname {
            flags |= FLAG_HOSTNAME_ID;
        }
        let buf = map.bytes();
        buf[..8].copy_from_slice(MAGIC);
        put_u32(buf, H_VERSION, VERSION);
        put_u32(buf, H_FLAGS, flags);
        put_u64(buf, H_PID, u64::from(pid));
        put_u64(buf, H_START, start);
        put_u64(buf, HEADER_LEN, MIN_CAP as u64);
        put_u64(buf, HEADER_LEN + 8, 0);
        put_u64(buf, H_ACTIVE, HEADER_LEN as u64);
        put_u64(buf, H_PIDNS, pid_namespace());
        buf[H_BOOT..H_BOOT + 16].copy_from_slice(&boot_id());
        put_i64(buf, H_START_NS, start_wall_ns(start));
        buf[H_MACHINE..H_MACHINE + 16].copy_from_slice(&machine);
        // Only a complete, locked record may carry the name sweepers act on.
        rustix::fs::renameat(dir, temp, dir, &name)?;
        Ok(Self {
            file,
            map,
            backed: vec![true],
            active: HEADER_LEN,
            cap: MIN_CAP,
            len: 0,
            live_bytes: 0,
            slots: Vec::new(),
            free: Vec::new(),
            name,
            locked,
            #[cfg(test)]
            fail_shrink: false,
        })
    }

    /// The record's file name in the registry.
    pub(in crate::guard) fn name(&self) -> &str {
        &self.name
    }

    /// Whether the record is protected by `flock` (else by pid and start time).
    pub(in crate::guard) fn locked(&self) -> bool {
        self.locked
    }

    /// The length of the record the writer uses (the file may be longer after a failed
    /// shrink).
    #[cfg(test)]
    pub(in crate::guard) fn file_len(&self) -> usize {
        self.map.len
    }

    /// Stores `value` at `off` (8-aligned) as the commit of what was written before it: a
    /// release store, so no reader (a sweeper reading the file while this process runs, or
    /// after it died) can see it before the data it commits.
    fn commit_u64(&mut self, off: usize, value: u64) {
        let buf = self.map.bytes();
        assert!(
            off % 8 == 0 && off + 8 <= buf.len(),
            "commit out of the record"
        );
        // SAFETY: in bounds (checked), 8-aligned (the mapping is page-aligned and `off` a
        // multiple of 8), and only ever accessed by this writer, behind `&mut self`.
        let atomic = unsafe { AtomicU64::from_ptr(buf.as_mut_ptr().add(off).cast()) };
        atomic.store(value.to_le(), Ordering::Release);
    }

    /// Appends a live entry known by its device and inode only, and returns its slot.
    #[cfg(test)]
    pub(in crate::guard) fn add(
        &mut self,
        path: &Path,
        kind: EntryKind,
        dev: u64,
        ino: u64,
    ) -> io::Result<u32> {
        let id = EntryIdentity {
            dev,
            ino,
            ..EntryIdentity::default()
        };
        self.add_entry(path, kind, Some(&id))
    }

    /// Appends an entry and returns its slot: live with `identity`, or pending (recorded
    /// before its creation is tried) without.
    pub(in crate::guard) fn add_entry(
        &mut self,
        path: &Path,
        kind: EntryKind,
        identity: Option<&EntryIdentity>,
    ) -> io::Result<u32> {
        let path = path.as_os_str().as_bytes();
        let path_len = u32::try_from(path.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path too long"))?;
        let need = entry_len(path.len());
        // Compacted when the region is full, or when removed entries outweigh both the live
        // ones and a few pages: the blocks a record holds then follow its live entries.
        let dead = self.len - self.live_bytes;
        if self.len + need > self.cap || dead >= self.live_bytes.max(COMPACT_DEAD) {
            self.relocate(need)?;
        }
        let rel = self.len;
        let at = self.active + REGION_HDR + rel;
        self.ensure_backed(at, at + need)?;
        let slot = if let Some(slot) = self.free.pop() {
            slot
        } else {
            let slot = u32::try_from(self.slots.len())
                .map_err(|_| io::Error::other("too many guarded entries"))?;
            self.slots.push(FREE);
            slot
        };
        let buf = self.map.bytes();
        buf[at..at + ENTRY_HDR].fill(0);
        put_u32(buf, at, path_len);
        put_u32(buf, at + E_SLOT, slot);
        buf[at + E_KIND] = kind_byte(kind);
        put_i64(buf, at + E_RECORDED, coarse_now_ns());
        buf[at + ENTRY_HDR..at + ENTRY_HDR + path.len()].copy_from_slice(path);
        match identity {
            Some(id) => {
                put_identity(buf, at, id);
                buf[at + E_STATE] = LIVE;
            }
            None => buf[at + E_STATE] = PENDING,
        }
        // The commit: until this store, the entry does not exist for a reader.
        self.commit_u64(self.active + 8, (rel + need) as u64);
        self.len = rel + need;
        self.live_bytes += need;
        self.slots[slot as usize] = rel;
        Ok(slot)
    }

    /// Turns the pending entry in `slot` live with `identity`: the fields first, then the
    /// state byte (the commit). An unknown, free or already live slot is left as it is.
    pub(in crate::guard) fn confirm(&mut self, slot: u32, identity: &EntryIdentity) {
        let Some(&rel) = self.slots.get(slot as usize) else {
            return;
        };
        if rel == FREE {
            return;
        }
        let at = self.active + REGION_HDR + rel;
        let buf = self.map.bytes();
        if buf[at + E_STATE] != PENDING {
            return;
        }
        put_identity(buf, at, identity);
        // SAFETY: in bounds (a live slot's entry is inside the active region, in the
        // reserved part of the mapping); a byte is always aligned; only this writer touches
        // it, behind `&mut self`.
        unsafe { AtomicU8::from_ptr(buf.as_mut_ptr().add(at + E_STATE)) }
            .store(LIVE, Ordering::Release);
    }

    /// Makes sure the pages of `[from, to)` have blocks, reserving those that have none, a
    /// run of pages per `fallocate`.
    fn ensure_backed(&mut self, from: usize, to: usize) -> io::Result<()> {
        let last = to.div_ceil(RESERVE_STEP);
        if self.backed.len() < last {
            self.backed.resize(last, false);
        }
        let mut page = from / RESERVE_STEP;
        while page < last {
            if self.backed[page] {
                page += 1;
                continue;
            }
            let run = page;
            while page < last && !self.backed[page] {
                page += 1;
            }
            reserve(&self.file, run * RESERVE_STEP, page * RESERVE_STEP)?;
            self.backed[run..page].fill(true);
        }
        Ok(())
    }

    /// Marks the entry in `slot` removed; an unknown or free slot is ignored.
    pub(in crate::guard) fn remove(&mut self, slot: u32) {
        let Some(rel) = self.slots.get_mut(slot as usize) else {
            return;
        };
        if *rel == FREE {
            return;
        }
        let at = self.active + REGION_HDR + *rel;
        *rel = FREE;
        self.free.push(slot);
        let buf = self.map.bytes();
        // SAFETY: in bounds (a live slot's entry is inside the active region, in the
        // mapping); a byte is always aligned; only this writer touches it, behind `&mut self`.
        unsafe { AtomicU8::from_ptr(buf.as_mut_ptr().add(at + E_STATE)) }
            .store(DEAD, Ordering::Release);
        let path_len = get_u32(buf, at).unwrap_or(0) as usize;
        self.live_bytes -= entry_len(path_len);
    }

    /// Moves the live entries to a fresh region with room for `need` more bytes, and switches
    /// to it with one store.
    fn relocate(&mut self, need: usize) -> io::Result<()> {
        let wanted = (self.live_bytes + need)
            .checked_mul(4)
            .ok_or_else(|| io::Error::other("record too large"))?;
        let new_cap = wanted.next_multiple_of(4096).max(MIN_CAP);
        // The new region goes before the active one if it fits there, else after it.
        let new_at = if HEADER_LEN + REGION_HDR + new_cap <= self.active {
            HEADER_LEN
        } else {
            (self.active + REGION_HDR + self.cap).next_multiple_of(64)
        };
        let new_end = new_at + REGION_HDR + new_cap;
        if new_end as u64 > MAX_RECORD_LEN {
            return Err(io::Error::other("too many guarded entries for one record"));
        }
        if new_end > self.map.len {
            // Longer first (sparse: blocks come with `ensure_backed`), then mapped.
            if self.file.metadata()?.len() < new_end as u64 {
                self.file.set_len(new_end as u64)?;
            }
            self.remap(new_end)?;
        }
        let old_data = self.active + REGION_HDR;
        let new_data = new_at + REGION_HDR;
        // Blocks for the new region's header, the live entries and the one to come; the rest
        // as appends need them.
        self.ensure_backed(new_at, new_data + self.live_bytes + need)?;
        let buf = self.map.bytes();
        let mut written = 0;
        for rel in self.slots.iter_mut().filter(|rel| **rel != FREE) {
            let src = old_data + *rel;
            let size = entry_len(get_u32(buf, src).unwrap_or(0) as usize);
            buf.copy_within(src..src + size, new_data + written);
            *rel = written;
            written += size;
        }
        put_u64(buf, new_at, new_cap as u64);
        put_u64(buf, new_at + 8, written as u64);
        // The commit: readers now see the compacted region.
        self.commit_u64(H_ACTIVE, new_at as u64);
        self.active = new_at;
        self.cap = new_cap;
        self.len = written;
        self.live_bytes = written;
        if new_at == HEADER_LEN && self.map.len > new_end + SHRINK_SLACK {
            self.shrink(new_end);
        }
        Ok(())
    }

    /// Drops the stale tail past `len`, best effort: the relocation it follows is done and
    /// committed whatever happens here. The tail is unmapped first (the file must never be
    /// shorter than the mapping); if the truncation then fails the file just stays longer
    /// than the mapping, which is harmless, and the writer goes by the mapping's length.
    fn shrink(&mut self, len: usize) {
        if self.remap(len).is_err() {
            return;
        }
        #[cfg(test)]
        if std::mem::take(&mut self.fail_shrink) {
            return;
        }
        if self.file.set_len(len as u64).is_ok() {
            self.backed.truncate(len.div_ceil(RESERVE_STEP));
        }
    }

    /// Maps `len` bytes of the file in place of the current mapping. The new mapping is made
    /// before the old one goes, so a failure leaves the writer as it was.
    fn remap(&mut self, len: usize) -> io::Result<()> {
        self.map = Mapping::new(&self.file, len)?;
        Ok(())
    }

    /// Whether no live entry is recorded.
    pub(in crate::guard) fn is_empty(&self) -> bool {
        self.live_bytes == 0
    }

    /// Removes the record from `registry` (the directory it was created in) while still
    /// holding its lock, then closes it. A sweeper that opened it before the unlink finds, once
    /// it gets the lock, that the name no longer refers to the locked file, and leaves it.
    pub(in crate::guard) fn discard(self, registry: &OwnedFd) -> io::Result<()> {
        rustix::fs::unlinkat(registry, self.name.as_str(), rustix::fs::AtFlags::empty())?;
        Ok(())
    }

    /// In a forked child: let go of the parent's record without touching it. Closing the
    /// inherited descriptor does not release the parent's lock (its own descriptor still
    /// refers to the locked open file description); `LOCK_UN` would, so it is never called.
    pub(in crate::guard) fn abandon_after_fork(self) {
        let Self { file, map, .. } = self;
        map.forget();
        drop(file);
    }
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
    /// The owner's start time (see [`process_start_time`]); 0 when unknown.
    pub start_time: u64,
    /// The owner's start on the wall clock, ns since the epoch (see the module docs); 0 when
    /// unknown (and in versions 1 and 2).
    pub start_ns: i64,
    /// Whether the owner locked the record with `flock`.
    pub locked: bool,
    /// The owner's pid namespace (see [`pid_namespace`]); 0 when unknown (and in version 1).
    pub pid_ns: u64,
    /// The boot the owner ran in (see [`boot_id`]); zeros when unknown (and in version 1).
    pub boot_id: [u8; 16],
    /// The owner's host (see [`machine_id`]); zeros when unknown (and in versions 1 and 2).
    pub machine_id: [u8; 16],
    /// Whether `machine_id` is a hash of the host name.
    pub machine_id_from_hostname: bool,
    /// The live and pending entries.
    pub entries: Vec<RecordEntry>,
    /// Whether the record ended in something unreadable (the entries before it are listed).
    pub truncated: bool,
}

impl ParsedRecord {
    /// Whether the record names a host, and it is not this one (see [`machine_id`]). Ids of
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
    let size = entry_len_v(version, path_len);
    let hdr = entry_hdr(version);
    let path = bytes.get(at.checked_add(hdr)?..at.checked_add(hdr)?.checked_add(path_len)?)?;
    if at.checked_add(size)? > bytes.len() {
        return None;
    }
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
    let entry = RecordEntry {
        path: PathBuf::from(std::ffi::OsStr::from_bytes(path)),
        kind,
        state,
        identity,
        recorded_ns,
    };
    Some((size, Some(entry)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> (PathBuf, OwnedFd) {
        let dir = std::env::temp_dir().join(format!("ft-record-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        let fd = rustix::fs::open(&dir, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()).unwrap();
        (dir, fd)
    }

    fn read(dir: &Path, writer: &RecordWriter) -> ParsedRecord {
        parse(&std::fs::read(dir.join(writer.name())).unwrap()).unwrap()
    }

    #[test]
    fn entries_round_trip_with_any_bytes_in_the_path() {
        let (dir, fd) = scratch("roundtrip");
        let mut writer = RecordWriter::create(&fd, true).unwrap();
        let odd = Path::new(std::ffi::OsStr::from_bytes(b"/tmp/a\nb\xff c"));
        let a = writer.add(odd, EntryKind::File, 1, 2).unwrap();
        let b = writer
            .add(Path::new("/tmp/d"), EntryKind::Dir, 3, 4)
            .unwrap();
        let parsed = read(&dir, &writer);
        assert!(parsed.locked);
        assert_eq!(parsed.pid, std::process::id());
        assert!(!parsed.truncated);
        assert_eq!(parsed.entries.len(), 2);
        assert_eq!(parsed.entries[0].path, odd);
        assert_eq!((parsed.entries[1].dev(), parsed.entries[1].ino()), (3, 4));
        writer.remove(a);
        let parsed = read(&dir, &writer);
        assert_eq!(parsed.entries.len(), 1);
        assert_eq!(parsed.entries[0].kind, EntryKind::Dir);
        writer.remove(b);
        writer.remove(b);
        assert!(read(&dir, &writer).entries.is_empty());
        drop(writer);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn compaction_keeps_live_entries_and_bounds_the_file() {
        let (dir, fd) = scratch("compact");
        let mut writer = RecordWriter::create(&fd, true).unwrap();
        let keep = writer
            .add(Path::new("/tmp/kept"), EntryKind::File, 9, 9)
            .unwrap();
        for i in 0..50_000u64 {
            let path = PathBuf::from(format!("/tmp/some-longer-temporary-name-{i}"));
            let slot = writer.add(&path, EntryKind::File, 1, i).unwrap();
            writer.remove(slot);
        }
        let parsed = read(&dir, &writer);
        assert_eq!(parsed.entries.len(), 1);
        assert_eq!(parsed.entries[0].path, Path::new("/tmp/kept"));
        assert!(writer.file_len() <= HEADER_LEN + 2 * (REGION_HDR + MIN_CAP) + 64);
        // Growth: many live entries at once, then all removed.
        let slots: Vec<u32> = (0..20_000u64)
            .map(|i| {
                let path = PathBuf::from(format!("/tmp/live-{i}"));
                writer.add(&path, EntryKind::Dir, 2, i).unwrap()
            })
            .collect();
        assert_eq!(read(&dir, &writer).entries.len(), 20_001);
        for slot in slots {
            writer.remove(slot);
        }
        writer.remove(keep);
        assert!(read(&dir, &writer).entries.is_empty());
        drop(writer);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_shrink_leaves_the_writer_consistent() {
        let (dir, fd) = scratch("shrinkfail");
        let mut writer = RecordWriter::create(&fd, true).unwrap();
        // Grow well past the slack, then empty it: the next relocation shrinks the file.
        let slots: Vec<u32> = (0..40_000u64)
            .map(|i| {
                let path = PathBuf::from(format!("/tmp/grow-{i:08}"));
                writer.add(&path, EntryKind::File, 1, i).unwrap()
            })
            .collect();
        let grown = writer.file_len();
        assert!(grown > 2 * SHRINK_SLACK);
        for slot in slots {
            writer.remove(slot);
        }
        writer.fail_shrink = true;
        let path = |i: u64| PathBuf::from(format!("/tmp/after-{i:08}"));
        let mut i = 0;
        while writer.fail_shrink {
            assert!(i < 1_000_000, "the shrink was never attempted");
            let slot = writer.add(&path(i), EntryKind::File, 2, i).unwrap();
            writer.remove(slot);
            i += 1;
        }
        // The truncation failed: the file stays long, the writer goes by its mapping.
        let on_disk = std::fs::metadata(dir.join(writer.name())).unwrap().len();
        assert!(writer.file_len() < grown);
        // (Blocks are reserved as entries need them: the file reaches as far as they went,
        // which is short of the grown mapping's end but well past the shrunk one's.)
        assert!(on_disk > 2 * SHRINK_SLACK as u64);
        assert!(on_disk > writer.file_len() as u64);
        // Growing again, past the mapping, must extend it (this used to index past it).
        for j in i..i + 40_000 {
            writer.add(&path(j), EntryKind::File, 2, j).unwrap();
        }
        let parsed = read(&dir, &writer);
        assert!(!parsed.truncated);
        assert_eq!(parsed.entries.len(), 40_000);
        drop(writer);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn garbage_is_not_a_record_and_damage_is_truncation() {
        assert!(parse(b"").is_none());
        assert!(parse(b"FTGUARD1").is_none());
        assert!(parse(&[0u8; 200]).is_none());
        let (dir, fd) = scratch("damage");
        let mut writer = RecordWriter::create(&fd, true).unwrap();
        writer
            .add(Path::new("/tmp/x"), EntryKind::File, 1, 1)
            .unwrap();
        let mut bytes = std::fs::read(dir.join(writer.name())).unwrap();
        bytes[HEADER_LEN + REGION_HDR + E_KIND] = b'?';
        let parsed = parse(&bytes).unwrap();
        assert!(parsed.truncated);
        assert!(parsed.entries.is_empty());
        bytes.truncate(HEADER_LEN + 20);
        assert!(parse(&bytes).unwrap().truncated);
        drop(writer);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A record of layout version 1 or 2 (64-byte header, 32-byte entries), by hand.
    fn old_record(version: u32, entries: &[(&[u8], u8, u64, u64)]) -> Vec<u8> {
        let mut bytes = vec![0u8; HEADER_LEN_V2 + REGION_HDR];
        bytes[..8].copy_from_slice(MAGIC);
        put_u32(&mut bytes, H_VERSION, version);
        put_u32(&mut bytes, H_FLAGS, FLAG_LOCKED);
        put_u64(&mut bytes, H_PID, 77);
        put_u64(&mut bytes, H_ACTIVE, HEADER_LEN_V2 as u64);
        if version >= 2 {
            put_u64(&mut bytes, H_PIDNS, 9);
            bytes[H_BOOT..H_BOOT + 16].fill(7);
        }
        for &(path, kind, dev, ino) in entries {
            let at = bytes.len();
            bytes.resize(at + entry_len_v(version, path.len()), 0);
            put_u32(&mut bytes, at, u32::try_from(path.len()).unwrap());
            put_u64(&mut bytes, at + E_DEV, dev);
            put_u64(&mut bytes, at + E_INO, ino);
            bytes[at + E_STATE] = LIVE;
            bytes[at + E_KIND] = kind;
            bytes[at + ENTRY_HDR_V2..at + ENTRY_HDR_V2 + path.len()].copy_from_slice(path);
        }
        let len = (bytes.len() - HEADER_LEN_V2 - REGION_HDR) as u64;
        put_u64(&mut bytes, HEADER_LEN_V2, len);
        put_u64(&mut bytes, HEADER_LEN_V2 + 8, len);
        bytes
    }

    #[test]
    fn version_1_and_2_records_are_read_and_unknown_versions_recognised() {
        let entries: [(&[u8], u8, u64, u64); 2] = [
            (b"/tmp/v-file", b'f', 5, 6),
            (b"/tmp/v-dir-longer", b'd', 7, 8),
        ];
        for version in [1, 2] {
            let old = parse(&old_record(version, &entries)).unwrap();
            assert!(!old.truncated);
            assert_eq!(old.version, version);
            assert_eq!(old.pid, 77);
            assert_eq!((old.start_ns, old.machine_id), (0, [0; 16]));
            if version == 1 {
                assert_eq!((old.pid_ns, old.boot_id), (0, [0; 16]));
            } else {
                assert_eq!((old.pid_ns, old.boot_id), (9, [7; 16]));
            }
            assert_eq!(old.entries.len(), 2);
            assert_eq!(old.entries[1].path, Path::new("/tmp/v-dir-longer"));
            assert_eq!(old.entries[1].kind, EntryKind::Dir);
            assert_eq!(old.entries[1].state, EntryState::Live);
            let id = old.entries[0].identity;
            assert_eq!(
                (id.dev, id.ino, id.btime_ns, id.generation),
                (5, 6, None, None)
            );
        }
        let (dir, fd) = scratch("versions");
        let mut writer = RecordWriter::create(&fd, true).unwrap();
        writer
            .add(Path::new("/tmp/v3"), EntryKind::File, 5, 6)
            .unwrap();
        let mut bytes = std::fs::read(dir.join(writer.name())).unwrap();
        let current = parse(&bytes).unwrap();
        assert_eq!(current.version, VERSION);
        assert_eq!(current.pid_ns, pid_namespace());
        assert_eq!(current.boot_id, boot_id());
        let machine = machine_id();
        assert_eq!(
            (current.machine_id, current.machine_id_from_hostname),
            machine
        );
        assert!(!current.other_host(&machine));
        put_u32(&mut bytes, H_VERSION, VERSION + 1);
        assert_eq!(classify(&bytes), Parsed::UnknownVersion);
        assert!(parse(&bytes).is_none());
        // A sound header before a region that is not there: the header still counts.
        put_u32(&mut bytes, H_VERSION, VERSION);
        put_u64(&mut bytes, H_ACTIVE, u64::MAX - 3);
        let damaged = parse(&bytes).unwrap();
        assert!(damaged.truncated && damaged.entries.is_empty());
        assert_eq!(damaged.pid, std::process::id());
        drop(writer);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn pending_entries_are_read_without_identity_and_confirmed_in_place() {
        let (dir, fd) = scratch("pending");
        let mut writer = RecordWriter::create(&fd, true).unwrap();
        let before = coarse_now_ns();
        let slot = writer
            .add_entry(Path::new("/tmp/pending"), EntryKind::Dir, None)
            .unwrap();
        let parsed = read(&dir, &writer);
        assert_eq!(parsed.entries.len(), 1);
        let entry = &parsed.entries[0];
        assert_eq!(entry.state, EntryState::Pending);
        assert_eq!(entry.identity, EntryIdentity::default());
        assert!(entry.recorded_ns >= before && entry.recorded_ns > 0);
        let id = EntryIdentity {
            dev: 3,
            ino: 4,
            btime_ns: Some(1_700_000_000_123_456_789),
            generation: Some(0xdead_beef),
        };
        writer.confirm(slot, &id);
        let parsed = read(&dir, &writer);
        assert_eq!(parsed.entries[0].state, EntryState::Live);
        assert_eq!(parsed.entries[0].identity, id);
        assert_eq!(parsed.entries[0].recorded_ns, entry.recorded_ns);
        writer.remove(slot);
        assert!(read(&dir, &writer).entries.is_empty());
        drop(writer);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn blocks_are_reserved_in_small_steps_as_entries_need_them() {
        let (dir, fd) = scratch("reserve");
        let mut writer = RecordWriter::create(&fd, true).unwrap();
        let record = dir.join(writer.name());
        let blocks = || {
            let meta = std::fs::metadata(&record).unwrap();
            (
                std::os::unix::fs::MetadataExt::blocks(&meta) * 512,
                meta.len(),
            )
        };
        let (used, len) = blocks();
        assert!(len > MIN_CAP as u64, "the file is sparse, not short: {len}");
        assert!(
            used <= RESERVE_STEP as u64,
            "{used} bytes reserved up front"
        );
        // About 60 entries of 64 bytes fill a page: one more step after them.
        for i in 0..100u64 {
            writer
                .add(Path::new(&format!("/tmp/e{i:04}")), EntryKind::File, 1, i)
                .unwrap();
        }
        let (used, _) = blocks();
        assert!(used > RESERVE_STEP as u64, "{used} bytes reserved");
        assert!(used <= 2 * RESERVE_STEP as u64, "{used} bytes reserved");
        assert_eq!(read(&dir, &writer).entries.len(), 100);
        drop(writer);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn entries_coming_and_going_keep_a_few_pages_of_blocks() {
        let (dir, fd) = scratch("churn");
        let mut writer = RecordWriter::create(&fd, true).unwrap();
        let record = dir.join(writer.name());
        let keep = writer
            .add(Path::new("/tmp/kept"), EntryKind::File, 9, 9)
            .unwrap();
        let mut most = 0;
        for i in 0..20_000u64 {
            let path = PathBuf::from(format!("/tmp/a-temporary-name-{i}"));
            let slot = writer.add(&path, EntryKind::File, 1, i).unwrap();
            writer.remove(slot);
            if i % 97 == 0 {
                let meta = std::fs::metadata(&record).unwrap();
                most = most.max(std::os::unix::fs::MetadataExt::blocks(&meta) * 512);
            }
        }
        // A few pages at the start of each of the two regions: never a 64 KiB region.
        assert!(most <= 12 * RESERVE_STEP as u64, "{most} bytes of blocks");
        let parsed = read(&dir, &writer);
        assert_eq!(parsed.entries.len(), 1);
        assert_eq!(parsed.entries[0].path, Path::new("/tmp/kept"));
        writer.remove(keep);
        drop(writer);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_record_past_the_cap_is_not_read() {
        let (dir, _fd) = scratch("huge");
        let path = dir.join("1-huge.rec");
        let file = File::create(&path).unwrap();
        file.set_len(MAX_RECORD_LEN + 1).unwrap();
        assert_eq!(read_bounded(&file).unwrap(), Parsed::TooLarge);
        drop(file);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_new_record_briefly_locked_by_someone_else_is_still_locked_by_its_creator() {
        let (dir, _fd) = scratch("newlock");
        let path = dir.join("1-x.new");
        let file = File::create(&path).unwrap();
        let other = File::open(&path).unwrap();
        rustix::fs::flock(&other, FlockOperation::LockExclusive).unwrap();
        let release = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(5));
            drop(other);
        });
        assert!(lock_new_record(&file).unwrap());
        release.join().unwrap();
        drop(file);
        // Held for good (a sweeper that never lets go): an error, after about 60 ms.
        let held = File::open(&path).unwrap();
        rustix::fs::flock(&held, FlockOperation::LockExclusive).unwrap();
        let start = std::time::Instant::now();
        let err = lock_new_record(&File::open(&path).unwrap()).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EWOULDBLOCK));
        assert!(start.elapsed() < std::time::Duration::from_secs(1));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn this_process_identity_is_known_on_linux() {
        if cfg!(target_os = "linux") && Path::new("/proc/self/ns/pid").exists() {
            assert_ne!(pid_namespace(), 0);
            assert_ne!(boot_id(), [0; 16]);
            assert_eq!(boot_id(), boot_id());
        }
    }

    #[test]
    fn start_time_of_this_process_is_known() {
        let start = process_start_time(std::process::id());
        if cfg!(target_os = "linux") {
            assert!(start.is_some_and(|t| t > 0));
        }
    }
}
