//! Random names from the OS CSPRNG.

use std::io;

/// The characters a random name is drawn from: the standard module's alphabet.
pub const NAME_CHARS: &[u8; 37] = b"abcdefghijklmnopqrstuvwxyz0123456789_";

/// The number of random characters in a name unless a builder asks for another length.
pub const DEFAULT_RAND_LEN: usize = 8;

/// How many names are tried before creation gives up with `EEXIST` (the standard module's
/// `TMP_MAX`).
pub const TMP_MAX: u32 = 10_000;

/// Appends `len` characters drawn uniformly from [`NAME_CHARS`] to `out`.
///
/// Bytes are rejection-sampled so every character is equally likely. They come from the OS
/// CSPRNG through a small per-thread pool, refilled in blocks: a system call per name would
/// cost more than the file creation it names on some machines.
///
/// # Errors
///
/// Fails only if the OS random source fails.
pub(crate) fn push_random_chars(out: &mut Vec<u8>, len: usize) -> io::Result<()> {
    // 222 is the largest multiple of 37 that fits in a byte: keeping bytes below it makes
    // `byte % 37` uniform.
    const LIMIT: u8 = 222;
    pool::with_random_bytes(|next_byte| {
        let mut remaining = len;
        while remaining > 0 {
            let byte = next_byte()?;
            if byte < LIMIT {
                out.push(NAME_CHARS[usize::from(byte % 37)]);
                remaining -= 1;
            }
        }
        Ok(())
    })
}

/// A per-thread block of OS random bytes, handed out once each.
///
/// A forked child must not reuse its parent's unused bytes (both would pick the same names),
/// so a `pthread_atfork` child handler bumps a generation counter and a pool filled in an
/// older generation is thrown away.
mod pool {
    use std::cell::RefCell;
    use std::io;
    use std::sync::atomic::{AtomicU64, Ordering};

    const BLOCK: usize = 256;

    static FORK_GENERATION: AtomicU64 = AtomicU64::new(0);

    struct Pool {
        bytes: [u8; BLOCK],
        used: usize,
        generation: u64,
    }

    thread_local! {
        static POOL: RefCell<Pool> = const {
            RefCell::new(Pool { bytes: [0; BLOCK], used: BLOCK, generation: 0 })
        };
    }

    #[cfg(unix)]
    fn watch_forks() {
        static REGISTER: std::sync::Once = std::sync::Once::new();
        extern "C" fn in_child() {
            FORK_GENERATION.fetch_add(1, Ordering::Relaxed);
        }
        REGISTER.call_once(|| {
            // SAFETY: the handler only touches an atomic, which is async-signal-safe.
            unsafe {
                libc::pthread_atfork(None, None, Some(in_child));
            }
        });
    }

    #[cfg(not(unix))]
    fn watch_forks() {}

    /// Runs `body` with a source of fresh random bytes from this thread's pool.
    pub(super) fn with_random_bytes<T>(
        body: impl FnOnce(&mut dyn FnMut() -> io::Result<u8>) -> io::Result<T>,
    ) -> io::Result<T> {
        watch_forks();
        POOL.with(|cell| {
            let pool = &mut *cell.borrow_mut();
            let mut next_byte = || {
                let generation = FORK_GENERATION.load(Ordering::Relaxed);
                if pool.used == BLOCK || pool.generation != generation {
                    getrandom::fill(&mut pool.bytes).map_err(io::Error::from)?;
                    pool.used = 0;
                    pool.generation = generation;
                }
                let index = pool.used;
                pool.used += 1;
                // Each byte is used once: clear it so it cannot reach a later name.
                Ok(std::mem::take(&mut pool.bytes[index]))
            };
            body(&mut next_byte)
        })
    }
}

/// A fresh random name of `len` characters.
///
/// # Errors
///
/// Fails only if the OS random source fails.
pub fn random_name(len: usize) -> io::Result<String> {
    let mut out = Vec::with_capacity(len);
    push_random_chars(&mut out, len)?;
    // NAME_CHARS is ASCII, so this cannot fail.
    Ok(String::from_utf8(out).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_use_only_the_alphabet_and_requested_length() {
        for len in [0, 1, 8, 40] {
            let name = random_name(len).unwrap();
            assert_eq!(name.len(), len);
            assert!(name.bytes().all(|b| NAME_CHARS.contains(&b)), "{name}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn forked_child_does_not_reuse_the_parents_pool() {
        // Leave unused bytes in this thread's pool, then compare the next name here and in a
        // child: with a shared pool they would be equal.
        let _ = random_name(8).unwrap();
        let (mut read_end, mut write_end) = std::io::pipe().unwrap();
        // SAFETY: the child only computes a name, writes it to a pipe and exits.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            use std::io::Write;
            let name = random_name(8).unwrap_or_default();
            let _ = write_end.write_all(name.as_bytes());
            // SAFETY: exits the child without running the parent's destructors.
            unsafe { libc::_exit(0) };
        }
        drop(write_end);
        let parent_name = random_name(8).unwrap();
        let mut child_name = String::new();
        std::io::Read::read_to_string(&mut read_end, &mut child_name).unwrap();
        let mut status = 0;
        // SAFETY: waits for the child forked above.
        unsafe { libc::waitpid(pid, &raw mut status, 0) };
        assert_eq!(child_name.len(), 8);
        assert_ne!(child_name, parent_name);
    }

    #[test]
    fn names_do_not_repeat_and_cover_the_alphabet() {
        let names: HashSet<String> = (0..2000).map(|_| random_name(8).unwrap()).collect();
        assert_eq!(names.len(), 2000);
        let seen: HashSet<u8> = names.iter().flat_map(|n| n.bytes()).collect();
        assert_eq!(seen.len(), NAME_CHARS.len());
    }
}
