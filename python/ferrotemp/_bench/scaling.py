"""Beyond the table: per-op cost as the directory fills, and one thread against two."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Sequence

import ferrotemp

from .. import _core
from .cases import Op, rust_create_unlink, tempfile

__all__ = ["scaling", "thread_scaling"]


def scaling(d: str, sizes: Sequence[int], rounds: int) -> list[dict[str, Any]]:
    """Per-op µs of NamedTemporaryFile enter/exit and mkstemp round trips in a directory that
    already holds `size` live files."""
    out = []
    ops = 300
    for size in sizes:
        parent = ferrotemp.mkdtemp(prefix="scaling-", dir=d)
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
            for i in range(size):
                os.close(os.open(f"{parent}/live{i}", flags, 0o600))
            samples: dict[str, list[float]] = {"std": [], "ours": [], "floor_rust": []}
            for _ in range(rounds):
                for label, module in (("std", tempfile), ("ours", ferrotemp)):
                    make = module.NamedTemporaryFile
                    start = time.perf_counter()
                    for _ in range(ops):
                        with make(dir=parent):
                            pass
                    samples[label].append((time.perf_counter() - start) / ops)
                if os.name == "posix" and hasattr(_core, "_floor_create_unlink"):
                    samples["floor_rust"].append(rust_create_unlink(parent, ops) / ops)
        finally:
            _core.remove_tree(parent)
        row: dict[str, Any] = {"live_files": size}
        for label, values in samples.items():
            if values:
                row[f"{label}_us"] = statistics.median(values) * 1e6
        out.append(row)
    return out


def _throughput(make_op: Callable[[], Op], threads: int, ops: int) -> float:
    """Operations per second with `threads` threads each doing `ops` operations."""
    barrier = threading.Barrier(threads + 1)
    errors: list[BaseException] = []

    def work() -> None:
        op = make_op()
        barrier.wait()
        try:
            for _ in range(ops):
                op()
        except BaseException as e:  # reported below, after the threads are joined
            errors.append(e)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for w in workers:
        w.start()
    barrier.wait()
    start = time.perf_counter()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    return threads * ops / elapsed


_PROCESS_CHILD = r"""
import os, sys, time
module = __import__(sys.argv[1])
d, ops = sys.argv[2], int(sys.argv[3])
make = module.NamedTemporaryFile
for _ in range(min(ops, 200)):
    with make(dir=d):
        pass  # warm-up: imports, caches, the guard's record
print("ready", flush=True)
sys.stdin.readline()
start = time.monotonic()
for _ in range(ops):
    with make(dir=d):
        pass
print(start, time.monotonic(), flush=True)
"""


def _process_throughput(module: str, d: str, processes: int, ops: int) -> float:
    """Operations per second with `processes` fresh interpreters each doing `ops` operations
    of ``module.NamedTemporaryFile`` enter/exit, started together once all are warm: from the
    first start to the last end (CLOCK_MONOTONIC is one clock for all processes)."""
    env = {k: v for k, v in os.environ.items() if k != "FERROTEMP_AS_TEMPFILE"}
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _PROCESS_CHILD, module, d, str(ops)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(processes)
    ]
    try:
        for child in children:
            assert child.stdout is not None
            if child.stdout.readline().strip() != "ready":
                raise RuntimeError("a benchmark process failed to start")
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        spans = []
        for child in children:
            out, _ = child.communicate(timeout=600)
            if child.returncode != 0:
                raise RuntimeError("a benchmark process failed")
            first, last = out.split()
            spans.append((float(first), float(last)))
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    elapsed = max(end for _, end in spans) - min(start for start, _ in spans)
    return processes * ops / elapsed


def thread_scaling(d: str, ops: int, rounds: int) -> dict[str, Any]:
    """Throughput of NamedTemporaryFile enter/exit with 1 and 2 threads, and for ferrotemp
    with 1 and 2 processes: the target is a thread speed-up of at least 0.95 of the process
    speed-up on the same machine (what the machine allows two workers at all)."""
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC

    def named(module: Any) -> Callable[[], Op]:
        def make_op() -> Op:
            make = module.NamedTemporaryFile

            def op() -> None:
                with make(dir=d):
                    pass

            return op

        return make_op

    def floor() -> Op:
        base = f"{d}/floor-{threading.get_ident()}-"
        counter = [0]

        def op() -> None:
            counter[0] += 1
            path = f"{base}{counter[0]}"
            os.close(os.open(path, flags, 0o600))
            os.unlink(path)

        return op

    result: dict[str, Any] = {"dir": d, "ops_per_thread": ops, "target": 0.95}
    for label, make_op in (
        ("ours", named(ferrotemp)),
        ("std", named(tempfile)),
        ("floor", floor),
    ):
        one, two = [], []
        for _ in range(rounds):
            one.append(_throughput(make_op, 1, ops))
            two.append(_throughput(make_op, 2, ops))
        result[label] = {
            "one_thread_ops": statistics.median(one),
            "two_threads_ops": statistics.median(two),
            "speedup": statistics.median(two) / statistics.median(one),
        }
    one, two = [], []
    for _ in range(rounds):
        one.append(_process_throughput("ferrotemp", d, 1, ops))
        two.append(_process_throughput("ferrotemp", d, 2, ops))
    result["ours_processes"] = {
        "one_process_ops": statistics.median(one),
        "two_processes_ops": statistics.median(two),
        "speedup": statistics.median(two) / statistics.median(one),
    }
    result["threads_vs_processes"] = result["ours"]["speedup"] / result["ours_processes"]["speedup"]
    return result
