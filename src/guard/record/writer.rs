//! The record's writer: the memory-mapped file one process appends its entries to.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};

use rustix::fs::{FallocateFlags, FlockOperation, Mode, OFlags};
use rustix::io::Errno;
use rustix::mm::{Advice, MapFlags, ProtFlags};

use super::layout::{
    encode_workspace, entry_len, kind_byte, put_i64, put_identity, put_u32, put_u64,
    stored_entry_len, DEAD, ENTRY_HDR, E_KIND, E_META_LEN, E_RECORDED, E_SLOT, E_STATE,
    FLAG_HOSTNAME_ID, FLAG_LOCKED, HEADER_LEN, H_ACTIVE, H_BOOT, H_FLAGS, H_MACHINE, H_PID,
    H_PIDNS, H_START, H_START_NS, H_VERSION, LIVE, MAGIC, MAX_RECORD_LEN, NEW_SUFFIX, PENDING,
    RECORD_SUFFIX, REGION_HDR, VERSION,
};
use super::probe::{boot_id, machine_id, pid_namespace, process_start_time, start_wall_ns};
use crate::guard::identity::{coarse_now_ns, EntryIdentity};
use crate::guard::{EntryKind, WorkspaceMeta};

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
        let made = builder.make_in_uncounted(
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

    /// The record's file, whose open file description holds the `flock` (for a lease).
    pub(in crate::guard) fn file(&self) -> &File {
        &self.file
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
        self.add_entry(path, kind, Some(&id), None)
    }

    /// Appends an entry and returns its slot: live with `identity`, or pending (recorded
    /// before its creation is tried) without; a workspace's directory carries `workspace`.
    pub(in crate::guard) fn add_entry(
        &mut self,
        path: &Path,
        kind: EntryKind,
        identity: Option<&EntryIdentity>,
        workspace: Option<&WorkspaceMeta>,
    ) -> io::Result<u32> {
        let path = path.as_os_str().as_bytes();
        let path_len = u32::try_from(path.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path too long"))?;
        let meta = workspace.map(encode_workspace).unwrap_or_default();
        let need = entry_len(path.len(), meta.len());
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
        buf[at..at + need].fill(0);
        put_u32(buf, at, path_len);
        put_u32(buf, at + E_SLOT, slot);
        buf[at + E_KIND] = kind_byte(kind);
        put_i64(buf, at + E_RECORDED, coarse_now_ns());
        buf[at + ENTRY_HDR..at + ENTRY_HDR + path.len()].copy_from_slice(path);
        if !meta.is_empty() {
            let meta_len = u32::try_from(meta.len()).unwrap_or(u32::MAX); // at most MAX_META_LEN
            put_u32(buf, at + E_META_LEN, meta_len);
            let meta_at = at + ENTRY_HDR + path.len().next_multiple_of(8);
            buf[meta_at..meta_at + meta.len()].copy_from_slice(&meta);
        }
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
        self.live_bytes -= stored_entry_len(buf, at);
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
            let size = stored_entry_len(buf, src);
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
#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::super::layout::{
        classify, entry_hdr, entry_len_v, parse, EntryState, Parsed, ParsedRecord, E_DEV, E_INO,
        HEADER_LEN_V2, MAX_META_LEN, MAX_META_NAME,
    };
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

    /// A record of layout version 1, 2 (64-byte header, 32-byte entries) or 3 (128-byte
    /// header, 48-byte entries), by hand.
    fn old_record(version: u32, entries: &[(&[u8], u8, u64, u64)]) -> Vec<u8> {
        let header_len = if version >= 3 {
            HEADER_LEN
        } else {
            HEADER_LEN_V2
        };
        let mut bytes = vec![0u8; header_len + REGION_HDR];
        bytes[..8].copy_from_slice(MAGIC);
        put_u32(&mut bytes, H_VERSION, version);
        put_u32(&mut bytes, H_FLAGS, FLAG_LOCKED);
        put_u64(&mut bytes, H_PID, 77);
        put_u64(&mut bytes, H_ACTIVE, header_len as u64);
        if version >= 2 {
            put_u64(&mut bytes, H_PIDNS, 9);
            bytes[H_BOOT..H_BOOT + 16].fill(7);
        }
        if version >= 3 {
            put_i64(&mut bytes, H_START_NS, 1234);
            bytes[H_MACHINE..H_MACHINE + 16].fill(5);
        }
        let hdr = entry_hdr(version);
        for &(path, kind, dev, ino) in entries {
            let at = bytes.len();
            bytes.resize(at + entry_len_v(version, path.len(), 0), 0);
            put_u32(&mut bytes, at, u32::try_from(path.len()).unwrap());
            put_u64(&mut bytes, at + E_DEV, dev);
            put_u64(&mut bytes, at + E_INO, ino);
            bytes[at + E_STATE] = LIVE;
            bytes[at + E_KIND] = kind;
            if version >= 3 {
                put_i64(&mut bytes, at + E_RECORDED, 4321);
            }
            bytes[at + hdr..at + hdr + path.len()].copy_from_slice(path);
        }
        let len = (bytes.len() - header_len - REGION_HDR) as u64;
        put_u64(&mut bytes, header_len, len);
        put_u64(&mut bytes, header_len + 8, len);
        bytes
    }

    #[test]
    fn version_1_to_3_records_are_read_and_unknown_versions_recognised() {
        let entries: [(&[u8], u8, u64, u64); 2] = [
            (b"/tmp/v-file", b'f', 5, 6),
            (b"/tmp/v-dir-longer", b'd', 7, 8),
        ];
        for version in [1, 2, 3] {
            let old = parse(&old_record(version, &entries)).unwrap();
            assert!(!old.truncated);
            assert_eq!(old.version, version);
            assert_eq!(old.pid, 77);
            if version == 3 {
                assert_eq!((old.start_ns, old.machine_id), (1234, [5; 16]));
                assert_eq!(old.entries[1].recorded_ns, 4321);
            } else {
                assert_eq!((old.start_ns, old.machine_id), (0, [0; 16]));
            }
            assert!(old.entries.iter().all(|e| e.workspace.is_none()));
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
            .add_entry(Path::new("/tmp/pending"), EntryKind::Dir, None, None)
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
    fn a_new_record_briefly_locked_by_someone_else_is_still_locked_by_its_creator() {
        let (dir, _fd) = scratch("newlock");
        let path = dir.join("1-x.new");
        // Locked by another descriptor when the creator first tries, released 5 ms later: the
        // creator's retries (about 60 ms in all) take it. On a loaded machine the releasing
        // thread may not run within them, so a few tries are allowed; without the retries
        // every try fails (the first attempt always meets the lock).
        let taken = (0..5).any(|_| {
            let file = File::create(&path).unwrap();
            let other = File::open(&path).unwrap();
            rustix::fs::flock(&other, FlockOperation::LockExclusive).unwrap();
            let release = std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(5));
                drop(other);
            });
            let result = lock_new_record(&file);
            release.join().unwrap();
            match result {
                Ok(locked) => locked,
                Err(err) if err.raw_os_error() == Some(libc::EWOULDBLOCK) => false,
                Err(err) => panic!("{err}"),
            }
        });
        assert!(taken, "a lock released 5 ms later was never taken");
        // Held for good (a sweeper that never lets go): an error, after about 60 ms.
        let held = File::open(&path).unwrap();
        rustix::fs::flock(&held, FlockOperation::LockExclusive).unwrap();
        let start = std::time::Instant::now();
        let err = lock_new_record(&File::open(&path).unwrap()).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EWOULDBLOCK));
        assert!(start.elapsed() < std::time::Duration::from_secs(1));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn workspace(name: &str, max_bytes: Option<u64>, max_files: Option<u64>) -> WorkspaceMeta {
        WorkspaceMeta {
            name: name.to_owned(),
            command: None,
            max_bytes,
            max_files,
        }
    }

    #[test]
    fn workspace_metadata_round_trips_beside_plain_entries_and_through_compaction() {
        let (dir, fd) = scratch("workspace");
        let mut writer = RecordWriter::create(&fd, true).unwrap();
        let full = workspace("resize-42 ✓", Some(2 << 30), Some(10_000));
        let bare = workspace("", None, None);
        let only_files = workspace("files", None, Some(7));
        let id = |ino| EntryIdentity {
            dev: 1,
            ino,
            ..EntryIdentity::default()
        };
        let plain = writer
            .add(Path::new("/tmp/plain"), EntryKind::File, 1, 1)
            .unwrap();
        let a = writer
            .add_entry(
                Path::new("/tmp/ws-a"),
                EntryKind::Dir,
                Some(&id(2)),
                Some(&full),
            )
            .unwrap();
        writer
            .add_entry(Path::new("/tmp/ws-bb"), EntryKind::Dir, None, Some(&bare))
            .unwrap();
        writer
            .add_entry(
                Path::new("/tmp/ws-ccc"),
                EntryKind::Dir,
                Some(&id(4)),
                Some(&only_files),
            )
            .unwrap();
        let expect = |parsed: &ParsedRecord, names: &[(&str, Option<&WorkspaceMeta>)]| {
            assert!(!parsed.truncated);
            let got: Vec<_> = parsed
                .entries
                .iter()
                .map(|e| (e.path.to_str().unwrap(), e.workspace.as_ref()))
                .collect();
            assert_eq!(got, names);
        };
        expect(
            &read(&dir, &writer),
            &[
                ("/tmp/plain", None),
                ("/tmp/ws-a", Some(&full)),
                ("/tmp/ws-bb", Some(&bare)),
                ("/tmp/ws-ccc", Some(&only_files)),
            ],
        );
        // Removals and enough churn to compact: the metadata moves with its entries.
        writer.remove(plain);
        writer.remove(a);
        for i in 0..5_000u64 {
            let path = PathBuf::from(format!("/tmp/churn-{i}"));
            let meta = workspace(&format!("job-{i}"), Some(i), None);
            let slot = writer
                .add_entry(&path, EntryKind::Dir, Some(&id(i)), Some(&meta))
                .unwrap();
            writer.remove(slot);
        }
        expect(
            &read(&dir, &writer),
            &[
                ("/tmp/ws-bb", Some(&bare)),
                ("/tmp/ws-ccc", Some(&only_files)),
            ],
        );
        drop(writer);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_long_workspace_name_is_cut_at_a_character_boundary() {
        let (dir, fd) = scratch("longname");
        let mut writer = RecordWriter::create(&fd, true).unwrap();
        // 'é' is two bytes: 255 falls inside one.
        let long = "é".repeat(200);
        writer
            .add_entry(
                Path::new("/tmp/long"),
                EntryKind::Dir,
                None,
                Some(&workspace(&long, None, None)),
            )
            .unwrap();
        let parsed = read(&dir, &writer);
        let name = &parsed.entries[0].workspace.as_ref().unwrap().name;
        assert_eq!(name.len(), MAX_META_NAME - 1);
        assert!(long.starts_with(name.as_str()));
        drop(writer);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_workspace_keeps_its_command_line_cut_at_a_character_boundary() {
        let (dir, fd) = scratch("command");
        let mut writer = RecordWriter::create(&fd, true).unwrap();
        let mut short = workspace("pip", Some(7), None);
        short.command = Some("pip install ./pkg".to_owned());
        let mut long = workspace("cc", None, None);
        // 1,201 bytes; byte 1,024 falls inside a character.
        long.command = Some(format!("x{}", "é".repeat(600)));
        for (path, meta) in [("/tmp/ws-cmd", &short), ("/tmp/ws-long", &long)] {
            writer
                .add_entry(Path::new(path), EntryKind::Dir, None, Some(meta))
                .unwrap();
        }
        let parsed = read(&dir, &writer);
        assert_eq!(parsed.entries[0].workspace.as_ref(), Some(&short));
        let kept = parsed.entries[1].workspace.as_ref().unwrap();
        let command = kept.command.as_deref().unwrap();
        assert_eq!(command.len(), super::super::layout::MAX_META_COMMAND - 1);
        assert!(long.command.as_deref().unwrap().starts_with(command));
        assert_eq!(kept.name, "cc");
        drop(writer);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A small deterministic generator (xorshift), so a failure reproduces.
    struct Xorshift(u64);

    #[allow(clippy::cast_possible_truncation)] // a test's random numbers, taken modulo
    impl Xorshift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    #[test]
    #[allow(clippy::cast_possible_truncation)] // small test values
    fn damaged_records_with_metadata_never_panic_and_keep_names_bounded() {
        let (dir, fd) = scratch("fuzz");
        let mut writer = RecordWriter::create(&fd, true).unwrap();
        for i in 0..6u64 {
            let path = PathBuf::from(format!("/tmp/fuzz-{i}"));
            let meta = (i % 2 == 0).then(|| workspace(&"n".repeat(40 * i as usize), Some(i), None));
            writer
                .add_entry(&path, EntryKind::Dir, None, meta.as_ref())
                .unwrap();
        }
        let pristine = std::fs::read(dir.join(writer.name())).unwrap();
        let used = HEADER_LEN + REGION_HDR + 2048;
        let mut rng = Xorshift(0x9e37_79b9_7f4a_7c15);
        let lengths = [0u32, 1, 23, 24, 279, 280, 4096, u32::MAX - 7, u32::MAX];
        for round in 0..20_000 {
            let mut bytes = pristine.clone();
            for _ in 0..=rng.below(4) {
                if bytes.len() < 8 {
                    break;
                }
                let at = rng.below(used.min(bytes.len() - 4));
                match rng.below(4) {
                    // A random byte.
                    0 => bytes[at] = rng.next() as u8,
                    // A length-like value at an aligned place (path or metadata lengths).
                    1 => {
                        let at = at & !3;
                        let value = lengths[rng.below(lengths.len())];
                        bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
                    }
                    // A bit flipped.
                    2 => bytes[at] ^= 1 << rng.below(8),
                    // Cut short.
                    _ => bytes.truncate(at),
                }
            }
            let Some(parsed) = parse(&bytes) else {
                continue;
            };
            for entry in &parsed.entries {
                if let Some(meta) = &entry.workspace {
                    assert!(
                        meta.name.len() <= 3 * MAX_META_NAME,
                        "round {round}: {meta:?}"
                    );
                }
                assert!(entry.path.as_os_str().len() <= bytes.len(), "round {round}");
            }
        }
        // An entry claiming metadata past the bound is damage, not a read past it.
        let mut bytes = pristine.clone();
        let first = HEADER_LEN + REGION_HDR;
        put_u32(&mut bytes, first + E_META_LEN, (MAX_META_LEN + 1) as u32);
        let parsed = parse(&bytes).unwrap();
        assert!(parsed.truncated && parsed.entries.is_empty());
        // A name length that disagrees with the metadata length is damage too.
        let mut bytes = pristine;
        let meta_at = first + ENTRY_HDR + "/tmp/fuzz-0".len().next_multiple_of(8);
        bytes[meta_at + 2] = 1;
        let parsed = parse(&bytes).unwrap();
        assert!(parsed.truncated && parsed.entries.is_empty());
        drop(writer);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
