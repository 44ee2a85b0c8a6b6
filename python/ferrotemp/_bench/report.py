"""Report: a case's row, the machine, the tables, and the chart."""

from __future__ import annotations

import importlib
import os
import platform
import statistics
import sys
from typing import Any

import ferrotemp

from .. import _core
from .cases import Case

__all__ = [
    "TABLE_HEADER",
    "case_row",
    "draw_chart",
    "format_scaling",
    "format_table",
    "format_threads",
    "format_user_table",
    "fs_type",
    "machine_info",
]


def case_row(case: Case) -> dict[str, Any]:
    row: dict[str, Any] = {
        "case": case.name,
        "unit": "us",
        "target": case.target,
        "target_vs": case.target_vs,
    }
    if case.skip is not None:
        row["skip"] = case.skip
        return row
    med = {k: statistics.median(v) * 1e6 for k, v in case.samples.items()}
    row["std"] = med["std"]
    row["ours"] = med["ours"]
    row["ratio"] = med["ours"] / med["std"]
    if "floor" in med:
        row["floor"] = med["floor"]
        row["floor_ratio"] = med["floor"] / med["std"]
        row["ours_floor"] = med["ours"] / med["floor"]
    if "floor_rust" in med:
        row["floor_rust"] = med["floor_rust"]
        row["floor_rust_ratio"] = med["floor_rust"] / med["std"]
    judged = row["ratio"] if case.target_vs == "std" else row["ours_floor"]
    row["judged_ratio"] = judged
    row["met"] = judged <= case.target
    # The target asks for less than the bare syscalls cost here: no code can reach it.
    if case.target_vs == "std":
        floors = [med[k] for k in ("floor", "floor_rust") if k in med]
        if floors and min(floors) / med["std"] > case.target:
            row["below_floor"] = True
    return row


def machine_info() -> dict[str, Any]:
    model = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "system": platform.system(),
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "cpu": model,
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "ferrotemp": ferrotemp.__version__,
    }


def fs_type(d: str) -> str:
    try:
        return _core.filesystem_info(d).fs_type
    except OSError:
        return "?"


def _num(value: Any, width: int, digits: int = 2) -> str:
    if value is None:
        return " " * width
    return f"{value:>{width}.{digits}f}"


TABLE_HEADER = (
    f"{'case':<34}{'std':>10}{'ours':>10}{'floor':>10}{'floor.rs':>10}"
    f"{'ours/std':>10}{'floor/std':>10}{'ours/floor':>11}  {'target':<14}status"
)


def format_table(result: dict[str, Any]) -> str:
    lines = [
        f"directory: {result['dir']} ({result['fs_type']}), medians of {result['rounds']} "
        "rounds; times in µs per operation, the rollover row in KiB",
        TABLE_HEADER,
    ]
    notes = []
    for row in result["rows"]:
        target = f"≤{row['target']:.2f}× {row['target_vs']}"
        if row["target_vs"] == "KiB":
            target = f"≤{row['target']:.0f} KiB"
        if "skip" in row:
            lines.append(f"{row['case']:<34}{'':>71}  {target:<14}skipped")
            notes.append(f"  {row['case']}: skipped: {row['skip']}")
            continue
        digits = 0 if row["unit"] == "KiB" else 2
        status = "met" if row["met"] else "MISSED"
        if not row["met"] and row.get("below_floor"):
            status = "MISSED (below the syscall floor here)"
        lines.append(
            f"{row['case']:<34}{_num(row['std'], 10, digits)}{_num(row['ours'], 10, digits)}"
            f"{_num(row.get('floor'), 10)}{_num(row.get('floor_rust'), 10)}"
            f"{_num(row.get('ratio'), 10)}{_num(row.get('floor_ratio'), 10)}"
            f"{_num(row.get('ours_floor'), 11)}  {target:<14}{status}"
        )
    return "\n".join(lines + notes)


#: Rows whose "tempfile" column is not the standard module's own operation: what it is instead.
_BASELINES = {
    "crash guard on vs off": "the tempfile column is ferrotemp with its crash guard off",
    "atomic_write 4 KiB fsync": (
        "the tempfile column is NamedTemporaryFile(delete=False) + write + fsync + os.replace"
    ),
    "wrapper write/seek/read": "the tempfile column is the standard module's file wrapper",
}

USER_LEGEND = (
    "times in µs per operation (medians); speed-up = tempfile's time ÷ ferrotemp's: "
    "above 1× ferrotemp is faster"
)


def format_user_table(result: dict[str, Any]) -> str:
    """The table for users: per operation the standard module's time, ferrotemp's, and the
    speed-up (``--targets`` gives the developer's table with floors and targets)."""
    lines = [
        f"directory: {result['dir']} ({result['fs_type']}), medians of {result['rounds']} rounds",
        f"{'operation':<34}{'tempfile':>12}{'ferrotemp':>12}{'speed-up':>10}",
    ]
    notes = []
    for row in result["rows"]:
        if row["target_vs"] == "floor":
            continue  # a comparison with bare syscalls: the developer's table has it
        name = row["case"]
        if name in _BASELINES:
            notes.append(f"  * {name}: {_BASELINES[name]}")
            name += " *"
        if "skip" in row:
            lines.append(f"{name:<34}  skipped: {row['skip']}")
            continue
        if row["unit"] == "KiB":
            std, ours = f"{row['std']:.0f} KiB", f"{row['ours']:.0f} KiB"
            notes.append(f"  {row['case']}: memory above the buffered data, lower is better")
            lines.append(f"{name:<34}{std:>12}{ours:>12}")
            continue
        speedup = row["std"] / row["ours"] if row["ours"] else None
        lines.append(
            f"{name:<34}{_num(row['std'], 12)}{_num(row['ours'], 12)}"
            f"{_num(speedup, 9)}{'×' if speedup is not None else ''}"
        )
    return "\n".join([*lines, USER_LEGEND, *notes])


def format_scaling(d: str, rows: list[dict[str, Any]]) -> str:
    lines = [
        f"scaling in {d}: NamedTemporaryFile enter/exit, µs per op, by live files in the dir",
        f"{'live files':>12}{'std':>10}{'ours':>10}{'floor.rs':>10}",
    ]
    for row in rows:
        lines.append(
            f"{row['live_files']:>12}{_num(row.get('std_us'), 10)}{_num(row.get('ours_us'), 10)}"
            f"{_num(row.get('floor_rust_us'), 10)}"
        )
    return "\n".join(lines)


def format_threads(result: dict[str, Any]) -> str:
    lines = [
        f"threads in {result['dir']}: NamedTemporaryFile enter/exit, operations per second",
        f"{'':<8}{'1 thread':>12}{'2 threads':>12}{'speedup':>9}",
    ]
    for label in ("ours", "std", "floor"):
        r = result[label]
        lines.append(
            f"{label:<8}{r['one_thread_ops']:>12.0f}{r['two_threads_ops']:>12.0f}"
            f"{r['speedup']:>8.2f}×"
        )
    procs = result.get("ours_processes")
    if procs is None:  # a report from before the process comparison
        return "\n".join(lines)
    lines.append(f"{'':<8}{'1 process':>12}{'2 procs':>12}")
    lines.append(
        f"{'ours':<8}{procs['one_process_ops']:>12.0f}{procs['two_processes_ops']:>12.0f}"
        f"{procs['speedup']:>8.2f}×"
    )
    ratio = result["threads_vs_processes"]
    met = ratio >= result["target"]
    lines.append(
        f"ferrotemp's 2-thread speed-up is {ratio:.2f}× its 2-process one"
        f" (target ≥{result['target']}×): {'met' if met else 'MISSED'}"
    )
    return "\n".join(lines)


# --- chart ------------------------------------------------------------------------------


def draw_chart(report: dict[str, Any], path: str) -> bool:
    """A PNG of ours/std and floor/std per row and directory; False without matplotlib."""
    try:
        # Imported by name: matplotlib is an optional extra, unknown to type checkers that
        # look at an installed ferrotemp.
        matplotlib: Any = importlib.import_module("matplotlib")
        matplotlib.use("Agg")
        plt: Any = importlib.import_module("matplotlib.pyplot")
    except ImportError:
        return False
    results = report["results"]
    fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4.2), squeeze=False)
    for ax, result in zip(axes[0], results, strict=True):
        rows = [
            r for r in result["rows"] if "skip" not in r and r["target_vs"] == "std" and r["std"]
        ]
        names = [r["case"] for r in rows]
        ys = range(len(rows))
        ours = [r["ratio"] for r in rows]
        floors = [min(r.get("floor_ratio", 9), r.get("floor_rust_ratio", 9)) for r in rows]
        ax.barh([y + 0.2 for y in ys], ours, height=0.4, label="ferrotemp / std", color="#c0504d")
        ax.barh(
            [y - 0.2 for y in ys],
            [f if f < 9 else 0 for f in floors],
            height=0.4,
            label="syscall floor / std",
            color="#9bbb59",
        )
        ax.scatter(
            [r["target"] for r in rows], list(ys), marker="|", s=300, color="k", label="target"
        )
        ax.axvline(1.0, color="grey", linewidth=0.8, linestyle="--")
        ax.set_yticks(list(ys))
        ax.set_yticklabels(names, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("time relative to the standard module (lower is better)")
        ax.set_title(f"{result['dir']} ({result['fs_type']})", fontsize=10)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=3)
    m = report["machine"]
    fig.suptitle(
        f"ferrotemp {m['ferrotemp']} vs tempfile — Python {m['python']}, {m['cpus']} CPUs, "
        f"Linux {m['kernel']}"
        if m["system"] == "Linux"
        else f"{m['system']} {m['kernel']}",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return True
