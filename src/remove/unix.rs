//! The removal on Unix: the descriptor primitives the walks share (listing, opening without
//! following, the permission fix, the mount fence) and the root's steps, which hand the
//! root's contents to the bounded walker ([`super::walk`]) or to the observed one
//! ([`super::observed`]).

use super::observed::{dir_flags_raw, remove_root_observed, stopped_error, Observer};
use super::walk::remove_entries;
use super::{RemoveError, RemoveFailure, RemoveOptions, RemoveStats, Step, StepOrder};
use crate::file_id::FileId;
use rustix::fs::{self as rfs, AtFlags, Dir, FileType, Mode, OFlags, RawMode, CWD};
use rustix::io::Errno;
use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// The mount id of the file behind `fd`: `statx`'s `STATX_MNT_ID` (Linux ≥ 5.8), else the
/// `mnt_id:` line of `/proc/self/fdinfo/<fd>` (Linux ≥ 3.15); `None` where neither exists.
#[cfg(any(target_os = "linux", target_os = "android"))]
#[must_use]
pub fn mount_id(fd: std::os::fd::BorrowedFd<'_>) -> Option<u64> {
    use rustix::fs::{statx, AtFlags, StatxFlags};
    use std::os::fd::AsRawFd;
    if let Ok(stx) = statx(fd, c"", AtFlags::EMPTY_PATH, StatxFlags::MNT_ID) {
        if StatxFlags::from_bits_retain(stx.stx_mask).contains(StatxFlags::MNT_ID) {
            return Some(stx.stx_mnt_id);
        }
    }
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd())).ok()?;
    info.lines()
        .find_map(|line| line.strip_prefix("mnt_id:"))
        .and_then(|id| id.trim().parse().ok())
}

/// Elsewhere there is no mount id to read: only devices are compared.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
#[must_use]
pub fn mount_id(_fd: std::os::fd::BorrowedFd<'_>) -> Option<u64> {
    None
}

pub(crate) const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::NOFOLLOW)
    .union(OFlags::DIRECTORY)
    .union(OFlags::CLOEXEC)
    .union(OFlags::NONBLOCK);

#[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
fn mode_of(st: &rfs::Stat) -> Mode {
    Mode::from_raw_mode(st.st_mode as RawMode)
}

/// The mount the walk stays on: the root's device and mount id.
#[derive(Clone, Copy)]
pub(crate) struct Fence {
    dev: u64,
    mount: Option<u64>,
}

impl Fence {
    pub(crate) fn of(fd: BorrowedFd<'_>, st: &rfs::Stat) -> Self {
        Self {
            dev: FileId::from_stat(st).dev,
            mount: mount_id(fd),
        }
    }

    fn same_mount(self, other: Fence) -> bool {
        self.dev == other.dev
            && match (self.mount, other.mount) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }

    /// Whether the directory behind `fd` (whose `Stat` is `st`) is on another mount.
    pub(crate) fn crossed_by(self, fd: BorrowedFd<'_>, st: &rfs::Stat) -> bool {
        if FileId::from_stat(st).dev != self.dev {
            return true;
        }
        match self.mount {
            Some(root) => mount_id(fd).is_some_and(|here| here != root),
            None => false,
        }
    }
}

/// `EBUSY`, what `rmdir` says of a mount point: the entry is a mount, left alone.
pub(super) fn mount_point_error() -> io::Error {
    Errno::BUSY.into()
}

pub(crate) fn changed_error() -> io::Error {
    io::Error::other("directory was replaced during removal; not entered")
}

pub(crate) fn dir_fd(dir: &Dir) -> io::Result<BorrowedFd<'_>> {
    dir.fd().map_err(io::Error::from)
}

/// An entry of a directory listing, and whether it may be a directory (`DT_UNKNOWN`
/// counts: opening it with `O_DIRECTORY` settles the question).
pub(crate) struct Entry {
    pub(crate) name: CString,
    pub(crate) maybe_dir: bool,
}

/// Bytes of entries asked of the kernel per `getdents64` on Linux: a directory of a thousand
/// short names in one call (plus the one that says the end), where `Dir`'s buffer, which
/// starts at under a kilobyte and doubles, takes seven.
#[cfg(any(target_os = "linux", target_os = "android"))]
const LIST_BUFFER: usize = 32 << 10;

/// An entry of a listing, kept unless it is `.` or `..`.
fn entry_of(name: &CStr, kind: FileType) -> Option<Entry> {
    let bytes = name.to_bytes();
    if bytes == b"." || bytes == b".." {
        return None;
    }
    Some(Entry {
        name: name.to_owned(),
        maybe_dir: kind == FileType::Directory || kind == FileType::Unknown,
    })
}

/// Lists a directory just opened (nothing read from it yet).
pub(crate) fn list(dir: &mut Dir) -> (Vec<Entry>, Option<io::Error>) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if let Ok(fd) = dir.fd() {
        let mut buf = Vec::with_capacity(LIST_BUFFER);
        let mut raw = rfs::RawDir::new(fd, buf.spare_capacity_mut());
        let mut entries = Vec::new();
        while let Some(next) = raw.next() {
            match next {
                Ok(entry) => entries.extend(entry_of(entry.file_name(), entry.file_type())),
                // The directory was removed while open: it lists as empty (as `Dir` has it).
                Err(Errno::NOENT) => break,
                Err(err) => return (entries, Some(err.into())),
            }
        }
        return (entries, None);
    }
    let mut entries = Vec::new();
    while let Some(next) = dir.read() {
        match next {
            Ok(entry) => entries.extend(entry_of(entry.file_name(), entry.file_type())),
            Err(err) => return (entries, Some(err.into())),
        }
    }
    (entries, None)
}

/// Where failures and counts go; one per walker, merged at the end.
pub(super) struct Sink<'a> {
    pub(super) failures: Vec<RemoveFailure>,
    pub(super) stats: RemoveStats,
    pub(super) stop: &'a AtomicBool,
    pub(super) continue_on_error: bool,
    pub(super) deadline: Option<std::time::Instant>,
    /// Whether running out of descriptors is not a failure but a reason to hand the unit
    /// back (other walkers run: see [`super::helpers`]).
    pub(super) hand_back_when_out_of_descriptors: bool,
    /// Set when that happened: the walker stops its unit.
    pub(super) out_of_descriptors: bool,
}

impl Sink<'_> {
    pub(super) fn fail(&mut self, path: PathBuf, error: io::Error) {
        if self.hand_back_when_out_of_descriptors
            && super::helpers::out_of_descriptors(crate::error::raw_os_error(&error))
        {
            self.out_of_descriptors = true;
            return;
        }
        self.failures.push(RemoveFailure { path, error });
        if !self.continue_on_error {
            self.stop.store(true, Ordering::Relaxed);
        }
    }

    pub(super) fn stopped(&self) -> bool {
        if self.out_of_descriptors || self.stop.load(Ordering::Relaxed) {
            return true;
        }
        let late = self
            .deadline
            .is_some_and(|d| std::time::Instant::now() >= d);
        if late {
            self.stop.store(true, Ordering::Relaxed);
        }
        late
    }

    /// Adds `u+rwx` to the directory behind `fd` if it lacks any of them. Returns
    /// whether the mode changed.
    pub(super) fn make_owner_rwx(
        &mut self,
        fd: BorrowedFd<'_>,
        st: Option<&rfs::Stat>,
    ) -> io::Result<bool> {
        let mode = match st {
            Some(st) => mode_of(st),
            None => mode_of(&rfs::fstat(fd)?),
        };
        if mode.contains(Mode::RWXU) {
            return Ok(false);
        }
        rfs::fchmod(fd, mode | Mode::RWXU)?;
        self.stats.permissions_fixed += 1;
        Ok(true)
    }

    /// `unlinkat`, retried once after making the parent writable when that is allowed
    /// (`may_fix`, cleared on use) and the parent lacked `u+rwx`.
    pub(super) fn unlink_at(
        &mut self,
        parent: BorrowedFd<'_>,
        name: &CStr,
        flags: AtFlags,
        may_fix: &mut bool,
    ) -> Result<(), Errno> {
        match rfs::unlinkat(parent, name, flags) {
            Err(err @ (Errno::ACCESS | Errno::PERM)) if *may_fix => {
                *may_fix = false;
                match self.make_owner_rwx(parent, None) {
                    Ok(true) => rfs::unlinkat(parent, name, flags),
                    _ => Err(err),
                }
            }
            other => other,
        }
    }
}

/// Opens `name` in `parent` as a directory without following a symlink. On Linux a
/// directory we may not read is given `u+rwx` first, through an `O_PATH` descriptor.
pub(super) fn open_dir(
    sink: &mut Sink<'_>,
    parent: BorrowedFd<'_>,
    name: &CStr,
) -> Result<OwnedFd, Errno> {
    match rfs::openat(parent, name, DIR_FLAGS, Mode::empty()) {
        #[cfg(target_os = "linux")]
        Err(Errno::ACCESS) => open_unreadable_dir(sink, parent, name),
        other => {
            let _ = sink;
            other
        }
    }
}

#[cfg(target_os = "linux")]
fn open_unreadable_dir(
    sink: &mut Sink<'_>,
    parent: BorrowedFd<'_>,
    name: &CStr,
) -> Result<OwnedFd, Errno> {
    use std::os::fd::AsRawFd;
    let path_flags = OFlags::PATH | OFlags::NOFOLLOW | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let handle = rfs::openat(parent, name, path_flags, Mode::empty())?;
    let st = rfs::fstat(&handle)?;
    // The magic link names exactly the inode `handle` was opened on; following it cannot
    // be redirected by a rename or a symlink planted since.
    let magic = format!("/proc/self/fd/{}", handle.as_raw_fd());
    rfs::chmod(magic.as_str(), mode_of(&st) | Mode::RWXU).map_err(|_| Errno::ACCESS)?;
    sink.stats.permissions_fixed += 1;
    let fd = rfs::openat(parent, name, DIR_FLAGS, Mode::empty())?;
    if FileId::from_stat(&rfs::fstat(&fd)?) != FileId::from_stat(&st) {
        return Err(Errno::STALE);
    }
    Ok(fd)
}

/// Splits `path` into the directory to open (following links: it is the caller's path)
/// and the final name to open without following; `None` for paths such as `/` or `..`.
fn split(path: &Path) -> Option<(&Path, CString)> {
    let name = path.file_name()?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    CString::new(name.as_bytes())
        .ok()
        .map(|name| (parent, name))
}

/// Linux reports `O_NOFOLLOW|O_DIRECTORY` on a symlink as `ENOTDIR`; a symlinked root
/// is reported as `ELOOP` instead, the errno `O_NOFOLLOW` is documented to give, so
/// callers can tell it from a regular file.
fn root_open_error(
    parent: Option<&OwnedFd>,
    split: Option<&(&Path, CString)>,
    err: Errno,
) -> io::Error {
    if err == Errno::NOTDIR {
        if let (Some(parent), Some((_, name))) = (parent, split) {
            let is_link = rfs::statat(parent, name.as_c_str(), AtFlags::SYMLINK_NOFOLLOW)
                .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Symlink);
            if is_link {
                return Errno::LOOP.into();
            }
        }
    }
    err.into()
}

pub(super) fn remove_tree(
    path: &Path,
    options: &RemoveOptions,
) -> Result<RemoveStats, RemoveError> {
    remove_tree_impl(path, options, None)
}

pub(super) fn remove_tree_observed(
    path: &Path,
    options: &RemoveOptions,
    order: StepOrder,
    observer: &mut dyn FnMut(Step<'_>) -> bool,
) -> Result<RemoveStats, RemoveError> {
    remove_tree_impl(path, options, Some((order, observer)))
}

#[allow(clippy::too_many_lines)] // the root's steps, in the order they must happen
fn remove_tree_impl(
    path: &Path,
    options: &RemoveOptions,
    mut observed: Option<(StepOrder, &mut Observer<'_>)>,
) -> Result<RemoveStats, RemoveError> {
    let single = |err: io::Error| RemoveError::single(path, err);
    if let Some((_, observer)) = observed.as_mut() {
        let flags = dir_flags_raw();
        if !observer(Step::Open {
            dir: None,
            name: path.as_os_str(),
            flags,
        }) {
            return Err(single(stopped_error()));
        }
    }
    let split = split(path);
    let parent_fd = match &split {
        Some((parent, _)) => {
            let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
            Some(rfs::openat(CWD, *parent, flags, Mode::empty()).map_err(|e| single(e.into()))?)
        }
        None => None,
    };
    let stop = AtomicBool::new(false);
    let mut root_sink = Sink {
        failures: Vec::new(),
        stats: RemoveStats::default(),
        stop: &stop,
        continue_on_error: options.continue_on_error,
        deadline: options.deadline,
        hand_back_when_out_of_descriptors: false,
        out_of_descriptors: false,
    };
    let opened = match (&parent_fd, &split) {
        (Some(parent), Some((_, name))) => open_dir(&mut root_sink, parent.as_fd(), name),
        _ => match CString::new(path.as_os_str().as_bytes()) {
            Ok(whole) => open_dir(&mut root_sink, CWD, &whole),
            Err(_) => Err(Errno::INVAL),
        },
    };
    let root_fd =
        opened.map_err(|err| single(root_open_error(parent_fd.as_ref(), split.as_ref(), err)))?;
    let root_st = rfs::fstat(&root_fd).map_err(|e| single(e.into()))?;
    if let Some(expected) = options.expected_root {
        if FileId::from_stat(&root_st) != expected {
            match options.replaced_root_owner {
                Some(uid) if root_st.st_uid == uid => {}
                Some(_) => return Err(single(Errno::PERM.into())),
                None => {
                    return Err(single(io::Error::other(
                        "not the directory expected (its path now leads elsewhere); left in place",
                    )))
                }
            }
        }
    }
    let fence = Fence::of(root_fd.as_fd(), &root_st);
    // A root mounted over (a bind mount or another filesystem at the path) is not ours.
    if let Some(parent) = &parent_fd {
        let parent_st = rfs::fstat(parent).map_err(|e| single(e.into()))?;
        if !Fence::of(parent.as_fd(), &parent_st).same_mount(fence) {
            return Err(single(mount_point_error()));
        }
    }
    // The root is the tree's own: it gets the same fix as any directory inside.
    if let Err(err) = root_sink.make_owner_rwx(root_fd.as_fd(), Some(&root_st)) {
        root_sink.fail(path.to_path_buf(), err);
    }
    if let Some((order, observer)) = observed.as_mut() {
        return remove_root_observed(
            path,
            root_fd,
            root_sink,
            fence,
            parent_fd.as_ref().zip(split.as_ref()),
            (*order, &mut **observer),
        );
    }
    let mut root_dir = Dir::new(root_fd).map_err(|e| single(e.into()))?;
    let (mut entries, read_error) = list(&mut root_dir);
    if let Some(err) = read_error {
        root_sink.fail(path.to_path_buf(), err);
    }
    let root = dir_fd(&root_dir).map_err(single)?;

    // Subtrees first, so the largest pieces of work start early.
    entries.sort_by_key(|e| !e.maybe_dir);
    let subdirs = entries.iter().filter(|e| e.maybe_dir).count();
    let mut failures = root_sink.failures;
    let mut stats = root_sink.stats;
    let results = remove_entries(root, fence, path, &entries, subdirs, &stop, options);
    stats.threads = results.len();
    for (mut f, s) in results {
        failures.append(&mut f);
        stats.add(&s);
    }
    drop(root_dir);

    if options
        .deadline
        .is_some_and(|d| stop.load(Ordering::Relaxed) && std::time::Instant::now() >= d)
    {
        failures.push(RemoveFailure {
            path: path.to_path_buf(),
            error: io::Error::new(
                io::ErrorKind::TimedOut,
                "time limit reached; the rest of the tree is left in place",
            ),
        });
    } else if !stop.load(Ordering::Relaxed) {
        // The root's parent is outside the tree: its mode is never touched.
        let removed = match (&parent_fd, &split) {
            (Some(parent), Some((_, name))) => {
                rfs::unlinkat(parent, name.as_c_str(), AtFlags::REMOVEDIR)
            }
            _ => rfs::unlinkat(CWD, path, AtFlags::REMOVEDIR),
        };
        match removed {
            Ok(()) => stats.dirs += 1,
            Err(Errno::NOENT) => {}
            Err(err) => failures.push(RemoveFailure {
                path: path.to_path_buf(),
                error: err.into(),
            }),
        }
    }
    if failures.is_empty() {
        Ok(stats)
    } else {
        Err(RemoveError { failures, stats })
    }
}

impl RemoveStats {
    /// Adds a helper walker's counts (not its threads).
    fn add(&mut self, other: &RemoveStats) {
        self.files += other.files;
        self.dirs += other.dirs;
        self.permissions_fixed += other.permissions_fixed;
    }
}
