//! Opening and verifying the per-user registry directory.
//!
//! # Trust
//!
//! Whoever can rename a directory on the registry's path can put another directory in the
//! registry's place, and with it records naming files the sweeper would remove. So the whole
//! path is checked, as OpenSSH's `StrictModes` checks a key file's: walking from `/` one
//! component at a time by descriptor (`openat` with `O_NOFOLLOW|O_DIRECTORY`, `fstat` of each),
//! every directory on the way must be owned by root or the effective uid and be writable by
//! nobody else, unless it is sticky (`/tmp`: others may create there, but not rename or remove
//! what is not theirs). A symbolic link on the way is followed only if it is owned by root or
//! the effective uid (the directory holding it being trusted, nobody else can replace it), and
//! its target is walked the same way. The registry itself must be owned by the effective uid
//! and not writable by group or others. The descriptor the walk ends with is the registry from
//! then on: nothing inside is reached by path.

use std::ffi::OsString;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat, CWD};
use rustix::io::Errno;

use crate::error::with_path;

/// How many symbolic links a walk follows before it gives up (`ELOOP`), as the kernel does.
const MAX_LINKS: usize = 40;

/// Opens the registry at `path` (made absolute first), creating it (mode 0700) when `create`
/// is set, after checking every directory on its path (see the module docs).
///
/// Refusals are `PermissionDenied` errors whose message says what is wrong, naming the path,
/// so the caller can warn once with it.
pub(super) fn open_registry(path: &Path, create: bool) -> io::Result<OwnedFd> {
    open_registry_resolved(path, create).map(|(fd, _)| fd)
}

/// [`open_registry`], also returning the registry's path with every symbolic link on the way
/// resolved (what the kernel would show for it).
pub(super) fn open_registry_resolved(path: &Path, create: bool) -> io::Result<(OwnedFd, PathBuf)> {
    let path = crate::ospath::abspath(path);
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(refused(&path, "is the root directory"));
    };
    let (parent_fd, resolved_parent) = walk_trusted(parent)?;
    if create {
        match rustix::fs::mkdirat(&parent_fd, name, Mode::RWXU) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(err) => return Err(with_path(err.into(), &path)),
        }
    }
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = match rustix::fs::openat(&parent_fd, name, flags, Mode::empty()) {
        Ok(fd) => fd,
        // With O_DIRECTORY, Linux reports a symlink as ENOTDIR: lstat tells which it is.
        Err(Errno::LOOP | Errno::NOTDIR) => {
            let is_link = rustix::fs::statat(&parent_fd, name, AtFlags::SYMLINK_NOFOLLOW)
                .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Symlink);
            let why = if is_link {
                "is a symbolic link"
            } else {
                "is not a directory"
            };
            return Err(refused(&path, why));
        }
        Err(err) => return Err(with_path(err.into(), &path)),
    };
    verify(&fd, &path)?;
    Ok((fd, resolved_parent.join(name)))
}

fn verify(fd: &OwnedFd, path: &Path) -> io::Result<()> {
    let st = rustix::fs::fstat(fd).map_err(|e| with_path(e.into(), path))?;
    if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
        return Err(refused(path, "is not a directory"));
    }
    let euid = rustix::process::geteuid().as_raw();
    if st.st_uid != euid {
        let why = format!("is owned by uid {}, not by uid {euid}", st.st_uid);
        return Err(refused(path, &why));
    }
    let mode = st.st_mode & 0o7777;
    if mode & 0o022 != 0 {
        let why = format!("is writable by group or others (mode {mode:o})");
        return Err(refused(path, &why));
    }
    // Record names list the user's temp paths: readable-by-others is a leak we can fix, the
    // directory being ours.
    if mode & 0o077 != 0 {
        let _ = rustix::fs::fchmod(fd, Mode::RWXU);
    }
    Ok(())
}

/// Flags for a directory on the way: only searched, never read (`O_PATH` where there is one,
/// so a directory with `x` but no `r` for us is still walked).
fn walk_flags() -> OFlags {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let access = OFlags::PATH;
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let access = OFlags::RDONLY;
    access | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
}

/// Why a directory on the registry's path cannot be trusted, if it cannot.
fn distrust(st: &Stat, euid: u32) -> Option<String> {
    if st.st_uid != 0 && st.st_uid != euid {
        return Some(format!(
            "is owned by uid {}, not by root or uid {euid}",
            st.st_uid
        ));
    }
    let mode = st.st_mode & 0o7777;
    let sticky = 0o1000; // S_ISVTX
    if mode & 0o022 != 0 && mode & sticky == 0 {
        return Some(format!(
            "is writable by group or others and not sticky (mode {mode:o})"
        ));
    }
    None
}

/// Walks `dir` (absolute) from `/` by descriptor, checking each directory (see the module
/// docs); returns the last one's descriptor and the path with its links resolved.
fn walk_trusted(dir: &Path) -> io::Result<(OwnedFd, PathBuf)> {
    let euid = rustix::process::geteuid().as_raw();
    let root = rustix::fs::openat(CWD, "/", walk_flags(), Mode::empty())
        .map_err(|e| with_path(e.into(), "/"))?;
    check_dir(&root, Path::new("/"), euid)?;
    // The trusted directories from `/` down to where the walk is, and their resolved path.
    let mut stack: Vec<OwnedFd> = vec![root];
    let mut resolved = PathBuf::from("/");
    // What is left to walk, next component last.
    let mut todo: Vec<OsString> = components_reversed(dir);
    let mut links = 0usize;
    while let Some(name) = todo.pop() {
        if name.as_bytes() == b".." {
            if stack.len() > 1 {
                stack.pop();
                resolved.pop();
            }
            continue;
        }
        if name.is_empty() || name.as_bytes() == b"." {
            continue;
        }
        let at = resolved.join(&name);
        let current = stack.last().expect("the walk always holds /");
        match rustix::fs::openat(current, name.as_os_str(), walk_flags(), Mode::empty()) {
            Ok(fd) => {
                check_dir(&fd, &at, euid)?;
                stack.push(fd);
                resolved = at;
            }
            Err(Errno::LOOP | Errno::NOTDIR) => {
                let st = rustix::fs::statat(current, name.as_os_str(), AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(|e| with_path(e.into(), &at))?;
                if FileType::from_raw_mode(st.st_mode) != FileType::Symlink {
                    return Err(with_path(Errno::NOTDIR.into(), &at));
                }
                if st.st_uid != 0 && st.st_uid != euid {
                    let why = format!(
                        "is a symbolic link owned by uid {}, not by root or uid {euid}",
                        st.st_uid
                    );
                    return Err(refused_parent(&at, &why));
                }
                links += 1;
                if links > MAX_LINKS {
                    return Err(with_path(Errno::LOOP.into(), &at));
                }
                let target = rustix::fs::readlinkat(current, name.as_os_str(), Vec::new())
                    .map_err(|e| with_path(e.into(), &at))?;
                let target = PathBuf::from(OsString::from_vec(target.into_bytes()));
                if target.is_absolute() {
                    stack.truncate(1);
                    resolved = PathBuf::from("/");
                }
                todo.extend(components_reversed(&target));
            }
            Err(err) => return Err(with_path(err.into(), &at)),
        }
    }
    let fd = stack.pop().expect("the walk always holds /");
    Ok((fd, resolved))
}

/// The names of `path`'s components, last first (`..` kept, to be walked as such).
fn components_reversed(path: &Path) -> Vec<OsString> {
    let mut names: Vec<OsString> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(name) => Some(name.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .collect();
    names.reverse();
    names
}

fn check_dir(fd: impl AsFd, path: &Path, euid: u32) -> io::Result<()> {
    let st = rustix::fs::fstat(fd).map_err(|e| with_path(e.into(), path))?;
    match distrust(&st, euid) {
        Some(why) => Err(refused_parent(path, &why)),
        None => Ok(()),
    }
}

fn refused(path: &Path, why: &str) -> io::Error {
    with_path(
        io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("crash guard registry {why}; refusing to use it"),
        ),
        path,
    )
}

fn refused_parent(path: &Path, why: &str) -> io::Error {
    with_path(
        io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "a directory on the crash guard registry's path {why}: another user could \
                 replace the registry; refusing to use it"
            ),
        ),
        path,
    )
}

/// Why a record entry's path is refused, if it is: a sweep acts only on absolute, normalised
/// paths (no `.` or `..` component, no `//`, no trailing `/`), never resolved against its own
/// working directory, and never on the registry (`registry`, as configured or with its links
/// resolved), anything inside it, or a directory holding it.
pub(super) fn refuse_entry(path: &Path, registry: &[&Path]) -> Option<&'static str> {
    let bytes = path.as_os_str().as_bytes();
    let Some(rest) = bytes.strip_prefix(b"/") else {
        return Some("not an absolute path");
    };
    if rest
        .split(|&b| b == b'/')
        .any(|c| c.is_empty() || c == b"." || c == b"..")
    {
        return Some("not a normalised path (an empty, `.` or `..` component)");
    }
    if registry
        .iter()
        .any(|r| path.starts_with(r) || r.starts_with(path))
    {
        return Some("the crash guard registry, inside it, or a directory holding it");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_must_be_absolute_normalised_and_away_from_the_registry() {
        let reg = [
            Path::new("/tmp/ferrotemp-guard-0"),
            Path::new("/real/tmp/ferrotemp-guard-0"),
        ];
        assert_eq!(refuse_entry(Path::new("/tmp/tmpabc"), &reg), None);
        assert_eq!(
            refuse_entry(Path::new("/tmp/ferrotemp-guard-00"), &reg),
            None
        );
        for bad in [
            "tmp/x",
            "",
            "/tmp//x",
            "/tmp/./x",
            "/tmp/a/../x",
            "/tmp/x/",
            "/tmp/ferrotemp-guard-0",
            "/tmp/ferrotemp-guard-0/1-abc.rec",
            "/real/tmp/ferrotemp-guard-0/x",
            "/tmp",
            "/",
        ] {
            assert!(refuse_entry(Path::new(bad), &reg).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn trust_is_root_or_us_and_no_foreign_writers_unless_sticky() {
        let st = |uid: u32, mode: u32| {
            let mut st = rustix::fs::stat("/").unwrap();
            st.st_uid = uid;
            st.st_mode = (st.st_mode & !0o7777) | mode;
            st
        };
        assert!(distrust(&st(0, 0o755), 1000).is_none());
        assert!(distrust(&st(1000, 0o700), 1000).is_none());
        assert!(distrust(&st(0, 0o1777), 1000).is_none());
        assert!(distrust(&st(2000, 0o755), 1000).is_some());
        assert!(distrust(&st(0, 0o775), 1000).is_some());
        assert!(distrust(&st(1000, 0o757), 1000).is_some());
    }
}
