"""Workspaces, side by side: what ``usage()`` costs, and what a workspace's creator adds.

1. ``Workspace.usage()`` on a tree of ``--files`` files (in 100 directories) against ``du -s``
   (a process of its own, so timed as a caller sees it, spawn included) and against the
   usual Python sum (``os.walk`` + ``os.lstat``, blocks * 512, hard links once). All three
   measure the same tree and must agree on the bytes.
2. ``ws.NamedTemporaryFile()`` enter/exit against the plain ``ferrotemp.NamedTemporaryFile``
   in the same directory, interleaved, and a seek and 4 KiB write through each: the overhead
   ratios, in a workspace without ``max_bytes`` (no write check) and with one.

Medians over ``--rounds``; each round runs every side once, in turn.

    python benches/workspace.py [--dir /dev/shm] [--files 10000] [--rounds 9] [--ops 2000]
                                [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any, Callable, Optional, Sequence

import ferrotemp


def python_walk_bytes(root: str) -> int:
    """What a Python service writes by hand: ``os.walk`` and ``os.lstat``, as ``du`` counts."""
    seen: set[tuple[int, int]] = set()
    total = os.lstat(root).st_blocks * 512
    for parent, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            st = os.lstat(os.path.join(parent, name))
            if st.st_nlink > 1 and not os.path.isdir(os.path.join(parent, name)):
                if (st.st_dev, st.st_ino) in seen:
                    continue
                seen.add((st.st_dev, st.st_ino))
            total += st.st_blocks * 512
    return total


def du_bytes(root: str) -> int:
    out = subprocess.run(["du", "-B1", "-s", root], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0])


def timed(op: Callable[[], Any], number: int = 1) -> float:
    start = time.perf_counter()
    for _ in range(number):
        op()
    return (time.perf_counter() - start) / number


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1e3


def measure_rows(ws: ferrotemp.Workspace, files: int, rounds: int) -> dict[str, Any]:
    root = str(ws.path)
    payload = b"x" * 100
    for d in range(100):
        sub = os.path.join(root, f"d{d:03}")
        os.mkdir(sub)
        for i in range(files // 100):
            with open(os.path.join(sub, f"f{i:05}"), "wb") as f:
                f.write(payload)
    ours, du, walk = ws.usage().bytes, du_bytes(root), python_walk_bytes(root)
    assert ours == du == walk, (ours, du, walk)
    samples: dict[str, list[float]] = {"usage()": [], "du -s": [], "os.walk+lstat": []}
    for _ in range(rounds):
        samples["usage()"].append(timed(ws.usage))
        samples["du -s"].append(timed(lambda: du_bytes(root)))
        samples["os.walk+lstat"].append(timed(lambda: python_walk_bytes(root)))
    return {"files": files, "bytes": ours, "ms": {k: median_ms(v) for k, v in samples.items()}}


def creator_rows(ws: ferrotemp.Workspace, ops: int, rounds: int) -> dict[str, Any]:
    root = str(ws.path)
    block = b"w" * 4096

    def plain() -> None:
        with ferrotemp.NamedTemporaryFile(dir=root):
            pass

    def ours() -> None:
        with ws.NamedTemporaryFile():
            pass

    plain_file = ferrotemp.NamedTemporaryFile(dir=root)
    our_file = ws.NamedTemporaryFile()

    def plain_write() -> None:
        plain_file.seek(0)
        plain_file.write(block)

    def our_write() -> None:
        our_file.seek(0)
        our_file.write(block)

    sides = {
        "plain NamedTemporaryFile": plain,
        "workspace NamedTemporaryFile": ours,
        "plain write 4 KiB": plain_write,
        "workspace write 4 KiB": our_write,
    }
    samples: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(rounds):
        for name, op in sides.items():
            number = ops if "Temporary" in name else ops * 10
            samples[name].append(timed(op, number))
    plain_file.close()
    our_file.close()
    us = {name: statistics.median(v) * 1e6 for name, v in samples.items()}
    return {
        "us": us,
        "create_ratio": us["workspace NamedTemporaryFile"] / us["plain NamedTemporaryFile"],
        "write_ratio": us["workspace write 4 KiB"] / us["plain write 4 KiB"],
    }


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dir", default=None, help="where the workspace goes (default: temp)")
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--ops", type=int, default=2000)
    parser.add_argument("--json", dest="json_out", metavar="PATH")
    args = parser.parse_args(argv)
    with ferrotemp.Workspace("bench-usage", dir=args.dir) as ws:
        fs = ferrotemp._core.filesystem_info(str(ws.path)).fs_type
        measured = measure_rows(ws, args.files, args.rounds)
    created = {}
    for label, limit in (("no max_bytes", None), ("max_bytes set", "1 TiB")):
        with ferrotemp.Workspace("bench-create", max_bytes=limit, dir=args.dir) as ws:
            created[label] = creator_rows(ws, args.ops, args.rounds)
    print(f"{measured['files']} files, {measured['bytes']} bytes on {fs}; medians, ms:")
    for name, ms in measured["ms"].items():
        print(f"  {name:<16} {ms:8.2f}")
    for label, rows in created.items():
        print(f"creation and writes, workspace with {label}, medians, us per op:")
        for name, us in rows["us"].items():
            print(f"  {name:<30} {us:8.2f}")
        print(f"  workspace / plain: create {rows['create_ratio']:.2f}x, ", end="")
        print(f"write {rows['write_ratio']:.2f}x")
    if args.json_out:
        with open(args.json_out, "w") as out:
            json.dump({"fs": fs, "usage": measured, "creators": created}, out, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
