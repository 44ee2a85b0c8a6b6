"""ferrotemp.aio side by side with anyio's temp files (needs ``ferrotemp[aio]``).

- Loop latency: a ``TemporaryDirectory`` holding 100,000 files (100 directories of 1,000) is
  removed while a ticker task on the same event loop sleeps 1 ms at a time and records the
  longest gap between its ticks. Three ways: ``ferrotemp.aio.TemporaryDirectory`` (removal in
  a worker thread, GIL released), ``anyio.TemporaryDirectory`` (the standard module's removal
  in a worker thread, holding the GIL as it runs Python), and a plain
  ``tempfile.TemporaryDirectory`` cleaned up synchronously inside the loop; then two floors
  of the machine: the same ticker while a worker thread sleeps, and while one computes
  without the GIL (what any disk work in a thread costs the loop on a loaded machine).
- Spooled writes: 10,000 writes of 64 bytes to an in-memory ``SpooledTemporaryFile``,
  ``ferrotemp.aio``'s against anyio's, interleaved rounds.

    python benches/aio_bench.py [--backend asyncio|trio] [--rounds 3] [--files 100000]
                                [--dir /tmp] [--json out.json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import time
from typing import Any, Awaitable, Callable, Optional

import anyio
import anyio.to_thread

import ferrotemp.aio as aio

from .cases import tempfile as std_tempfile

__all__ = ["loop_latency", "main", "spooled_writes"]

TICK = 0.001


def populate(root: str, files: int, per_dir: int = 1000) -> None:
    """``files`` empty files under ``root``, ``per_dir`` to a directory."""
    made = 0
    sub = 0
    while made < files:
        d = os.path.join(root, f"d{sub}")
        os.mkdir(d)
        for i in range(min(per_dir, files - made)):
            os.close(os.open(os.path.join(d, str(i)), os.O_CREAT | os.O_WRONLY, 0o600))
        made += min(per_dir, files - made)
        sub += 1


async def _ticking_while(work: Callable[[], Awaitable[None]]) -> tuple[list[float], float]:
    """(the gaps between ticks while ``work`` ran, seconds it took), the ticker sleeping
    ``TICK``."""
    gaps: list[float] = []
    running = True

    async def ticker() -> None:
        last = time.perf_counter()
        while running:
            await anyio.sleep(TICK)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    async with anyio.create_task_group() as tg:
        tg.start_soon(ticker)
        await anyio.sleep(0.05)  # the ticker is in its rhythm
        gaps.clear()
        start = time.perf_counter()
        await work()
        took = time.perf_counter() - start
        await anyio.sleep(2 * TICK)  # the gap in which the work ended is counted
        running = False
    return gaps, took


async def _one_latency(
    kind: str, parent: str, files: int, per_dir: int = 1000
) -> tuple[list[float], float]:
    if kind == IDLE:
        # The machine's own noise: the loop idle while a worker thread sleeps.
        return await _ticking_while(lambda: anyio.to_thread.run_sync(time.sleep, 1.0))
    if kind == BUSY:
        # The floor for work that releases the GIL: a worker thread busy on a core for 1 s.
        return await _ticking_while(lambda: anyio.to_thread.run_sync(_busy_without_gil, 1.0))
    if kind == "ferrotemp.aio":
        td: Any = aio.TemporaryDirectory(dir=parent)
    elif kind == "anyio":
        td = anyio.TemporaryDirectory(dir=parent)
    else:
        plain = std_tempfile.TemporaryDirectory(dir=parent)
        await anyio.to_thread.run_sync(populate, plain.name, files, per_dir)

        async def sync_cleanup() -> None:
            plain.cleanup()  # blocks the loop, as sync code in a handler does

        return await _ticking_while(sync_cleanup)
    name = await td.__aenter__()
    await anyio.to_thread.run_sync(populate, name, files, per_dir)

    async def leave() -> None:
        await td.__aexit__(None, None, None)

    result = await _ticking_while(leave)
    assert not os.path.exists(name)
    return result


IDLE = "floor: a thread sleeping 1 s"
BUSY = "floor: a thread hashing 1 s (no GIL)"
KINDS = ("ferrotemp.aio", "anyio", "tempfile (sync, in the loop)", IDLE, BUSY)


def _busy_without_gil(seconds: float) -> None:
    data = bytes(8 << 20)  # hashlib releases the GIL for buffers this size
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        hashlib.sha256(data).digest()


async def loop_latency(
    parent: str, files: int, rounds: int, per_dir: int = 1000
) -> dict[str, dict[str, Any]]:
    """Per kind and round: the longest tick gap (ms), the 99th percentile, how many gaps
    exceeded 5 ms, and the removal time (s)."""
    keys = ("gaps_ms", "p99_ms", "over_5ms", "removal_s")
    out: dict[str, dict[str, Any]] = {k: {key: [] for key in keys} for k in KINDS}
    for _ in range(rounds):
        for kind in KINDS:
            gaps, took = await _one_latency(kind, parent, files, per_dir)
            gaps.sort()
            row = out[kind]
            row["gaps_ms"].append(gaps[-1] * 1000 if gaps else 0.0)
            row["p99_ms"].append(gaps[int(len(gaps) * 0.99)] * 1000 if gaps else 0.0)
            row["over_5ms"].append(sum(1 for gap in gaps if gap > 0.005))
            row["removal_s"].append(took)
    return out


async def _writes(f: Any, data: bytes, count: int) -> float:
    start = time.perf_counter()
    for _ in range(count):
        await f.write(data)
    took = time.perf_counter() - start
    assert not f._rolled
    await f.aclose()
    return took


async def spooled_writes(count: int, rounds: int) -> dict[str, list[float]]:
    """Seconds for ``count`` writes of 64 bytes to an in-memory spooled file, per round."""
    data = b"x" * 64
    out: dict[str, list[float]] = {"ferrotemp.aio": [], "anyio": []}
    for _ in range(rounds):
        # A max_size far above what is written (anyio before 4.13 rolls over at once with
        # max_size 0, which should mean never).
        out["anyio"].append(await _writes(anyio.SpooledTemporaryFile(1 << 30), data, count))
        out["ferrotemp.aio"].append(await _writes(aio.SpooledTemporaryFile(1 << 30), data, count))
    return out


def format_report(report: dict[str, Any]) -> str:
    lines = [
        f"ferrotemp.aio vs anyio {report['anyio']} on {report['backend']}, "
        f"Python {report['python']}, {report['cpus']} CPUs",
        "",
        f"Loop latency while a TemporaryDirectory of {report['files']:,} files "
        f"({report['per_dir']:,} a directory) is removed "
        f"(ticker sleeping {TICK * 1000:g} ms; medians of {report['rounds']} rounds):",
        f"  {'':36} {'max gap':>9} {'(worst)':>9} {'p99 gap':>9} {'gaps > 5 ms':>11}"
        f" {'removal':>8}",
    ]
    for kind, row in report["latency"].items():
        lines.append(
            f"  {kind:36} {statistics.median(row['gaps_ms']):6.1f} ms {max(row['gaps_ms']):6.1f} ms"
            f" {statistics.median(row['p99_ms']):6.1f} ms {statistics.median(row['over_5ms']):11g}"
            f" {statistics.median(row['removal_s']):6.2f} s"
        )
    writes = report["spooled"]
    ours = statistics.median(writes["ferrotemp.aio"])
    theirs = statistics.median(writes["anyio"])
    count = report["writes"]
    lines += [
        "",
        f"{count:,} writes of 64 bytes to an in-memory SpooledTemporaryFile "
        f"(median of {len(writes['anyio'])} rounds):",
        f"  ferrotemp.aio {ours * 1e6 / count:8.2f} us/write",
        f"  anyio         {theirs * 1e6 / count:8.2f} us/write",
        f"  anyio / ferrotemp.aio = {theirs / ours:.2f}x",
    ]
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--backend", default="asyncio", choices=["asyncio", "trio"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument(
        "--per-dir",
        type=int,
        default=1000,
        help="files per subdirectory (as many as --files: one flat directory)",
    )
    parser.add_argument("--writes", type=int, default=10_000)
    parser.add_argument("--write-rounds", type=int, default=15)
    parser.add_argument("--dir", default=None, help="where the directories go (default: TMPDIR)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    parent = args.dir or std_tempfile.gettempdir()

    async def run() -> dict[str, Any]:
        from importlib.metadata import version

        return {
            "backend": args.backend,
            "anyio": version("anyio"),
            "python": sys.version.split()[0],
            "cpus": os.cpu_count(),
            "files": args.files,
            "rounds": args.rounds,
            "writes": args.writes,
            "spooled": await spooled_writes(args.writes, args.write_rounds),
            "per_dir": args.per_dir,
            "latency": await loop_latency(parent, args.files, args.rounds, args.per_dir),
        }

    report = anyio.run(run, backend=args.backend)
    print(format_report(report))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(report, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
