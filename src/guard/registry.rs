//! Opening and verifying the per-user registry directory.

use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::{FileType, Mode, OFlags, CWD};
use rustix::io::Errno;

use crate::error::with_path;

/// Opens the registry at `path`, creating it (mode 0700) first when `create` is set, and
/// checks the descriptor: a directory reached without following a symlink, owned by the
/// effective uid, not writable by group or others.
///
/// Refusals are `PermissionDenied` (or `NotADirectory`-like `Other`) errors whose message says
/// what is wrong, naming the path, so the caller can warn once with it.
pub(super) fn open_registry(path: &Path, create: bool) -> io::Result<OwnedFd> {
    if create {
        match rustix::fs::mkdir(path, Mode::RWXU) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(err) => return Err(with_path(err.into(), path)),
        }
    }
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = match rustix::fs::openat(CWD, path, flags, Mode::empty()) {
        Ok(fd) => fd,
        // With O_DIRECTORY, Linux reports a symlink as ENOTDIR: lstat tells which it is.
        Err(Errno::LOOP | Errno::NOTDIR) => {
            let is_link = rustix::fs::lstat(path)
                .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Symlink);
            let why = if is_link {
                "is a symbolic link"
            } else {
                "is not a directory"
            };
            return Err(refused(path, why));
        }
        Err(err) => return Err(with_path(err.into(), path)),
    };
    verify(&fd, path)?;
    Ok(fd)
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

fn refused(path: &Path, why: &str) -> io::Error {
    with_path(
        io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("crash guard registry {why}; refusing to use it"),
        ),
        path,
    )
}
