//! Any command in a private temp dir: the job behind `ferrotemp run` (the native command and
//! the Python package's `ferrotemp.run`).
//!
//! A [`Job`] makes a [`Workspace`], starts a command with `TMPDIR`, `TEMP` and `TMP` naming
//! it, measures it against `max_bytes` while the command runs, and ends it when the command
//! ends. The command inherits the standard streams, the process group and a lease on the
//! crash guard's record ([`crate::guard::lease`]): if the process running the job is killed,
//! the workspace stays while the command or a descendant holding the lease lives, and the
//! first sweep after them reclaims it.
//!
//! The command starts with `posix_spawnp` (a `PATH` search as a shell does), an empty signal
//! mask and `SIGPIPE`/`SIGXFSZ`/`SIGCHLD` at their default (a Python or Rust parent ignores
//! the first two; an ignored `SIGCHLD` is inherited across exec), and
//! no descriptor but the standard ones and the lease beyond what the caller left inheritable.
//!
//! Two ways to wait: [`Job::wait`] leaves signals alone (a library's caller keeps its own
//! handling), and, on Linux, [`Job::wait_forwarding`] takes the signals a [`Forwarding`]
//! blocked with `sigtimedwait` and passes on each one sent to this process by another process
//! (a terminal's `^C` reaches the command through the process group, so a signal the kernel
//! sent is not passed on twice). Both run the quota checks between.
//!
//! The core prints nothing: an overrun comes back as a [`QuotaNotice`] for the caller to
//! report.

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::workspace::{Ending, KeepPolicy, Workspace};
use crate::RemoveError;

/// Time between two measurements of the workspace against `max_bytes`.
pub const CHECK_INTERVAL: Duration = Duration::from_millis(250);
/// Time between `SIGTERM` and `SIGKILL` when a quota stops the command.
pub const KILL_GRACE: Duration = Duration::from_secs(5);

/// How a [`Job`] runs; `Default` is no limit, the default keep policy, the default temp dir.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The directory to make the workspace in (`None`: the default temp dir).
    pub dir: Option<std::path::PathBuf>,
    /// Report (and with `kill_on_quota`, stop) a command whose workspace goes over this.
    pub max_bytes: Option<u64>,
    /// The keep policy (`None`: `FERROTEMP_KEEP`'s default).
    pub keep: Option<KeepPolicy>,
    /// The workspace's name (`None`: the program's file name).
    pub name: Option<String>,
    /// Stop the command when it goes over `max_bytes`: `SIGTERM`, then `SIGKILL` after
    /// `grace`.
    pub kill_on_quota: bool,
    /// The command's environment, before `TMPDIR`, `TEMP` and `TMP` are set (`None`: this
    /// process's).
    pub env: Option<Vec<(OsString, OsString)>>,
    /// Time between two measurements.
    pub check_interval: Duration,
    /// Time between `SIGTERM` and `SIGKILL`.
    pub grace: Duration,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            dir: None,
            max_bytes: None,
            keep: None,
            name: None,
            kill_on_quota: false,
            env: None,
            check_interval: CHECK_INTERVAL,
            grace: KILL_GRACE,
        }
    }
}

/// A measurement found the workspace over `max_bytes` (reported once per job).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaNotice {
    /// Bytes on disk in the workspace, its directory's own blocks not counted (what the limit
    /// is compared with).
    pub used: u64,
    /// The limit.
    pub limit: u64,
    /// Whether the command is being stopped (`SIGTERM` sent).
    pub stopping: bool,
}

/// One command in its workspace. Dropping a job whose command still runs kills the command
/// (`SIGKILL`) and reaps it; the workspace then ends as a failed job.
#[derive(Debug)]
pub struct Job {
    workspace: Workspace,
    argv: Vec<CString>,
    envp: Vec<CString>,
    max_bytes: Option<u64>,
    kill_on_quota: bool,
    check_interval: Duration,
    grace: Duration,
    check_at: Option<Instant>,
    kill_at: Option<Instant>,
    pid: Option<libc::pid_t>,
    status: Option<i32>,
    over_quota: bool,
}

impl Job {
    /// Makes the workspace for `args` (the program, then its arguments); nothing runs yet.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for no program or a NUL byte in an argument or the environment; the
    /// workspace's creation error.
    pub fn new(args: &[OsString], options: &RunOptions) -> io::Result<Self> {
        let Some(first) = args.first() else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no command to run",
            ));
        };
        let c_args = args
            .iter()
            .map(|a| c_string(a.as_bytes()))
            .collect::<io::Result<Vec<_>>>()?;
        let name = match &options.name {
            Some(name) => name.clone(),
            None => default_name(first),
        };
        let mut env: Vec<(OsString, OsString)> = match &options.env {
            Some(env) => env.clone(),
            None => std::env::vars_os().collect(),
        };
        env.retain(|(key, _)| !matches!(key.as_bytes(), b"TMPDIR" | b"TEMP" | b"TMP"));
        let mut envp = env
            .iter()
            .map(|(key, value)| {
                if key.is_empty() || key.as_bytes().contains(&b'=') {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "illegal environment variable name",
                    ));
                }
                let mut entry = key.as_bytes().to_vec();
                entry.push(b'=');
                entry.extend_from_slice(value.as_bytes());
                c_string(&entry)
            })
            .collect::<io::Result<Vec<_>>>()?;
        let workspace = Workspace::builder(name)
            .max_bytes(options.max_bytes)
            .keep(options.keep)
            .dir(options.dir.clone())
            .command(Some(command_line(args)))
            .create()?;
        for var in ["TMPDIR", "TEMP", "TMP"] {
            let mut entry = format!("{var}=").into_bytes();
            entry.extend_from_slice(workspace.path().as_os_str().as_bytes());
            envp.push(c_string(&entry)?);
        }
        Ok(Self {
            workspace,
            argv: c_args,
            envp,
            max_bytes: options.max_bytes,
            kill_on_quota: options.kill_on_quota,
            check_interval: options.check_interval,
            grace: options.grace,
            check_at: options.max_bytes.map(|_| Instant::now()),
            kill_at: None,
            pid: None,
            status: None,
            over_quota: false,
        })
    }

    /// The workspace's directory, the command's `TMPDIR`.
    #[must_use]
    pub fn path(&self) -> &Path {
        self.workspace.path()
    }

    /// The workspace.
    #[must_use]
    pub fn workspace(&self) -> &Workspace {
        &self.workspace
    }

    /// The command's pid once started.
    #[must_use]
    pub fn pid(&self) -> Option<libc::pid_t> {
        self.pid
    }

    /// The command's status once reaped, as `subprocess` gives it: the exit code, or `-N`
    /// when signal `N` ended it.
    #[must_use]
    pub fn status(&self) -> Option<i32> {
        self.status
    }

    /// Whether a measurement found the workspace over `max_bytes`.
    #[must_use]
    pub fn over_quota(&self) -> bool {
        self.over_quota
    }

    /// Starts the command. Returns its pid.
    ///
    /// # Errors
    ///
    /// `posix_spawnp`'s (`NotFound`: no such program on `PATH`; `PermissionDenied`: not
    /// executable); out of descriptors for the lease; `AlreadyExists` if already started.
    pub fn spawn(&mut self) -> io::Result<libc::pid_t> {
        if self.pid.is_some() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "already started",
            ));
        }
        let lease = crate::guard::lease()?;
        // The lease is close-on-exec; the child gets it as `carrier` (a number free here,
        // close-on-exec too, which the child's dup2 replaces with an inheritable copy), so no
        // process another thread starts meanwhile inherits it.
        let carrier = match &lease {
            Some(fd) => Some(fd.try_clone()?),
            None => None,
        };
        let pid = spawnp(&self.argv, &self.envp, lease.as_ref().zip(carrier.as_ref()))?;
        self.pid = Some(pid);
        Ok(pid)
    }

    /// Sends `signal` to the command if it has not been reaped.
    pub fn kill(&self, signal: i32) {
        if let (Some(pid), None) = (self.pid, self.status) {
            // SAFETY: kill(2) has no memory effects; the pid is our unreaped child.
            unsafe { libc::kill(pid, signal) };
        }
    }

    /// Kills the command (`SIGKILL`) if it has not been reaped, and reaps it (blocking).
    pub fn kill_and_reap(&mut self) {
        let (Some(pid), None) = (self.pid, self.status) else {
            return;
        };
        let mut raw = 0;
        // SAFETY: kill(2) and waitpid(2) on our own unreaped child; `raw` is an out-pointer.
        let done = unsafe {
            libc::kill(pid, libc::SIGKILL);
            loop {
                let done = libc::waitpid(pid, &raw mut raw, 0);
                if done >= 0 || io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                    break done;
                }
            }
        };
        self.status = Some(if done > 0 {
            exit_code(raw)
        } else {
            -libc::SIGKILL
        });
    }

    /// The time until the next thing [`Job::tick`] has to do, or `None`: nothing to do.
    #[must_use]
    pub fn next_wait(&self, now: Instant) -> Option<Duration> {
        [self.check_at, self.kill_at]
            .into_iter()
            .flatten()
            .min()
            .map(|at| at.saturating_duration_since(now))
    }

    /// Does what is due at `now`: the `SIGKILL` a quota's grace ends with, and the
    /// measurement against `max_bytes` (once over, no more measurements). Returns the
    /// overrun the measurement found.
    pub fn tick(&mut self, now: Instant) -> Option<QuotaNotice> {
        if self.kill_at.is_some_and(|at| now >= at) {
            self.kill_at = None;
            self.kill(libc::SIGKILL);
        }
        let limit = self.max_bytes?;
        if self.check_at.is_none_or(|at| now < at) {
            return None;
        }
        // A time too far to reach (an infinite interval from Python) is never.
        self.check_at = now.checked_add(self.check_interval);
        // A failed walk (the tree changed under it): the next measurement may do better.
        let usage = self.workspace.usage().ok()?;
        // The workspace's own reading (the limit is on the content, not the directory's own
        // blocks), as its creators' refusals use; the content is what is reported.
        if !self.workspace.measured_over() {
            return None;
        }
        let used = self.workspace.content_bytes(&usage);
        self.over_quota = true;
        self.check_at = None;
        if self.kill_on_quota {
            self.kill(libc::SIGTERM);
            self.kill_at = now.checked_add(self.grace);
        }
        Some(QuotaNotice {
            used,
            limit,
            stopping: self.kill_on_quota,
        })
    }

    /// Reaps the command if it has ended (`waitpid` with `WNOHANG`); whether it has. A
    /// command reaped by someone else (`ECHILD`) counts as ended with status 0.
    ///
    /// # Errors
    ///
    /// `waitpid`'s other errors.
    pub fn try_reap(&mut self) -> io::Result<bool> {
        if self.status.is_some() {
            return Ok(true);
        }
        let Some(pid) = self.pid else {
            return Ok(false);
        };
        let mut raw = 0;
        // SAFETY: `raw` is a valid out-pointer for the call.
        let done = unsafe { libc::waitpid(pid, &raw mut raw, libc::WNOHANG) };
        if done == 0 {
            return Ok(false);
        }
        if done < 0 {
            let err = io::Error::last_os_error();
            return match err.raw_os_error() {
                Some(libc::ECHILD) => {
                    self.status = Some(0);
                    Ok(true)
                }
                Some(libc::EINTR) => Ok(false),
                _ => Err(err),
            };
        }
        self.status = Some(exit_code(raw));
        Ok(true)
    }

    /// Waits for the command, signals untouched: on its pidfd where there is one (Linux
    /// 5.3+), else by polling `waitpid`; the quota checks run between. `until` bounds the
    /// wait (`None`: until the command ends); returns whether it ended.
    ///
    /// # Errors
    ///
    /// `waitpid`'s.
    pub fn wait(
        &mut self,
        until: Option<Instant>,
        mut on_notice: impl FnMut(&QuotaNotice),
    ) -> io::Result<bool> {
        let pidfd = self.pid.and_then(pidfd_open);
        let mut delay = Duration::from_millis(1);
        loop {
            if self.try_reap()? {
                return Ok(true);
            }
            let now = Instant::now();
            if until.is_some_and(|at| now >= at) {
                return Ok(false);
            }
            let mut pause = self.next_wait(now);
            if let Some(at) = until {
                let left = at.saturating_duration_since(now);
                pause = Some(pause.map_or(left, |p| p.min(left)));
            }
            if let Some(fd) = &pidfd {
                poll_readable(fd, pause);
            } else {
                let step = pause.map_or(delay, |p| p.min(delay));
                std::thread::sleep(step);
                delay = (delay * 2).min(Duration::from_millis(50));
            }
            if let Some(notice) = self.tick(Instant::now()) {
                on_notice(&notice);
            }
        }
    }

    /// Waits for the command while passing on the signals `forwarding` blocked (see the module
    /// docs); the quota checks run between. Returns when the command has been reaped.
    ///
    /// # Errors
    ///
    /// `sigtimedwait`'s or `waitpid`'s.
    #[cfg(target_os = "linux")]
    pub fn wait_forwarding(
        &mut self,
        forwarding: &Forwarding,
        mut on_notice: impl FnMut(&QuotaNotice),
    ) -> io::Result<()> {
        // si_code of a signal the kernel sent (a terminal's ^C, ^\ and hangup go to the whole
        // foreground process group, the command included).
        const SI_KERNEL: i32 = 0x80;
        loop {
            if self.try_reap()? {
                return Ok(());
            }
            let timeout = self.next_wait(Instant::now());
            match forwarding.next_signal(timeout)? {
                Some((_, SI_KERNEL) | (libc::SIGCHLD, _)) | None => {}
                Some((signo, _)) => self.kill(signo),
            }
            if let Some(notice) = self.tick(Instant::now()) {
                on_notice(&notice);
            }
        }
    }

    /// Ends the workspace: removed unless its keep policy keeps it for a job that ended `ok`.
    /// See [`Workspace::finish`].
    ///
    /// # Errors
    ///
    /// The removal's failures.
    pub fn finish(&self, ok: bool) -> Result<Ending, RemoveError> {
        self.workspace.finish(ok)
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        if let (Some(pid), None) = (self.pid, self.status) {
            // SAFETY: as in `kill`; then a blocking reap of that same child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                let mut raw = 0;
                while libc::waitpid(pid, &raw mut raw, 0) < 0
                    && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR)
                {
                }
            }
            let _ = self.workspace.finish(false);
        }
    }
}

/// The signals `ferrotemp run` passes on, blocked (with `SIGCHLD`) for as long as this value
/// lives, so that none is lost between the command's start and the wait: the command starts
/// with an empty mask whatever this thread's is.
#[cfg(target_os = "linux")]
#[derive(Debug)]
pub struct Forwarding {
    set: libc::sigset_t,
    previous: libc::sigset_t,
}

#[cfg(target_os = "linux")]
impl Forwarding {
    /// The signals passed on: those a user sends to stop, hang up, or poke a job.
    pub const SIGNALS: [i32; 9] = [
        libc::SIGINT,
        libc::SIGTERM,
        libc::SIGHUP,
        libc::SIGQUIT,
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGALRM,
        libc::SIGWINCH,
        libc::SIGCONT,
    ];

    /// Blocks [`Forwarding::SIGNALS`] and `SIGCHLD` in the calling thread.
    ///
    /// # Errors
    ///
    /// `pthread_sigmask`'s.
    pub fn block() -> io::Result<Self> {
        // SAFETY: sigset_t is plain data, initialised by sigemptyset before any use.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            let mut previous: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&raw mut set);
            for signo in Self::SIGNALS.into_iter().chain([libc::SIGCHLD]) {
                libc::sigaddset(&raw mut set, signo);
            }
            let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &raw const set, &raw mut previous);
            if rc != 0 {
                return Err(io::Error::from_raw_os_error(rc));
            }
            Ok(Self { set, previous })
        }
    }

    /// The next blocked signal and its `si_code`, waiting at most `timeout` (`None`: no
    /// bound); `None` when the time ran out or a handler interrupted the wait.
    fn next_signal(&self, timeout: Option<Duration>) -> io::Result<Option<(i32, i32)>> {
        // SAFETY: siginfo_t is plain data the call fills; the set was initialised in `block`.
        let (signo, info) = unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let signo = match timeout {
                None => libc::sigwaitinfo(&raw const self.set, &raw mut info),
                Some(timeout) => {
                    let ts = libc::timespec {
                        tv_sec: libc::time_t::try_from(timeout.as_secs())
                            .unwrap_or(libc::time_t::MAX),
                        // c_long is 32 bits on some targets.
                        #[allow(clippy::unnecessary_fallible_conversions)]
                        tv_nsec: libc::c_long::try_from(timeout.subsec_nanos()).unwrap_or(0),
                    };
                    libc::sigtimedwait(&raw const self.set, &raw mut info, &raw const ts)
                }
            };
            (signo, info)
        };
        if signo < 0 {
            let err = io::Error::last_os_error();
            return match err.raw_os_error() {
                Some(libc::EAGAIN | libc::EINTR) => Ok(None),
                _ => Err(err),
            };
        }
        Ok(Some((signo, info.si_code)))
    }
}

#[cfg(target_os = "linux")]
impl Drop for Forwarding {
    /// Restores the mask as it was; signals still pending are then delivered.
    fn drop(&mut self) {
        // SAFETY: restores the mask `block` saved.
        unsafe {
            libc::pthread_sigmask(
                libc::SIG_SETMASK,
                &raw const self.previous,
                std::ptr::null_mut(),
            )
        };
    }
}

/// The exit status a shell gives a job that ended with [`Job::status`]'s `status`: the code,
/// or `128 + N` for a signal `N`.
#[must_use]
pub fn shell_status(status: i32) -> i32 {
    if status < 0 {
        128 - status
    } else {
        status
    }
}

/// The workspace name `ferrotemp run` gives a job: the program's file name, or `run`.
#[must_use]
pub fn default_name(program: &OsStr) -> String {
    // What follows the last `/`, as `os.path.basename` reads it (`make/` names nothing).
    let bytes = program.as_bytes();
    let name = bytes.rsplit(|&b| b == b'/').next().unwrap_or_default();
    if name.is_empty() {
        "run".to_owned()
    } else {
        String::from_utf8_lossy(name).into_owned()
    }
}

/// The command line as the crash guard's record keeps it for `ferrotemp ls`: each argument
/// quoted as a POSIX shell needs it (left bare when made only of letters, digits and
/// `@%+=:,./-_`, else in single quotes), bytes that are not UTF-8 replaced.
#[must_use]
pub fn command_line(args: &[OsString]) -> String {
    let quoted: Vec<String> = args
        .iter()
        .map(|arg| {
            let arg = arg.to_string_lossy();
            let safe = |c: char| c.is_ascii_alphanumeric() || "@%+=:,./-_".contains(c);
            if !arg.is_empty() && arg.chars().all(safe) {
                arg.into_owned()
            } else {
                format!("'{}'", arg.replace('\'', "'\"'\"'"))
            }
        })
        .collect();
    quoted.join(" ")
}

/// `ferrotemp run`'s options and command ([`parse_plain`] reads them from words; the Python
/// package's argparse parser gives the same).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandLine {
    /// `--dir`.
    pub dir: Option<OsString>,
    /// `--max-bytes`, read by [`parse_size`](crate::workspace::parse_size).
    pub max_bytes: Option<u64>,
    /// `--keep`.
    pub keep: Option<KeepPolicy>,
    /// `--name`.
    pub name: Option<String>,
    /// `--kill-on-quota`.
    pub kill_on_quota: bool,
    /// The command and its arguments (without the `--` before them).
    pub cmd: Vec<OsString>,
}

/// `ferrotemp run`'s arguments (the words after `run`) in their common forms, read without
/// a general parser: options spelled out in full (`--dir D` or `--dir=D`), every value valid
/// (`--keep` one of `never`, `always`, `on-error`; `--max-bytes` a size; `--name` UTF-8),
/// then `--` or the first word that is not an option, and a command. Anything else gives
/// `None`, for the full parser (the Python package's argparse one, which has the help, the
/// abbreviations and the error messages) to read: `--help`, an abbreviation, a value that
/// starts with `-`, a bad value, no command, `--kill-on-quota` without `--max-bytes`, and a
/// command word starting with `-` with no `--` before the command (argparse checks those
/// against the options). Where this reads a line, argparse reads it the same way.
#[must_use]
pub fn parse_plain(words: &[OsString]) -> Option<CommandLine> {
    let mut line = CommandLine::default();
    let mut at = 0;
    while at < words.len() {
        let word = words[at].as_bytes();
        if word == b"--" {
            line.cmd = words[at + 1..].to_vec();
            break;
        }
        if !word.starts_with(b"-") {
            line.cmd = words[at..].to_vec();
            if line.cmd.iter().any(|w| w.as_bytes().starts_with(b"-")) {
                return None;
            }
            break;
        }
        let (name, value) = match word.iter().position(|&b| b == b'=') {
            Some(eq) => (&word[..eq], Some(&word[eq + 1..])),
            None => (word, None),
        };
        if name == b"--kill-on-quota" && value.is_none() {
            line.kill_on_quota = true;
            at += 1;
            continue;
        }
        if !matches!(name, b"--dir" | b"--max-bytes" | b"--keep" | b"--name") {
            return None;
        }
        let value = if let Some(value) = value {
            at += 1;
            value
        } else {
            let next = words.get(at + 1)?.as_bytes();
            if next.starts_with(b"-") {
                return None;
            }
            at += 2;
            next
        };
        // argparse before 3.13 drops a value that is `--` (`--dir=--` leaves `dir` empty).
        if value == b"--" {
            return None;
        }
        match name {
            b"--dir" => line.dir = Some(OsStr::from_bytes(value).to_owned()),
            b"--max-bytes" => {
                line.max_bytes = Some(crate::workspace::parse_size(
                    std::str::from_utf8(value).ok()?,
                )?);
            }
            b"--keep" => {
                line.keep = match value {
                    b"never" => Some(KeepPolicy::Never),
                    b"always" => Some(KeepPolicy::Always),
                    b"on-error" => Some(KeepPolicy::OnError),
                    _ => return None,
                };
            }
            _ => line.name = Some(std::str::from_utf8(value).ok()?.to_owned()),
        }
    }
    if line.cmd.is_empty() || (line.kill_on_quota && line.max_bytes.is_none()) {
        return None;
    }
    Some(line)
}

impl QuotaNotice {
    /// The line `ferrotemp run` reports it with (after `ferrotemp run: `): the workspace at
    /// `path`, what it holds and the limit, and if `program` is being stopped, that.
    #[must_use]
    pub fn describe(&self, path: &Path, program: &str) -> String {
        let what = format!(
            "{} holds {}, over --max-bytes {}",
            path.display(),
            crate::workspace::human_size(self.used),
            crate::workspace::human_size(self.limit)
        );
        if self.stopping {
            format!("{what}; stopping {program} (SIGTERM)")
        } else {
            what
        }
    }
}

/// An error as Python prints an `OSError`: `[Errno 2] No such file or directory: '/x'`.
fn describe_error(err: &io::Error) -> String {
    use crate::error::{error_message, error_path, raw_os_error};
    let text = match raw_os_error(err) {
        Some(code) => format!("[Errno {code}] {}", error_message(err)),
        None => error_message(err),
    };
    match error_path(err) {
        Some(path) => format!("{text}: '{}'", path.display()),
        None => text,
    }
}

/// `ferrotemp run`: runs `line`'s command in a workspace of its own, passing signals on
/// (Linux), reporting on `stderr` (lines starting `ferrotemp run: `), and returns the status
/// to exit with: the command's, `128 + N` for a signal `N`, 127 for a program not found, 126
/// for one that cannot run, 2 (with the usage error's one line) when the workspace cannot be
/// made, 1 when waiting failed. The native command and `python -m ferrotemp run` both end
/// here. The signals passed on stay blocked in the calling thread when it returns (a signal
/// after the command's end must not become this process's death); the caller exits.
pub fn run_command_line(line: &CommandLine, stderr: &mut dyn io::Write) -> i32 {
    let options = RunOptions {
        dir: line.dir.clone().map(std::path::PathBuf::from),
        max_bytes: line.max_bytes,
        keep: line.keep,
        name: line.name.clone(),
        kill_on_quota: line.kill_on_quota,
        ..RunOptions::default()
    };
    let mut job = match Job::new(&line.cmd, &options) {
        Ok(job) => job,
        Err(err) => {
            let _ = writeln!(
                stderr,
                "ferrotemp run: error: cannot make the workspace: {} (see --help)",
                describe_error(&err)
            );
            return 2;
        }
    };
    // Once per process: the guard could not record the workspace (the job runs, but a kill
    // of this process leaves it to an age sweep).
    if let Some(warning) = crate::guard::take_warning() {
        let _ = writeln!(stderr, "ferrotemp run: warning: {warning}");
    }
    let program = line.cmd[0].to_string_lossy().into_owned();
    let status = run_job(&mut job, &program, stderr);
    let path = job.path().display().to_string();
    match job.finish(status == 0) {
        Ok(ending) if ending.kept => {
            let _ = writeln!(stderr, "ferrotemp run: kept {path}");
        }
        Ok(_) => {}
        Err(err) => {
            let _ = writeln!(stderr, "ferrotemp run: could not remove {path}: {err}");
        }
    }
    status
}

/// Sets `SIGCHLD` back to its default disposition if it is ignored, for the whole process: an
/// ignored `SIGCHLD` (inherited across exec from a parent that set it) makes the kernel reap
/// children itself and send nothing, so a wait for one would never end and its status would be
/// lost. A handler is left alone. [`run_command_line`] calls it; a library should not, unless
/// it owns the process's signal handling.
pub fn default_ignored_sigchld() {
    // SAFETY: sigaction is plain data, initialised before use; the calls only read and set
    // SIGCHLD's disposition.
    unsafe {
        let mut current: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(libc::SIGCHLD, std::ptr::null(), &raw mut current) == 0
            && current.sa_sigaction == libc::SIG_IGN
        {
            let mut default: libc::sigaction = std::mem::zeroed();
            default.sa_sigaction = libc::SIG_DFL;
            libc::sigemptyset(&raw mut default.sa_mask);
            libc::sigaction(libc::SIGCHLD, &raw const default, std::ptr::null_mut());
        }
    }
}

fn run_job(job: &mut Job, program: &str, stderr: &mut dyn io::Write) -> i32 {
    let path = job.path().to_path_buf();
    default_ignored_sigchld();
    // Blocked from before the start, so that none is lost (the command starts with an empty
    // mask), and left blocked on every return: a signal that comes once the command has ended
    // must not turn into this process's death before the workspace is ended.
    #[cfg(target_os = "linux")]
    let forwarding = match Forwarding::block() {
        Ok(forwarding) => std::mem::ManuallyDrop::new(forwarding),
        Err(err) => {
            let _ = writeln!(
                stderr,
                "ferrotemp run: cannot block signals: {}",
                describe_error(&err)
            );
            return 1;
        }
    };
    if let Err(err) = job.spawn() {
        let _ = writeln!(
            stderr,
            "ferrotemp run: {program}: {}",
            crate::error::error_message(&err)
        );
        return if err.kind() == io::ErrorKind::NotFound {
            127
        } else {
            126
        };
    }
    let mut notice = |n: &QuotaNotice| {
        let _ = writeln!(stderr, "ferrotemp run: {}", n.describe(&path, program));
    };
    #[cfg(target_os = "linux")]
    let waited = job.wait_forwarding(&forwarding, &mut notice);
    // No sigtimedwait (macOS): no signal is passed on.
    #[cfg(not(target_os = "linux"))]
    let waited = job.wait(None, &mut notice).map(|_| ());
    if let Err(err) = waited {
        // Killed and reaped before the workspace ends.
        job.kill_and_reap();
        let _ = writeln!(
            stderr,
            "ferrotemp run: waiting for {program}: {}",
            describe_error(&err)
        );
        return 1;
    }
    shell_status(job.status().unwrap_or(1))
}

fn c_string(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "embedded null byte"))
}

fn exit_code(raw: i32) -> i32 {
    if libc::WIFSIGNALED(raw) {
        -libc::WTERMSIG(raw)
    } else {
        libc::WEXITSTATUS(raw)
    }
}

/// `posix_spawnp` with an empty signal mask, `SIGPIPE`/`SIGXFSZ`/`SIGCHLD` at their default, and
/// `lease` (source, carrier) dup2'd so that the child inherits it.
fn spawnp(
    argv: &[CString],
    envp: &[CString],
    lease: Option<(&std::os::fd::OwnedFd, &std::os::fd::OwnedFd)>,
) -> io::Result<libc::pid_t> {
    use std::os::fd::AsRawFd;
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let mut envp_ptrs: Vec<*const libc::c_char> = envp.iter().map(|e| e.as_ptr()).collect();
    envp_ptrs.push(std::ptr::null());
    // SAFETY: the attribute and file-action objects are initialised before use and destroyed
    // on every path; argv and envp are NULL-terminated arrays of pointers into CStrings that
    // outlive the call; `pid` is a valid out-pointer.
    unsafe {
        let mut attr: libc::posix_spawnattr_t = std::mem::zeroed();
        let mut actions: libc::posix_spawn_file_actions_t = std::mem::zeroed();
        let rc = libc::posix_spawnattr_init(&raw mut attr);
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        let rc = libc::posix_spawn_file_actions_init(&raw mut actions);
        if rc != 0 {
            libc::posix_spawnattr_destroy(&raw mut attr);
            return Err(io::Error::from_raw_os_error(rc));
        }
        let mut rc = 0;
        let mut empty: libc::sigset_t = std::mem::zeroed();
        let mut defaults: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&raw mut empty);
        libc::sigemptyset(&raw mut defaults);
        libc::sigaddset(&raw mut defaults, libc::SIGPIPE);
        libc::sigaddset(&raw mut defaults, libc::SIGXFSZ);
        libc::sigaddset(&raw mut defaults, libc::SIGCHLD);
        for step in [
            libc::posix_spawnattr_setsigmask(&raw mut attr, &raw const empty),
            libc::posix_spawnattr_setsigdefault(&raw mut attr, &raw const defaults),
            #[allow(clippy::cast_possible_truncation)]
            libc::posix_spawnattr_setflags(
                &raw mut attr,
                (libc::POSIX_SPAWN_SETSIGMASK | libc::POSIX_SPAWN_SETSIGDEF) as libc::c_short,
            ),
        ] {
            if rc == 0 {
                rc = step;
            }
        }
        if let (0, Some((source, carrier))) = (rc, lease) {
            rc = libc::posix_spawn_file_actions_adddup2(
                &raw mut actions,
                source.as_raw_fd(),
                carrier.as_raw_fd(),
            );
        }
        let mut pid: libc::pid_t = 0;
        if rc == 0 {
            rc = libc::posix_spawnp(
                &raw mut pid,
                argv_ptrs[0],
                &raw const actions,
                &raw const attr,
                argv_ptrs.as_ptr().cast::<*mut libc::c_char>(),
                envp_ptrs.as_ptr().cast::<*mut libc::c_char>(),
            );
        }
        libc::posix_spawn_file_actions_destroy(&raw mut actions);
        libc::posix_spawnattr_destroy(&raw mut attr);
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        Ok(pid)
    }
}

#[cfg(target_os = "linux")]
fn pidfd_open(pid: libc::pid_t) -> Option<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: pidfd_open takes a pid and flags; a non-negative result is a new descriptor
    // we own (close-on-exec by the kernel's definition of pidfds).
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let fd = i32::try_from(fd).ok().filter(|fd| *fd >= 0)?;
    // SAFETY: as above.
    Some(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

#[cfg(not(target_os = "linux"))]
fn pidfd_open(_pid: libc::pid_t) -> Option<std::os::fd::OwnedFd> {
    None
}

fn poll_readable(fd: &std::os::fd::OwnedFd, timeout: Option<Duration>) {
    use std::os::fd::AsRawFd;
    let millis = timeout.map_or(-1, |t| {
        // Rounded up: a wait that ends a little early would spin until the deadline.
        let ms = t.as_micros().div_ceil(1000);
        i32::try_from(ms).unwrap_or(i32::MAX)
    });
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd; an error (EINTR) is a wake-up like any other.
    unsafe { libc::poll(&raw mut pfd, 1, millis) };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn command_line_quotes_as_shlex_does() {
        assert_eq!(
            command_line(&os(&["sh", "-c", "echo 'hi' $X", "", "a/b.c=d"])),
            r#"sh -c 'echo '"'"'hi'"'"' $X' '' a/b.c=d"#
        );
    }

    #[test]
    fn default_name_is_the_programs_file_name() {
        assert_eq!(default_name(OsStr::new("/usr/bin/make")), "make");
        assert_eq!(default_name(OsStr::new("/")), "run");
        assert_eq!(default_name(OsStr::new("make/")), "run");
        assert_eq!(default_name(OsStr::new(".")), ".");
    }

    #[test]
    fn the_plain_reading_takes_the_common_forms_only() {
        let line = parse_plain(&os(&[
            "--dir=d",
            "--keep",
            "on-error",
            "--max-bytes",
            "2GiB",
            "--kill-on-quota",
            "--",
            "make",
            "-j8",
        ]))
        .unwrap();
        assert_eq!(line.dir.as_deref(), Some(OsStr::new("d")));
        assert_eq!(line.keep, Some(KeepPolicy::OnError));
        assert_eq!(line.max_bytes, Some(2 << 30));
        assert!(line.kill_on_quota);
        assert_eq!(line.cmd, os(&["make", "-j8"]));
        assert_eq!(
            parse_plain(&os(&["--", "--", "x"])).unwrap().cmd,
            os(&["--", "x"])
        );
        for refused in [
            &["make", "-j8"][..],
            &["--help"],
            &["--max", "1", "--", "x"],
            &["--keep", "maybe", "x"],
            &["--name", "-n", "x"],
            &["--kill-on-quota", "x"],
            &["--dir=--", "x"],
            &["--"],
            &[],
        ] {
            assert_eq!(parse_plain(&os(refused)), None, "{refused:?}");
        }
    }

    #[test]
    fn shell_status_of_a_signal_is_128_plus_n() {
        assert_eq!(shell_status(-9), 137);
        assert_eq!(shell_status(3), 3);
    }

    #[test]
    fn a_job_runs_in_its_workspace_and_removes_it() {
        let parent = crate::tempdir().unwrap();
        let options = RunOptions {
            dir: Some(parent.path().to_path_buf()),
            ..RunOptions::default()
        };
        let mut job = Job::new(
            &os(&[
                "sh",
                "-c",
                "test \"$TMPDIR\" = \"$TEMP\" && touch \"$TMP/x\" && exit 3",
            ]),
            &options,
        )
        .unwrap();
        let path = job.path().to_path_buf();
        assert!(path.starts_with(parent.path()));
        job.spawn().unwrap();
        assert!(job.wait(None, |_| {}).unwrap());
        assert_eq!(job.status(), Some(3));
        let ending = job.finish(false).unwrap();
        assert!(!ending.kept);
        assert_eq!(ending.usage.files, 1);
        assert!(!path.exists());
    }

    #[test]
    fn a_program_not_found_is_not_found() {
        let parent = crate::tempdir().unwrap();
        let options = RunOptions {
            dir: Some(parent.path().to_path_buf()),
            ..RunOptions::default()
        };
        let mut job = Job::new(&os(&["ferrotemp-no-such-program"]), &options).unwrap();
        assert_eq!(job.spawn().unwrap_err().kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn kill_on_quota_stops_the_command_and_reports_once() {
        let parent = crate::tempdir().unwrap();
        let options = RunOptions {
            dir: Some(parent.path().to_path_buf()),
            max_bytes: Some(4096),
            kill_on_quota: true,
            check_interval: Duration::from_millis(10),
            ..RunOptions::default()
        };
        let script =
            "head -c 65536 /dev/zero > \"$TMPDIR/big\"; sync; while :; do sleep 0.01; done";
        let mut job = Job::new(&os(&["sh", "-c", script]), &options).unwrap();
        job.spawn().unwrap();
        let mut notices = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        assert!(job.wait(Some(deadline), |n| notices.push(*n)).unwrap());
        assert_eq!(job.status(), Some(-libc::SIGTERM));
        assert_eq!(notices.len(), 1);
        assert!(notices[0].stopping && notices[0].used > 4096);
        assert!(job.over_quota());
    }
}
