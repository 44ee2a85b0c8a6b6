"""The ``ferrotemp`` command: ``python -m ferrotemp info``, ``bench``, ``sweep``, ``ls``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Optional, Sequence

from . import __version__, _core, _ls, _run, _sweep_cli


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{size} B"
        value /= 1024
    return f"{size} B"


def info_report() -> dict[str, Any]:
    """What ``ferrotemp info`` prints: the temp dir, why it was chosen, and its filesystem."""
    found = _core.discovery_report()
    fs = _core.filesystem_info(found.dir)
    return {
        "version": __version__,
        "tempdir": found.dir,
        "source": found.source,
        "rejected": [{"dir": r.dir, "error": r.error} for r in found.rejected],
        "fs_type": fs.fs_type,
        "free_bytes": fs.free_bytes,
        "total_bytes": fs.total_bytes,
        "o_tmpfile": fs.o_tmpfile,
    }


def _print_info(as_json: bool) -> int:
    report = info_report()
    if as_json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"ferrotemp {report['version']}")
    print(f"temp dir:    {report['tempdir']}  (chosen from {report['source']})")
    for rejected in report["rejected"]:
        print(f"  skipped:   {rejected['dir']}: {rejected['error']}")
    print(f"filesystem:  {report['fs_type']}")
    print(f"free space:  {_human(report['free_bytes'])} of {_human(report['total_bytes'])}")
    works = "yes" if report["o_tmpfile"] else "no (files are created and unlinked at once)"
    print(f"O_TMPFILE:   {works}")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="ferrotemp", description="Python's tempfile on a Rust core."
    )
    parser.add_argument("--version", action="version", version=f"ferrotemp {__version__}")
    commands = parser.add_subparsers(dest="command")
    info = commands.add_parser("info", help="show the temp dir chosen, why, and its filesystem")
    info.add_argument("--json", action="store_true", help="print JSON")
    bench = commands.add_parser(
        "bench", help="time ferrotemp against the standard module here (a short run)"
    )
    from . import _bench

    _bench.add_arguments(bench, default_profile="short")
    _sweep_cli.add_parser(commands)
    _ls.add_parser(commands)
    _run.add_parser(commands)
    args = parser.parse_args(argv)
    if args.command == "run":
        return _run.run_cli(args, commands.choices["run"])
    if args.command == "sweep":
        return _sweep_cli.run(args, commands.choices["sweep"])
    if args.command == "ls":
        return _ls.run(args, commands.choices["ls"])
    if args.command in (None, "info"):
        return _print_info(getattr(args, "json", False))
    if args.command == "bench":
        return _bench.run_from_args(args)
    parser.error(f"unknown command {args.command!r}")  # argparse exits; keeps mypy informed
    return 2


if __name__ == "__main__":
    sys.exit(main())
