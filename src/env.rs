//! Finding the default temporary directory, the way Python's `tempfile` does.
//!
//! Candidates are tried in order: the `TMPDIR`, `TEMP` and `TMP` environment variables, the
//! platform's list, then the current directory. A candidate is used only once a file has been
//! created, written and removed in it. The result is cached for the process and can be
//! overridden with [`set_default_tempdir`].

use std::ffi::OsStr;
use std::fmt;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use crate::create::{none_if_taken, Builder};
use crate::ospath::abspath;

/// Where a discovered temporary directory came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Named by this environment variable.
    EnvVar(&'static str),
    /// One of the platform's usual temporary directories.
    Platform,
    /// The current working directory, the last resort.
    CurrentDir,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::EnvVar(name) => write!(f, "${name}"),
            Source::Platform => f.write_str("platform default"),
            Source::CurrentDir => f.write_str("current directory"),
        }
    }
}

/// One directory considered during discovery.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The directory as listed (made absolute before it is tried, except `.`).
    pub dir: PathBuf,
    /// Why it is on the list.
    pub source: Source,
}

/// The outcome of a discovery run.
#[derive(Debug)]
pub struct Discovery {
    /// The directory chosen, absolute unless the last-resort `.` was chosen.
    pub dir: PathBuf,
    /// Why it was chosen.
    pub source: Source,
    /// Candidates tried before it, each with the error that ruled it out.
    pub rejected: Vec<(PathBuf, io::Error)>,
}

const ENV_VARS: [&str; 3] = ["TMPDIR", "TEMP", "TMP"];

#[cfg(not(windows))]
fn platform_dirs() -> Vec<PathBuf> {
    ["/tmp", "/var/tmp", "/usr/tmp"]
        .iter()
        .map(PathBuf::from)
        .collect()
}

#[cfg(windows)]
fn platform_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(profile) = std::env::var_os("USERPROFILE") {
        dirs.push(Path::new(&profile).join(r"AppData\Local\Temp"));
    }
    if let Some(root) = std::env::var_os("SYSTEMROOT") {
        dirs.push(Path::new(&root).join("Temp"));
    }
    dirs.extend(
        [r"c:\temp", r"c:\tmp", r"\temp", r"\tmp"]
            .iter()
            .map(PathBuf::from),
    );
    dirs
}

/// The directories discovery tries, in order.
#[must_use]
pub fn candidate_dirs() -> Vec<Candidate> {
    let mut list = Vec::new();
    for name in ENV_VARS {
        if let Some(value) = std::env::var_os(name) {
            if !value.is_empty() {
                list.push(Candidate {
                    dir: PathBuf::from(value),
                    source: Source::EnvVar(name),
                });
            }
        }
    }
    list.extend(platform_dirs().into_iter().map(|dir| Candidate {
        dir,
        source: Source::Platform,
    }));
    list.push(Candidate {
        dir: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
        source: Source::CurrentDir,
    });
    list
}

/// Names tried per directory before discovery moves on, as the standard module.
const PROBE_ATTEMPTS: u32 = 100;

/// Proves `dir` usable by creating, writing and removing a file in it, named with no prefix
/// as the standard module's probe.
///
/// Returns `Ok(())` on success and the error that ruled the directory out otherwise (as the
/// OS gave it, without the path: the directory is reported beside it).
fn probe_dir(dir: &Path) -> io::Result<()> {
    let mut builder = Builder::new();
    builder.prefix("").max_attempts(PROBE_ATTEMPTS);
    let (mut file, path) = builder.make_in_uncounted(
        dir,
        "file",
        |_, _| Ok(()),
        |path| none_if_taken(builder.open_new_file(path), path),
    )?;
    let written = file.write_all(b"blat");
    drop(file);
    let removed = std::fs::remove_file(&path);
    written?;
    removed
}

/// Runs discovery now, without consulting or filling the cache.
///
/// # Errors
///
/// `NotFound` ("No usable temporary directory found in [...]") when no candidate works.
pub fn discover() -> io::Result<Discovery> {
    let candidates = candidate_dirs();
    let mut rejected = Vec::new();
    for candidate in &candidates {
        let dir = if candidate.dir.as_os_str() == OsStr::new(".") {
            candidate.dir.clone()
        } else {
            abspath(&candidate.dir)
        };
        match probe_dir(&dir) {
            Ok(()) => {
                return Ok(Discovery {
                    dir,
                    source: candidate.source.clone(),
                    rejected,
                })
            }
            Err(err) => rejected.push((dir, err)),
        }
    }
    let listed: Vec<String> = candidates
        .iter()
        .map(|c| format!("'{}'", c.dir.display()))
        .collect();
    Err(io::Error::new(
        io::ErrorKind::NotFound,
        format!(
            "No usable temporary directory found in [{}]",
            listed.join(", ")
        ),
    ))
}

static DEFAULT_TEMPDIR: RwLock<Option<PathBuf>> = RwLock::new(None);

/// The default temporary directory: the override if one is set, else the cached result of
/// [`discover`] (run on first use).
///
/// # Errors
///
/// As [`discover`].
pub fn default_tempdir() -> io::Result<PathBuf> {
    if let Some(dir) = DEFAULT_TEMPDIR
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .as_ref()
    {
        return Ok(dir.clone());
    }
    let mut slot = DEFAULT_TEMPDIR
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(dir) = slot.as_ref() {
        return Ok(dir.clone());
    }
    let dir = discover()?.dir;
    *slot = Some(dir.clone());
    Ok(dir)
}

/// The builder's forms that create in the default temporary directory. They live here, with
/// discovery, so that `create` does not depend on this module (which uses its loop).
impl Builder {
    /// [`Builder::create_unowned_file_in`] the default temporary directory: nothing removes
    /// the file ([`Builder::tempfile`] is the owning form).
    ///
    /// # Errors
    ///
    /// As [`Builder::create_unowned_file_in`], or discovery's error.
    pub fn create_unowned_file(&self) -> io::Result<(File, PathBuf)> {
        self.create_unowned_file_in(default_tempdir()?)
    }

    /// [`Builder::create_unowned_dir_in`] the default temporary directory: nothing removes
    /// the directory ([`Builder::tempdir`] is the owning form).
    ///
    /// # Errors
    ///
    /// As [`Builder::create_unowned_dir_in`], or discovery's error.
    pub fn create_unowned_dir(&self) -> io::Result<PathBuf> {
        self.create_unowned_dir_in(default_tempdir()?)
    }
}

/// Overrides the default temporary directory for the whole process; `None` forgets the
/// override and the cache, so the next use runs discovery again.
pub fn set_default_tempdir(dir: Option<PathBuf>) {
    *DEFAULT_TEMPDIR
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = dir;
}

/// Reads a boolean `FERROTEMP_*` switch as every part of ferrotemp does: `1`, `true`, `yes`,
/// `on` are on and `0`, `false`, `no`, `off` and the empty string are off, in any case and
/// with surrounding blanks ignored. Anything else is no answer (`None`).
#[must_use]
pub(crate) fn parse_switch(value: &OsStr) -> Option<bool> {
    let value = value.to_str()?.trim().to_ascii_lowercase();
    match value.as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" | "" => Some(false),
        _ => None,
    }
}

/// The switch `name` from the environment: `default` when it is unset or unrecognised.
///
/// The second value is the warning to show (once) for an unrecognised value; the core never
/// prints it itself.
#[must_use]
pub fn read_switch(name: &str, default: bool) -> (bool, Option<String>) {
    let Some(value) = std::env::var_os(name) else {
        return (default, None);
    };
    if let Some(on) = parse_switch(&value) {
        return (on, None);
    }
    let warning = format!(
        "{name}={:?} is not understood (on: 1, true, yes, on; off: 0, false, no, off, empty); \
         using the default, {}",
        value.to_string_lossy(),
        if default { "on" } else { "off" }
    );
    (default, Some(warning))
}

/// ferrotemp's on/off switches and their defaults, as the environment may set them.
pub const SWITCHES: [(&str, bool); 5] = [
    ("FERROTEMP_AS_TEMPFILE", false),
    ("FERROTEMP_KEEP", false),
    ("FERROTEMP_GUARD", true),
    ("FERROTEMP_GUARD_SWEEP", true),
    ("FERROTEMP_GUARD_FLOCK", true),
];

/// The warnings for every switch in [`SWITCHES`] the environment sets to a value not
/// understood (see [`read_switch`]), for a program to show once at its start (the Python
/// package at import, the `ferrotemp` command before a job). `FERROTEMP_KEEP=on-error` and
/// `FERROTEMP_GUARD=all` are understood: they are more than on/off.
#[must_use]
pub fn switch_warnings() -> Vec<String> {
    SWITCHES
        .iter()
        .filter(|(name, _)| {
            let value =
                std::env::var_os(name).map(|v| v.to_string_lossy().trim().to_ascii_lowercase());
            !matches!(
                (*name, value.as_deref()),
                ("FERROTEMP_KEEP", Some("on-error" | "on_error"))
                    | ("FERROTEMP_GUARD", Some("all"))
            )
        })
        .filter_map(|(name, default)| read_switch(name, *default).1)
        .collect()
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn switches_read_every_documented_spelling_in_any_case() {
        for on in ["1", "true", "yes", "on", " ON ", "True", "YES"] {
            assert_eq!(parse_switch(OsStr::new(on)), Some(true), "{on:?}");
        }
        for off in ["0", "false", "no", "off", "", "  ", "FALSE", "Off", "No"] {
            assert_eq!(parse_switch(OsStr::new(off)), Some(false), "{off:?}");
        }
        for unknown in ["maybe", "2", "-1", "y", "n", "enable", "0x1"] {
            assert_eq!(parse_switch(OsStr::new(unknown)), None, "{unknown:?}");
        }
    }

    #[test]
    fn an_unrecognised_switch_gives_its_default_and_one_warning() {
        let name = "FERROTEMP_TEST_SWITCH_UNRECOGNISED";
        std::env::set_var(name, "maybe");
        let (on, warning) = read_switch(name, true);
        std::env::remove_var(name);
        assert!(on);
        let warning = warning.unwrap();
        assert!(
            warning.contains(name) && warning.contains("\"maybe\""),
            "{warning}"
        );
        assert_eq!(read_switch(name, false), (false, None));
    }

    #[test]
    fn probe_accepts_a_writable_dir_and_leaves_it_empty() {
        let dir = std::env::temp_dir().join(format!("ft-probe-{}", std::process::id()));
        std::fs::create_dir(&dir).unwrap();
        probe_dir(&dir).unwrap();
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        std::fs::remove_dir(&dir).unwrap();
    }

    #[test]
    fn probe_rejects_a_missing_dir() {
        let err = probe_dir(Path::new("/nonexistent-ferrotemp-dir")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }
}

/// What the filesystem holding a directory is and how much room it has.
#[derive(Debug, Clone)]
pub struct FsInfo {
    /// The filesystem type's usual name (`tmpfs`, `ext4`, …), or its magic number in hex.
    pub fs_type: String,
    /// Bytes available to an unprivileged user.
    pub free_bytes: u64,
    /// Size of the filesystem in bytes.
    pub total_bytes: u64,
}

/// The type and free space of the filesystem holding `dir`.
///
/// # Errors
///
/// The error of `statfs`, naming `dir`.
#[cfg(target_os = "linux")]
pub fn filesystem_info(dir: &Path) -> io::Result<FsInfo> {
    let st = rustix::fs::statfs(dir).map_err(|e| crate::error::with_path(e.into(), dir))?;
    let vst = rustix::fs::statvfs(dir).map_err(|e| crate::error::with_path(e.into(), dir))?;
    #[allow(clippy::useless_conversion, clippy::unnecessary_cast)]
    let magic = st.f_type as i64;
    let fs_type = match magic {
        0x0102_1994 => "tmpfs".to_owned(),
        0xEF53 => "ext2/3/4".to_owned(),
        0x5846_5342 => "xfs".to_owned(),
        0x9123_683E => "btrfs".to_owned(),
        0x794C_7630 => "overlayfs".to_owned(),
        0x6969 => "nfs".to_owned(),
        0x2FC1_2FC1 => "zfs".to_owned(),
        0x0102_1997 => "9p".to_owned(),
        0x8584_58F6 => "ramfs".to_owned(),
        0x6573_5546 => "fuse".to_owned(),
        0xF15F => "ecryptfs".to_owned(),
        0x4d44 => "vfat".to_owned(),
        0x5346_544E => "ntfs".to_owned(),
        other => format!("0x{other:x}"),
    };
    Ok(FsInfo {
        fs_type,
        free_bytes: vst.f_bavail.saturating_mul(vst.f_frsize),
        total_bytes: vst.f_blocks.saturating_mul(vst.f_frsize),
    })
}

/// The filesystem type is not known off Linux; free space comes from `statvfs` on POSIX.
///
/// # Errors
///
/// The error of `statvfs`, naming `dir`.
#[cfg(all(unix, not(target_os = "linux")))]
pub fn filesystem_info(dir: &Path) -> io::Result<FsInfo> {
    let vst = rustix::fs::statvfs(dir).map_err(|e| crate::error::with_path(e.into(), dir))?;
    Ok(FsInfo {
        fs_type: "unknown".to_owned(),
        free_bytes: vst.f_bavail.saturating_mul(vst.f_frsize),
        total_bytes: vst.f_blocks.saturating_mul(vst.f_frsize),
    })
}

/// Not available on this platform.
///
/// # Errors
///
/// Always `Unsupported`.
#[cfg(not(unix))]
pub fn filesystem_info(_dir: &Path) -> io::Result<FsInfo> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}
