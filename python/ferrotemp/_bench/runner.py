"""How long a run takes (the profiles), the interleaved rounds, and a directory's table."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

from .cases import Case, Op, build_cases
from .fresh import GUARD_CASE, IMPORT_CASE, guard_row, import_row, memory_row
from .report import case_row, fs_type

__all__ = ["PROFILES", "Profile", "run", "run_dir"]


@dataclass(frozen=True)
class Profile:
    """How long a run takes: rounds, a scale for each case's inner count, the sizes scanned."""

    rounds: int
    scale: float
    memory_mib: int
    scaling_sizes: tuple[int, ...]
    thread_ops: int


PROFILES = {
    # python benches/bench.py: the figures for the README.
    "full": Profile(15, 1.0, 64, (10, 100, 1_000, 10_000, 100_000), 20_000),
    # ferrotemp bench: a few seconds per directory on the user's machine.
    "short": Profile(3, 0.1, 16, (10, 1_000, 10_000), 2_000),
    # ferrotemp bench --quick: the table's shape, for tests.
    "quick": Profile(1, 0.02, 8, (10, 1_000), 400),
}


def _time(op: Op, number: int) -> float:
    # An op may carry untimed preparation for its next `number` calls (trees to remove).
    prepare = getattr(op, "prepare", None)
    if prepare is not None:
        prepare(number)
    start = time.perf_counter()
    for _ in range(number):
        op()
    return (time.perf_counter() - start) / number


Progress = Callable[[str], None]


def _silent(_what: str) -> None:
    pass


def run(cases: list[Case], rounds: int, progress: Progress = _silent) -> None:
    for case in cases:
        if case.skip is not None:
            continue
        progress(case.name)
        warm = min(50, case.number)
        # Warm-up: imports, caches, discovery; once for cases that build trees first.
        for _ in range(1 if hasattr(case.std, "prepare") else 2):
            _time(case.std, warm)
            _time(case.ours, warm)
        for _ in range(rounds):
            variants = [("std", case.std), ("ours", case.ours)]
            if case.floor is not None:
                variants.append(("floor", case.floor))
            for label, op in variants:
                case.samples.setdefault(label, []).append(_time(op, case.number))
            if case.floor_rust is not None:
                seconds = case.floor_rust(case.number)
                case.samples.setdefault("floor_rust", []).append(seconds / case.number)


def _n(count: int, profile: Profile) -> int:
    return max(1, int(count * profile.scale))


def _after(rows: list[dict[str, Any]], prefix: str) -> int:
    """Where a row goes to keep the table's order: after the row named ``prefix…``."""
    for i, row in enumerate(rows):
        if row["case"].startswith(prefix):
            return i + 1
    return len(rows)


def run_dir(
    d: str, profile: Profile, only: Optional[str] = None, progress: Progress = _silent
) -> dict[str, Any]:
    cases = [c for c in build_cases(d, profile.scale) if only is None or only in c.name]
    run(cases, profile.rounds, progress)
    rows = [case_row(c) for c in cases]
    if only is None or only in GUARD_CASE:
        progress(GUARD_CASE)
        rows.insert(
            _after(rows, "Spooled 1.25 MiB"), guard_row(d, profile.rounds, _n(1000, profile))
        )
    if only is None or only in "rollover peak above data":
        progress("rollover peak")
        rows.append(memory_row(d, profile.memory_mib, profile.rounds))
    if only is None or only in IMPORT_CASE:
        progress("import time")
        rows.append(import_row(d, profile.rounds))
    return {"dir": d, "fs_type": fs_type(d), "rounds": profile.rounds, "rows": rows}
