"""What needs a fresh interpreter: a rollover's peak memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

__all__ = ["measure_rollover_peak", "memory_row"]

_MEMORY_CHILD = r"""
import json, sys
import {module} as tf

def status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])  # KiB

max_size = {max_size}
chunk = b"x" * (64 << 10)
spool = tf.SpooledTemporaryFile(max_size=max_size, dir={dir!r})
for _ in range(max_size // len(chunk)):
    spool.write(chunk)
assert not spool._rolled
# Reset the high-water mark to the current RSS, which now holds the buffered data.
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
buffered = status("VmRSS")
spool.write(chunk)  # passes max_size: rolls over
assert spool._rolled
print(json.dumps({{"buffered_kib": buffered, "peak_kib": status("VmHWM")}}))
"""


def measure_rollover_peak(d: str, max_mib: int, module: str) -> dict[str, Any]:
    """VmHWM above VmRSS during the write that rolls a full spool over, in a fresh process."""
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


def memory_row(d: str, max_mib: int) -> dict[str, Any]:
    row: dict[str, Any] = {
        "case": f"rollover peak above data ({max_mib} MiB)",
        "unit": "KiB",
        "target": 64.0,
        "target_vs": "KiB",
    }
    if not sys.platform.startswith("linux"):
        row["skip"] = "needs /proc/self/status (Linux)"
        return row
    try:
        std = measure_rollover_peak(d, max_mib, "tempfile")
        ours = measure_rollover_peak(d, max_mib, "ferrotemp")
    except (OSError, RuntimeError) as e:
        row["skip"] = f"could not measure: {e}"
        return row
    row.update(std=float(std["above_kib"]), ours=float(ours["above_kib"]))
    row["ratio"] = row["ours"] / row["std"] if row["std"] > 0 else None
    row["judged_ratio"] = row["ours"]
    row["met"] = row["ours"] <= row["target"]
    return row
