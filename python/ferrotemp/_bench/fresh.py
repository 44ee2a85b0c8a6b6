"""What needs a fresh interpreter: a rollover's peak memory, the import time, and the crash
guard's cost (switching the guard in a running process starts a new record each time)."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from typing import Any

__all__ = [
    "GUARD_CASE",
    "IMPORT_CASE",
    "guard_row",
    "import_row",
    "measure_import",
    "measure_rollover_peak",
    "memory_row",
]

IMPORT_CASE = "import ferrotemp vs tempfile"
GUARD_CASE = "crash guard on vs off"

_GUARD_CHILD = r"""
import statistics, sys, time
import ferrotemp

d, number = sys.argv[1], int(sys.argv[2])

def op():
    with ferrotemp.NamedTemporaryFile(dir=d):
        pass

for _ in range(min(number, 200)):
    op()  # warm-up: the record is made, imports and caches are settled
times = []
for _ in range(3):
    start = time.perf_counter()
    for _ in range(number):
        op()
    times.append((time.perf_counter() - start) / number)
print(statistics.median(times))
"""


def _guard_child(d: str, number: int, enabled: bool) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FERROTEMP_")}
    env["FERROTEMP_GUARD"] = "1" if enabled else "0"
    out = subprocess.run(
        [sys.executable, "-c", _GUARD_CHILD, d, str(number)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip().splitlines()[-1] if out.stderr else "failed")
    return float(out.stdout)


def guard_row(d: str, rounds: int, number: int) -> dict[str, Any]:
    """``NamedTemporaryFile`` enter/exit with the crash guard off (the "std" column of this
    row) and on ("ours"), each in fresh interpreters, in turn (which goes first alternates by
    round); medians of at least 3 rounds. The registry is the default one; a private
    ``FERROTEMP_GUARD_DIR`` of the caller is not passed on."""
    row: dict[str, Any] = {"case": GUARD_CASE, "unit": "us", "target": 1.10, "target_vs": "std"}
    samples: dict[str, list[float]] = {"std": [], "ours": []}
    sides = [("std", False), ("ours", True)]
    try:
        for i in range(max(3, rounds)):
            for label, enabled in sides if i % 2 == 0 else sides[::-1]:
                samples[label].append(_guard_child(d, number, enabled) * 1e6)
    except (OSError, RuntimeError, ValueError) as e:
        row["skip"] = f"could not measure: {e}"
        return row
    row.update(std=statistics.median(samples["std"]), ours=statistics.median(samples["ours"]))
    row["ratio"] = row["ours"] / row["std"]
    row["judged_ratio"] = row["ratio"]
    row["met"] = row["ratio"] <= row["target"]
    return row


_MEMORY_CHILD = r"""
import json, os, sys, threading, time
import {module} as tf

# The exact RSS: smaps_rollup walks the page tables. VmRSS and VmHWM come from per-CPU
# counters and are off by up to a few hundred KiB (proc(5) calls them inaccurate), more than
# what is measured here; the high-water mark is also sampled by the kernel only at unmaps.
rollup = os.open("/proc/self/smaps_rollup", os.O_RDONLY)

def rss():
    data = os.pread(rollup, 4096, 0)
    at = data.index(b"\nRss:")
    return int(data[at + 5 : data.index(b"kB", at)])  # KiB

max_size = {max_size}
chunk = b"x" * (64 << 10)
# One small rollover first: the code it runs is paged in (ferrotemp's extension pages count
# in RSS) before the measured one, whose cost is the data's, not the first call's.
warm = tf.SpooledTemporaryFile(max_size=1, dir={dir!r})
warm.write(b"xx")
warm.close()
spool = tf.SpooledTemporaryFile(max_size=max_size, dir={dir!r})
for _ in range(max_size // len(chunk)):
    spool.write(chunk)
assert not spool._rolled

# A sampler thread reads the exact RSS while the rollover runs: the data's copy to the file
# (several milliseconds for megabytes) runs without the GIL in both modules, and the peak
# holds from before it until the buffer is freed after it.
state = {{"go": False, "stop": False, "peak": 0}}

def sample():
    while not state["stop"]:
        seen = rss()
        if state["go"] and seen > state["peak"]:
            state["peak"] = seen

sampler = threading.Thread(target=sample)
sampler.start()
time.sleep(0.02)
buffered = rss()
state["peak"] = buffered
state["go"] = True
spool.write(chunk)  # passes max_size: rolls over
state["stop"] = True
sampler.join()
assert spool._rolled
print(json.dumps({{"buffered_kib": buffered, "peak_kib": max(state["peak"], rss())}}))
"""


def measure_rollover_peak(d: str, max_mib: int, module: str) -> dict[str, Any]:
    """The exact RSS's peak above its value before the write that rolls a full spool over
    (sampled by a thread while it runs), in a fresh process."""
    code = _MEMORY_CHILD.format(module=module, max_size=max_mib << 20, dir=d)
    env = {k: v for k, v in os.environ.items() if k != "FERROTEMP_AS_TEMPFILE"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip().splitlines()[-1] if out.stderr else "failed")
    result: dict[str, Any] = json.loads(out.stdout)
    result["above_kib"] = result["peak_kib"] - result["buffered_kib"]
    return result


def memory_row(d: str, max_mib: int, rounds: int = 3) -> dict[str, Any]:
    """The rollover's peak above the data (the exact RSS, sampled while it runs), medians of
    fresh processes in turn."""
    row: dict[str, Any] = {
        "case": f"rollover peak above data ({max_mib} MiB)",
        "unit": "KiB",
        "target": 64.0,
        "target_vs": "KiB",
    }
    if not sys.platform.startswith("linux"):
        row["skip"] = "needs /proc/self/status (Linux)"
        return row
    samples: dict[str, list[float]] = {"std": [], "ours": []}
    sides = [("std", "tempfile"), ("ours", "ferrotemp")]
    try:
        for i in range(max(3, rounds)):
            for label, module in sides if i % 2 == 0 else sides[::-1]:
                measured = measure_rollover_peak(d, max_mib, module)
                samples[label].append(float(measured["above_kib"]))
    except (OSError, RuntimeError) as e:
        row["skip"] = f"could not measure: {e}"
        return row
    row.update(std=statistics.median(samples["std"]), ours=statistics.median(samples["ours"]))
    row["samples"] = samples
    row["ratio"] = row["ours"] / row["std"] if row["std"] > 0 else None
    row["judged_ratio"] = row["ours"]
    row["met"] = row["ours"] <= row["target"]
    return row


def measure_import(module: str, cwd: str) -> float:
    """µs that ``import module`` takes in a fresh interpreter, as ``-X importtime`` counts it:
    the module and what it imports that interpreter startup has not loaded already."""
    # Neither installed as `tempfile` at startup, nor kept from caching bytecode as an
    # installed package has it (the first, untimed, import writes what is missing).
    drop = ("FERROTEMP_AS_TEMPFILE", "PYTHONDONTWRITEBYTECODE")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip().splitlines()[-1] if out.stderr else "failed")
    for line in out.stderr.splitlines():
        # "import time: <self µs> | <cumulative µs> | <name>", the name indented by depth.
        fields = line.split("|")
        if len(fields) == 3 and fields[2].rstrip() == f" {module}":
            return float(fields[1])
    raise RuntimeError(f"-X importtime reported no top-level import of {module}")


def import_row(d: str, rounds: int) -> dict[str, Any]:
    """``import ferrotemp`` against ``import tempfile``, each in fresh interpreters, in turn
    (which goes first alternates by round); medians of at least 5 rounds."""
    row: dict[str, Any] = {"case": IMPORT_CASE, "unit": "us", "target": 0.5, "target_vs": "std"}
    pairs = [("std", "tempfile"), ("ours", "ferrotemp")]
    samples: dict[str, list[float]] = {"std": [], "ours": []}
    try:
        for _, module in pairs:
            measure_import(module, d)  # warm-up: bytecode caches
        for i in range(max(5, rounds)):
            for label, module in pairs if i % 2 == 0 else pairs[::-1]:
                samples[label].append(measure_import(module, d))
    except (OSError, RuntimeError) as e:
        row["skip"] = f"could not measure: {e}"
        return row
    row.update(std=statistics.median(samples["std"]), ours=statistics.median(samples["ours"]))
    row["samples"] = samples  # per round: the machine's noise shows here
    row["ratio"] = row["ours"] / row["std"]
    row["judged_ratio"] = row["ratio"]
    row["met"] = row["ratio"] <= row["target"]
    return row
