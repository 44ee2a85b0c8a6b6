"""``ferrotemp run``: a private temp dir for any command, gone when the command ends.

ferrotemp run [--dir D] [--max-bytes N] [--keep never|always|on-error] [--name NAME]
              [--kill-on-quota] -- CMD ARGS...

The command runs with ``TMPDIR``, ``TEMP`` and ``TMP`` naming a workspace (a guarded temp
directory of its own, see ``ferrotemp.Workspace``), its standard streams and process group
shared with ``ferrotemp``, and the workspace is removed when it ends, however it ends
(``--keep on-error`` keeps it after a failure and prints its path). Signals sent to
``ferrotemp`` are passed on (those a terminal sends reach the command through the process
group, so they are not sent twice); ``ferrotemp`` exits with the command's status, ``128 + N``
when a signal ``N`` ended it, 127 when it is not found and 126 when it cannot be run.

If ``ferrotemp`` itself is killed, the command holds the workspace alive: it inherits a
descriptor of the crash guard's record (a lease on its lock), and the first sweep after the
command and every descendant that kept the descriptor have exited reclaims the workspace.
A command that closes the descriptors it inherits lets the lease go; records kept without
``flock`` (a filesystem without it, ``FERROTEMP_GUARD_FLOCK=0``) give no lease, and a sweep
after ``ferrotemp`` died may then remove the workspace under a command still running.

Signals are taken with ``sigtimedwait``, which tells who sent them; where it is missing
(macOS), none is passed on, and a ``KeyboardInterrupt`` kills the command. Imports stay
few (``os``, ``_signal``): the command's start is the point.
"""

from __future__ import annotations

import os
import sys
import time

from . import _core

TYPE_CHECKING = False
if not TYPE_CHECKING:
    # The C module `signal` wraps: the same functions, and constants as plain ints, without
    # the enum import (a few milliseconds) the wrapper's IntEnums cost at every start.
    try:
        import _signal as signal
    except ImportError:  # an interpreter without it
        import signal
if TYPE_CHECKING:
    import signal
    from typing import Any, Callable, Mapping, NoReturn, Optional, Sequence, Union

    _PathArg = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]

#: Seconds between two measurements of the workspace against ``max_bytes``.
CHECK_INTERVAL = 0.25
#: Seconds between ``SIGTERM`` and ``SIGKILL`` when a quota stops the command.
KILL_GRACE = 5.0

# Passed on to the command when sent to ``ferrotemp run`` (by kill(2), not by a terminal).
_FORWARDED = tuple(
    getattr(signal, name)
    for name in (
        "SIGINT",
        "SIGTERM",
        "SIGHUP",
        "SIGQUIT",
        "SIGUSR1",
        "SIGUSR2",
        "SIGALRM",
        "SIGWINCH",
        "SIGCONT",
    )
    if hasattr(signal, name)
)
# si_code of a signal the kernel sent (a terminal's ^C, ^\ and hangup go to the whole
# foreground process group, the command included): Linux's SI_KERNEL.
_SI_KERNEL = 0x80
# Dispositions Python changes at startup that a child must not inherit ignored.
_RESTORED = tuple(getattr(signal, n) for n in ("SIGPIPE", "SIGXFSZ") if hasattr(signal, n))

_KEEP_CHOICES = ("never", "always", "on-error")


class RunResult:
    """What ``ferrotemp.run`` returns: a ``subprocess.CompletedProcess`` look-alike (``args``,
    ``returncode``, ``stdout`` and ``stderr`` always ``None``: the streams are passed
    through; ``check_returncode()``) with the workspace's ``path``, whether it was ``kept``,
    its ``usage`` measured just before its end, and whether it went ``over_quota``."""

    stdout = None
    stderr = None

    def __init__(
        self, args: Any, returncode: int, path: str, kept: bool, usage: Any, over_quota: bool
    ) -> None:
        self.args = args
        #: The command's exit status, or ``-N`` when signal ``N`` ended it (as ``subprocess``).
        self.returncode = returncode
        self.path = path
        self.kept = kept
        self.usage = usage
        self.over_quota = over_quota

    def check_returncode(self) -> None:
        """Raise ``subprocess.CalledProcessError`` if the status is not zero."""
        if self.returncode:
            import subprocess

            raise subprocess.CalledProcessError(self.returncode, self.args)

    def __repr__(self) -> str:
        return (
            f"RunResult(args={self.args!r}, returncode={self.returncode!r}, "
            f"path={self.path!r}, kept={self.kept!r})"
        )


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def _say(message: str) -> None:
    if sys.stderr is not None:
        sys.stderr.write(f"ferrotemp run: {message}\n")
        sys.stderr.flush()


_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./-_")


def _quoted(arg: str) -> str:
    """``arg`` as a POSIX shell would need it (``shlex.quote``'s rule, without importing
    ``re`` at every start)."""
    if arg and all(c in _SAFE for c in arg):
        return arg
    return "'" + arg.replace("'", "'\"'\"'") + "'"


def _command_line(args: Sequence[Any]) -> str:
    """The command line as the record keeps it for ``ferrotemp ls``: quoted for a shell."""
    return " ".join(_quoted(os.fsdecode(a)) for a in args)


class _Job:
    """One command in its workspace: start, wait (with quota checks), end."""

    def __init__(
        self,
        args: list[Any],
        dir: Optional[_PathArg],
        max_bytes: Optional[int],
        keep: Optional[str],
        name: Optional[str],
        kill_on_quota: bool,
        env: Optional[Mapping[str, str]],
        check_interval: float,
        grace: float,
    ) -> None:
        self.args = args
        self.max_bytes = max_bytes
        self.kill_on_quota = kill_on_quota
        self.check_interval = check_interval
        self.grace = grace
        self.over_quota = False
        self.check_at: Optional[float] = None if max_bytes is None else 0.0
        self.kill_at: Optional[float] = None
        self.status: Optional[int] = None
        if name is None:
            name = os.path.basename(os.fsdecode(args[0])) or "run"
        self.ws = _core.WorkspaceCore(name, max_bytes, None, keep, dir, command=_command_line(args))
        self.path = self.ws.path
        self.env = dict(os.environ if env is None else env)
        for var in ("TMPDIR", "TEMP", "TMP"):
            self.env[var] = self.path

    def spawn(self) -> int:
        """Starts the command; returns its pid. Raises ``OSError`` if it cannot start."""
        lease = _core.guard_lease()
        actions = []
        carrier = None
        try:
            if lease is not None:
                # The lease is close-on-exec; the child gets it as `carrier` (a number free
                # here, close-on-exec too, which the child's dup2 replaces), so no other
                # process started meanwhile by another thread inherits it.
                carrier = os.dup(lease)
                actions.append((os.POSIX_SPAWN_DUP2, lease, carrier))
            return os.posix_spawnp(
                self.args[0],
                self.args,
                self.env,
                file_actions=actions,
                setsigmask=(),
                setsigdef=_RESTORED,
            )
        finally:
            if carrier is not None:
                os.close(carrier)
            if lease is not None:
                os.close(lease)

    def tick(self, pid: int, now: float) -> None:
        """The measurement against ``max_bytes`` and the quota's kill, when they are due."""
        if self.kill_at is not None and now >= self.kill_at:
            self.kill_at = None
            _kill(pid, signal.SIGKILL)
        if self.check_at is None or now < self.check_at or self.max_bytes is None:
            return
        self.check_at = now + self.check_interval
        try:
            used = self.ws.usage().bytes
        except OSError:
            return  # the next measurement may do better (the tree changed under the walk)
        if used <= self.max_bytes:
            return
        self.over_quota = True
        self.check_at = None  # one line per run
        what = f"{self.path} holds {_human(used)}, over --max-bytes {_human(self.max_bytes)}"
        if self.kill_on_quota:
            _say(f"{what}; stopping {os.fsdecode(self.args[0])} (SIGTERM)")
            _kill(pid, signal.SIGTERM)
            self.kill_at = now + self.grace
        else:
            _say(what)

    def next_wait(self, now: float) -> Optional[float]:
        """Seconds until the next thing ``tick`` has to do, or ``None``: nothing to do."""
        due = [at for at in (self.check_at, self.kill_at) if at is not None]
        return max(min(due) - now, 0.0) if due else None

    def reap(self, pid: int) -> bool:
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            self.status = 0  # reaped by someone else (a SIGCHLD handler): status unknown
            return True
        if done == 0:
            return False
        self.status = os.waitstatus_to_exitcode(status)
        return True

    def end(self, ok: bool) -> Any:
        ending = self.ws.finish(ok)
        if ending.kept:
            _say(f"kept {self.path}")
        if ending.error is not None:
            _say(f"could not remove {self.path}: {ending.error}")
        return ending


def _kill(pid: int, signo: int) -> None:
    try:
        os.kill(pid, signo)
    except ProcessLookupError:
        pass


def _wait_forwarding(job: _Job, pid: int, waitset: set[int]) -> None:
    """The CLI's wait: the signals in ``waitset`` are blocked; each one sent to us (not by
    the kernel for a terminal) is passed on, ``SIGCHLD`` tells the command's end."""
    while True:
        now = time.monotonic()
        timeout = job.next_wait(now)
        info: Optional[signal.struct_siginfo]
        if timeout is None:
            info = signal.sigwaitinfo(waitset)
        else:
            info = signal.sigtimedwait(waitset, timeout)
        if info is not None:
            if info.si_signo == signal.SIGCHLD:
                if job.reap(pid):
                    return
            elif info.si_code != _SI_KERNEL:
                _kill(pid, info.si_signo)
        job.tick(pid, time.monotonic())


def _wait_plain(job: _Job, pid: int) -> None:
    """The API's wait, signals untouched: on the process's pidfd where there is one, else by
    polling ``waitpid``."""
    import select

    pidfd = None
    if hasattr(os, "pidfd_open"):
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:
            pidfd = None
    try:
        delay = 0.001
        while not job.reap(pid):
            now = time.monotonic()
            timeout = job.next_wait(now)
            if pidfd is not None:
                select.select([pidfd], [], [], timeout)
            else:
                pause = delay if timeout is None else min(delay, timeout)
                select.select([], [], [], pause)
                delay = min(delay * 2, 0.05)
            job.tick(pid, time.monotonic())
    finally:
        if pidfd is not None:
            os.close(pidfd)


def _check_args(cmd: Any, keep: Optional[str], max_bytes: Any) -> tuple[list[Any], Optional[int]]:
    if isinstance(cmd, (str, bytes)) or not hasattr(cmd, "__iter__"):
        raise TypeError("cmd must be a sequence of arguments, not a string")
    args = [os.fspath(a) for a in cmd]
    if not args:
        raise ValueError("cmd is empty: give a command to run")
    if keep is not None and keep not in _KEEP_CHOICES and keep != "on_error":
        raise ValueError(f"keep must be 'never', 'always' or 'on-error', not {keep!r}")
    if isinstance(max_bytes, str):
        max_bytes = _core.parse_size(max_bytes)
    elif max_bytes is not None:
        max_bytes = int(max_bytes)
        if max_bytes < 0:
            raise ValueError(f"max_bytes must not be negative: {max_bytes}")
    return args, max_bytes


def run(
    cmd: Sequence[_PathArg],
    *,
    dir: Optional[_PathArg] = None,
    max_bytes: Union[int, str, None] = None,
    keep: Optional[str] = None,
    name: Optional[str] = None,
    kill_on_quota: bool = False,
    env: Optional[Mapping[str, str]] = None,
    check: bool = False,
    check_interval: float = CHECK_INTERVAL,
    grace: float = KILL_GRACE,
) -> RunResult:
    """Run ``cmd`` with a private temp dir, as ``ferrotemp run`` does, and wait for it.

    ``TMPDIR``, ``TEMP`` and ``TMP`` name a new workspace (in ``dir``, named after ``name``
    or the program) for the command, which inherits this process's standard streams and
    environment (or ``env``); the workspace is removed when the command ends, unless
    ``keep`` (``"never"``, ``"always"``, ``"on-error"``; ``None``: ``FERROTEMP_KEEP``'s
    default) keeps it. ``max_bytes`` (an int or a size such as ``"2 GiB"``) is checked by
    measuring the tree every ``check_interval`` seconds; an overrun prints one line on
    stderr and, with ``kill_on_quota``, stops the command (``SIGTERM``, then ``SIGKILL``
    ``grace`` seconds later). Signals are not forwarded: this process's own handling stands.
    If the wait is interrupted (``KeyboardInterrupt``), the command is killed and the
    workspace ended as failed before the exception goes on. ``check`` raises
    ``subprocess.CalledProcessError`` for a non-zero status, as ``subprocess.run`` does.
    Returns a ``RunResult``. ``OSError`` if the command cannot be started (the workspace is
    ended as failed first). The command inherits a lease on this process's crash-guard
    record (see the module docs): if this process is killed, what it has recorded stays
    until the command and its descendants are gone.
    """
    args, limit = _check_args(cmd, keep, max_bytes)
    job = _Job(args, dir, limit, keep, name, kill_on_quota, env, check_interval, grace)
    ok = False
    try:
        pid = job.spawn()
        try:
            _wait_plain(job, pid)
        except BaseException:
            if job.status is None:  # not reaped: the pid is still the command's
                _kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            raise
        ok = job.status == 0
    finally:
        ending = job.end(ok)
    assert job.status is not None
    result = RunResult(args, job.status, job.path, ending.kept, ending.usage, job.over_quota)
    if check:
        result.check_returncode()
    return result


def add_parser(commands: Any) -> None:
    """Adds the ``run`` subcommand to ``commands`` (an argparse subparsers action)."""
    import argparse

    parser = commands.add_parser(
        "run",
        help="run a command with a private temp dir, removed when it ends however it ends",
        description=(
            "Run CMD with TMPDIR, TEMP and TMP naming a workspace of its own, removed when CMD "
            "ends (kept with --keep). Signals are passed on; the exit status is CMD's, or "
            "128+N for a signal N. If ferrotemp itself is killed, CMD keeps the workspace "
            "alive and the first sweep after it exits reclaims it."
        ),
    )
    parser.add_argument("--dir", help="make the workspace in this directory")
    parser.add_argument(
        "--max-bytes",
        type=_size,
        metavar="N",
        help="measure the workspace while CMD runs and report going over N (2GiB, 500MB, 4096)",
    )
    parser.add_argument(
        "--keep",
        choices=_KEEP_CHOICES,
        help="keep the workspace: never, always, or on-error (a non-zero status); the default "
        "is FERROTEMP_KEEP's",
    )
    parser.add_argument("--name", help="the workspace's name (default: CMD's)")
    parser.add_argument(
        "--kill-on-quota",
        action="store_true",
        help=f"stop CMD when it goes over --max-bytes (SIGTERM, SIGKILL after {KILL_GRACE:g}s)",
    )
    parser.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- CMD ARGS")


def _size(text: str) -> int:
    try:
        return _core.parse_size(text)
    except ValueError:
        import argparse

        raise argparse.ArgumentTypeError(
            f"invalid size {text!r}: use bytes or a number with a unit, like 500MB or 2GiB"
        ) from None


class _Options:
    """``ferrotemp run``'s options as argparse's namespace holds them."""

    def __init__(self) -> None:
        self.dir: Optional[str] = None
        self.max_bytes: Optional[int] = None
        self.keep: Optional[str] = None
        self.name: Optional[str] = None
        self.kill_on_quota = False
        self.cmd: list[str] = []


# The options taking a value, by their spelling, and the attribute each sets.
_VALUED = {"--dir": "dir", "--max-bytes": "max_bytes", "--keep": "keep", "--name": "name"}


def parse_plain(words: Sequence[str]) -> Optional[_Options]:
    """``ferrotemp run``'s arguments (after ``run``) read without argparse, whose import is
    most of the command's start: only options spelled out in full (``--dir D`` or
    ``--dir=D``), every value valid, then ``--`` or the first word that is not an option, and
    a command. Anything else (``--help``, an abbreviation, a value that starts with ``-``,
    a bad size, no command, a command word starting with ``-`` with no ``--`` before it,
    which argparse checks against the options) gives ``None``, and the full parser reads the
    line: it reaches the same options, or the error and the help. ``cmd`` keeps the ``--``,
    as argparse's does, for ``run_cli`` to drop."""
    options = _Options()
    at = 0
    while at < len(words):
        word = words[at]
        if word == "--":
            options.cmd = list(words[at:])
            break
        if not word.startswith("-"):
            options.cmd = list(words[at:])
            if any(later.startswith("-") for later in options.cmd):
                return None
            break
        name, equals, value = word.partition("=")
        if name == "--kill-on-quota" and not equals:
            options.kill_on_quota = True
            at += 1
            continue
        attribute = _VALUED.get(name)
        if attribute is None:
            return None
        if equals:
            at += 1
        elif at + 1 < len(words) and not words[at + 1].startswith("-"):
            value = words[at + 1]
            at += 2
        else:
            return None
        if attribute == "max_bytes":
            try:
                options.max_bytes = _core.parse_size(value)
            except ValueError:
                return None
        elif attribute == "keep" and value not in _KEEP_CHOICES:
            return None
        else:
            setattr(options, attribute, value)
    if options.cmd in ([], ["--"]) or (options.kill_on_quota and options.max_bytes is None):
        return None
    return options


def usage_error(message: str) -> NoReturn:
    """Ends ``ferrotemp run`` as its argparse parser ends on an error: one line, status 2."""
    if sys.stderr is not None:
        sys.stderr.write(f"ferrotemp run: error: {message} (see --help)\n")
    raise SystemExit(2)


def run_cli(args: Any, error: Callable[[str], NoReturn]) -> int:
    """``ferrotemp run``: the command's exit status (``128 + N`` for a signal ``N``).
    ``args`` holds the options (argparse's namespace or ``parse_plain``'s); ``error`` ends
    the command with a usage error."""
    cmd = list(args.cmd)
    if cmd and cmd[0] == "--":
        del cmd[0]
    if not cmd:
        error("no command: ferrotemp run [OPTIONS] -- CMD ARGS...")
    if args.kill_on_quota and args.max_bytes is None:
        error("--kill-on-quota needs --max-bytes")
    waitset = set(_FORWARDED)
    waitset.add(signal.SIGCHLD)
    sigwait = hasattr(signal, "sigtimedwait")
    try:
        job = _Job(
            cmd,
            args.dir,
            args.max_bytes,
            args.keep,
            args.name,
            args.kill_on_quota,
            None,
            CHECK_INTERVAL,
            KILL_GRACE,
        )
    except OSError as err:
        error(f"cannot make the workspace: {err}")
    status = 1
    try:
        if sigwait:
            # Blocked from before the start, so none is lost; the child's mask is emptied.
            signal.pthread_sigmask(signal.SIG_BLOCK, waitset)
        try:
            pid = job.spawn()
        except OSError as err:
            _say(f"{cmd[0]}: {err.strerror or err}")
            status = 127 if isinstance(err, FileNotFoundError) else 126
            return status
        try:
            if sigwait:
                _wait_forwarding(job, pid, waitset)
            else:  # no sigtimedwait (macOS): no signal is passed on
                _wait_plain(job, pid)
        except BaseException:
            if job.status is None:
                _kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            raise
        code = job.status if job.status is not None else 1
        status = 128 - code if code < 0 else code
        return status
    finally:
        job.end(status == 0)
