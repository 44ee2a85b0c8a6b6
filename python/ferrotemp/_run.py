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

The job is the core's (``ferrotemp::run``, in Rust): the command line ``ferrotemp run``
reads without argparse (``_core.parse_run_plain``), the whole CLI job
(``_core.run_command_line``: signals taken with ``sigtimedwait``, which tells who sent them;
where it is missing, on macOS, none is passed on) and the API's (``_core.RunJob``). The
native ``ferrotemp`` command (crates/ferrotemp-cli) runs the same core function without
starting Python; this module is ``python -m ferrotemp run``'s and ``ferrotemp.run``'s.
"""

from __future__ import annotations

import os
import sys

from . import _core

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Mapping, NoReturn, Optional, Sequence, Union

    _PathArg = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]

#: Seconds between two measurements of the workspace against ``max_bytes``.
CHECK_INTERVAL = 0.25
#: Seconds between ``SIGTERM`` and ``SIGKILL`` when a quota stops the command.
KILL_GRACE = 5.0

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


def _say(message: str) -> None:
    if sys.stderr is not None:
        sys.stderr.write(f"ferrotemp run: {message}\n")
        sys.stderr.flush()


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
    job = _core.RunJob(
        [os.fsdecode(a) for a in args],
        dir=dir,
        max_bytes=limit,
        keep=keep,
        name=name,
        kill_on_quota=kill_on_quota,
        env=None if env is None else [(os.fsdecode(k), os.fsdecode(v)) for k, v in env.items()],
        check_interval=check_interval,
        grace=grace,
    )
    ok = False
    try:
        job.spawn()
        status = job.wait(_say)
        ok = status == 0
    finally:
        ending = job.finish(ok)
        if ending.kept:
            _say(f"kept {job.path}")
        if ending.error is not None:
            _say(f"could not remove {job.path}: {ending.error}")
    result = RunResult(args, status, job.path, ending.kept, ending.usage, job.over_quota)
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


def run_line(line: _core.RunCommandLine) -> int:
    """Runs a ``ferrotemp run`` command line (the core's job, messages on file descriptor
    2); the status to exit with."""
    if sys.stderr is not None:
        sys.stderr.flush()
    return _core.run_command_line(line)


def run_cli(args: Any, error: Callable[[str], NoReturn]) -> int:
    """``ferrotemp run`` as argparse read it: the command's exit status (``128 + N`` for a
    signal ``N``). ``error`` ends the command with a usage error."""
    cmd = list(args.cmd)
    if cmd and cmd[0] == "--":
        del cmd[0]
    if not cmd:
        error("no command: ferrotemp run [OPTIONS] -- CMD ARGS...")
    if args.kill_on_quota and args.max_bytes is None:
        error("--kill-on-quota needs --max-bytes")
    line = _core.RunCommandLine(
        cmd,
        dir=args.dir,
        max_bytes=args.max_bytes,
        keep=args.keep,
        name=args.name,
        kill_on_quota=args.kill_on_quota,
    )
    return run_line(line)
