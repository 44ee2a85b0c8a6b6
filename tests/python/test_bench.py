"""``ferrotemp bench``: the table's shape on this machine. Timing is never asserted."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROWS = [
    "NamedTemporaryFile with",
    "NamedTemporaryFile vs floor",
    "TemporaryFile with",
    "mkstemp+close+unlink",
    "mkdtemp+rmdir",
    "TemporaryDirectory with",
    "TemporaryDirectory 1k cleanup",
    "Spooled 16x write 64 B",
    "Spooled 1.25 MiB roll+read",
    "crash guard on vs off",
    "atomic_write 4 KiB fsync",
    "wrapper write/seek/read",
    "rollover peak above data",
    "import ferrotemp vs tempfile",
]


def run_bench(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ferrotemp", "bench", "--quick", "--dir", str(tmp_path), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_bench_quick_prints_every_row_with_positive_ratios(tmp_path: Path) -> None:
    out = run_bench(tmp_path, "--json", str(tmp_path / "bench.json"))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    header = next(line for line in lines if line.startswith("case"))
    ratio_end = header.index("ours/std") + len("ours/std")
    for row in ROWS:
        matching = [line for line in lines if line.startswith(row)]
        assert len(matching) == 1, (row, out.stdout)
        line = matching[0]
        if "skipped" in line or row.startswith("rollover"):
            continue  # the rollover row is in KiB, its ratio to the standard module optional
        ratio = float(line[ratio_end - 10 : ratio_end])
        assert ratio > 0, line
        assert re.search(r"\b(met|MISSED)\b", line), line

    report = json.loads((tmp_path / "bench.json").read_text())
    (result,) = report["results"]
    assert result["dir"] == str(tmp_path)
    names = [row["case"] for row in result["rows"]]
    assert [n for n in names if not n.startswith("rollover")] == [
        row for row in ROWS if not row.startswith("rollover")
    ]
    for row in result["rows"]:
        if "skip" in row:
            assert row["skip"], row
            continue
        assert isinstance(row["met"], bool)
        if row["unit"] == "KiB":
            assert isinstance(row["std"], float) and isinstance(row["ours"], float), row
            continue
        for key in ("std", "ours", "ratio", "judged_ratio"):
            assert isinstance(row[key], float) and row[key] > 0, (key, row)
    # The bench leaves nothing behind in the directory it measured.
    assert sorted(os.listdir(tmp_path)) == ["bench.json"]


def test_crash_guard_row_times_both_sides_and_leaves_nothing(tmp_path: Path) -> None:
    out = run_bench(tmp_path, "--only", "crash guard", "--json", str(tmp_path / "g.json"))
    assert out.returncode == 0, out.stderr
    (result,) = json.loads((tmp_path / "g.json").read_text())["results"]
    (row,) = result["rows"]
    assert "skip" not in row
    assert row["std"] > 0 and row["ours"] > 0
    assert sorted(os.listdir(tmp_path)) == ["g.json"]


def test_rust_floor_loop_times_and_cleans_up(tmp_path: Path) -> None:
    from ferrotemp import _core

    if not hasattr(_core, "_floor_create_unlink"):
        pytest.skip("a wheel built without the bench feature (make build-dev has it)")
    assert _core._floor_create_unlink(str(tmp_path), 50) > 0
    assert _core._floor_mkdir_rmdir(str(tmp_path), 50) > 0
    assert os.listdir(tmp_path) == []
