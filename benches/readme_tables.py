"""Prints the README's performance tables (markdown) from a bench JSON report.

python benches/readme_tables.py docs/bench.json
"""

from __future__ import annotations

import json
import sys
from typing import Any

LABELS = {
    "NamedTemporaryFile with": "`NamedTemporaryFile()` with",
    "NamedTemporaryFile vs floor": "`NamedTemporaryFile()` with, judged against the io floor",
    "TemporaryFile with": "`TemporaryFile()` with",
    "mkstemp+close+unlink": "`mkstemp`+close+unlink",
    "mkdtemp+rmdir": "`mkdtemp`+rmdir",
    "TemporaryDirectory with": "`TemporaryDirectory()` with, empty",
    "TemporaryDirectory 1k cleanup": "`TemporaryDirectory` cleanup, 1,000 entries",
    "TemporaryDirectory 100k cleanup": "`TemporaryDirectory` cleanup, 100,000 entries",
    "Spooled 16x write 64 B": "`SpooledTemporaryFile`, 16 writes of 64 B",
    "Spooled 1.25 MiB roll+read": "spool 1.25 MiB, rolled and read back",
    "crash guard on vs off": "crash guard on vs off (std column = guard off)",
    "atomic_write 4 KiB fsync": "`atomic_write` 4 KiB with fsync (std = hand-written pattern)",
    "wrapper write/seek/read": "wrapper write/seek/read (floor = plain `io` object)",
    "import ferrotemp vs tempfile": "`import`, fresh interpreter (`-X importtime`)",
}


def cell(value: Any, digits: int = 2) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def table(result: dict[str, Any]) -> str:
    lines = [
        "| operation | std | ferrotemp | floor (py) | floor (rust) | ours/std | floor/std"
        " | ours/floor | target | |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for row in result["rows"]:
        name = row["case"]
        target = f"≤{row['target']:g}× {row['target_vs']}"
        if "skip" in row:
            lines.append(f"| {name} | | | | | | | | {target} | skipped: {row['skip']} |")
            continue
        status = "**met**" if row["met"] else "missed"
        floor_ratio = row.get("floor_ratio")
        if not row["met"] and row["target_vs"] == "std" and (floor_ratio or 0) > row["target"]:
            status = "missed: floor (py) above the target"
        if row.get("unit") == "KiB":
            label = f"rollover peak above buffered data ({name.split('(')[-1].rstrip(')')} spool)"
            lines.append(
                f"| {label} | {row['std']:.0f} KiB | {row['ours']:.0f} KiB | | | | | |"
                f" ≤{row['target']:g} KiB | {status} |"
            )
            continue
        digits = 0 if row["std"] > 1000 else 2
        lines.append(
            f"| {LABELS.get(name, name)} | {cell(row['std'], digits)} | {cell(row['ours'], digits)}"
            f" | {cell(row.get('floor'), digits)} | {cell(row.get('floor_rust'), digits)}"
            f" | {cell(row['ratio'])} | {cell(row.get('floor_ratio'))}"
            f" | {cell(row.get('ours_floor'))} | {target} | {status} |"
        )
    return "\n".join(lines)


def scaling(report: dict[str, Any]) -> str:
    runs = report.get("scaling") or []
    head = " | ".join(f"{r['dir']} std | {r['dir']} ours | {r['dir']} floor (rust)" for r in runs)
    lines = [f"| live files | {head} |", "| ---: |" + " ---: |" * (3 * len(runs))]
    for at, row in enumerate(runs[0]["rows"] if runs else []):
        cells = []
        for run in runs:
            got = run["rows"][at]
            cells += [
                cell(got["std_us"], 1),
                cell(got["ours_us"], 1),
                cell(got["floor_rust_us"], 1),
            ]
        lines.append(f"| {row['live_files']:,} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def threads(report: dict[str, Any]) -> str:
    got = report["threads"]
    lines = [
        f"`{got['dir']}`, operations per second:",
        "",
        "| | 1 thread | 2 threads | speed-up |",
        "| --- | ---: | ---: | ---: |",
    ]
    for key, label in (("ours", "ferrotemp"), ("std", "standard module"), ("floor", "bare `os`")):
        row = got[key]
        lines.append(
            f"| {label} | {row['one_thread_ops']:,.0f} | {row['two_threads_ops']:,.0f}"
            f" | {row['speedup']:.2f}× |"
        )
    procs = got.get("ours_processes")
    if procs:
        lines.append(
            f"| ferrotemp, 1 and 2 processes | {procs['one_process_ops']:,.0f}"
            f" | {procs['two_processes_ops']:,.0f} | {procs['speedup']:.2f}× |"
        )
    if got.get("threads_vs_processes") is not None:
        lines.append("")
        lines.append(
            f"Threads reach {got['threads_vs_processes']:.2f}× of the processes' speed-up"
            f" (target ≥{got['target']:g}×)."
        )
    return "\n".join(lines)


def main() -> int:
    with open(sys.argv[1]) as source:
        report = json.load(source)
    for result in report["results"]:
        print(f"`{result['dir']}`:\n")
        print(table(result))
        print()
    if report.get("scaling"):
        print("Scaling, µs per operation by live files in the directory:\n")
        print(scaling(report))
        print()
    if report.get("threads"):
        print("Threads:\n")
        print(threads(report))
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
