"""``ferrotemp sweep``: reclaim what killed processes left behind, or sweep by age.

ferrotemp sweep [--dir D] [--dry-run] [--json]
ferrotemp sweep --older-than 12h --prefix myapp_ [--dir D] [--dry-run] [--json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
from typing import Any

from . import _core
from ._guard import SweepReport, sweep, sweep_older_than

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd])")


def parse_duration(text: str) -> float:
    """``30s``, ``15m``, ``12h``, ``7d`` (or a sum such as ``1h30m``) in seconds."""
    spec = text.strip().lower()
    parts = _DURATION.findall(spec)
    if not spec or "".join(n + u for n, u in parts) != spec:
        raise argparse.ArgumentTypeError(
            f"invalid duration {text!r}: use a number with a unit, like 30s, 15m, 12h or 7d"
        )
    return sum(float(n) * _UNITS[u] for n, u in parts)


def existing_dir(text: str) -> str:
    """``--dir``: a directory that exists (a sweep of a missing one would reclaim nothing
    and say so, hiding a typo)."""
    if not os.path.isdir(text):
        why = "does not exist" if not os.path.lexists(text) else "is not a directory"
        raise argparse.ArgumentTypeError(f"{text!r} {why}")
    return text


def add_parser(commands: Any) -> None:
    """Adds the ``sweep`` subcommand to ``commands`` (an argparse subparsers action)."""
    parser = commands.add_parser(
        "sweep",
        help="remove temp entries left by killed processes (or, with --older-than, by age)",
        description=(
            "Without --older-than: remove the guarded temp files and directories recorded by "
            "processes that died without cleaning up (only where the path still holds the "
            "recorded file). With --older-than and --prefix: remove top-level entries of the "
            "temp dir named PREFIX... whose timestamps are all older than the age, skipping "
            "symlinks, other users' entries, other filesystems and locked entries."
        ),
    )
    parser.add_argument(
        "--dir",
        type=existing_dir,
        help="the temp dir to sweep (default: the one ferrotemp uses; FERROTEMP_GUARD_DIR "
        "overrides the registry location)",
    )
    parser.add_argument(
        "--older-than",
        type=parse_duration,
        metavar="AGE",
        help="age-based sweep: entries untouched for AGE (30s, 15m, 12h, 7d)",
    )
    parser.add_argument("--prefix", help="age-based sweep: only names starting with this")
    parser.add_argument("--dry-run", action="store_true", help="report, remove nothing")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def shown_path(path: str) -> str:
    """A path as text any output accepts: the bytes of a name that is not valid UTF-8 are
    shown as ``\\xNN`` escapes, as ``ls -b`` would (the report's paths hold them as
    surrogate escapes, which a strict UTF-8 stream refuses)."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _printable(value: Any) -> Any:
    """``value`` (a report field) with every string made printable by ``shown_path``."""
    if isinstance(value, str):
        return shown_path(value)
    if isinstance(value, (tuple, list)):
        return [_printable(item) for item in value]
    return value


def _print(report: SweepReport, as_json: bool) -> None:
    if as_json:
        fields = {k: _printable(v) for k, v in dataclasses.asdict(report).items()}
        print(json.dumps(fields, indent=2))
        return
    verb = "would reclaim" if report.dry_run else "reclaimed"
    noun = "entry" if report.entries == 1 else "entries"
    print(f"{verb} {report.entries} {noun}, {_core.human_size(report.bytes)}")
    for path in report.paths:
        print(f"  {shown_path(path)}")
    for path, message in report.errors:
        print(f"  error: {shown_path(path)}: {shown_path(message)}")
    if not report.complete:
        print("stopped early at a limit; run again to continue")


#: ``ferrotemp sweep`` raises its own soft descriptor limit up to this (never past the hard
#: limit), so that its share (a sixteenth) covers the removal of directory trees.
SWEEP_NOFILE = 4096


def raise_nofile_limit() -> None:
    """Raises this process's soft ``RLIMIT_NOFILE`` towards ``SWEEP_NOFILE``: the CLI is its
    own process, with no descriptors of a user's to leave room for."""
    try:
        import resource
    except ImportError:  # not POSIX
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = SWEEP_NOFILE if hard == resource.RLIM_INFINITY else min(SWEEP_NOFILE, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (OSError, ValueError):
            pass  # a sweep within the lower limit still runs, leaving trees for later


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Runs ``ferrotemp sweep``; returns the exit status (1 if an entry could not be removed)."""
    raise_nofile_limit()
    if (args.older_than is None) != (args.prefix is None):
        parser.error("--older-than and --prefix go together")
    if args.prefix == "":
        parser.error("--prefix must not be empty")
    try:
        if args.older_than is None:
            report = sweep(args.dir, dry_run=args.dry_run)
        else:
            import ferrotemp

            root = args.dir if args.dir is not None else ferrotemp.gettempdir()
            report = sweep_older_than(root, args.prefix, args.older_than, dry_run=args.dry_run)
    except OSError as err:
        parser.exit(1, f"ferrotemp sweep: {shown_path(str(err))}\n")
    _print(report, args.json)
    return 1 if report.errors else 0
