"""The ``ferrotemp`` command's parser and its commands ``info``, ``bench``, ``sweep``, ``ls``
and ``run`` (``__main__`` starts ``run`` without this module when it can)."""

from __future__ import annotations

import argparse
import functools
import os
import sys
from typing import Any, Callable, NoReturn, Optional, Sequence, TypeVar, cast

from . import __version__, _core

# Sizes as the command line shows them (the core's formatter, shared with ferrotemp run).
_human = _core.human_size


def _guard_report() -> dict[str, Any]:
    """The crash guard's state as this process's configuration has it (nothing is created:
    whether a record can be made shows at the first guarded entry)."""
    switches = _core.guard_switches()
    reason = _core.guard_unavailable_reason()
    if not switches.enabled:
        state, why = "off", "FERROTEMP_GUARD turns it off"
    elif reason is not None:
        state, why = "unavailable", reason
    else:
        state, why = "on", None
    keep_env = os.environ.get("FERROTEMP_KEEP", "").strip().lower()
    if switches.keep:
        keep = "always (FERROTEMP_KEEP): guarded entries and workspaces are kept"
    elif keep_env == "on-error":
        keep = "on-error (FERROTEMP_KEEP): failed workspaces are kept"
    else:
        keep = "off"
    try:
        registry: Optional[str] = _core.guard_registry_path()
    except OSError as err:
        registry = None
        why = why or f"no registry: {err}"
    return {
        "state": state,
        "why": why,
        "registry": registry,
        "registry_from": "FERROTEMP_GUARD_DIR" if switches.registry_dir else "the temp dir",
        "flock": switches.use_flock,
        "auto_sweep": switches.auto_sweep,
        "keep": keep,
    }


def info_report() -> dict[str, Any]:
    """What ``ferrotemp info`` prints: the temp dir, why it was chosen, its filesystem, and
    the crash guard's state."""
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
        "guard": _guard_report(),
    }


def _print_info(as_json: bool) -> int:
    report = info_report()
    if as_json:
        import json

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
    guard = report["guard"]
    state = guard["state"] + (f" ({guard['why']})" if guard["why"] else "")
    print(f"crash guard: {state}")
    if guard["registry"] is not None:
        print(f"  registry:  {guard['registry']}  (from {guard['registry_from']})")
    print(f"  flock:     {'yes' if guard['flock'] else 'no (records judged by pid)'}")
    print(f"  sweeps:    {'automatic, in slices' if guard['auto_sweep'] else 'by hand only'}")
    print(f"keep mode:   {guard['keep']}")
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse's parser with one-line errors: ``ferrotemp sweep: error: …`` and status 2,
    without the usage block (``--help`` has it). Subcommands' parsers are of this class too."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


_Command = TypeVar("_Command", bound=Callable[..., int])


def _closed_pipe_ends_quietly(command: _Command) -> _Command:
    """``command``, ending with status 1 and no traceback when its reader goes away
    (``ferrotemp sweep | head -1``): the recipe of Python's signal docs ("Note on SIGPIPE"),
    whose status is also the interpreter's for an uncaught ``BrokenPipeError``. (CPython's
    ``json.tool`` exits with the errno, 32, which no shell convention gives; 141 would claim
    a SIGPIPE death that did not happen.)"""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> int:
        try:
            status = command(*args, **kwargs)
            # Output to a pipe is buffered: a closed reader shows here, not at exit.
            if sys.stdout is not None:
                sys.stdout.flush()
        except BrokenPipeError:
            # The interpreter flushes stdout again at exit: let that go to /dev/null.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
            return 1
        return status

    return cast(_Command, run)


@_closed_pipe_ends_quietly
def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = _Parser(prog="ferrotemp", description="Python's tempfile on a Rust core.")
    parser.add_argument("--version", action="version", version=f"ferrotemp {__version__}")
    commands = parser.add_subparsers(dest="command")
    words = sys.argv[1:] if argv is None else list(argv)
    if words[:1] == ["run"]:
        # `ferrotemp run` with a line __main__ left to argparse (help, an error, an unusual
        # form): only its own parser, and none of the other commands' modules (the sweep's
        # pulls in dataclasses, the bench's much more). `ferrotemp -h run` gets them all.
        from . import _run

        _run.add_parser(commands)
        args = parser.parse_args(argv)
        return _run.run_cli(args, commands.choices["run"].error)
    from . import _ls, _run, _sweep_cli

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
        return _run.run_cli(args, commands.choices["run"].error)
    if args.command == "sweep":
        return _sweep_cli.run(args, commands.choices["sweep"])
    if args.command == "ls":
        return _ls.run(args, commands.choices["ls"])
    if args.command in (None, "info"):
        return _print_info(getattr(args, "json", False))
    if args.command == "bench":
        _bench.check_args(args, bench.error)
        return _bench.run_from_args(args)
    parser.error(f"unknown command {args.command!r}")  # argparse exits; keeps mypy informed
    return 2
