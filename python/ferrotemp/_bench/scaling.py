"""Beyond the table: per-op cost as the directory fills, and one thread against two."""

from __future__ import annotations

import os
import statistics
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


def thread_scaling(d: str, ops: int, rounds: int) -> dict[str, Any]:
    """Throughput of NamedTemporaryFile enter/exit with 1 and 2 threads (target ≥ 1.6×)."""
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

    result: dict[str, Any] = {"dir": d, "ops_per_thread": ops, "target": 1.6}
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
    return result
