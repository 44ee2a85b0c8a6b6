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


def main() -> int:
    with open(sys.argv[1]) as source:
        report = json.load(source)
    for result in report["results"]:
        print(f"`{result['dir']}`:\n")
        print(table(result))
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
