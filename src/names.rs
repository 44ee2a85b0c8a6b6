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
/// Bytes are rejection-sampled so every character is equally likely.
///
/// # Errors
///
/// Fails only if the OS random source fails.
pub fn push_random_chars(out: &mut Vec<u8>, len: usize) -> io::Result<()> {
    // 222 is the largest multiple of 37 that fits in a byte: keeping bytes below it makes
    // `byte % 37` uniform.
    const LIMIT: u8 = 222;
    let mut pool = [0u8; 32];
    let mut remaining = len;
    while remaining > 0 {
        getrandom::fill(&mut pool).map_err(io::Error::from)?;
        for &byte in &pool {
            if remaining == 0 {
                break;
            }
            if byte < LIMIT {
                out.push(NAME_CHARS[usize::from(byte % 37)]);
                remaining -= 1;
            }
        }
    }
    Ok(())
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

    #[test]
    fn names_do_not_repeat_and_cover_the_alphabet() {
        let names: HashSet<String> = (0..2000).map(|_| random_name(8).unwrap()).collect();
        assert_eq!(names.len(), 2000);
        let seen: HashSet<u8> = names.iter().flat_map(|n| n.bytes()).collect();
        assert_eq!(seen.len(), NAME_CHARS.len());
    }
}
