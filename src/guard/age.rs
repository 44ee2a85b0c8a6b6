//! Age-based sweeping of an application's own prefix, with systemd-tmpfiles' rules.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use rustix::fs::{AtFlags, Dir, FileType, FlockOperation, Mode, OFlags, CWD};
use rustix::io::Errno;

use super::identity;
use super::tree::{file_bytes, newest_time_ns, open_nofollow, scan_tree, ScanBounds};
use super::{stat_dev, stat_ino, EntryKind, SkipReason, SweepReport, SweptEntry};
use crate::error::with_path;
use crate::file_id::FileId;

/// Registry directories share the temp dir; an age rule must never reach into them.
const REGISTRY_PREFIX: &[u8] = b"ferrotemp-guard-";

#[allow(clippy::too_many_lines)] // one rule after another, in the order they must apply
pub(super) fn sweep_older_than(
    dir: &Path,
    prefix: &OsStr,
    cutoff: Duration,
    dry_run: bool,
) -> std::io::Result<SweepReport> {
    let prefix = prefix.as_bytes();
    if prefix.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "an age-based sweep needs a non-empty prefix",
        ));
    }
    let mut report = SweepReport {
        dry_run,
        complete: true,
        ..SweepReport::default()
    };
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let dir_fd =
        rustix::fs::openat(CWD, dir, flags, Mode::empty()).map_err(|e| with_path(e.into(), dir))?;
    let dir_st = rustix::fs::fstat(&dir_fd).map_err(|e| with_path(e.into(), dir))?;
    let threshold = SystemTime::now()
        .checked_sub(cutoff)
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(0, |d| i128::try_from(d.as_nanos()).unwrap_or(i128::MAX));
    let euid = rustix::process::geteuid().as_raw();
    // Guarded files hold no lock: what live processes' records list is in use, whatever its
    // age. The registry in use, and the one in `dir` if that is a temp root with its own.
    let configured = super::registry_path().ok();
    let local = super::registry_path_in(dir);
    let mut live = super::sweep::live_entries(&local)?;
    if let Some(configured) = configured.filter(|c| *c != local) {
        live.extend(super::sweep::live_entries(&configured)?);
    }
    let mut names = Vec::new();
    for entry in Dir::read_from(&dir_fd).map_err(|e| with_path(e.into(), dir))? {
        let entry = entry.map_err(|e| with_path(e.into(), dir))?;
        let name = entry.file_name();
        let bytes = name.to_bytes();
        if bytes.starts_with(prefix) && !bytes.starts_with(REGISTRY_PREFIX) {
            names.push(name.to_owned());
        }
    }
    for name in names {
        let path = dir.join(OsStr::from_bytes(name.to_bytes()));
        // Times first, before any open or listing could touch them.
        let st = match rustix::fs::statat(&dir_fd, &name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::NOENT) => continue,
            Err(err) => {
                report
                    .errors
                    .push((path.clone(), with_path(err.into(), &path)));
                continue;
            }
        };
        let file_type = FileType::from_raw_mode(st.st_mode);
        let skip = if file_type == FileType::Symlink {
            Some(SkipReason::Symlink)
        } else if stat_dev(&st) != stat_dev(&dir_st) {
            Some(SkipReason::OtherFilesystem)
        } else if st.st_uid != euid {
            Some(SkipReason::OtherOwner)
        } else if file_type != FileType::RegularFile && file_type != FileType::Directory {
            Some(SkipReason::NotFileOrDir)
        } else if live.contains(&FileId::from_stat(&st)) {
            Some(SkipReason::InUse)
        } else if newest_time_ns(&st) >= threshold {
            Some(SkipReason::Recent)
        } else {
            None
        };
        if let Some(reason) = skip {
            report.skipped.push((path, reason));
            continue;
        }
        // The birth time of what was examined: a file that replaced it under the same inode
        // number (ext4 reuses them at once) is told apart by it.
        let examined_btime = identity::at(std::os::fd::AsFd::as_fd(&dir_fd), &name)
            .ok()
            .filter(|seen| seen.dev == stat_dev(&st) && seen.ino == stat_ino(&st))
            .and_then(|seen| seen.btime_ns);
        let is_dir = file_type == FileType::Directory;
        let extra = if is_dir {
            OFlags::DIRECTORY
        } else {
            OFlags::empty()
        };
        let fd = match open_nofollow(&dir_fd, &name, extra) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => continue,
            Err(err) => {
                report
                    .errors
                    .push((path.clone(), with_path(err.into(), &path)));
                continue;
            }
        };
        // Still the one examined: same device, inode and birth time, and — judged on the
        // inode now held open, which no other file can take the number of until it is closed —
        // as old as the cutoff wants.
        let held = identity::of_fd(std::os::fd::AsFd::as_fd(&fd)).ok();
        match rustix::fs::fstat(&fd) {
            Ok(now)
                if stat_ino(&now) == stat_ino(&st)
                    && stat_dev(&now) == stat_dev(&st)
                    && held.is_some_and(|h| h.btime_ns == examined_btime) =>
            {
                if newest_time_ns(&now) >= threshold {
                    report.skipped.push((path, SkipReason::Recent));
                    continue;
                }
            }
            _ => {
                report.skipped.push((path, SkipReason::Replaced));
                continue;
            }
        }
        // A live user (a TempDir holds LOCK_SH) keeps it; the lock taken here is held until
        // the removal is done, so no new user can lock it meanwhile. Filesystems without flock
        // cannot tell: age alone decides there, as for systemd-tmpfiles.
        match rustix::fs::flock(&fd, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(Errno::WOULDBLOCK) => {
                report.skipped.push((path, SkipReason::InUse));
                continue;
            }
            Err(err) if super::record::flock_unsupported(err) => {}
            Err(err) => {
                report
                    .errors
                    .push((path.clone(), with_path(err.into(), &path)));
                continue;
            }
        }
        let bytes = if is_dir {
            let scan = match fd.try_clone() {
                Ok(walk_fd) => scan_tree(
                    walk_fd,
                    &st,
                    &ScanBounds {
                        live: Some(&live),
                        ..ScanBounds::default()
                    },
                ),
                Err(err) => {
                    report.errors.push((path.clone(), with_path(err, &path)));
                    continue;
                }
            };
            let reason = if scan.live_entry {
                // A live process's guarded entry inside.
                Some(SkipReason::InUse)
            } else if scan.other_fs {
                Some(SkipReason::OtherFilesystem)
            } else if scan.other_owner {
                Some(SkipReason::OtherOwner)
            } else if !scan.complete {
                Some(SkipReason::TooLarge)
            } else if scan.newest_ns >= threshold {
                Some(SkipReason::Recent)
            } else {
                None
            };
            if let Some(reason) = reason {
                report.skipped.push((path, reason));
                continue;
            }
            scan.bytes
        } else {
            file_bytes(&st)
        };
        if !dry_run {
            let result = if is_dir {
                // Only the directory examined: one renamed into its place since is left.
                let mut options = crate::remove::RemoveOptions::new();
                options.expect_root(stat_dev(&st), stat_ino(&st));
                crate::remove::remove_tree_nofollow_with(&path, &options)
                    .map(|_| true)
                    .map_err(std::io::Error::from)
            } else {
                unlink_if_same(&dir_fd, &name, &st).map_err(|e| with_path(e.into(), &path))
            };
            match result {
                Ok(true) => {}
                Ok(false) => {
                    report.skipped.push((path, SkipReason::Replaced));
                    continue;
                }
                Err(err) => {
                    report.errors.push((path, err));
                    continue;
                }
            }
        }
        if !dry_run {
            crate::stats::note_reclaimed(bytes);
        }
        report.removed.push(SweptEntry {
            path,
            kind: if is_dir {
                EntryKind::Dir
            } else {
                EntryKind::File
            },
            bytes,
        });
        drop(fd);
    }
    Ok(report)
}

/// Unlinks the file `name` of `dir` only if it is still the one examined (`st`), checked
/// through the same directory descriptor just before: `Ok(false)` if something else is there.
fn unlink_if_same(
    dir: &rustix::fd::OwnedFd,
    name: &std::ffi::CStr,
    st: &rustix::fs::Stat,
) -> rustix::io::Result<bool> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(now)
            if stat_dev(&now) == stat_dev(st)
                && stat_ino(&now) == stat_ino(st)
                && FileType::from_raw_mode(now.st_mode) == FileType::RegularFile => {}
        Ok(_) | Err(Errno::NOENT) => return Ok(false),
        Err(err) => return Err(err),
    }
    rustix::fs::unlinkat(dir, name, AtFlags::empty()).map(|()| true)
}
