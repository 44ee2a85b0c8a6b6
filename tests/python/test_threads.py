"""No thread behind the caller's back: every public call returns with the process's threads
as they were (``threading.active_count()`` and the kernel's count, which Python 3.12+'s fork
warning reads), so ``os.fork()`` right after a creation never warns that the process is
multi-threaded. The crash guard's automatic sweep runs in slices inside later guarded
creations instead, and still reclaims what killed processes left.

Each check runs in a fresh interpreter (pytest's own process may hold threads of its own),
against a registry of its own holding dead records of children killed with SIGKILL, so
that the automatic sweep has real work to do in the calls being watched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import _support
import ferrotemp
import pytest

pytestmark = pytest.mark.skipif(
    not os.path.isdir("/proc/self/task") or not hasattr(os, "fork"),
    reason="counts the process's threads in /proc and forks",
)

REGISTRY_NAME = f"ferrotemp-guard-{os.geteuid()}" if hasattr(os, "geteuid") else ""

# Forks `count` children; each makes a guarded file and a guarded directory (with a file in
# it) in `work`, then is killed with SIGKILL: `count` dead records of two entries each.
KILLED_CHILDREN = """
import os, signal, sys
import ferrotemp
work, count = sys.argv[1], int(sys.argv[2])
for _ in range(count):
    pid = os.fork()
    if pid == 0:
        f = ferrotemp.NamedTemporaryFile(dir=work)
        d = ferrotemp.TemporaryDirectory(dir=work)
        with open(os.path.join(d.name, "data"), "wb") as out:
            out.write(b"x")
        os.kill(os.getpid(), signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, status
"""


def guard_env(registry: Path, **extra: str) -> dict[str, str]:
    """A child with its own registry and the automatic sweep on (unless ``extra`` says)."""
    return _support.guard_env(registry, **{"FERROTEMP_GUARD_SWEEP": "1", **extra})


def run_python(
    code: str, *args: str, env: dict[str, str], flags: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *flags, "-c", textwrap.dedent(code), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def dead_records(tmp_path: Path, count: int) -> tuple[Path, Path, list[str]]:
    """A registry with `count` dead records (children killed with SIGKILL); returns it, the
    work dir and the entries the dead children left there."""
    registry = tmp_path / "root" / REGISTRY_NAME
    work = tmp_path / "work"
    registry.parent.mkdir()
    work.mkdir()
    made = run_python(
        KILLED_CHILDREN, str(work), str(count), env=guard_env(registry, FERROTEMP_GUARD_SWEEP="0")
    )
    assert made.returncode == 0, made.stderr
    left = sorted(os.listdir(work))
    assert len(left) == 2 * count
    records = [n for n in os.listdir(registry) if n.endswith(".rec")]
    assert len(records) == count
    return registry, work, left


FORK_AFTER_CREATION = """
import os, sys
import ferrotemp
work = sys.argv[1]

def os_threads():
    return len(os.listdir("/proc/self/task"))

base = os_threads()
for i in range(100):
    f = ferrotemp.NamedTemporaryFile(dir=work)
    assert os_threads() == base, (i, base, os_threads())
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert status == 0, status
    f.close()
print("ok", base)
"""


def test_fork_right_after_a_creation_warns_of_no_thread(tmp_path: Path) -> None:
    # Python 3.12+ warns (DeprecationWarning) at a fork while another OS thread runs; an
    # error filter makes it an unraisable error printed on stderr. Before 3.12 there is no
    # such warning, and the thread count alone is checked.
    registry, work, _ = dead_records(tmp_path, 100)
    done = run_python(
        FORK_AFTER_CREATION,
        str(work),
        env=guard_env(registry),
        flags=("-W", "error::DeprecationWarning"),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["ok", "1"]
    assert done.stderr == ""
    # The creations swept the dead records as they went: each slice takes at least one
    # entry whatever its time cap, so 100 creations finish at least 50 of the 100 two-entry
    # records (how many more depends on the machine's speed: completion is
    # test_creations_sweep_dead_records_in_bounded_slices's).
    assert len([n for n in os.listdir(registry) if n.endswith(".rec")]) <= 50


SLICES = """
import json, os, sys
import ferrotemp
work = sys.argv[1]
before = set(os.listdir(work))
live = [ferrotemp.NamedTemporaryFile(dir=work)]
first = sorted(before - set(os.listdir(work)))
for _ in range(199):
    with ferrotemp.NamedTemporaryFile(dir=work):
        pass
print(json.dumps({"first": first, "left": sorted(os.listdir(work)), "own": live[0].name}))
"""


def test_creations_sweep_dead_records_in_bounded_slices(tmp_path: Path) -> None:
    registry, work, dead = dead_records(tmp_path, 30)
    done = run_python(SLICES, str(work), env=guard_env(registry))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    # The first creation ran one slice: some entries at most (8, a directory's contents
    # counting too), never all 60.
    assert set(result["first"]) <= set(dead)
    assert len(result["first"]) <= 8
    # 200 creations later every dead entry is gone, and only the live file is left.
    assert result["left"] == [os.path.basename(result["own"])]
    assert [n for n in os.listdir(registry) if n.endswith(".rec")] == []


def test_no_automatic_sweep_when_switched_off(tmp_path: Path) -> None:
    registry, work, dead = dead_records(tmp_path, 5)
    done = run_python(SLICES, str(work), env=guard_env(registry, FERROTEMP_GUARD_SWEEP="0"))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["first"] == []
    assert set(dead) <= set(result["left"])


# Every public callable of the package, called the way users do; a public name this walk
# does not know fails the test, so that a new one gets watched too.
PUBLIC_API = """
import json, os, sys, threading
import ferrotemp

work = sys.argv[1]

def os_threads():
    return len(os.listdir("/proc/self/task"))

def big_tree(root):
    # Big enough for the removal to use helper threads (more than 64 entries, many
    # directories).
    for i in range(20):
        sub = os.path.join(root, f"d{i}")
        os.mkdir(sub)
        for j in range(10):
            with open(os.path.join(sub, f"f{j}"), "wb"):
                pass

def named():
    with ferrotemp.NamedTemporaryFile(dir=work) as f:
        f.write(b"x")
    f = ferrotemp.NamedTemporaryFile(dir=work, delete=False)
    f.close()
    os.unlink(f.name)

def unnamed():
    with ferrotemp.TemporaryFile(dir=work) as f:
        f.write(b"x")

def spooled():
    with ferrotemp.SpooledTemporaryFile(max_size=10, dir=work) as f:
        f.write(b"x" * 100)
        f.seek(0)
        f.read()

def tempdir():
    with ferrotemp.TemporaryDirectory(dir=work) as d:
        big_tree(d)
    d = ferrotemp.TemporaryDirectory(dir=work)
    big_tree(d.name)
    d.cleanup()

def low_level():
    fd, name = ferrotemp.mkstemp(dir=work)
    os.close(fd)
    os.unlink(name)
    big_tree(ferrotemp.mkdtemp(dir=work))
    ferrotemp.mktemp(dir=work)

def names():
    ferrotemp.gettempdir()
    ferrotemp.gettempdirb()
    ferrotemp.gettempprefix()
    ferrotemp.gettempprefixb()

def sweeps():
    ferrotemp.sweep()
    ferrotemp.sweep(dry_run=True)
    ferrotemp._guard.sweep_older_than(work, "nothing-has-this-prefix-", 3600.0)

calls = {
    "NamedTemporaryFile": named,
    "TemporaryFile": unnamed,
    "SpooledTemporaryFile": spooled,
    "TemporaryDirectory": tempdir,
    "mkstemp": low_level,
    "mkdtemp": low_level,
    "mktemp": low_level,
    "gettempdir": names,
    "gettempdirb": names,
    "gettempprefix": names,
    "gettempprefixb": names,
    "sweep": sweeps,
    "stats": ferrotemp.stats,
}
public = sorted(
    n for n in ferrotemp.__all__
    if callable(getattr(ferrotemp, n)) and not isinstance(getattr(ferrotemp, n), type)
    or n in ("NamedTemporaryFile", "TemporaryFile", "SpooledTemporaryFile", "TemporaryDirectory")
)
unknown = sorted(set(public) - set(calls))
changed = []
for _ in range(3):
    for name, call in calls.items():
        before = (threading.active_count(), os_threads())
        call()
        after = (threading.active_count(), os_threads())
        if after != before:
            changed.append([name, before, after])
print(json.dumps({"unknown": unknown, "changed": changed, "threads": os_threads()}))
"""


def test_public_calls_leave_the_thread_counts_unchanged(tmp_path: Path) -> None:
    registry, work, _ = dead_records(tmp_path, 20)
    done = run_python(PUBLIC_API, str(work), env=guard_env(registry))
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    assert result["unknown"] == []
    assert result["changed"] == []
    assert result["threads"] == 1


def test_this_process_gains_no_thread_from_a_creation(tmp_path: Path) -> None:
    # The same in pytest's own process, whatever threads it has: none is added.
    import threading

    before = (threading.active_count(), len(os.listdir("/proc/self/task")))
    with ferrotemp.NamedTemporaryFile(dir=tmp_path):
        pass
    with ferrotemp.TemporaryDirectory(dir=tmp_path):
        pass
    assert (threading.active_count(), len(os.listdir("/proc/self/task"))) == before
