//! What the process table says: a process's state, group, session and start time, and the
//! files live processes hold open (for judging whether a dead owner's entries are in use).
//!
//! Linux `/proc` only; elsewhere nothing is known and callers fall back to their locks.

use std::collections::HashSet;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::file_id::FileId;

/// One process's `/proc/<pid>/stat`, the fields the guard uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ProcStat {
    /// Field 3: `R`, `S`, `D`, `Z` (zombie), `X` (dead), …
    pub state: u8,
    /// Field 5: the process group.
    pub pgrp: i64,
    /// Field 6: the session.
    pub session: i64,
    /// Field 22: the start time in clock ticks since boot.
    pub start_time: u64,
}

impl ProcStat {
    /// Whether the process has ended (a zombie waiting to be reaped counts as ended: it runs
    /// no code and holds no file).
    pub(super) fn ended(&self) -> bool {
        matches!(self.state, b'Z' | b'X' | b'x')
    }
}

/// Parses the text of `/proc/<pid>/stat`.
pub(super) fn parse_stat(text: &[u8]) -> Option<ProcStat> {
    // Field 2 (the command) is in parentheses and may hold anything: parse after the last ')'.
    let close = text.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(text.get(close + 1..)?).ok()?;
    let fields: Vec<&str> = rest.split_ascii_whitespace().take(20).collect();
    // fields[0] is field 3.
    Some(ProcStat {
        state: *fields.first()?.as_bytes().first()?,
        pgrp: fields.get(2)?.parse().ok()?,
        session: fields.get(3)?.parse().ok()?,
        start_time: fields.get(19)?.parse().ok()?,
    })
}

/// `/proc/<pid>/stat` of `pid`; `None` if there is no such process (or no `/proc`).
pub(super) fn stat_of(pid: u32) -> Option<ProcStat> {
    parse_stat(&std::fs::read(format!("/proc/{pid}/stat")).ok()?)
}

/// What a scan of every visible process found: the groups and sessions that still have a
/// running member, and the files and directories they hold (open descriptors, working and
/// root directories).
#[derive(Debug, Default)]
pub(super) struct ProcessScan {
    /// Process groups with a running member.
    pub groups: HashSet<i64>,
    /// Sessions with a running member.
    pub sessions: HashSet<i64>,
    /// `(device, inode)` of every file or directory held.
    pub held: HashSet<FileId>,
    /// The paths the kernel gives for them (`readlink`), sorted, to find what lies inside a
    /// directory entry.
    pub held_paths: Vec<PathBuf>,
    /// Whether there is a process table to scan at all (Linux `/proc`); without one the
    /// scan knows nothing and the guard goes by locks and process ids alone.
    pub available: bool,
    /// Whether every process was examined (false: the deadline or [`MAX_HELD`] was hit, and
    /// nothing can be said to be unused).
    pub complete: bool,
}

/// The most descriptors (of all processes together) a scan examines before giving up.
pub(super) const MAX_HELD: usize = 1_000_000;

impl ProcessScan {
    /// Scans `/proc`, stopping (incomplete) at `deadline`. The sweeping process counts too:
    /// another of its threads may use a dead owner's entry.
    pub(super) fn run(deadline: Option<std::time::Instant>) -> Self {
        let mut scan = Self::default();
        if !Path::new("/proc/self/stat").exists() {
            return scan;
        }
        scan.available = true;
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return scan;
        };
        let mut examined = 0usize;
        scan.complete = true;
        for entry in dir {
            let Ok(entry) = entry else {
                scan.complete = false;
                break;
            };
            let Some(pid) = std::str::from_utf8(entry.file_name().as_bytes())
                .ok()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            if deadline.is_some_and(|d| std::time::Instant::now() >= d) || examined > MAX_HELD {
                scan.complete = false;
                break;
            }
            let Some(stat) = stat_of(pid) else {
                continue; // gone since listed
            };
            if stat.ended() {
                continue;
            }
            scan.groups.insert(stat.pgrp);
            scan.sessions.insert(stat.session);
            let base = PathBuf::from(format!("/proc/{pid}"));
            for link in ["cwd", "root"] {
                scan.note(&base.join(link));
            }
            // A process we may not look into (another user's, when not root) cannot use our
            // 0600/0700 entries by name either; its descriptors could only be inherited ones,
            // which we cannot see: left out.
            let Ok(fds) = std::fs::read_dir(base.join("fd")) else {
                continue;
            };
            for fd in fds.flatten() {
                examined += 1;
                scan.note(&fd.path());
            }
        }
        // Sorted component-wise, everything below a directory follows it in one run.
        scan.held_paths.sort_unstable();
        scan.held_paths.dedup();
        scan
    }

    fn note(&mut self, link: &Path) {
        // stat follows the magic link to the very file, whatever its name now.
        if let Ok(st) = rustix::fs::stat(link) {
            self.held.insert(FileId::from_stat(&st));
        }
        if let Ok(target) = std::fs::read_link(link) {
            if target.is_absolute() {
                self.held_paths.push(target);
            }
        }
    }

    /// Whether `(dev, ino)` is held, or (for a directory at `path`, or at `real`, the same
    /// path with its symlinks resolved) anything below it.
    pub(super) fn holds(&self, dev: u64, ino: u64, dir_paths: &[&Path]) -> bool {
        self.held.contains(&FileId { dev, ino })
            || dir_paths.iter().any(|dir| {
                let first = self
                    .held_paths
                    .partition_point(|held| held.as_path() < *dir);
                self.held_paths
                    .get(first)
                    .is_some_and(|held| held.starts_with(dir))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_parse_whatever_the_command_name() {
        let line = b"1234 (a) b (c)) S 1 77 88 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 4242 0 0";
        let st = parse_stat(line).unwrap();
        assert_eq!(
            (st.state, st.pgrp, st.session, st.start_time),
            (b'S', 77, 88, 4242)
        );
        assert!(!st.ended());
        assert!(parse_stat(b"1 (x) Z 1").is_none());
    }

    #[test]
    fn a_scan_sees_a_file_this_process_holds_and_the_directory_around_it() {
        if !Path::new("/proc/self/fd").exists() {
            return;
        }
        let dir = std::env::temp_dir().join(format!("ft-procs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        let held = std::fs::File::create(dir.join("held")).unwrap();
        let st = rustix::fs::fstat(&held).unwrap();
        let dir_st = rustix::fs::stat(&dir).unwrap();
        let (dev, ino) = (super::super::stat_dev(&st), super::super::stat_ino(&st));
        let (dir_dev, dir_ino) = (
            super::super::stat_dev(&dir_st),
            super::super::stat_ino(&dir_st),
        );
        let scan = ProcessScan::run(None);
        assert!(scan.available && scan.complete);
        assert!(scan.holds(dev, ino, &[]));
        let real = std::fs::canonicalize(&dir).unwrap();
        assert!(scan.holds(dir_dev, dir_ino, &[real.as_path()]));
        let other = real.with_file_name("ft-procs-elsewhere");
        assert!(!scan.holds(dir_dev, dir_ino, &[other.as_path()]));
        let group = i64::from(rustix::process::getpgrp().as_raw_nonzero().get());
        assert!(scan.groups.contains(&group));
        drop(held);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_directory_holds_what_lies_below_it_and_nothing_beside_it() {
        let mut held_paths: Vec<PathBuf> = ["/a/b-x", "/a/b/c/d", "/a/bb", "/z"]
            .iter()
            .map(PathBuf::from)
            .collect();
        held_paths.sort_unstable();
        let scan = ProcessScan {
            held_paths,
            available: true,
            complete: true,
            ..ProcessScan::default()
        };
        let holds = |dir: &str| scan.holds(0, 0, &[Path::new(dir)]);
        assert!(holds("/a/b") && holds("/a/b/c") && holds("/a/b/c/d") && holds("/a"));
        assert!(!holds("/a/c") && !holds("/a/b/c/e") && !holds("/y"));
        assert!(!scan.holds(0, 0, &[]));
    }

    #[test]
    fn this_process_is_seen_running() {
        if Path::new("/proc/self/stat").exists() {
            let st = stat_of(std::process::id()).unwrap();
            assert!(!st.ended());
            assert!(st.start_time > 0);
        }
    }
}
