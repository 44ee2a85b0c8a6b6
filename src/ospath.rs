//! Paths normalised and made absolute as Python's `os.path` does it: from the text alone and
//! the current directory, never by asking the filesystem (no symlink is resolved).

use std::path::{Path, PathBuf};

/// Lexically normalises a path as Python's `posixpath.normpath` does: collapses separators,
/// drops `.` components and resolves `..` against the components before it.
#[cfg(unix)]
#[must_use]
pub fn normpath(path: &Path) -> PathBuf {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    let bytes = path.as_os_str().as_bytes();
    if bytes.is_empty() {
        return PathBuf::from(".");
    }
    if is_normal_absolute(bytes) {
        // The common case (a temp dir such as `/tmp`): nothing to collapse or resolve.
        return path.to_path_buf();
    }
    let leading = if bytes.starts_with(b"//") && !bytes.starts_with(b"///") {
        2
    } else {
        usize::from(bytes.starts_with(b"/"))
    };
    let mut parts: Vec<&[u8]> = Vec::new();
    for comp in bytes.split(|&b| b == b'/') {
        if comp.is_empty() || comp == b"." {
            continue;
        }
        if comp != b".." || (leading == 0 && parts.is_empty()) || parts.last() == Some(&&b".."[..])
        {
            parts.push(comp);
        } else if !parts.is_empty() {
            parts.pop();
        }
    }
    let mut out = vec![b'/'; leading];
    out.extend_from_slice(&parts.join(&b'/'));
    if out.is_empty() {
        out.push(b'.');
    }
    PathBuf::from(std::ffi::OsString::from_vec(out))
}

/// Whether `normpath` returns `bytes` unchanged: one leading `/` and no empty, `.` or `..`
/// component (so no repeated or trailing separator).
#[cfg(unix)]
fn is_normal_absolute(bytes: &[u8]) -> bool {
    match bytes.strip_prefix(b"/") {
        Some([]) => true,
        Some(rest) => rest
            .split(|&b| b == b'/')
            .all(|comp| !comp.is_empty() && comp != b"." && comp != b".."),
        None => false,
    }
}

/// Lexical normalisation on Windows: `std::path::absolute` already normalises there.
#[cfg(not(unix))]
#[must_use]
pub fn normpath(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// `path` made absolute against the current directory and normalised, as Python's
/// `os.path.abspath` does. A path is returned unchanged but normalised if the current
/// directory cannot be read.
#[must_use]
pub fn abspath(path: &Path) -> PathBuf {
    if path.is_absolute() {
        return normpath(path);
    }
    match std::env::current_dir() {
        Ok(cwd) => normpath(&cwd.join(path)),
        Err(_) => normpath(path),
    }
}

/// `path` made absolute against the current directory without resolving `..` lexically (the
/// kernel resolves it, through any symlink before it): `.` components and repeated
/// separators go, as with [`std::path::absolute`]. Unchanged if the current directory cannot
/// be read.
#[must_use]
pub fn absolute(path: &Path) -> PathBuf {
    // "" is the current directory, as for `os.path.abspath`.
    let path = if path.as_os_str().is_empty() {
        Path::new(".")
    } else {
        path
    };
    if is_plain_absolute(path) {
        // What std::path::absolute returns for it, without taking it apart and joining it
        // again (the usual `dir=` costs that on every creation).
        return path.to_path_buf();
    }
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Whether `path` is absolute with nothing for [`absolute`] to drop: one leading `/`, no
/// empty or `.` component, no trailing separator.
#[cfg(unix)]
fn is_plain_absolute(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let bytes = path.as_os_str().as_bytes();
    bytes.len() > 1
        && bytes.starts_with(b"/")
        && bytes[1..]
            .split(|&b| b == b'/')
            .all(|component| !component.is_empty() && component != b".")
}

#[cfg(not(unix))]
fn is_plain_absolute(_path: &Path) -> bool {
    false
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn absolute_keeps_plain_absolute_paths_as_std_path_absolute_does() {
        let cases = [
            "/",
            "//",
            "///",
            "/a",
            "/a/",
            "/a//b",
            "/a/./b",
            "/a/.",
            "/./a",
            "/a/../b",
            "/a/..",
            "/..",
            "/.a/b.",
            "/a/b/c",
            "//a",
            "/a/.b/..c",
            "a",
            ".",
            "./a",
        ];
        for case in cases {
            let path = Path::new(case);
            assert_eq!(
                absolute(path),
                std::path::absolute(path).unwrap(),
                "{case}: plain {}",
                is_plain_absolute(path)
            );
        }
        assert!(is_plain_absolute(Path::new("/dev/shm")));
        assert!(!is_plain_absolute(Path::new("/dev/shm/")));
    }

    #[test]
    fn normpath_matches_posixpath() {
        let cases = [
            ("", "."),
            ("/", "/"),
            ("//", "//"),
            ("///", "/"),
            ("//a//b/", "//a/b"),
            ("/a/./b/../c", "/a/c"),
            ("a/../..", ".."),
            ("../../a", "../../a"),
            ("/../a", "/a"),
            ("a/b/..", "a"),
            ("./", "."),
            ("/tmp", "/tmp"),
            ("/a/.b/..c", "/a/.b/..c"),
            ("/a/b/", "/a/b"),
            ("/a//b", "/a/b"),
            ("/a/.", "/a"),
        ];
        for (input, expected) in cases {
            assert_eq!(normpath(Path::new(input)), Path::new(expected), "{input}");
        }
    }

    #[test]
    fn abspath_is_absolute_and_normal() {
        let got = abspath(Path::new("x/../y"));
        assert!(got.is_absolute());
        assert_eq!(got, std::env::current_dir().unwrap().join("y"));
    }
}
