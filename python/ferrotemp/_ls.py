"""``ferrotemp ls``: one view of the temp space every process of this user guards.

ferrotemp ls [--dir D] [--json] [--watch [SECONDS]]

From the crash guard's registry (``FERROTEMP_GUARD_DIR``, or the one in the temp dir): per
process, its pid, status (alive, or dead with its entries awaiting a sweep), command line and
start; per guarded entry (files, directories and workspaces, with a workspace's name and
limits), its size on disk and files as measured now (blocks, as ``du``) and its age. An entry
whose path no longer holds what was recorded is shown as ``gone`` or ``replaced`` and not
measured (so a stale record never sends the walk elsewhere).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Optional

from . import _core
from ._sweep_cli import shown_path

# Sizes as the command line shows them (the core's formatter, shared with ferrotemp run).
_human = _core.human_size

#: Seconds between refreshes of ``--watch`` without a value.
DEFAULT_WATCH = 2.0


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"invalid interval {text!r}: use a number of seconds > 0")
    return value


def add_parser(commands: Any) -> None:
    """Adds the ``ls`` subcommand to ``commands`` (an argparse subparsers action)."""
    parser = commands.add_parser(
        "ls",
        help="list the temp files, directories and workspaces every process guards, with usage",
        description=(
            "List, per process of this user, the temp entries its crash-guard record holds "
            "(files, directories, workspaces) with their size on disk, file count and age; "
            "the entries of processes that died wait for a sweep (ferrotemp sweep)."
        ),
    )
    parser.add_argument(
        "--dir",
        help="the temp dir whose registry to read (default: the one ferrotemp uses; "
        "FERROTEMP_GUARD_DIR overrides the registry location)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument(
        "--watch",
        nargs="?",
        const=DEFAULT_WATCH,
        type=_positive_seconds,
        metavar="SECONDS",
        help=f"refresh every SECONDS (default {DEFAULT_WATCH:g}) until Ctrl-C",
    )


def _command_line(pid: int) -> Optional[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    args = [os.fsdecode(arg) for arg in raw.split(b"\0") if arg]
    return " ".join(args) if args else None


def _entry_view(entry: _core.GuardEntry, now_ns: int) -> dict[str, Any]:
    view: dict[str, Any] = {
        "path": entry.path,
        "kind": "workspace" if entry.workspace is not None else entry.kind,
        "state": entry.state,
        "age_seconds": (now_ns - entry.recorded_ns) / 1e9 if entry.recorded_ns else None,
        "bytes": None,
        "files": None,
        "dirs": None,
        "problem": None,
    }
    if entry.workspace is not None:
        view["workspace"] = {
            "name": entry.workspace.name,
            "max_bytes": entry.workspace.max_bytes,
            "max_files": entry.workspace.max_files,
            "command": entry.workspace.command,
        }
    if entry.presence != "present":
        view["problem"] = entry.presence
        return view
    # Measured through the descriptor the presence check opened, never by the path again.
    err = entry.measure_error
    if entry.usage is not None:
        view["bytes"], view["files"], view["dirs"] = entry.usage
    elif isinstance(err, FileNotFoundError):
        view["problem"] = "gone"
    elif err is not None:
        view["problem"] = f"{err.strerror or err}: {err.filename}"
    return view


def _container(path: str, dirs: set[str]) -> Optional[str]:
    """The directory of ``dirs`` that ``path`` lies strictly inside, or ``None``."""
    here = os.path.normpath(path)
    while True:
        parent = os.path.dirname(here)
        if parent == here:
            return None
        if parent in dirs:
            return parent
        here = parent


def snapshot(root: Optional[str] = None) -> dict[str, Any]:
    """What ``ferrotemp ls --json`` prints: the records of the registry in ``root`` (a temp
    dir; ``None``: the registry in use), each process with its entries measured now.

    An entry inside another listed directory entry (a guarded file in a workspace) is
    measured in both: its bytes count once, in the directory's, in the process's bytes (when
    the directory is the same process's) and in the total; ``counted_in`` names that
    directory."""
    now_ns = time.time_ns()
    records = _core.list_records(root, measure=True)
    views = [[_entry_view(entry, now_ns) for entry in record.entries] for record in records]

    def measured_dirs(entries: list[dict[str, Any]]) -> set[str]:
        return {
            os.path.normpath(e["path"])
            for e in entries
            if e["kind"] != "file" and e["bytes"] is not None
        }

    every_dir = set().union(*(measured_dirs(entries) for entries in views))
    processes = []
    total_bytes = 0
    total_entries = 0
    for record, entries in zip(records, views, strict=True):
        own_dirs = measured_dirs(entries)
        measured = 0
        for entry in entries:
            entry["counted_in"] = _container(entry["path"], every_dir)
            if _container(entry["path"], own_dirs) is None:
                measured += entry["bytes"] or 0
            if entry["counted_in"] is None:
                total_bytes += entry["bytes"] or 0
        total_entries += len(entries)
        processes.append(
            {
                "pid": record.pid,
                "status": record.status,
                "command": _command_line(record.pid) if record.status == "alive" else None,
                "start_ns": record.start_ns or None,
                "age_seconds": (now_ns - record.start_ns) / 1e9 if record.start_ns else None,
                "record": record.name,
                "truncated": record.truncated,
                "bytes": measured,
                "entries": entries,
            }
        )
    return {
        "processes": processes,
        "total": {"processes": len(processes), "entries": total_entries, "bytes": total_bytes},
    }


def _one_line(text: str) -> str:
    """``text`` (a path or command line) made printable on one line: control characters
    (newlines included) as ``\\xNN`` escapes, undecodable bytes as ``shown_path`` shows them."""
    shown = shown_path(text)
    return "".join(c if c.isprintable() or c == " " else f"\\x{ord(c):02x}" for c in shown)


def _files(count: int) -> str:
    return f"{count} file" if count == 1 else f"{count} files"


def _age(seconds: Optional[float]) -> str:
    if seconds is None:
        return "?"
    seconds = max(seconds, 0.0)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"


_STATUS = {
    "alive": "alive",
    "dead": "dead, awaiting sweep",
    "other_host": "another host's",
}


def _limits(workspace: dict[str, Any]) -> str:
    parts = []
    if workspace["max_bytes"] is not None:
        parts.append(f"max {_human(workspace['max_bytes'])}")
    if workspace["max_files"] is not None:
        parts.append(f"max {_files(workspace['max_files'])}")
    return f" ({', '.join(parts)})" if parts else ""


def render(view: dict[str, Any]) -> str:
    """The text ``ferrotemp ls`` prints for a ``snapshot``."""
    lines = []
    for proc in view["processes"]:
        head = f"pid {proc['pid']}  {_STATUS.get(proc['status'], proc['status'])}"
        if proc["age_seconds"] is not None:
            head += f"  up {_age(proc['age_seconds'])}"
        if proc["command"]:
            head += f"  {_one_line(proc['command'])}"
        lines.append(head)
        if not proc["entries"]:
            lines.append("  (no entries)")
        for entry in proc["entries"]:
            if entry["problem"] is not None:
                usage = entry["problem"]
            else:
                usage = f"{_human(entry['bytes'])}, {_files(entry['files'])}"
            label = entry["kind"]
            if "workspace" in entry:
                # Quoted, not repr'd: _one_line has escaped it once already.
                label = f"workspace '{_one_line(entry['workspace']['name'])}'"
                label += _limits(entry["workspace"])
                if entry["workspace"]["command"]:
                    label += f" running {_one_line(entry['workspace']['command'])!r}"
            pending = " (pending)" if entry["state"] == "pending" else ""
            lines.append(
                f"  {label}{pending}  {_one_line(entry['path'])}  {usage}"
                f"  age {_age(entry['age_seconds'])}"
            )
    total = view["total"]
    lines.append(
        f"{total['processes']} processes, {total['entries']} entries, {_human(total['bytes'])}"
    )
    return "\n".join(lines)


def _emit(root: Optional[str], as_json: bool, watching: bool) -> None:
    view = snapshot(root)
    if as_json:
        # One document per refresh; one line each when watching (JSON lines).
        text = json.dumps(view, indent=None if watching else 2)
    else:
        text = render(view)
        if watching:
            text = "\x1b[H\x1b[2J" + text
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Runs ``ferrotemp ls``; returns the exit status."""
    if args.dir is not None and not os.path.isdir(args.dir):
        parser.error(f"--dir: not a directory: {args.dir!r}")
    try:
        while True:
            _emit(args.dir, args.json, args.watch is not None)
            if args.watch is None:
                return 0
            time.sleep(args.watch)
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:
        if args.watch is None:
            # The command's end for a closed pipe (_cli._closed_pipe_ends_quietly): quiet,
            # status 1.
            raise
        # A watch runs until its reader goes away (`| head`): that is its normal end, as
        # Ctrl-C is. Keep the interpreter's final flush from failing on the same pipe.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except OSError as err:
        parser.exit(2, f"ferrotemp ls: {shown_path(str(err))}\n")
