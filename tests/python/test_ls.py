"""``ferrotemp ls``: the registry's view of every process's guarded temp space, with real
processes (a live child, a SIGKILLed one) each recording into a private registry."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Optional

import ferrotemp
import pytest
from _support import guard_env
from test_guard import Child, make_root

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="the crash guard is POSIX-only")

LIVE_CHILD = """
import json, os, sys, time
import ferrotemp
work = sys.argv[1]
d = ferrotemp.TemporaryDirectory(dir=work)
os.mkdir(os.path.join(d.name, "sub"))
for i in range(5):
    with open(os.path.join(d.name, "sub", f"f{i}"), "wb") as out:
        out.write(b"y" * 3000 * (i + 1))
f = ferrotemp.NamedTemporaryFile(dir=work)
f.write(b"x" * 5000)
f.flush()
print(json.dumps({"dir": d.name, "file": f.name}), flush=True)
time.sleep(600)
"""

WORKSPACE_CHILD = """
import json, os, sys, time
import ferrotemp
work = sys.argv[1]
ws = ferrotemp.Workspace("resize-42", max_bytes="1 MiB", max_files=100, dir=work)
with ws.NamedTemporaryFile(delete=False) as f:
    f.write(b"z" * 20000)
# Written by path, as another program would: found by measurement.
with open(os.path.join(ws.path, "by-path"), "wb") as out:
    out.write(b"w" * 7000)
print(json.dumps({"workspace": str(ws.path)}), flush=True)
time.sleep(600)
"""


def run_ls(*args: str, env: Optional[dict[str, str]] = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ferrotemp", "ls", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )


def ls_json(root: Path) -> dict[str, Any]:
    done = run_ls("--dir", str(root), "--json")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    view: dict[str, Any] = json.loads(done.stdout)
    return view


def process(view: dict[str, Any], pid: int) -> Optional[dict[str, Any]]:
    return next((p for p in view["processes"] if p["pid"] == pid), None)


def du_bytes(path: str) -> int:
    done = subprocess.run(["du", "-B1", "-s", path], capture_output=True, text=True, check=True)
    return int(done.stdout.split()[0])


def entries_by_path(proc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["path"]: e for e in proc["entries"]}


def test_a_live_child_is_listed_with_its_entries_measured_as_du(tmp_path: Path) -> None:
    root, registry, work = make_root(tmp_path)
    with Child(LIVE_CHILD, work, guard_env(registry)) as child:
        made = child.ready()
        view = ls_json(root)

        proc = process(view, child.proc.pid)
        assert proc is not None, view
        assert proc["status"] == "alive"
        assert "-c" in proc["command"].split()
        assert proc["age_seconds"] is not None and proc["age_seconds"] >= 0
        entries = entries_by_path(proc)
        assert set(entries) == {made["dir"], made["file"]}
        d, f = entries[made["dir"]], entries[made["file"]]
        assert (d["kind"], d["state"], d["problem"]) == ("dir", "live", None)
        assert (d["bytes"], d["files"], d["dirs"]) == (du_bytes(made["dir"]), 5, 1)
        assert (f["kind"], f["bytes"], f["files"]) == ("file", du_bytes(made["file"]), 1)
        assert all(e["age_seconds"] >= 0 for e in entries.values())
        assert proc["bytes"] == d["bytes"] + f["bytes"]
        assert view["total"]["bytes"] >= proc["bytes"]


def test_without_dir_the_registry_in_use_is_listed(tmp_path: Path) -> None:
    root, registry, work = make_root(tmp_path)
    with Child(LIVE_CHILD, work, guard_env(registry)) as child:
        made = child.ready()
        # FERROTEMP_GUARD_DIR names the registry, as for `ferrotemp sweep`.
        done = run_ls("--json", env=guard_env(registry))
    assert done.returncode == 0, done.stderr
    proc = process(json.loads(done.stdout), child.proc.pid)
    assert proc is not None and made["dir"] in entries_by_path(proc)


def test_a_killed_child_is_shown_awaiting_a_sweep_until_swept(tmp_path: Path) -> None:
    root, registry, work = make_root(tmp_path)
    with Child(LIVE_CHILD, work, guard_env(registry)) as child:
        made = child.ready()
        child.kill()
        pid = child.proc.pid

    proc = process(ls_json(root), pid)
    assert proc is not None
    assert proc["status"] == "dead"
    assert proc["command"] is None  # its pid may be another process's by now
    assert entries_by_path(proc)[made["dir"]]["bytes"] == du_bytes(made["dir"])
    text = run_ls("--dir", str(root))
    assert text.returncode == 0, text.stderr
    assert f"pid {pid}  dead, awaiting sweep" in text.stdout
    assert made["dir"] in text.stdout

    swept = subprocess.run(
        [sys.executable, "-m", "ferrotemp", "sweep", "--dir", str(root)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert swept.returncode == 0, swept.stderr
    assert process(ls_json(root), pid) is None


def test_an_entry_replaced_since_it_was_recorded_is_not_measured(tmp_path: Path) -> None:
    root, registry, work = make_root(tmp_path)
    with Child(LIVE_CHILD, work, guard_env(registry)) as child:
        made = child.ready()
        child.kill()
    # Another directory at the recorded path, holding much more: not the entry recorded.
    shutil.rmtree(made["dir"])
    os.mkdir(made["dir"])
    (Path(made["dir"]) / "big").write_bytes(b"b" * 200_000)
    os.unlink(made["file"])

    proc = process(ls_json(root), child.proc.pid)
    assert proc is not None
    entries = entries_by_path(proc)
    assert entries[made["dir"]]["problem"] == "replaced"
    assert entries[made["dir"]]["bytes"] is None
    assert entries[made["file"]]["problem"] == "gone"
    assert proc["bytes"] == 0


def test_a_workspace_is_shown_with_its_name_limits_and_usage(tmp_path: Path) -> None:
    root, registry, work = make_root(tmp_path)
    with Child(WORKSPACE_CHILD, work, guard_env(registry)) as child:
        made = child.ready()
        proc = process(ls_json(root), child.proc.pid)
        assert proc is not None and proc["status"] == "alive"
        entry = entries_by_path(proc)[made["workspace"]]
        assert entry["kind"] == "workspace"
        assert entry["workspace"] == {
            "name": "resize-42",
            "max_bytes": 1 << 20,
            "max_files": 100,
            "command": None,
        }
        assert entry["bytes"] == du_bytes(made["workspace"])
        assert entry["files"] == 2
        text = run_ls("--dir", str(root))
        assert "workspace 'resize-42' (max 1.0 MiB, max 100 files)" in text.stdout

        child.kill()
        proc = process(ls_json(root), child.proc.pid)
        assert proc is not None and proc["status"] == "dead"
        assert entries_by_path(proc)[made["workspace"]]["workspace"]["name"] == "resize-42"


NESTED_CHILD = """
import json, sys, time
import ferrotemp
ws = ferrotemp.Workspace("nested", dir=sys.argv[1])
f = ws.NamedTemporaryFile()
f.write(b"x" * 1_000_000)
f.flush()
print(json.dumps({"workspace": str(ws.path), "file": f.name}), flush=True)
time.sleep(600)
"""


def test_a_guarded_file_inside_a_workspace_counts_once_in_the_totals(tmp_path: Path) -> None:
    """Listed as its own entry and measured inside the workspace's tree: the process's bytes
    and the total count it once, as ``du`` does."""
    root, registry, work = make_root(tmp_path)
    with Child(NESTED_CHILD, work, guard_env(registry)) as child:
        made = child.ready()
        view = ls_json(root)
        on_disk = du_bytes(made["workspace"])
    proc = process(view, child.proc.pid)
    assert proc is not None
    entries = entries_by_path(proc)
    assert entries[made["file"]]["bytes"] >= 1_000_000  # still shown on its own line
    assert entries[made["file"]]["counted_in"] == made["workspace"]
    assert entries[made["workspace"]]["counted_in"] is None
    assert proc["bytes"] == entries[made["workspace"]]["bytes"] <= on_disk
    assert view["total"]["bytes"] <= on_disk, (view["total"], on_disk)


CONTROL_NAME_CHILD = """
import json, sys, time
import ferrotemp
ws = ferrotemp.Workspace("job\\nnext\\tcol", dir=sys.argv[1])
print(json.dumps({"workspace": str(ws.path)}), flush=True)
time.sleep(600)
"""


def test_control_characters_in_a_workspace_name_are_shown_escaped_once(tmp_path: Path) -> None:
    root, registry, work = make_root(tmp_path)
    with Child(CONTROL_NAME_CHILD, work, guard_env(registry)) as child:
        child.ready()
        text = run_ls("--dir", str(root))
    assert text.returncode == 0, text.stderr
    assert "workspace 'job\\x0anext\\x09col'" in text.stdout, text.stdout
    assert "\\\\x" not in text.stdout


def test_an_empty_registry_lists_nothing(tmp_path: Path) -> None:
    view = ls_json(tmp_path)
    assert view == {"processes": [], "total": {"processes": 0, "entries": 0, "bytes": 0}}
    text = run_ls("--dir", str(tmp_path))
    assert text.stdout == "0 processes, 0 entries, 0 B\n"


@pytest.mark.parametrize(
    "args",
    [
        ["--watch", "0"],
        ["--watch", "-1"],
        ["--watch", "soon"],
        ["--watch", "inf"],
        ["--dir", "/nonexistent/ferrotemp-ls"],
        ["--frobnicate"],
    ],
)
def test_bad_arguments_are_a_one_line_error_with_status_2(args: list[str]) -> None:
    done = run_ls(*args)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("ferrotemp ls: error: ") or lines[-1].startswith(
        "ferrotemp: error: "
    ), done.stderr
    assert "Traceback" not in done.stderr


def _start_watch(root: Path, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "ferrotemp", "ls", "--dir", str(root), "--watch", "0.05", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _read_until(proc: subprocess.Popen[bytes], marker: bytes, count: int) -> bytes:
    assert proc.stdout is not None
    seen = b""
    deadline = time.monotonic() + 30
    while seen.count(marker) < count and time.monotonic() < deadline:
        chunk = os.read(proc.stdout.fileno(), 65536)
        if not chunk:
            break
        seen += chunk
    return seen


def test_watch_refreshes_until_ctrl_c_and_exits_quietly(tmp_path: Path) -> None:
    watch = _start_watch(tmp_path)
    try:
        seen = _read_until(watch, b"\x1b[2J", 3)
        assert seen.count(b"\x1b[2J") >= 3, seen
        assert b"0 processes" in seen
        watch.send_signal(signal.SIGINT)
        _, err = watch.communicate(timeout=30)
    finally:
        if watch.poll() is None:
            watch.kill()
            watch.communicate()
    assert watch.returncode == 0
    assert err == b""


def test_watch_json_prints_one_document_per_line(tmp_path: Path) -> None:
    watch = _start_watch(tmp_path, "--json")
    try:
        seen = _read_until(watch, b"\n", 2)
    finally:
        watch.send_signal(signal.SIGINT)
        watch.communicate(timeout=30)
    lines = seen.splitlines()
    assert len(lines) >= 2
    assert all(json.loads(line)["processes"] == [] for line in lines[:2])


def test_a_closed_stdout_pipe_ends_quietly(tmp_path: Path) -> None:
    watch = _start_watch(tmp_path)
    try:
        assert _read_until(watch, b"\x1b[2J", 1)
        assert watch.stdout is not None
        watch.stdout.close()
        watch.wait(timeout=30)
        assert watch.stderr is not None
        err = watch.stderr.read()
    finally:
        if watch.poll() is None:
            watch.kill()
            watch.wait()
        for pipe in (watch.stdout, watch.stderr):
            if pipe is not None:
                pipe.close()
    assert watch.returncode == 0
    assert err == b""


@pytest.mark.parametrize("command", [["sweep"], ["sweep", "--json"], ["ls"], ["info"]])
def test_a_command_writing_to_a_closed_pipe_ends_quietly_with_status_1(
    tmp_path: Path, command: list[str]
) -> None:
    """``ferrotemp sweep | head -1`` and the like: no traceback, status 1 (the recipe of
    Python's signal docs, and the interpreter's status for the same error). The pipe's
    reader is gone before the command writes, so every write meets EPIPE."""
    root, registry, _ = make_root(tmp_path)
    args = [*command, "--dir", str(root)] if command[0] != "info" else command
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "ferrotemp", *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            env=guard_env(registry),
            check=False,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert done.stderr == b""
    assert done.returncode == 1


def test_native_records_are_frozen_typed_and_have_a_repr(tmp_path: Path) -> None:
    root, registry, work = make_root(tmp_path)
    with Child(LIVE_CHILD, work, guard_env(registry)) as child:
        made = child.ready()
        records = ferrotemp._core.list_records(str(root))
    (record,) = [r for r in records if r.pid == child.proc.pid]
    assert isinstance(record, ferrotemp._core.GuardRecord)
    assert record.status == "alive" and record.name.endswith(".rec") and not record.truncated
    assert f"pid={child.proc.pid}" in repr(record)
    entries = {e.path: e for e in record.entries}
    entry = entries[made["dir"]]
    assert (entry.kind, entry.state, entry.presence, entry.workspace) == (
        "dir",
        "live",
        "present",
        None,
    )
    assert entry.recorded_ns > 0
    assert repr(entry).startswith("GuardEntry(path=")
    assert (entry.usage, entry.measure_error) == (None, None)  # not asked to measure
    with pytest.raises(AttributeError):
        record.pid = 1  # type: ignore[misc]
    # The registry of a temp dir that has none: nothing.
    assert ferrotemp._core.list_records(str(work)) == []


def test_records_listed_with_measure_carry_each_present_entrys_usage(tmp_path: Path) -> None:
    root, registry, work = make_root(tmp_path)
    with Child(LIVE_CHILD, work, guard_env(registry)) as child:
        made = child.ready()
        records = ferrotemp._core.list_records(str(root), measure=True)
        expected = {p: ferrotemp._core.measure_tree(p) for p in made.values()}
    (record,) = [r for r in records if r.pid == child.proc.pid]
    entries = {e.path: e for e in record.entries}
    for path, usage in expected.items():
        assert (entries[path].usage, entries[path].measure_error) == (usage, None)
    assert expected[made["dir"]][1:] == (5, 1)
