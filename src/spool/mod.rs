//! Spooling: bytes kept in memory until they grow past a limit, then moved to an unnamed
//! temporary file.
//!
//! - [`SpooledTempFile`] is the Rust API: a `usize` threshold, [`Read`], [`Write`] and
//!   [`Seek`] in either state, [`roll`](SpooledTempFile::roll) and
//!   [`into_file`](SpooledTempFile::into_file).
//! - [`SpoolBuffer`] is the in-memory phase alone, an `io.BytesIO` with no rollover policy.
//!   Python's `SpooledTemporaryFile` wraps it (in the extension module) and applies the
//!   standard module's rule itself, in one place, because a Python subclass may override
//!   `rollover()` and `_check()`.
//!
//! The rule for Rust users is the standard module's on a `usize`, written once
//! ([`SpooledTempFile`]'s `passes_max_size`): the data moves to disk when a write would leave
//! the position past `max_size`, when [`set_len`](SpooledTempFile::set_len) asks for more
//! than `max_size` bytes, and on request ([`roll`](SpooledTempFile::roll),
//! [`into_file`](SpooledTempFile::into_file)). A write bound to cross the limit rolls over
//! first, so the crossing bytes go straight to the file and are never buffered.
//!
//! ```
//! use std::io::{Read, Seek, SeekFrom, Write};
//! let mut spool = ferrotemp::spool::spooled_tempfile(4);
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

mod buffer;

use std::fmt;
use std::fs::File;
use std::io::{self, Cursor, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

pub use buffer::{BufferError, SpoolBuffer};

/// What a [`SpooledTempFile`] held when it was taken apart.
#[derive(Debug)]
pub enum SpooledData {
    /// Never rolled over: the bytes that were in memory, at the spool's position.
    InMemory(Cursor<Vec<u8>>),
    /// Rolled over: the unnamed file, at the spool's position.
    OnDisk(File),
}

enum Storage {
    Memory(SpoolBuffer),
    Disk(File),
}

/// A spool that rolls over past `max_size` bytes to an unnamed file in the default
/// temporary directory: [`SpooledTempFile::new`].
#[must_use]
pub fn spooled_tempfile(max_size: usize) -> SpooledTempFile {
    SpooledTempFile::new(max_size)
}

/// A spool that rolls over past `max_size` bytes to an unnamed file in `dir`:
/// [`SpooledTempFile::new_in`].
#[must_use]
pub fn spooled_tempfile_in(max_size: usize, dir: impl AsRef<Path>) -> SpooledTempFile {
    SpooledTempFile::new_in(max_size, dir)
}

/// A temporary file kept in memory until it holds more than `max_size` bytes, then moved to
/// an unnamed file (see [the module docs](self) for when exactly).
///
/// [`Read`], [`Write`] and [`Seek`] work the same in either state; in memory, as with a
/// file, a seek past the end is allowed and a later write zero-fills the gap.
pub struct SpooledTempFile {
    max_size: usize,
    dir: Option<PathBuf>,
    storage: Storage,
}

impl fmt::Debug for SpooledTempFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = f.debug_struct("SpooledTempFile");
        out.field("max_size", &self.max_size)
            .field("dir", &self.dir);
        match &self.storage {
            Storage::Memory(buf) => out.field("memory", buf),
            Storage::Disk(file) => out.field("file", file),
        };
        out.finish()
    }
}

impl SpooledTempFile {
    /// A spool that rolls over past `max_size` bytes to an unnamed file in the default
    /// temporary directory. With `max_size` 0 the first byte written rolls over; with
    /// `usize::MAX` only [`roll`](Self::roll) and [`into_file`](Self::into_file) do.
    #[must_use]
    pub fn new(max_size: usize) -> Self {
        Self {
            max_size,
            dir: None,
            storage: Storage::Memory(SpoolBuffer::with_growth_limit(max_size)),
        }
    }

    /// A spool that rolls over past `max_size` bytes to an unnamed file in `dir` (any
    /// `AsRef<Path>`, a [`TempDir`](crate::TempDir) too, as the `tempfile` crate's).
    #[must_use]
    pub fn new_in(max_size: usize, dir: impl AsRef<Path>) -> Self {
        let mut spool = Self::new(max_size);
        spool.dir = Some(dir.as_ref().to_path_buf());
        spool
    }

    /// The limit given at construction.
    #[must_use]
    pub fn max_size(&self) -> usize {
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

    /// The rollover rule, the one place it is written for Rust users: a spool whose data
    /// would reach `size` bytes (the end of a write, or a length asked of `set_len`) belongs
    /// on disk once that passes `max_size`.
    fn passes_max_size(&self, size: u64) -> bool {
        size > self.max_size as u64
    }

    /// Moves the data to an unnamed file, left at the spool's position. Does nothing once
    /// rolled.
    ///
    /// The data is written straight from memory and freed afterwards, so the peak is the
    /// buffered data itself. On error nothing changes: the data stays in memory.
    ///
    /// # Errors
    ///
    /// Creating, writing or seeking the file failed.
    pub fn roll(&mut self) -> io::Result<()> {
        if let Storage::Memory(buf) = &self.storage {
            // Replacing the storage drops the buffer and its whole capacity.
            self.storage = Storage::Disk(file_holding(self.dir.as_deref(), buf)?);
        }
        Ok(())
    }

    /// Sets the length as [`File::set_len`] does (extending with zeros, the position
    /// unchanged), rolling over first if `size` passes `max_size`.
    ///
    /// # Errors
    ///
    /// The error of the rollover or of `ftruncate`; in memory, `OutOfMemory` if the data
    /// cannot grow to `size`.
    pub fn set_len(&mut self, size: u64) -> io::Result<()> {
        if self.passes_max_size(size) {
            self.roll()?;
        }
        match &mut self.storage {
            Storage::Memory(buf) => Ok(buf.set_len(size)?),
            Storage::Disk(file) => file.set_len(size),
        }
    }

    /// Rolls over if still in memory and returns the file, at the spool's position.
    ///
    /// # Errors
    ///
    /// As [`roll`](Self::roll); the spool and its data are gone then (call `roll` first to
    /// keep them on failure).
    pub fn into_file(self) -> io::Result<File> {
        match self.storage {
            Storage::Memory(buf) => file_holding(self.dir.as_deref(), &buf),
            Storage::Disk(file) => Ok(file),
        }
    }

    /// Takes the spool apart without rolling over: the in-memory bytes, or the file.
    #[must_use]
    pub fn into_inner(self) -> SpooledData {
        match self.storage {
            Storage::Memory(buf) => {
                let pos = buf.position();
                let mut cursor = Cursor::new(buf.into_vec());
                cursor.set_position(pos);
                SpooledData::InMemory(cursor)
            }
            Storage::Disk(file) => SpooledData::OnDisk(file),
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

    /// All bytes held in memory, or `None` once rolled over.
    #[must_use]
    pub fn memory_contents(&self) -> Option<&[u8]> {
        match &self.storage {
            Storage::Memory(buf) => Some(buf.as_bytes()),
            Storage::Disk(_) => None,
        }
    }

    /// The size of the data in bytes.
    ///
    /// # Errors
    ///
    /// On disk, the error of `fstat`.
    pub fn len(&self) -> io::Result<u64> {
        match &self.storage {
            Storage::Memory(buf) => Ok(buf.len()),
            Storage::Disk(file) => Ok(file.metadata()?.len()),
        }
    }

    /// Whether the data is empty.
    ///
    /// # Errors
    ///
    /// As [`len`](Self::len).
    pub fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }
}

/// A new unnamed file in `dir` (the default temporary directory with `None`) holding
/// `buf`'s data, at `buf`'s position.
fn file_holding(dir: Option<&Path>, buf: &SpoolBuffer) -> io::Result<File> {
    let mut file = match dir {
        Some(dir) => crate::file::tempfile_in(dir)?,
        None => crate::file::tempfile()?,
    };
    buf.spill(&mut file)?;
    Ok(file)
}

impl Read for SpooledTempFile {
    fn read(&mut self, dest: &mut [u8]) -> io::Result<usize> {
        match &mut self.storage {
            Storage::Memory(buf) => buf.read(dest),
            Storage::Disk(file) => file.read(dest),
        }
    }
}

impl Write for SpooledTempFile {
    /// Writes all of `src`, rolling over first when the write is bound to leave the
    /// position past `max_size`; an empty write at a position already past it rolls over
    /// too. If that rollover fails, nothing is written.
    fn write(&mut self, src: &[u8]) -> io::Result<usize> {
        if let Storage::Memory(buf) = &self.storage {
            // An overflowing end is left to the buffer, which reports it.
            let end = buf.position().checked_add(src.len() as u64);
            if end.is_some_and(|end| self.passes_max_size(end)) {
                self.roll()?;
            }
        }
        match &mut self.storage {
            Storage::Memory(buf) => buf.write(src),
            Storage::Disk(file) => file.write_all(src).map(|()| src.len()),
        }
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
    /// `InvalidInput` and leaves the position where it was; past the end is allowed.
    fn seek(&mut self, from: SeekFrom) -> io::Result<u64> {
        match &mut self.storage {
            Storage::Memory(buf) => buf.seek(from),
            Storage::Disk(file) => file.seek(from),
        }
    }

    fn stream_position(&mut self) -> io::Result<u64> {
        match &mut self.storage {
            Storage::Memory(buf) => Ok(buf.position()),
            Storage::Disk(file) => file.stream_position(),
        }
    }
}
