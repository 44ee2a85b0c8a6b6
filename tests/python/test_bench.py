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
    "TemporaryDirectory 100k cleanup",
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


def test_bench_targets_prints_every_row_with_positive_ratios(tmp_path: Path) -> None:
    out = run_bench(tmp_path, "--targets", "--json", str(tmp_path / "bench.json"))
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


def test_bench_for_users_shows_times_and_speed_ups_without_targets(tmp_path: Path) -> None:
    out = run_bench(tmp_path, "--only", "Temporary")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert any("noisy" in line for line in lines), out.stdout  # --quick says so
    header = next(line for line in lines if line.startswith("operation"))
    assert header.split() == ["operation", "tempfile", "ferrotemp", "speed-up"]
    rows = [line for line in lines if line.startswith(("TemporaryFile", "TemporaryDirectory"))]
    # The 100,000-entry cleanup runs in the full profile only; the quick one says so.
    skipped = [line for line in rows if "skipped" in line]
    assert [line.split()[1] for line in skipped] == ["100k"], out.stdout
    assert "full profile only" in skipped[0], out.stdout
    rows = [line for line in rows if line not in skipped]
    assert len(rows) == 3, out.stdout
    for line in rows:
        std, ours, speedup = line.rsplit(None, 3)[1:]
        assert float(std) > 0 and float(ours) > 0
        # The speed-up is the standard module's time over ferrotemp's, as printed.
        assert abs(float(speedup.rstrip("×")) - float(std) / float(ours)) < 0.02, line
    assert any(line.startswith("times in µs") for line in lines), out.stdout  # the legend
    assert "MISSED" not in out.stdout and " met" not in out.stdout and "target" not in out.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rounds", "0"], "argument --rounds: must be at least 1, got 0"),
        (["--rounds", "many"], "argument --rounds: expected a whole number, got 'many'"),
        (["--dir", "/nonexistent/x"], "argument --dir: '/nonexistent/x' does not exist"),
        (["--dir", "/etc/hostname"], "argument --dir: '/etc/hostname' is not a directory"),
        (["--only", "no such case"], "argument --only: no case's name contains 'no such case'"),
    ],
)
def test_bench_rejects_bad_input_with_one_error_line_and_status_2(
    args: list[str], message: str
) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "ferrotemp", "bench", "--quick", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert out.returncode == 2, out
    assert out.stdout == ""
    assert out.stderr == f"ferrotemp bench: error: {message} (see --help)\n", out.stderr
    assert "Traceback" not in out.stderr


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


def test_bench_threads_compares_two_threads_with_two_processes(tmp_path: Path) -> None:
    out = run_bench(tmp_path, "--threads", "--no-table", "--json", str(tmp_path / "t.json"))
    assert out.returncode == 0, out.stderr
    assert re.search(
        r"2-thread speed-up is [0-9.]+× its 2-process one .*: (met|MISSED)", out.stdout
    )
    threads = json.loads((tmp_path / "t.json").read_text())["threads"]
    procs = threads["ours_processes"]
    assert procs["one_process_ops"] > 0 and procs["two_processes_ops"] > 0
    ratio = threads["ours"]["speedup"] / procs["speedup"]
    assert abs(threads["threads_vs_processes"] - ratio) < 1e-9
