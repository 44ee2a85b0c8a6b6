//! What tells a file from a later one at the same `(device, inode)`.
//!
//! ext4 hands a freed inode number to the next file created, at once, so `(device, inode)`
//! alone cannot tell a dead process's entry from an unrelated file made after it was removed.
//! Two more facts can, where the filesystem gives them:
//!
//! - the **birth time** (`statx` `STATX_BTIME`), nanoseconds since the epoch: a new file is
//!   born when it is created. ext4, XFS, btrfs and tmpfs (Linux 6.2+) give it. Its resolution
//!   is the kernel's coarse clock (a scheduler tick), so a file removed and replaced within
//!   one tick can share it;
//! - the **inode generation** (`FS_IOC_GETVERSION`), which ext4 draws at random for every
//!   new inode: a reused number gets a new generation whatever the clock says. tmpfs answers
//!   `ENOTTY`; a device that said so once is not asked again.
//!
//! A registration takes both, from the descriptor of the entry just made (one `statx`, which
//! costs what the `fstat` it replaced did, plus one `ioctl` where generations exist). A sweep
//! removes an entry only if every part the record holds still matches. Where a filesystem
//! gives neither, identity rests on `(device, inode)`, the kind and the owner, as before.

use std::ffi::CStr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{AtFlags, FileType};
use rustix::io::Errno;

/// The identity of an entry just created, as a registration records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EntryIdentity {
    /// The device (`st_dev`).
    pub dev: u64,
    /// The inode number.
    pub ino: u64,
    /// The birth time in nanoseconds since the epoch, where the filesystem gives one.
    pub btime_ns: Option<i64>,
    /// The inode generation, where the filesystem gives one.
    pub generation: Option<u32>,
}

/// What `statx` says about a path or a descriptor.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Observed {
    pub dev: u64,
    pub ino: u64,
    pub file_type: FileType,
    pub uid: u32,
    pub btime_ns: Option<i64>,
}

impl Observed {
    /// The recorded identity's checks that `statx` can answer: device, inode, and the birth
    /// time if both sides have one (a recorded birth time the file no longer shows is a
    /// mismatch: the filesystem did give one).
    pub(crate) fn matches(&self, id: &EntryIdentity) -> bool {
        self.dev == id.dev
            && self.ino == id.ino
            && match id.btime_ns {
                Some(recorded) => self.btime_ns == Some(recorded),
                None => true,
            }
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn observed(stx: &rustix::fs::Statx) -> Observed {
    use rustix::fs::StatxFlags;
    let btime_ns =
        (StatxFlags::from_bits_retain(stx.stx_mask).contains(StatxFlags::BTIME)).then(|| {
            stx.stx_btime
                .tv_sec
                .saturating_mul(1_000_000_000)
                .saturating_add(i64::from(stx.stx_btime.tv_nsec))
        });
    Observed {
        dev: rustix::fs::makedev(stx.stx_dev_major, stx.stx_dev_minor),
        ino: stx.stx_ino,
        file_type: FileType::from_raw_mode(u32::from(stx.stx_mode)),
        uid: stx.stx_uid,
        btime_ns,
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn statx_mask() -> rustix::fs::StatxFlags {
    use rustix::fs::StatxFlags;
    StatxFlags::TYPE | StatxFlags::INO | StatxFlags::UID | StatxFlags::BTIME
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn observed_stat(st: &rustix::fs::Stat) -> Observed {
    Observed {
        dev: super::stat_dev(st),
        ino: super::stat_ino(st),
        file_type: FileType::from_raw_mode(st.st_mode),
        uid: st.st_uid,
        btime_ns: None,
    }
}

/// `statx` of an open descriptor.
pub(crate) fn of_fd(fd: BorrowedFd<'_>) -> Result<Observed, Errno> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    return rustix::fs::statx(fd, c"", AtFlags::EMPTY_PATH, statx_mask()).map(|s| observed(&s));
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    rustix::fs::fstat(fd).map(|st| observed_stat(&st))
}

/// `statx` of `name` in `dir`, not following a symlink.
pub(crate) fn at(dir: BorrowedFd<'_>, name: &CStr) -> Result<Observed, Errno> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    return rustix::fs::statx(dir, name, AtFlags::SYMLINK_NOFOLLOW, statx_mask())
        .map(|s| observed(&s));
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).map(|st| observed_stat(&st))
}

/// The last device (plus one; 0 = none) whose filesystem answered that it has no inode
/// generations: later entries there skip the `ioctl`.
static NO_GENERATION_DEV: AtomicU64 = AtomicU64::new(0);

/// The inode generation of `fd` (on device `dev`), if its filesystem keeps one.
pub(crate) fn generation(fd: BorrowedFd<'_>, dev: u64) -> Option<u32> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        if NO_GENERATION_DEV.load(Ordering::Relaxed) == dev.wrapping_add(1) {
            return None;
        }
        let mut value: libc::c_long = 0;
        // SAFETY: FS_IOC_GETVERSION writes at most a `long` through the pointer, which points
        // at one; the descriptor is valid for the call.
        let rc = unsafe {
            libc::ioctl(
                fd.as_raw_fd(),
                libc::FS_IOC_GETVERSION,
                std::ptr::addr_of_mut!(value),
            )
        };
        if rc == 0 {
            // The kernel stores the 32-bit generation (as an `int`).
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            return Some(value as u32);
        }
        let err = Errno::from_raw_os_error(std::io::Error::last_os_error().raw_os_error()?);
        if matches!(
            err,
            Errno::NOTTY | Errno::OPNOTSUPP | Errno::INVAL | Errno::NOSYS
        ) {
            NO_GENERATION_DEV.store(dev.wrapping_add(1), Ordering::Relaxed);
        }
        None
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        let _ = (fd, dev, &NO_GENERATION_DEV, Ordering::Relaxed);
        None
    }
}

/// The full identity of the entry open as `fd`: one `statx`, and the generation.
///
/// # Errors
///
/// The error of `statx`.
pub(crate) fn identify(fd: impl AsFd) -> Result<EntryIdentity, Errno> {
    let fd = fd.as_fd();
    let seen = of_fd(fd)?;
    Ok(EntryIdentity {
        dev: seen.dev,
        ino: seen.ino,
        btime_ns: seen.btime_ns,
        generation: generation(fd, seen.dev),
    })
}

#[allow(clippy::useless_conversion)] // `time_t` and `c_long` are narrower on some targets
/// The wall clock as the kernel stamps birth times with it (the coarse clock, which never
/// runs ahead of the times it gives new files): nanoseconds since the epoch.
pub(crate) fn coarse_now_ns() -> i64 {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let clock = libc::CLOCK_REALTIME_COARSE;
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let clock = libc::CLOCK_REALTIME;
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for the call to fill.
    if unsafe { libc::clock_gettime(clock, &raw mut ts) } != 0 {
        return 0;
    }
    i64::from(ts.tv_sec)
        .saturating_mul(1_000_000_000)
        .saturating_add(i64::from(ts.tv_nsec))
}
