//! Behaviour of `SpooledTempFile` (the Rust API: when it rolls over, what it keeps) and of
//! `SpoolBuffer` (`io.BytesIO` to the letter), with a model-based test of random operation
//! sequences.

use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

use ferrotemp::spool::{
    spooled_tempfile, spooled_tempfile_in, BufferError, SpoolBuffer, SpooledData,
};
use ferrotemp::SpooledTempFile;

/// A fresh empty directory for one test, removed by [`Scratch::drop`].
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("ft-spool-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        Self(dir)
    }

    fn entries(&self) -> usize {
        std::fs::read_dir(&self.0).unwrap().count()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// All bytes of the spool, read without disturbing its position.
fn contents(spool: &mut SpooledTempFile) -> Vec<u8> {
    if let Some(bytes) = spool.memory_contents() {
        return bytes.to_vec();
    }
    let pos = spool.stream_position().unwrap();
    spool.seek(SeekFrom::Start(0)).unwrap();
    let mut out = Vec::new();
    spool.read_to_end(&mut out).unwrap();
    spool.seek(SeekFrom::Start(pos)).unwrap();
    out
}

fn position(spool: &mut SpooledTempFile) -> u64 {
    spool.stream_position().unwrap()
}

// -- SpooledTempFile: when it rolls over ---------------------------------------------------

#[test]
fn test_rolls_on_write_past_max_size() {
    let scratch = Scratch::new("rolls");
    let mut spool = spooled_tempfile_in(10, &scratch.0);
    spool.write_all(b"0123456789").unwrap();
    assert!(
        !spool.is_rolled(),
        "a position equal to max_size stays in memory"
    );
    spool.write_all(b"a").unwrap();
    assert!(spool.is_rolled());
    assert_eq!(position(&mut spool), 11);
    assert_eq!(contents(&mut spool), b"0123456789a");
    assert_eq!(scratch.entries(), 0, "the rolled file has no name");
}

#[test]
fn test_rolls_when_overwrite_ends_past_max_size() {
    let mut spool = SpooledTempFile::new(10);
    spool.write_all(b"0123456789").unwrap();
    spool.seek(SeekFrom::Start(5)).unwrap();
    spool.write_all(b"abcde").unwrap();
    assert!(!spool.is_rolled());
    spool.write_all(b"f").unwrap();
    assert!(spool.is_rolled());
    assert_eq!(contents(&mut spool), b"01234abcdef");
}

#[test]
fn test_empty_write_past_max_size_rolls() {
    let mut spool = SpooledTempFile::new(10);
    spool.seek(SeekFrom::Start(11)).unwrap();
    assert!(!spool.is_rolled(), "seeking never rolls");
    spool.write_all(b"").unwrap();
    spool.flush().unwrap();
    assert!(!spool.is_rolled(), "write_all skips empty writes");
    assert_eq!(spool.write(b"").unwrap(), 0);
    assert!(spool.is_rolled());
    assert_eq!(position(&mut spool), 11);
    assert_eq!(spool.len().unwrap(), 0);
}

#[test]
fn test_max_size_zero_rolls_at_the_first_byte() {
    let mut spool = spooled_tempfile(0);
    assert_eq!(spool.write(b"").unwrap(), 0);
    spool.set_len(0).unwrap();
    assert!(!spool.is_rolled(), "nothing passed 0 bytes yet");
    spool.write_all(b"x").unwrap();
    assert!(spool.is_rolled());
    assert_eq!(contents(&mut spool), b"x");
}

#[test]
fn test_max_size_usize_max_rolls_only_on_request() {
    let mut spool = SpooledTempFile::new(usize::MAX);
    let chunk = [b'x'; 4096];
    for _ in 0..256 {
        spool.write_all(&chunk).unwrap();
    }
    assert!(!spool.is_rolled());
    assert_eq!(spool.len().unwrap(), 1 << 20);
    spool.roll().unwrap();
    assert!(spool.is_rolled());
    assert_eq!(spool.len().unwrap(), 1 << 20);
}

#[test]
fn test_set_len_rollover() {
    let mut spool = SpooledTempFile::new(10);
    spool.write_all(b"hello").unwrap();
    spool.set_len(10).unwrap();
    assert!(!spool.is_rolled(), "10 bytes fit max_size 10");
    spool.set_len(11).unwrap();
    assert!(spool.is_rolled());
    assert_eq!(spool.len().unwrap(), 11);
    assert_eq!(
        position(&mut spool),
        5,
        "set_len does not move the position"
    );
    assert_eq!(contents(&mut spool), b"hello\0\0\0\0\0\0");
}

#[test]
fn test_set_len_in_memory_behaves_as_a_file() {
    let mut spool = SpooledTempFile::new(10);
    spool.write_all(b"abcdef").unwrap();
    spool.set_len(3).unwrap();
    assert_eq!(spool.memory_contents(), Some(&b"abc"[..]));
    assert_eq!(position(&mut spool), 6);
    spool.set_len(5).unwrap();
    assert!(!spool.is_rolled());
    assert_eq!(
        spool.memory_contents(),
        Some(&b"abc\0\0"[..]),
        "extends with zeros"
    );
}

#[test]
fn test_roll_preserves_position_and_data() {
    let scratch = Scratch::new("preserve");
    let mut spool = SpooledTempFile::new_in(usize::MAX, &scratch.0);
    spool.write_all(b"line one\nline two\n").unwrap();
    spool.seek(SeekFrom::Start(9)).unwrap();
    spool.roll().unwrap();
    assert!(spool.is_rolled());
    assert_eq!(spool.memory_contents(), None);
    assert_eq!(position(&mut spool), 9);
    let mut rest = Vec::new();
    spool.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, b"line two\n");
    assert_eq!(spool.len().unwrap(), 18);
}

#[test]
fn test_roll_preserves_position_past_end() {
    let mut spool = SpooledTempFile::new(100);
    spool.write_all(b"ab").unwrap();
    spool.seek(SeekFrom::Start(7)).unwrap();
    spool.roll().unwrap();
    assert_eq!(position(&mut spool), 7);
    assert_eq!(spool.len().unwrap(), 2);
    spool.write_all(b"z").unwrap();
    assert_eq!(contents(&mut spool), b"ab\0\0\0\0\0z");
}

#[test]
fn test_roll_is_idempotent() {
    let mut spool = SpooledTempFile::new(100);
    spool.write_all(b"data").unwrap();
    spool.roll().unwrap();
    spool.seek(SeekFrom::Start(1)).unwrap();
    spool.roll().unwrap();
    assert_eq!(position(&mut spool), 1);
    assert_eq!(contents(&mut spool), b"data");
}

#[test]
fn test_failed_roll_keeps_data_in_memory() {
    let mut spool = SpooledTempFile::new_in(4, "/nonexistent-ferrotemp-dir");
    spool.write_all(b"abcd").unwrap();
    assert!(spool.write(b"e").is_err());
    assert!(!spool.is_rolled());
    assert_eq!(
        spool.memory_contents(),
        Some(&b"abcd"[..]),
        "a write whose rollover fails writes nothing"
    );
    assert_eq!(position(&mut spool), 4);
    let err = spool.roll().unwrap_err();
    assert_eq!(ferrotemp::error::raw_os_error(&err), Some(2));
    assert_eq!(spool.memory_contents(), Some(&b"abcd"[..]));
}

#[test]
fn test_into_file_rolls_over_and_keeps_the_position() {
    let scratch = Scratch::new("into-file");
    let mut spool = SpooledTempFile::new_in(100, &scratch.0);
    spool.write_all(b"in memory").unwrap();
    spool.seek(SeekFrom::Start(3)).unwrap();
    let mut file = spool.into_file().unwrap();
    let mut rest = String::new();
    file.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "memory");
    assert_eq!(scratch.entries(), 0);

    let mut spool = SpooledTempFile::new(0);
    spool.write_all(b"on disk").unwrap();
    let mut file = spool.into_file().unwrap();
    assert_eq!(file.stream_position().unwrap(), 7);
}

#[test]
fn test_into_inner() {
    let mut spool = SpooledTempFile::new(100);
    spool.write_all(b"kept").unwrap();
    spool.seek(SeekFrom::Start(1)).unwrap();
    match spool.into_inner() {
        SpooledData::InMemory(cursor) => {
            assert_eq!(cursor.position(), 1);
            assert_eq!(cursor.into_inner(), b"kept");
        }
        SpooledData::OnDisk(_) => panic!("should not have rolled"),
    }

    let mut spool = SpooledTempFile::new(100);
    spool.write_all(b"on disk").unwrap();
    spool.seek(SeekFrom::Start(3)).unwrap();
    spool.roll().unwrap();
    match spool.into_inner() {
        SpooledData::OnDisk(mut file) => {
            let mut rest = String::new();
            file.read_to_string(&mut rest).unwrap();
            assert_eq!(rest, "disk", "the file keeps the spool's position");
        }
        SpooledData::InMemory(_) => panic!("should have rolled"),
    }
}

#[test]
fn test_as_file_once_rolled() {
    let mut spool = SpooledTempFile::new(100);
    spool.write_all(b"xyz").unwrap();
    assert!(spool.as_file().is_none());
    assert!(spool.as_file_mut().is_none());
    spool.roll().unwrap();
    assert_eq!(spool.as_file().unwrap().metadata().unwrap().len(), 3);
    assert!(spool.as_file_mut().is_some());
}

#[test]
fn test_seek_past_end_then_write_zero_fills() {
    let mut spool = SpooledTempFile::new(100);
    spool.write_all(b"ab").unwrap();
    assert_eq!(spool.seek(SeekFrom::End(3)).unwrap(), 5);
    assert_eq!(spool.len().unwrap(), 2, "seeking does not extend");
    spool.write_all(b"c").unwrap();
    assert_eq!(spool.memory_contents(), Some(&b"ab\0\0\0c"[..]));
    assert_eq!(position(&mut spool), 6);
}

#[test]
fn test_negative_seek_is_invalid_input() {
    for rolled in [false, true] {
        let mut spool = SpooledTempFile::new(100);
        spool.write_all(b"abc").unwrap();
        if rolled {
            spool.roll().unwrap();
        }
        for from in [SeekFrom::Current(-4), SeekFrom::End(-4)] {
            let err = spool.seek(from).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "rolled={rolled}");
            assert_eq!(position(&mut spool), 3, "position unchanged");
        }
        assert_eq!(spool.seek(SeekFrom::End(-3)).unwrap(), 0);
    }
}

#[test]
fn test_seek_beyond_i64_max_is_invalid_input() {
    let mut spool = SpooledTempFile::new(100);
    let err = spool.seek(SeekFrom::Start(1 << 63)).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    spool.seek(SeekFrom::Start(i64::MAX as u64)).unwrap();
    let err = spool.seek(SeekFrom::Current(1)).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
}

#[test]
fn test_write_at_huge_position_is_an_error_not_a_panic() {
    let mut spool = SpooledTempFile::new(usize::MAX);
    spool.seek(SeekFrom::Start(i64::MAX as u64)).unwrap();
    let err = spool.write(b"x").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::OutOfMemory);
    assert_eq!(spool.len().unwrap(), 0);
}

#[test]
fn test_accessors_and_debug() {
    let spool = SpooledTempFile::new_in(42, "/somewhere");
    assert_eq!(spool.max_size(), 42);
    assert_eq!(spool.dir(), Some(std::path::Path::new("/somewhere")));
    assert!(spool.is_empty().unwrap());
    assert_eq!(SpooledTempFile::new(1).dir(), None);

    let mut spool = SpooledTempFile::new(1000);
    spool.write_all(&[b'q'; 100]).unwrap();
    let text = format!("{spool:?}");
    assert!(text.contains("len: 100"), "{text}");
    assert!(!text.contains("113"), "bytes are not dumped: {text}");
}

#[test]
fn test_large_writes_roll_once_and_read_back() {
    let scratch = Scratch::new("large");
    let mut spool = SpooledTempFile::new_in(1 << 20, &scratch.0);
    let chunk: Vec<u8> = (0..=255u8).cycle().take(64 * 1024).collect();
    for i in 0..40 {
        spool.write_all(&chunk).unwrap();
        let written = (i + 1) * chunk.len();
        assert_eq!(
            spool.is_rolled(),
            written > 1 << 20,
            "after {written} bytes"
        );
    }
    assert_eq!(spool.len().unwrap(), 40 * 64 * 1024);
    spool.seek(SeekFrom::Start(0)).unwrap();
    let mut back = Vec::new();
    spool.read_to_end(&mut back).unwrap();
    assert!(back.chunks(chunk.len()).all(|c| c == chunk));
    assert_eq!(scratch.entries(), 0);
}

// -- SpoolBuffer: io.BytesIO ---------------------------------------------------------------

#[test]
fn test_buffer_seek_whence_clamps_like_bytesio() {
    let mut buf = SpoolBuffer::new();
    buf.write_bytes(b"abc").unwrap();
    assert_eq!(buf.seek_whence(-10, 1), Ok(0));
    assert_eq!(buf.seek_whence(-10, 2), Ok(0));
    assert_eq!(buf.seek_whence(-1, 2), Ok(2));
    assert_eq!(buf.seek_whence(5, 0), Ok(5));
    assert_eq!(buf.seek_whence(-1, 0), Err(BufferError::NegativeSeek(-1)));
    assert_eq!(buf.seek_whence(0, 3), Err(BufferError::InvalidWhence(3)));
    assert_eq!(buf.seek_whence(-1, 3), Err(BufferError::InvalidWhence(3)));
    assert_eq!(
        buf.seek_whence(i64::MAX, 1),
        Err(BufferError::PositionTooLarge)
    );
    assert_eq!(buf.position(), 5, "a refused seek leaves the position");
}

#[test]
fn test_buffer_errors_carry_bytesio_messages() {
    assert_eq!(
        BufferError::NegativeSeek(-1).to_string(),
        "negative seek value -1"
    );
    assert_eq!(
        BufferError::InvalidWhence(3).to_string(),
        "invalid whence (3, should be 0, 1 or 2)"
    );
    assert_eq!(
        BufferError::PositionTooLarge.to_string(),
        "new position too large"
    );
    assert_eq!(
        BufferError::TooLarge.to_string(),
        "new buffer size too large"
    );
    let err = io::Error::from(BufferError::TooLarge);
    assert_eq!(err.kind(), io::ErrorKind::OutOfMemory);
    assert_eq!(
        err.get_ref().and_then(|e| e.downcast_ref::<BufferError>()),
        Some(&BufferError::TooLarge),
        "the variant survives the conversion"
    );
}

#[test]
fn test_buffer_truncate_never_extends_nor_moves() {
    let mut buf = SpoolBuffer::new();
    buf.write_bytes(b"abcdef").unwrap();
    buf.truncate(3);
    assert_eq!(buf.as_bytes(), b"abc");
    assert_eq!(buf.position(), 6);
    buf.truncate(10);
    assert_eq!(buf.as_bytes(), b"abc", "io.BytesIO.truncate never extends");
}

#[test]
fn test_buffer_write_at_huge_position_is_too_large() {
    let mut buf = SpoolBuffer::new();
    buf.seek_whence(i64::MAX, 0).unwrap();
    assert_eq!(buf.write_bytes(b"x"), Err(BufferError::TooLarge));
    assert_eq!(
        buf.write_bytes(b""),
        Ok(0),
        "an empty write changes nothing"
    );
    assert!(buf.is_empty());
}

#[test]
fn test_buffer_reads_borrow_and_stop_at_the_end() {
    let mut buf = SpoolBuffer::new();
    buf.write_bytes(b"ab\ncd\n\nlast").unwrap();
    buf.seek_whence(0, 0).unwrap();
    assert_eq!(buf.read_line(Some(0)), b"");
    assert_eq!(buf.read_line(None), b"ab\n");
    assert_eq!(buf.read_line(Some(1)), b"c");
    assert_eq!(buf.read_line(Some(5)), b"d\n");
    assert_eq!(buf.read_up_to(Some(1)), b"\n");
    assert_eq!(buf.read_up_to(None), b"last");
    assert_eq!(buf.read_line(None), b"");
    buf.seek_whence(20, 0).unwrap();
    assert_eq!(buf.read_up_to(None), b"");
    assert_eq!(buf.position(), 20, "reading past the end does not move");
}

#[test]
fn test_buffer_spill_writes_everything_and_positions_the_file() {
    let mut buf = SpoolBuffer::new();
    buf.write_bytes(b"spilled").unwrap();
    buf.seek_whence(2, 0).unwrap();
    let mut file = ferrotemp::tempfile().unwrap();
    assert_eq!(buf.spill(&mut file).unwrap(), 2);
    let mut rest = String::new();
    file.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "illed");
    assert_eq!(
        buf.as_bytes(),
        b"spilled",
        "the buffer is left to its owner to drop"
    );
}

// -- random operation sequences against a model ---------------------------------------------

/// A file's bytes and position, with the rollover rule deciding when the spool should have
/// moved to disk.
struct Model {
    data: Vec<u8>,
    pos: u64,
    rolled: bool,
    max_size: usize,
}

impl Model {
    fn new(max_size: usize) -> Self {
        Self {
            data: Vec::new(),
            pos: 0,
            rolled: false,
            max_size,
        }
    }

    fn roll_if_past(&mut self, size: u64) {
        if size > self.max_size as u64 {
            self.rolled = true;
        }
    }

    fn write(&mut self, src: &[u8]) -> usize {
        self.roll_if_past(self.pos + src.len() as u64);
        if !src.is_empty() {
            let pos = usize::try_from(self.pos).unwrap();
            if self.data.len() < pos + src.len() {
                self.data.resize(pos + src.len(), 0);
            }
            self.data[pos..pos + src.len()].copy_from_slice(src);
            self.pos += src.len() as u64;
        }
        src.len()
    }

    fn read(&mut self, limit: usize) -> Vec<u8> {
        let start = usize::try_from(self.pos).unwrap().min(self.data.len());
        let rest = &self.data[start..];
        let out = rest[..limit.min(rest.len())].to_vec();
        self.pos += out.len() as u64;
        out
    }

    fn seek(&mut self, from: SeekFrom) -> Option<u64> {
        let target = match from {
            SeekFrom::Start(p) => i128::from(p),
            SeekFrom::Current(d) => i128::from(self.pos) + i128::from(d),
            SeekFrom::End(d) => self.data.len() as i128 + i128::from(d),
        };
        let target = u64::try_from(target).ok()?;
        self.pos = target;
        Some(target)
    }

    fn set_len(&mut self, size: u64) {
        self.roll_if_past(size);
        self.data.resize(usize::try_from(size).unwrap(), 0);
    }
}

/// xorshift64*: deterministic, so a failure names a seed that reproduces it.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + i64::try_from(self.below(u64::try_from(hi - lo).unwrap())).unwrap()
    }
}

#[test]
fn test_random_operations_match_a_file_model() {
    let scratch = Scratch::new("model");
    for seed in 1..=300u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let max_size = match rng.below(4) {
            0 => 0,
            1 => 10_000,
            _ => usize::try_from(rng.below(120)).unwrap(),
        };
        let mut spool = SpooledTempFile::new_in(max_size, &scratch.0);
        let mut model = Model::new(max_size);
        for step in 0..80 {
            let len = i64::try_from(model.data.len()).unwrap();
            let op = rng.below(8);
            let what = format!("seed {seed} step {step} op {op} max_size {max_size}");
            match op {
                0..=2 => {
                    let n = usize::try_from(rng.below(24)).unwrap();
                    let bytes: Vec<u8> = (0..n).map(|_| b'a' + (rng.below(4) as u8)).collect();
                    assert_eq!(spool.write(&bytes).unwrap(), model.write(&bytes), "{what}");
                }
                3 => {
                    let mut dest = vec![0u8; usize::try_from(rng.below(20)).unwrap()];
                    let n = spool.read(&mut dest).unwrap();
                    assert_eq!(&dest[..n], model.read(dest.len()), "{what}");
                }
                4 | 5 => {
                    let from = match rng.below(3) {
                        0 => SeekFrom::Start(u64::try_from(rng.range(0, len + 20)).unwrap()),
                        1 => SeekFrom::Current(rng.range(-30, 30)),
                        _ => SeekFrom::End(rng.range(-30, 30)),
                    };
                    assert_eq!(spool.seek(from).ok(), model.seek(from), "{what} {from:?}");
                }
                6 => {
                    let size = u64::try_from(rng.range(0, len + 20)).unwrap();
                    spool.set_len(size).unwrap();
                    model.set_len(size);
                }
                _ => {
                    if rng.below(4) == 0 {
                        spool.roll().unwrap();
                        model.rolled = true;
                    }
                }
            }
            assert_eq!(spool.is_rolled(), model.rolled, "{what}");
            assert_eq!(position(&mut spool), model.pos, "{what}");
            assert_eq!(spool.len().unwrap(), model.data.len() as u64, "{what}");
            assert_eq!(contents(&mut spool), model.data, "{what}");
        }
    }
    assert_eq!(scratch.entries(), 0);
}
