"""The command line: ``ferrotemp bench`` (short profile) and ``benches/bench.py`` (full)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Callable, Optional, Sequence

from . import __doc__ as _package_doc
from .cases import build_cases, tempfile
from .fresh import GUARD_CASE, IMPORT_CASE
from .report import (
    draw_chart,
    format_scaling,
    format_table,
    format_threads,
    format_user_table,
    machine_info,
)
from .runner import PROFILES, Profile, run_dir
from .scaling import scaling, thread_scaling

__all__ = ["add_arguments", "check_args", "default_dirs", "main", "run_from_args"]

#: Progress goes to stderr once a run has taken this long (a quick run stays silent).
PROGRESS_AFTER = 2.0


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _bench_dir(text: str) -> str:
    """A directory the bench can create and remove files in."""
    if not os.path.isdir(text):
        why = "does not exist" if not os.path.lexists(text) else "is not a directory"
        raise argparse.ArgumentTypeError(f"{text!r} {why}")
    if not os.access(text, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"{text!r} is not writable")
    return text


def case_names() -> list[str]:
    """Every row's name, for ``--only`` (building the cases creates nothing)."""
    names = [case.name for case in build_cases(os.curdir, 0.0)]
    return [*names, GUARD_CASE, "rollover peak above data", IMPORT_CASE]


def check_args(args: argparse.Namespace, error: Callable[[str], Any]) -> None:
    """What argparse's types cannot check alone; ``error`` is the parser's (it exits 2)."""
    if args.only is not None and not any(args.only in name for name in case_names()):
        error(f"argument --only: no case's name contains {args.only!r}")


class _Progress:
    """Progress lines on stderr, from the moment the run has taken PROGRESS_AFTER seconds."""

    def __init__(self) -> None:
        self.start = time.monotonic()

    def __call__(self, what: str) -> None:
        if time.monotonic() - self.start >= PROGRESS_AFTER:
            print(f"ferrotemp bench: {what}…", file=sys.stderr, flush=True)


def default_dirs() -> list[str]:
    dirs = []
    if os.path.isdir("/dev/shm"):
        dirs.append("/dev/shm")
    default = tempfile.gettempdir()
    if os.path.realpath(default) not in [os.path.realpath(x) for x in dirs]:
        dirs.append(default)
    return dirs


def add_arguments(parser: argparse.ArgumentParser, *, default_profile: str) -> None:
    parser.add_argument(
        "--dir",
        action="append",
        dest="dirs",
        type=_bench_dir,
        metavar="DIR",
        help="directory to measure in; repeat for several (default: /dev/shm and the temp dir)",
    )
    parser.add_argument(
        "--profile", choices=sorted(PROFILES), default=default_profile, help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--quick",
        action="store_const",
        const="quick",
        dest="profile",
        help="a seconds-long run (few rounds: the figures are noisy)",
    )
    parser.add_argument(
        "--rounds", type=_positive_int, help="rounds per case (default: by profile)"
    )
    parser.add_argument(
        "--targets",
        action="store_true",
        help="developer view: floors, the targets the project is judged on, met or MISSED",
    )
    parser.add_argument("--json", dest="json_out", metavar="PATH", help="write the results")
    parser.add_argument("--png", dest="png_out", metavar="PATH", help="draw a chart (matplotlib)")
    parser.add_argument("--only", metavar="NAME", help="only cases whose name contains NAME")
    parser.add_argument(
        "--scaling", action="store_true", help="also per-op cost as the directory fills"
    )
    parser.add_argument(
        "--threads", action="store_true", help="also 1 vs 2 threads creating named files"
    )
    parser.add_argument(
        "--no-table", action="store_true", help="skip the main table (with --scaling/--threads)"
    )


def run_from_args(args: argparse.Namespace) -> int:
    base = PROFILES[args.profile]
    rounds = args.rounds or base.rounds
    profile = Profile(rounds, base.scale, base.memory_mib, base.scaling_sizes, base.thread_ops)
    dirs: list[str] = args.dirs or default_dirs()
    machine = machine_info()
    report: dict[str, Any] = {"machine": machine, "profile": args.profile, "results": []}
    progress = _Progress()
    print(
        f"ferrotemp {machine['ferrotemp']} vs the standard tempfile — Python {machine['python']}"
        f" on {machine['system']} {machine['kernel']}, {machine['cpus']} CPUs ({machine['cpu']})"
    )
    if args.profile == "quick":
        print("quick run: few rounds of short loops, so the figures are noisy (drop --quick)")
    if not args.no_table:
        for d in dirs:
            result = run_dir(d, profile, args.only, progress)
            report["results"].append(result)
            print()
            print(format_table(result) if args.targets else format_user_table(result), flush=True)
    if args.scaling:
        report["scaling"] = []
        for d in dirs:
            progress(f"scaling in {d}")
            rows = scaling(d, profile.scaling_sizes, max(1, min(rounds, 5)))
            report["scaling"].append({"dir": d, "rows": rows})
            print()
            print(format_scaling(d, rows), flush=True)
    if args.threads:
        d = "/dev/shm" if os.path.isdir("/dev/shm") else dirs[0]
        progress(f"threads in {d}")
        report["threads"] = thread_scaling(d, profile.thread_ops, max(1, min(rounds, 7)))
        print()
        print(format_threads(report["threads"]))
    if args.json_out:
        with open(args.json_out, "w") as out:
            json.dump(report, out, indent=2)
    if args.png_out and report["results"]:
        if draw_chart(report, args.png_out):
            print(f"\nchart: {args.png_out}")
        else:
            print("\nno chart: matplotlib is not installed (pip install 'ferrotemp[bench]')")
    return 0


def main(argv: Optional[Sequence[str]] = None, *, default_profile: str = "full") -> int:
    parser = argparse.ArgumentParser(description=(_package_doc or "").splitlines()[0])
    add_arguments(parser, default_profile=default_profile)
    args = parser.parse_args(argv)
    check_args(args, parser.error)
    return run_from_args(args)
