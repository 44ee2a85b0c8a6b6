"""``ferrotemp.stats()``: the core's process-wide counters. Exact counts are taken in a fresh
child interpreter, where nothing else creates or collects temp entries meanwhile."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import ferrotemp
import pytest
from _support import guard_env

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="counters are tested on POSIX")

COUNTING_CHILD = """
import gc, json, os, sys
import ferrotemp
work = sys.argv[1]
steps = {}
def step(name, action):
    before = ferrotemp.stats().as_dict()
    action()
    after = ferrotemp.stats().as_dict()
    steps[name] = {k: after[k] - before[k] for k in after if after[k] != before[k]}

def named():
    with ferrotemp.NamedTemporaryFile(dir=work) as f:
        f.write(b"x")
step("named", named)

def tempdir():
    with ferrotemp.TemporaryDirectory(dir=work) as d:
        open(os.path.join(d, "inside"), "w").close()
step("tempdir", tempdir)

def dropped():
    ferrotemp.NamedTemporaryFile(dir=work)
    ferrotemp.TemporaryDirectory(dir=work)
    gc.collect()
step("dropped", dropped)

def unowned():
    fd, path = ferrotemp.mkstemp(dir=work)
    os.close(fd)
    os.unlink(path)
    os.rmdir(ferrotemp.mkdtemp(dir=work))
step("unowned", unowned)

def unnamed():
    ferrotemp.TemporaryFile(dir=work).close()
    with ferrotemp.SpooledTemporaryFile(max_size=1, dir=work) as s:
        s.write(b"rolled over")
step("unnamed", unnamed)

def already_gone():
    f = ferrotemp.NamedTemporaryFile(dir=work)
    os.unlink(f.name)
    f.close()
step("already_gone", already_gone)

def failed():
    f = ferrotemp.NamedTemporaryFile(dir=work)
    os.unlink(f.name)
    os.mkdir(f.name)  # a directory where the file was: the unlink fails
    try:
        f.close()
    except OSError as err:
        steps["failed_errno"] = err.errno
    os.rmdir(f.name)
step("failed", failed)

print(json.dumps(steps))
"""


def test_counters_follow_each_creator_and_removal(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(COUNTING_CHILD), str(tmp_path)],
        capture_output=True,
        text=True,
        env=guard_env(tmp_path / "registry"),
        check=False,
    )
    assert done.returncode == 0, done.stderr
    steps = json.loads(done.stdout)
    assert steps["named"] == {"created": 1, "removed": 1}
    assert steps["tempdir"] == {"created": 1, "removed": 1}
    # Garbage collection removes as close does.
    assert steps["dropped"] == {"created": 2, "removed": 2}
    # mkstemp/mkdtemp entries are created but removed by their caller, not counted.
    assert steps["unowned"] == {"created": 2}
    # Unnamed files have no name to create or remove.
    assert steps["unnamed"] == {}
    assert steps["already_gone"] == {"created": 1}
    assert steps["failed"] == {"created": 1, "cleanup_errors": 1}
    assert steps["failed_errno"] in (21, 1)  # EISDIR (Linux), EPERM elsewhere


def test_a_sweep_counts_the_entries_and_bytes_it_reclaims(tmp_path: Path) -> None:
    from test_guard import crash_child

    root, _, _, guarded, _ = crash_child(tmp_path)
    before = ferrotemp.stats()
    dry = ferrotemp.sweep(root, dry_run=True)
    between = ferrotemp.stats()
    report = ferrotemp.sweep(root)
    after = ferrotemp.stats()

    assert dry.entries == len(guarded)
    assert between.entries_reclaimed == before.entries_reclaimed
    assert between.bytes_reclaimed == before.bytes_reclaimed
    assert after.entries_reclaimed - between.entries_reclaimed == report.entries == len(guarded)
    assert after.bytes_reclaimed - between.bytes_reclaimed == report.bytes > 0


def test_stats_is_a_typed_snapshot_with_every_counter() -> None:
    snapshot = ferrotemp.stats()
    assert isinstance(snapshot, ferrotemp.Stats)
    counters = snapshot.as_dict()
    assert set(counters) == {
        "created",
        "removed",
        "entries_reclaimed",
        "bytes_reclaimed",
        "cleanup_errors",
        "quota_refusals",
    }
    assert all(getattr(snapshot, name) == value for name, value in counters.items())
    assert repr(snapshot).startswith("Stats(created=")
    with pytest.raises(AttributeError):
        snapshot.created = 0  # type: ignore[misc]
    # A snapshot does not move; a new one sees later events.
    with ferrotemp.NamedTemporaryFile():
        pass
    assert ferrotemp.stats().created > snapshot.created
    assert snapshot.as_dict() == counters


def test_quota_refusals_are_counted_through_the_binding() -> None:
    before = ferrotemp.stats().quota_refusals
    ferrotemp._core.note_quota_refusal()
    assert ferrotemp.stats().quota_refusals == before + 1


def test_measure_tree_matches_du(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "data").write_bytes(b"x" * 12345)
    (tmp_path / "small").write_bytes(b"y")
    (tmp_path / "link").symlink_to("/etc")
    du = subprocess.run(["du", "-B1", "-s", str(tmp_path)], capture_output=True, text=True)
    assert ferrotemp._core.measure_tree(tmp_path) == (int(du.stdout.split()[0]), 3, 1)
    assert ferrotemp._core.measure_tree(str(tmp_path).encode())[1:] == (3, 1)


def test_measure_tree_of_a_missing_path_raises_with_errno_and_filename(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    with pytest.raises(FileNotFoundError) as raised:
        ferrotemp._core.measure_tree(missing)
    assert raised.value.filename == str(missing)
