//! [`SpoolBuffer`]: an `io.BytesIO` in Rust, the in-memory phase of every spool.
//!
//! It holds bytes and a position and follows `io.BytesIO` to the letter: the position may lie
//! past the end, a write there zero-fills the gap, truncation never extends. It knows nothing
//! of rollover: [`SpooledTempFile`](super::SpooledTempFile) decides that for Rust users, the
//! Python class for Python users; both move the bytes with [`SpoolBuffer::spill`].

use std::error::Error;
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};

/// Smallest allocation for a buffer that receives its first bytes: small writes then
/// append without reallocating each time.
const MIN_CAPACITY: usize = 64;

/// Why a [`SpoolBuffer`] refused a call, as `io.BytesIO` words it. Each variant is one of
/// `BytesIO`'s exceptions, so a binding maps the variant, never the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BufferError {
    /// The data cannot grow that far (`MemoryError` in Python).
    TooLarge,
    /// A seek would put the position past `i64::MAX` (`OverflowError`).
    PositionTooLarge,
    /// An absolute seek to a negative offset (`ValueError`).
    NegativeSeek(i64),
    /// A whence other than 0, 1 or 2 (`ValueError`).
    InvalidWhence(i32),
}

impl fmt::Display for BufferError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge => f.write_str("new buffer size too large"),
            Self::PositionTooLarge => f.write_str("new position too large"),
            Self::NegativeSeek(offset) => write!(f, "negative seek value {offset}"),
            Self::InvalidWhence(whence) => {
                write!(f, "invalid whence ({whence}, should be 0, 1 or 2)")
            }
        }
    }
}

impl Error for BufferError {}

impl From<BufferError> for io::Error {
    fn from(err: BufferError) -> Self {
        let kind = match err {
            BufferError::TooLarge => io::ErrorKind::OutOfMemory,
            _ => io::ErrorKind::InvalidInput,
        };
        io::Error::new(kind, err)
    }
}

/// `base + offset` as a position: `None` if negative or beyond `i64::MAX`.
fn offset_position(base: u64, offset: i64) -> Option<u64> {
    let target = i128::from(base) + i128::from(offset);
    u64::try_from(target)
        .ok()
        .filter(|&p| i64::try_from(p).is_ok())
}

/// An `io.BytesIO`: bytes plus a position that may lie past their end.
///
/// The position never exceeds `i64::MAX`, so it always fits an `lseek` offset when the
/// bytes move to a file.
///
/// Growth: capacity doubles, but never past the growth limit given to
/// [`SpoolBuffer::with_growth_limit`] (the spool's `max_size`); the write that crosses it
/// gets exactly what it needs, because a rollover follows and slack would only raise the
/// peak.
#[derive(Default)]
pub struct SpoolBuffer {
    data: Vec<u8>,
    pos: u64,
    /// 0: no limit.
    growth_limit: usize,
}

impl fmt::Debug for SpoolBuffer {
    // The data can be megabytes: show its size, not its bytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpoolBuffer")
            .field("len", &self.data.len())
            .field("position", &self.pos)
            .finish_non_exhaustive()
    }
}

impl SpoolBuffer {
    /// An empty buffer whose capacity grows geometrically without a limit.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty buffer whose capacity doubles up to `limit` bytes (0: no limit) and then
    /// grows by exactly what each write needs.
    #[must_use]
    pub fn with_growth_limit(limit: usize) -> Self {
        Self {
            growth_limit: limit,
            ..Self::default()
        }
    }

    /// All the bytes (`BytesIO.getvalue()`).
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.data
    }

    /// The bytes, without the position.
    #[must_use]
    pub fn into_vec(self) -> Vec<u8> {
        self.data
    }

    /// The size of the data in bytes.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.data.len() as u64
    }

    /// Whether there are no bytes.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The position (`tell()`); it may lie past the end.
    #[must_use]
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// The bytes from the position to the end (empty when the position is past the end).
    fn remaining(&self) -> &[u8] {
        let start = usize::try_from(self.pos).map_or(self.data.len(), |p| p.min(self.data.len()));
        &self.data[start..]
    }

    /// Hands out the next `n` bytes of [`Self::remaining`] and moves past them.
    fn take(&mut self, n: usize) -> &[u8] {
        let start = self.data.len() - self.remaining().len();
        self.pos += n as u64;
        &self.data[start..start + n]
    }

    /// `BytesIO.read(limit)`: up to `limit` bytes (all with `None`), borrowed.
    pub fn read_up_to(&mut self, limit: Option<usize>) -> &[u8] {
        let available = self.remaining().len();
        self.take(limit.map_or(available, |n| n.min(available)))
    }

    /// `BytesIO.readline(limit)`: bytes up to and including the first `\n`, at most `limit`
    /// (all with `None`), borrowed. Empty at the end.
    pub fn read_line(&mut self, limit: Option<usize>) -> &[u8] {
        let rest = self.remaining();
        let window = &rest[..limit.map_or(rest.len(), |n| n.min(rest.len()))];
        let n = window
            .iter()
            .position(|&b| b == b'\n')
            .map_or(window.len(), |i| i + 1);
        self.take(n)
    }

    /// Makes room for `end` bytes, as the type's docs describe.
    fn reserve_for(&mut self, end: usize) -> Result<(), BufferError> {
        let cap = self.data.capacity();
        if end <= cap {
            return Ok(());
        }
        let doubled = cap.saturating_mul(2).max(end).max(MIN_CAPACITY);
        let limit = self.growth_limit;
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
            .map_err(|_| BufferError::TooLarge)
    }

    /// `BytesIO.write`: overwrites and extends, zero-filling a gap left by a seek past the
    /// end. An empty write changes nothing.
    ///
    /// # Errors
    ///
    /// [`BufferError::TooLarge`] if the data cannot grow to the end of the write.
    pub fn write_bytes(&mut self, src: &[u8]) -> Result<usize, BufferError> {
        if src.is_empty() {
            return Ok(0);
        }
        let pos = usize::try_from(self.pos).map_err(|_| BufferError::TooLarge)?;
        let end = pos
            .checked_add(src.len())
            .filter(|&end| i64::try_from(end).is_ok())
            .ok_or(BufferError::TooLarge)?;
        let len = self.data.len();
        if end <= len {
            self.data[pos..end].copy_from_slice(src);
        } else {
            self.reserve_for(end)?;
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

    /// `BytesIO.truncate(size)`: shrinks, never extends, and leaves the position alone.
    pub fn truncate(&mut self, size: u64) {
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

    /// Sets the length as a file's `ftruncate` does: shrinks as
    /// [`truncate`](Self::truncate), or extends with zeros; the position does not move.
    ///
    /// # Errors
    ///
    /// [`BufferError::TooLarge`] if the data cannot grow to `size` (or past `i64::MAX`).
    pub fn set_len(&mut self, size: u64) -> Result<(), BufferError> {
        let end = usize::try_from(size)
            .ok()
            .filter(|&end| i64::try_from(end).is_ok())
            .ok_or(BufferError::TooLarge)?;
        if end > self.data.len() {
            self.reserve_for(end)?;
            self.data.resize(end, 0);
        } else {
            self.truncate(size);
        }
        Ok(())
    }

    /// `BytesIO.seek(offset, whence)`: a negative absolute offset is an error, while a
    /// relative seek that lands before the start stops at 0.
    ///
    /// # Errors
    ///
    /// [`BufferError::InvalidWhence`], [`BufferError::NegativeSeek`], or
    /// [`BufferError::PositionTooLarge`] past `i64::MAX`; the position is then unchanged.
    pub fn seek_whence(&mut self, offset: i64, whence: i32) -> Result<u64, BufferError> {
        let base = match whence {
            0 if offset < 0 => return Err(BufferError::NegativeSeek(offset)),
            0 => 0,
            1 => self.pos,
            2 => self.len(),
            _ => return Err(BufferError::InvalidWhence(whence)),
        };
        let target = (i128::from(base) + i128::from(offset)).max(0);
        let target = u64::try_from(target)
            .ok()
            .filter(|&p| i64::try_from(p).is_ok())
            .ok_or(BufferError::PositionTooLarge)?;
        self.pos = target;
        Ok(target)
    }

    /// Moves the data to `file`: writes it all at the file's offset, straight from memory,
    /// and leaves the file at this buffer's position. The buffer is unchanged; dropping it
    /// afterwards frees the memory, so a rollover never holds a second copy.
    ///
    /// # Errors
    ///
    /// The error of `write` or `lseek`.
    pub fn spill(&self, file: &mut File) -> io::Result<u64> {
        file.write_all(&self.data)?;
        file.seek(SeekFrom::Start(self.pos))
    }
}

impl Read for SpoolBuffer {
    fn read(&mut self, dest: &mut [u8]) -> io::Result<usize> {
        let src = self.read_up_to(Some(dest.len()));
        dest[..src.len()].copy_from_slice(src);
        Ok(src.len())
    }
}

impl Write for SpoolBuffer {
    fn write(&mut self, src: &[u8]) -> io::Result<usize> {
        Ok(self.write_bytes(src)?)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for SpoolBuffer {
    /// Seeks as a [`File`] does: a position before the start (or past `i64::MAX`) is
    /// `InvalidInput` and leaves the position where it was; past the end is allowed.
    fn seek(&mut self, from: SeekFrom) -> io::Result<u64> {
        let target = match from {
            SeekFrom::Start(p) => Some(p).filter(|&p| i64::try_from(p).is_ok()),
            SeekFrom::Current(d) => offset_position(self.pos, d),
            SeekFrom::End(d) => offset_position(self.len(), d),
        }
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "invalid seek to a negative or overflowing position",
            )
        })?;
        self.pos = target;
        Ok(target)
    }

    fn stream_position(&mut self) -> io::Result<u64> {
        Ok(self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_doubles_but_stops_at_the_growth_limit() {
        let mut buf = SpoolBuffer::with_growth_limit(1000);
        for _ in 0..100 {
            buf.write_bytes(&[7u8; 10]).unwrap();
        }
        assert_eq!(buf.data.len(), 1000);
        assert_eq!(buf.data.capacity(), 1000);
    }

    #[test]
    fn crossing_write_reserves_exactly() {
        let mut buf = SpoolBuffer::with_growth_limit(100);
        buf.write_bytes(&[1u8; 90]).unwrap();
        buf.write_bytes(&[2u8; 50]).unwrap();
        assert_eq!(buf.data.capacity(), 140);
    }

    #[test]
    fn crossing_write_from_a_full_buffer_reserves_exactly() {
        let mut buf = SpoolBuffer::with_growth_limit(128);
        buf.write_bytes(&[1u8; 128]).unwrap();
        buf.write_bytes(&[2u8; 10]).unwrap();
        assert_eq!(buf.data.capacity(), 138);
    }

    #[test]
    fn unlimited_buffer_grows_geometrically() {
        let mut buf = SpoolBuffer::new();
        let mut reallocations = 0;
        let mut last_capacity = 0;
        for _ in 0..10_000 {
            buf.write_bytes(&[0u8; 64]).unwrap();
            if buf.data.capacity() != last_capacity {
                reallocations += 1;
                last_capacity = buf.data.capacity();
            }
        }
        assert!(reallocations <= 20, "{reallocations} reallocations");
    }

    #[test]
    fn large_truncation_gives_memory_back() {
        let mut buf = SpoolBuffer::with_growth_limit(1 << 21);
        buf.write_bytes(&vec![0u8; 1 << 20]).unwrap();
        buf.truncate(10);
        assert!(buf.data.capacity() < 1 << 10, "{}", buf.data.capacity());
        assert_eq!(buf.data.len(), 10);
    }
}
