//! The core of Python's `SpooledTemporaryFile`: bytes kept in memory until they grow past a
//! limit, then moved to an unnamed temporary file.
//!
//! In memory the file behaves exactly as `io.BytesIO`; once rolled over it is a plain
//! [`File`]. The rollover rules are the standard module's (`Lib/tempfile.py`):
//!
//! - after a write, if not yet rolled, `max_size != 0` and the position is `> max_size`;
//! - on `truncate(size)` when `size > max_size` (a signed comparison);
//! - when a file descriptor is asked for ([`SpooledTempFile::rolled_file`]);
//! - on request ([`SpooledTempFile::roll`]).
//!
//! ```
//! use std::io::{Read, Seek, SeekFrom, Write};
//! let mut spool = ferrotemp::SpooledTempFile::new(4);
//! spool.write_all(b"abcd")?;
//! assert!(!spool.is_rolled());
//! spool.write_all(b"e")?;
//! assert!(spool.is_rolled());
//! spool.seek(SeekFrom::Start(0))?;
//! let mut back = Vec::new();
//! spool.read_to_end(&mut back)?;
//! assert_eq!(back, b"abcde");
//! # Ok::<(), std::io::Error>(())
//! ```

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Smallest allocation for a buffer that receives its first bytes: small writes then
/// append without reallocating each time.
const MIN_CAPACITY: usize = 64;

/// Chunk size for line reads from disk; also the stack buffer those reads use.
const LINE_CHUNK: usize = 8 * 1024;

/// What a [`SpooledTempFile`] held when it was taken apart.
#[derive(Debug)]
pub enum Spooled {
    /// Never rolled over: the bytes that were in memory.
    InMemory(Vec<u8>),
    /// Rolled over: the unnamed file, at the position the spool had.
    OnDisk(File),
}

/// An `io.BytesIO`: bytes plus a position that may lie past their end.
///
/// The position never exceeds `i64::MAX`, so it always fits an `lseek` offset when the
/// buffer moves to disk.
#[derive(Default)]
struct SpoolBuffer {
    data: Vec<u8>,
    pos: u64,
}

enum Storage {
    Memory(SpoolBuffer),
    Disk(File),
}

/// Python's `SpooledTemporaryFile` (binary): in memory until it grows past `max_size`, then
/// an unnamed file in `dir` (or the default temporary directory).
///
/// [`Read`], [`Write`] and [`Seek`] work the same in either state. [`Write::write`] applies
/// the rollover rule by itself; the Python layer, whose `rollover()` may be overridden,
/// uses [`SpooledTempFile::write_unchecked`] and [`SpooledTempFile::exceeds_max_size`]
/// instead.
pub struct SpooledTempFile {
    max_size: i64,
    dir: Option<PathBuf>,
    storage: Storage,
}

impl fmt::Debug for SpooledTempFile {
    // The buffer can be megabytes: show its size, not its bytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = f.debug_struct("SpooledTempFile");
        out.field("max_size", &self.max_size)
            .field("dir", &self.dir);
        match &self.storage {
            Storage::Memory(buf) => out
                .field("in_memory_len", &buf.data.len())
                .field("position", &buf.pos),
            Storage::Disk(file) => out.field("file", file),
        };
        out.finish()
    }
}

fn invalid_input(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

fn too_large() -> io::Error {
    io::Error::new(io::ErrorKind::OutOfMemory, "new buffer size too large")
}

/// The OS's answer to a negative offset or size (`EINVAL`), which is what a real file gives
/// the standard module.
fn einval() -> io::Error {
    #[cfg(unix)]
    {
        io::Error::from(rustix::io::Errno::INVAL)
    }
    #[cfg(not(unix))]
    {
        io::Error::from(io::ErrorKind::InvalidInput)
    }
}

fn negative_seek() -> io::Error {
    invalid_input("invalid seek to a negative or overflowing position".to_owned())
}

/// `base + offset` as a position: `None` if negative or beyond `i64::MAX`.
fn offset_position(base: u64, offset: i64) -> Option<u64> {
    let target = i128::from(base) + i128::from(offset);
    u64::try_from(target)
        .ok()
        .filter(|&p| i64::try_from(p).is_ok())
}

impl SpoolBuffer {
    fn len_u64(&self) -> u64 {
        self.data.len() as u64
    }

    /// The bytes from the position to the end (empty when the position is past the end).
    fn remaining(&self) -> &[u8] {
        let start = usize::try_from(self.pos).map_or(self.data.len(), |p| p.min(self.data.len()));
        &self.data[start..]
    }

    /// Moves the position forward over `n` bytes just handed out by [`Self::remaining`].
    fn consume(&mut self, n: usize) {
        self.pos += n as u64;
    }

    /// Makes room for `end` bytes. Below `max_size` capacity doubles but never beyond
    /// `max_size`; the write that crosses it gets exactly what it needs, because a rollover
    /// follows and slack capacity would only raise the peak.
    fn reserve_for(&mut self, end: usize, max_size: i64) -> io::Result<()> {
        let cap = self.data.capacity();
        if end <= cap {
            return Ok(());
        }
        let doubled = cap.saturating_mul(2).max(end).max(MIN_CAPACITY);
        let limit = usize::try_from(max_size).unwrap_or(0);
        let target = if limit > 0 && cap <= limit {
            if end <= limit {
                doubled.min(limit)
            } else {
                end
            }
        } else {
            doubled
        };
        self.data
            .try_reserve_exact(target - self.data.len())
            .map_err(|_| too_large())
    }

    /// `io.BytesIO.write`: overwrites and extends, zero-filling a gap left by a seek past
    /// the end. An empty write changes nothing.
    fn write(&mut self, src: &[u8], max_size: i64) -> io::Result<usize> {
        if src.is_empty() {
            return Ok(0);
        }
        let pos = usize::try_from(self.pos).map_err(|_| too_large())?;
        let end = pos
            .checked_add(src.len())
            .filter(|&end| i64::try_from(end).is_ok())
            .ok_or_else(too_large)?;
        let len = self.data.len();
        if end <= len {
            self.data[pos..end].copy_from_slice(src);
        } else {
            self.reserve_for(end, max_size)?;
            if pos >= len {
                self.data.resize(pos, 0);
                self.data.extend_from_slice(src);
            } else {
                let (overlap, tail) = src.split_at(len - pos);
                self.data[pos..].copy_from_slice(overlap);
                self.data.extend_from_slice(tail);
            }
        }
        self.pos = end as u64;
        Ok(src.len())
    }

    /// `io.BytesIO.truncate(size)`: shrinks, never extends, and leaves the position alone.
    fn truncate(&mut self, size: u64) {
        if let Ok(size) = usize::try_from(size) {
            if size < self.data.len() {
                self.data.truncate(size);
                // Give memory back after a large truncation, as BytesIO does.
                if self.data.capacity() > MIN_CAPACITY && size < self.data.capacity() / 4 {
                    self.data.shrink_to(size.max(MIN_CAPACITY));
                }
            }
        }
    }

    fn read_range(&self, limit: Option<usize>) -> usize {
        let available = self.remaining().len();
        limit.map_or(available, |n| n.min(available))
    }

    fn line_range(&self, limit: Option<usize>) -> usize {
        let rest = self.remaining();
        let window = &rest[..limit.map_or(rest.len(), |n| n.min(rest.len()))];
        window
            .iter()
            .position(|&b| b == b'\n')
            .map_or(window.len(), |i| i + 1)
    }
}

impl SpooledTempFile {
    /// A spool that rolls over to an unnamed file in the default temporary directory.
    ///
    /// `max_size` follows the standard module: `0` never rolls over on writes, a negative
    /// value rolls over at the first write or truncation.
    #[must_use]
    pub fn new(max_size: i64) -> Self {
        Self {
            max_size,
            dir: None,
            storage: Storage::Memory(SpoolBuffer::default()),
        }
    }

    /// A spool that rolls over to an unnamed file in `dir`.
    #[must_use]
    pub fn new_in(max_size: i64, dir: impl Into<PathBuf>) -> Self {
        let mut spool = Self::new(max_size);
        spool.dir = Some(dir.into());
        spool
    }

    /// The limit given at construction.
    #[must_use]
    pub fn max_size(&self) -> i64 {
        self.max_size
    }

    /// The directory the file will be (or was) created in, if one was given.
    #[must_use]
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Whether the data has moved to a file.
    #[must_use]
    pub fn is_rolled(&self) -> bool {
        matches!(self.storage, Storage::Disk(_))
    }

    /// The standard module's `_check`: not rolled, `max_size != 0`, and the position is
    /// past `max_size`.
    #[must_use]
    pub fn exceeds_max_size(&self) -> bool {
        match &self.storage {
            Storage::Memory(buf) => self.position_exceeds(buf.pos),
            Storage::Disk(_) => false,
        }
    }

    fn position_exceeds(&self, pos: u64) -> bool {
        self.max_size != 0 && i128::from(pos) > i128::from(self.max_size)
    }

    /// Moves the data to an unnamed file, which is left at the position the buffer had.
    /// Does nothing once rolled.
    ///
    /// The buffer is written straight from memory and freed afterwards, so the peak is the
    /// buffered data itself. On error nothing changes: the data stays in memory.
    ///
    /// # Errors
    ///
    /// Creating, writing or seeking the file failed.
    pub fn roll(&mut self) -> io::Result<()> {
        let Storage::Memory(buf) = &self.storage else {
            return Ok(());
        };
        let mut file = match &self.dir {
            Some(dir) => crate::file::tempfile_in(dir)?,
            None => crate::file::tempfile()?,
        };
        file.write_all(&buf.data)?;
        file.seek(SeekFrom::Start(buf.pos))?;
        // Replacing the storage drops the Vec and its whole capacity.
        self.storage = Storage::Disk(file);
        Ok(())
    }

    /// Rolls over (as Python's `fileno()` does) and returns the file.
    ///
    /// # Errors
    ///
    /// As [`SpooledTempFile::roll`].
    pub fn rolled_file(&mut self) -> io::Result<&mut File> {
        self.roll()?;
        match &mut self.storage {
            Storage::Disk(file) => Ok(file),
            Storage::Memory(_) => Err(io::Error::other("spool did not roll over")),
        }
    }

    /// The file once rolled over.
    #[must_use]
    pub fn as_file(&self) -> Option<&File> {
        match &self.storage {
            Storage::Disk(file) => Some(file),
            Storage::Memory(_) => None,
        }
    }

    /// The file once rolled over, mutably.
    pub fn as_file_mut(&mut self) -> Option<&mut File> {
        match &mut self.storage {
            Storage::Disk(file) => Some(file),
            Storage::Memory(_) => None,
        }
    }

    /// All bytes held in memory (`BytesIO.getvalue()`), or `None` once rolled over.
    #[must_use]
    pub fn memory_contents(&self) -> Option<&[u8]> {
        match &self.storage {
            Storage::Memory(buf) => Some(&buf.data),
            Storage::Disk(_) => None,
        }
    }

    /// Takes the spool apart: the in-memory bytes, or the file.
    #[must_use]
    pub fn into_inner(self) -> Spooled {
        match self.storage {
            Storage::Memory(buf) => Spooled::InMemory(buf.data),
            Storage::Disk(file) => Spooled::OnDisk(file),
        }
    }

    /// The current position (`tell()`). In memory it may lie past the end.
    ///
    /// # Errors
    ///
    /// On disk, the error of `lseek`.
    pub fn position(&self) -> io::Result<u64> {
        match &self.storage {
            Storage::Memory(buf) => Ok(buf.pos),
            Storage::Disk(file) => {
                let mut file: &File = file;
                file.stream_position()
            }
        }
    }

    /// The size of the data in bytes.
    ///
    /// # Errors
    ///
    /// On disk, the error of `fstat`.
    pub fn len(&self) -> io::Result<u64> {
        match &self.storage {
            Storage::Memory(buf) => Ok(buf.len_u64()),
            Storage::Disk(file) => Ok(file.metadata()?.len()),
        }
    }

    /// Whether the data is empty.
    ///
    /// # Errors
    ///
    /// As [`SpooledTempFile::len`].
    pub fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Writes all of `buf` at the position without applying the rollover rule; the caller
    /// checks [`SpooledTempFile::exceeds_max_size`] afterwards. In memory this is
    /// `io.BytesIO.write`; on disk the whole buffer is written.
    ///
    /// # Errors
    ///
    /// In memory, `OutOfMemory` if the buffer cannot grow; on disk, the OS error.
    pub fn write_unchecked(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.storage {
            Storage::Memory(mem) => mem.write(buf, self.max_size),
            Storage::Disk(file) => file.write_all(buf).map(|()| buf.len()),
        }
    }

    /// Python's `truncate(size)`: with `Some(size)`, rolls over first if `size > max_size`;
    /// with `None`, truncates at the position and never rolls over. Returns the size asked
    /// for. The position does not move.
    ///
    /// In memory, as `io.BytesIO`, truncation never extends the data; on disk it does, as
    /// `ftruncate`.
    ///
    /// # Errors
    ///
    /// A negative size is `InvalidInput` ("negative size value") in memory and `EINVAL` on
    /// disk, after any rollover; otherwise the error of the rollover or of `ftruncate`.
    pub fn truncate(&mut self, size: Option<i64>) -> io::Result<u64> {
        let Some(size) = size else {
            return self.truncate_at_position();
        };
        if size > self.max_size {
            self.roll()?;
        }
        match &mut self.storage {
            Storage::Memory(buf) => {
                let size = u64::try_from(size)
                    .map_err(|_| invalid_input(format!("negative size value {size}")))?;
                buf.truncate(size);
                Ok(size)
            }
            Storage::Disk(file) => {
                let size = u64::try_from(size).map_err(|_| einval())?;
                file.set_len(size)?;
                Ok(size)
            }
        }
    }

    /// Python's `truncate()` with no size: truncates at the position, without the rollover
    /// check. Returns the position.
    ///
    /// # Errors
    ///
    /// On disk, the error of `lseek` or `ftruncate`.
    pub fn truncate_at_position(&mut self) -> io::Result<u64> {
        match &mut self.storage {
            Storage::Memory(buf) => {
                let pos = buf.pos;
                buf.truncate(pos);
                Ok(pos)
            }
            Storage::Disk(file) => {
                let pos = file.stream_position()?;
                file.set_len(pos)?;
                Ok(pos)
            }
        }
    }

    /// Truncates to `size` with the rollover rule of [`SpooledTempFile::truncate`]: in
    /// memory it only shrinks (as `io.BytesIO`), on disk it may extend.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if `size` exceeds `i64::MAX`; otherwise as
    /// [`SpooledTempFile::truncate`].
    pub fn set_len(&mut self, size: u64) -> io::Result<()> {
        let size = i64::try_from(size).map_err(|_| einval())?;
        self.truncate(Some(size)).map(drop)
    }

    /// Python's `seek(offset, whence)` with whence 0, 1 or 2. In memory it is
    /// `io.BytesIO.seek`: a negative absolute offset is an error, while a relative seek
    /// that lands before the start stops at 0. On disk a negative result is `EINVAL`.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for another whence, for a negative absolute offset in memory
    /// ("negative seek value"), or for a position past `i64::MAX`; on disk the OS error.
    pub fn seek_whence(&mut self, offset: i64, whence: i32) -> io::Result<u64> {
        if !(0..=2).contains(&whence) {
            return Err(invalid_input(format!(
                "invalid whence ({whence}, should be 0, 1 or 2)"
            )));
        }
        match &mut self.storage {
            Storage::Memory(buf) => {
                if whence == 0 && offset < 0 {
                    return Err(invalid_input(format!("negative seek value {offset}")));
                }
                let base = match whence {
                    0 => 0,
                    1 => buf.pos,
                    _ => buf.len_u64(),
                };
                let target = (i128::from(base) + i128::from(offset)).max(0);
                let target = u64::try_from(target)
                    .ok()
                    .filter(|&p| i64::try_from(p).is_ok())
                    .ok_or_else(|| invalid_input("new position too large".to_owned()))?;
                buf.pos = target;
                Ok(target)
            }
            Storage::Disk(file) => {
                let from = match whence {
                    0 => SeekFrom::Start(u64::try_from(offset).map_err(|_| einval())?),
                    1 => SeekFrom::Current(offset),
                    _ => SeekFrom::End(offset),
                };
                file.seek(from)
            }
        }
    }

    /// Reads up to `limit` bytes (all remaining bytes with `None`) from the position, as
    /// Python's `read(n)`: short only at the end of the data.
    ///
    /// # Errors
    ///
    /// On disk, the OS error.
    pub fn read_up_to(&mut self, limit: Option<usize>) -> io::Result<Vec<u8>> {
        match &mut self.storage {
            Storage::Memory(buf) => {
                let n = buf.read_range(limit);
                let out = buf.remaining()[..n].to_vec();
                buf.consume(n);
                Ok(out)
            }
            Storage::Disk(file) => {
                let mut out = Vec::new();
                match limit {
                    None => file.read_to_end(&mut out)?,
                    Some(n) => (&mut *file).take(n as u64).read_to_end(&mut out)?,
                };
                Ok(out)
            }
        }
    }

    /// Reads everything from the position to the end (Python's `read()`).
    ///
    /// # Errors
    ///
    /// On disk, the OS error.
    pub fn read_to_end_from_position(&mut self) -> io::Result<Vec<u8>> {
        self.read_up_to(None)
    }

    /// Fills as much of `dest` as the data allows (Python's `readinto`): short only at the
    /// end of the data. Returns the number of bytes read.
    ///
    /// # Errors
    ///
    /// On disk, the OS error.
    pub fn read_into(&mut self, dest: &mut [u8]) -> io::Result<usize> {
        let mut filled = 0;
        while filled < dest.len() {
            match self.read(&mut dest[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
        Ok(filled)
    }

    /// Reads one line: bytes up to and including the first `\n`, at most `limit` bytes
    /// (Python's `readline(limit)`). Empty at the end of the data.
    ///
    /// # Errors
    ///
    /// On disk, the OS error.
    pub fn read_line(&mut self, limit: Option<usize>) -> io::Result<Vec<u8>> {
        match &mut self.storage {
            Storage::Memory(buf) => {
                let n = buf.line_range(limit);
                let out = buf.remaining()[..n].to_vec();
                buf.consume(n);
                Ok(out)
            }
            Storage::Disk(file) => read_line_from_file(file, limit),
        }
    }

    /// In memory, reads up to `limit` bytes (all with `None`) without copying them;
    /// `None` once rolled over.
    pub fn memory_read(&mut self, limit: Option<usize>) -> Option<&[u8]> {
        match &mut self.storage {
            Storage::Memory(buf) => {
                let n = buf.read_range(limit);
                let start = buf.data.len() - buf.remaining().len();
                buf.consume(n);
                Some(&buf.data[start..start + n])
            }
            Storage::Disk(_) => None,
        }
    }

    /// In memory, reads one line as [`SpooledTempFile::read_line`] without copying it;
    /// `None` once rolled over.
    pub fn memory_read_line(&mut self, limit: Option<usize>) -> Option<&[u8]> {
        match &mut self.storage {
            Storage::Memory(buf) => {
                let n = buf.line_range(limit);
                let start = buf.data.len() - buf.remaining().len();
                buf.consume(n);
                Some(&buf.data[start..start + n])
            }
            Storage::Disk(_) => None,
        }
    }
}

/// Reads a line from a file in chunks, then seeks back over what was read past it.
fn read_line_from_file(file: &mut File, limit: Option<usize>) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut chunk = [0u8; LINE_CHUNK];
    let mut remaining = limit.unwrap_or(usize::MAX);
    while remaining > 0 {
        let want = remaining.min(LINE_CHUNK);
        let got = match file.read(&mut chunk[..want]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        if let Some(i) = chunk[..got].iter().position(|&b| b == b'\n') {
            out.extend_from_slice(&chunk[..=i]);
            let overshoot = got - (i + 1);
            if overshoot > 0 {
                // `overshoot` < LINE_CHUNK, so it fits an i64.
                #[allow(clippy::cast_possible_wrap)]
                file.seek(SeekFrom::Current(-(overshoot as i64)))?;
            }
            return Ok(out);
        }
        out.extend_from_slice(&chunk[..got]);
        remaining -= got;
    }
    Ok(out)
}

impl Read for SpooledTempFile {
    fn read(&mut self, dest: &mut [u8]) -> io::Result<usize> {
        match &mut self.storage {
            Storage::Memory(buf) => {
                let rest = buf.remaining();
                let n = rest.len().min(dest.len());
                dest[..n].copy_from_slice(&rest[..n]);
                buf.consume(n);
                Ok(n)
            }
            Storage::Disk(file) => file.read(dest),
        }
    }
}

impl Write for SpooledTempFile {
    /// Writes all of `buf` and applies the rollover rule.
    ///
    /// When the write is bound to cross `max_size` in memory, the spool rolls over first and
    /// the bytes go straight to the file: the end state is the standard module's, and the
    /// crossing write is never buffered. If that rollover fails, nothing is written.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Storage::Memory(mem) = &self.storage {
            let end_pos = if buf.is_empty() {
                Some(mem.pos)
            } else {
                mem.pos.checked_add(buf.len() as u64)
            };
            // An overflowing end is left to the buffer, which reports it.
            if end_pos.is_some_and(|end| self.position_exceeds(end)) {
                self.roll()?;
            }
        }
        self.write_unchecked(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.storage {
            Storage::Memory(_) => Ok(()),
            Storage::Disk(file) => file.flush(),
        }
    }
}

impl Seek for SpooledTempFile {
    /// Seeks as [`File`] does in either state: a position before the start is
    /// `InvalidInput` and leaves the position where it was. In memory, seeking past the end
    /// is allowed, as with `io.BytesIO`.
    fn seek(&mut self, from: SeekFrom) -> io::Result<u64> {
        match &mut self.storage {
            Storage::Memory(buf) => {
                let target = match from {
                    SeekFrom::Start(p) => Some(p).filter(|&p| i64::try_from(p).is_ok()),
                    SeekFrom::Current(d) => offset_position(buf.pos, d),
                    SeekFrom::End(d) => offset_position(buf.len_u64(), d),
                }
                .ok_or_else(negative_seek)?;
                buf.pos = target;
                Ok(target)
            }
            Storage::Disk(file) => file.seek(from),
        }
    }

    fn stream_position(&mut self) -> io::Result<u64> {
        self.position()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_doubles_but_stops_at_max_size() {
        let mut spool = SpooledTempFile::new(1000);
        for _ in 0..100 {
            spool.write_unchecked(&[7u8; 10]).unwrap();
        }
        let Storage::Memory(buf) = &spool.storage else {
            panic!("rolled over");
        };
        assert_eq!(buf.data.len(), 1000);
        assert_eq!(buf.data.capacity(), 1000);
    }

    #[test]
    fn crossing_write_reserves_exactly() {
        let mut spool = SpooledTempFile::new(100);
        spool.write_unchecked(&[1u8; 90]).unwrap();
        spool.write_unchecked(&[2u8; 50]).unwrap();
        let Storage::Memory(buf) = &spool.storage else {
            panic!("rolled over");
        };
        assert_eq!(buf.data.capacity(), 140);
    }

    #[test]
    fn crossing_write_from_a_full_buffer_reserves_exactly() {
        let mut spool = SpooledTempFile::new(128);
        spool.write_unchecked(&[1u8; 128]).unwrap();
        spool.write_unchecked(&[2u8; 10]).unwrap();
        let Storage::Memory(buf) = &spool.storage else {
            panic!("rolled over");
        };
        assert_eq!(buf.data.capacity(), 138);
    }

    #[test]
    fn unlimited_buffer_grows_geometrically() {
        let mut spool = SpooledTempFile::new(0);
        let mut reallocations = 0;
        let mut last_capacity = 0;
        for _ in 0..10_000 {
            spool.write_unchecked(&[0u8; 64]).unwrap();
            let Storage::Memory(buf) = &spool.storage else {
                panic!("rolled over");
            };
            if buf.data.capacity() != last_capacity {
                reallocations += 1;
                last_capacity = buf.data.capacity();
            }
        }
        assert!(reallocations <= 20, "{reallocations} reallocations");
    }

    #[test]
    fn large_truncation_gives_memory_back() {
        let mut spool = SpooledTempFile::new(1 << 21);
        spool.write_unchecked(&vec![0u8; 1 << 20]).unwrap();
        spool.truncate(Some(10)).unwrap();
        let Storage::Memory(buf) = &spool.storage else {
            panic!("rolled over");
        };
        assert!(buf.data.capacity() < 1 << 10, "{}", buf.data.capacity());
        assert_eq!(buf.data.len(), 10);
    }
}
