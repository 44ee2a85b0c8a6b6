"""The crash guard from Python, with real processes: children create temp entries and are
killed with SIGKILL; sweeps (the API and the CLI) afterwards remove exactly what was guarded.

Every child gets its own registry through ``FERROTEMP_GUARD_DIR`` (inside a scratch temp
root, so ``ferrotemp.sweep(root)`` finds it), never the real one, and no automatic sweep
unless a test is about it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any, Optional

import ferrotemp
import pytest
from _support import guard_env
from ferrotemp._sweep_cli import parse_duration

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="the crash guard is POSIX-only")

REGISTRY_NAME = f"ferrotemp-guard-{os.geteuid()}" if hasattr(os, "geteuid") else ""


class Child:
    """A Python child running ``code`` with ``argv[1] = work``; it prints one JSON line when
    ready, then waits. Killed with SIGKILL by ``kill`` (and on leaving the ``with``)."""

    def __init__(
        self, code: str, work: Path, env: dict[str, str], new_session: bool = False
    ) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(code), str(work)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
            start_new_session=new_session,
        )

    def ready(self) -> Any:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            _, err = self.proc.communicate(timeout=30)
            raise AssertionError(f"child failed: {err}")
        return json.loads(line)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.communicate(timeout=30)

    def __enter__(self) -> Child:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()


CRASH_CHILD = """
import json, os, sys, time
import ferrotemp
work = sys.argv[1]
files = [ferrotemp.NamedTemporaryFile(dir=work) for _ in range(3)]
for i, f in enumerate(files):
    f.write(b"x" * 100 * (i + 1))
    f.flush()
d = ferrotemp.TemporaryDirectory(dir=work)
os.mkdir(os.path.join(d.name, "sub"))
with open(os.path.join(d.name, "sub", "data"), "wb") as out:
    out.write(b"y" * 1000)
os.symlink("/etc/passwd", os.path.join(d.name, "link"))
kept = ferrotemp.NamedTemporaryFile(dir=work, delete=False)
kept.close()
fd, made = ferrotemp.mkstemp(dir=work)
os.close(fd)
dmade = ferrotemp.mkdtemp(dir=work)
unnamed = ferrotemp.TemporaryFile(dir=work)
spooled = ferrotemp.SpooledTemporaryFile(max_size=10, dir=work)
spooled.write(b"z" * 100)  # rolled over to an unnamed file
closed = ferrotemp.NamedTemporaryFile(dir=work)
closed.close()
with ferrotemp.TemporaryDirectory(dir=work):
    pass
guarded = [f.name for f in files] + [d.name]
print(json.dumps({"guarded": guarded, "unguarded": [kept.name, made, dmade]}), flush=True)
time.sleep(600)
"""


def make_root(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A temp root holding the registry, and a work dir for the entries."""
    root = tmp_path / "root"
    work = tmp_path / "work"
    root.mkdir()
    work.mkdir()
    return root, root / REGISTRY_NAME, work


def records(registry: Path) -> list[str]:
    if not registry.exists():
        return []
    return sorted(n for n in os.listdir(registry) if n.endswith(".rec"))


def crash_child(tmp_path: Path, **env: str) -> tuple[Path, Path, Path, set[str], set[str]]:
    """Runs CRASH_CHILD to readiness and kills it; returns root, registry, work and the sets
    of guarded and unguarded paths."""
    root, registry, work = make_root(tmp_path)
    with Child(CRASH_CHILD, work, guard_env(registry, **env)) as child:
        listed = child.ready()
        assert len(records(registry)) == 1
    return root, registry, work, set(listed["guarded"]), set(listed["unguarded"])


def test_sweep_removes_exactly_the_guarded_entries_of_a_killed_process(tmp_path: Path) -> None:
    root, registry, work, guarded, unguarded = crash_child(tmp_path)
    assert all(os.path.lexists(p) for p in guarded | unguarded)

    report = ferrotemp.sweep(root)

    assert isinstance(report, ferrotemp.SweepReport)
    assert not report.dry_run and report.complete and report.errors == ()
    assert set(report.paths) == guarded
    assert report.entries == 4
    assert report.bytes == 100 + 200 + 300 + 1000
    assert report.records_removed == 1
    assert not any(os.path.lexists(p) for p in guarded)
    assert all(os.path.exists(p) for p in unguarded)
    assert set(os.listdir(work)) == {os.path.basename(p) for p in unguarded}
    assert os.path.exists("/etc/passwd")
    assert records(registry) == []
    # Nothing is left to do.
    assert ferrotemp.sweep(root).entries == 0


def run_cli(*args: str, env: Optional[dict[str, str]] = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ferrotemp", "sweep", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def test_cli_sweep_reclaims_a_killed_process_entries_and_prints_entries_and_bytes(
    tmp_path: Path,
) -> None:
    root, registry, _, guarded, unguarded = crash_child(tmp_path)

    done = run_cli("--dir", str(root), "--json")

    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert set(report["paths"]) == guarded
    assert (report["entries"], report["bytes"]) == (4, 1600)
    assert not any(os.path.lexists(p) for p in guarded)
    assert all(os.path.exists(p) for p in unguarded)
    assert records(registry) == []


def test_cli_sweep_plain_output_says_how_much_was_reclaimed(tmp_path: Path) -> None:
    root, _, _, guarded, _ = crash_child(tmp_path)
    # FERROTEMP_GUARD_DIR selects the registry when --dir is not given.
    done = run_cli(env=guard_env(root / REGISTRY_NAME))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "reclaimed 4 entries, 1.6 KiB"
    assert not any(os.path.lexists(p) for p in guarded)


def test_dry_run_removes_nothing_and_reports_what_would_go(tmp_path: Path) -> None:
    root, registry, _, guarded, _ = crash_child(tmp_path)

    report = ferrotemp.sweep(root, dry_run=True)
    assert report.dry_run
    assert set(report.paths) == guarded and report.bytes == 1600
    done = run_cli("--dir", str(root), "--dry-run")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "would reclaim 4 entries, 1.6 KiB"

    assert all(os.path.lexists(p) for p in guarded)
    assert len(records(registry)) == 1
    assert ferrotemp.sweep(root).entries == 4


def test_the_native_sweep_outcome_names_its_fields_and_is_immutable(tmp_path: Path) -> None:
    root, _, _, guarded, _ = crash_child(tmp_path)

    outcome = ferrotemp._core.sweep(str(root), True)

    assert type(outcome) is ferrotemp._core.SweepOutcome
    assert outcome.dry_run and outcome.complete and outcome.records_removed == 1
    assert outcome.records_live == 0 and outcome.skipped == () and outcome.errors == ()
    assert all(type(e) is ferrotemp._core.RemovedEntry for e in outcome.removed)
    assert {e.path for e in outcome.removed} == guarded
    assert sorted((e.kind, e.bytes) for e in outcome.removed) == [
        ("dir", 1000),
        ("file", 100),
        ("file", 200),
        ("file", 300),
    ]
    for obj, field in ((outcome, "dry_run"), (outcome.removed[0], "path")):
        with pytest.raises(AttributeError):
            setattr(obj, field, None)
    assert all(os.path.lexists(p) for p in guarded)


def test_a_path_reused_by_a_new_file_survives(tmp_path: Path) -> None:
    root, _, _, guarded, _ = crash_child(tmp_path)
    reused = sorted(p for p in guarded if os.path.isfile(p))[0]
    # Same path, new inode: made while the old file exists, so its inode cannot be reused.
    replacement = Path(reused + ".new")
    replacement.write_bytes(b"someone else's")
    assert replacement.stat().st_ino != os.stat(reused).st_ino
    os.replace(replacement, reused)

    report = ferrotemp.sweep(root)

    assert set(report.paths) == guarded - {reused}
    assert (reused, "replaced") in report.skipped
    assert Path(reused).read_bytes() == b"someone else's"


def test_a_live_process_entries_survive_concurrent_sweeps(tmp_path: Path) -> None:
    root, registry, work = make_root(tmp_path)
    with Child(CRASH_CHILD, work, guard_env(registry)) as child:
        guarded = set(child.ready()["guarded"])
        reports: list[ferrotemp.SweepReport] = []

        def sweep_repeatedly() -> None:
            for _ in range(20):
                reports.append(ferrotemp.sweep(root))

        threads = [threading.Thread(target=sweep_repeatedly) for _ in range(4)]
        for t in threads:
            t.start()
        clis = [run_cli("--dir", str(root), "--json") for _ in range(2)]
        for t in threads:
            t.join()
        assert len(reports) == 80
        assert all(r.entries == 0 and r.records_live == 1 for r in reports)
        assert all(json.loads(c.stdout)["entries"] == 0 for c in clis)
        assert all(os.path.lexists(p) for p in guarded)
    assert set(ferrotemp.sweep(root).paths) == guarded


# The automatic sweep runs in slices inside guarded creations: a process that creates a few
# dozen files has swept a small registry by the time it reports.
LATER_CHILD = """
import json, sys, time
import ferrotemp
for _ in range(50):
    with ferrotemp.NamedTemporaryFile(dir=sys.argv[1]):
        pass
f = ferrotemp.NamedTemporaryFile(dir=sys.argv[1])
print(json.dumps(f.name), flush=True)
time.sleep(600)
"""


def test_a_later_process_reclaims_a_dead_ones_entries_by_itself(tmp_path: Path) -> None:
    root, registry, work, guarded, unguarded = crash_child(tmp_path)
    env = guard_env(registry, FERROTEMP_GUARD_SWEEP="1")
    with Child(LATER_CHILD, work, env) as later:
        own = later.ready()
        assert not [p for p in guarded if os.path.lexists(p)]
        assert os.path.exists(own)
        assert all(os.path.exists(p) for p in unguarded)
        assert len(records(registry)) == 1  # the later process's own


KEEP_CHILD = """
import json, logging, os, sys
import ferrotemp
logging.basicConfig(level=logging.INFO, format="%(name)s %(levelname)s %(message)s")
work = sys.argv[1]
with ferrotemp.NamedTemporaryFile(dir=work) as f:
    name = f.name
d = ferrotemp.TemporaryDirectory(dir=work)
d.cleanup()
d.cleanup()
with ferrotemp.TemporaryDirectory(dir=work) as d2:
    pass
g = ferrotemp.NamedTemporaryFile(dir=work)  # dropped at exit
plain = ferrotemp.NamedTemporaryFile(dir=work, delete=False)  # not guarded: not logged
plain.close()
print(json.dumps([name, d.name, d2, g.name, plain.name]), flush=True)
"""


def test_keep_mode_keeps_guarded_entries_and_logs_each_path(tmp_path: Path) -> None:
    root, registry, work = make_root(tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", KEEP_CHILD, str(work)],
        capture_output=True,
        text=True,
        env=guard_env(registry, FERROTEMP_KEEP="1"),
        check=True,
    )
    *kept, plain = json.loads(done.stdout)
    assert all(os.path.exists(p) for p in kept + [plain])
    logged = [line for line in done.stderr.splitlines() if line.startswith("ferrotemp INFO")]
    assert logged == [f"ferrotemp INFO FERROTEMP_KEEP=1: keeping {p}" for p in kept]
    assert not registry.exists(), "keep mode records nothing"


FORK_CHILD = """
import json, os, sys, time
import ferrotemp
work = sys.argv[1]
mine = ferrotemp.NamedTemporaryFile(dir=work)
pid = os.fork()
if pid == 0:
    theirs = ferrotemp.NamedTemporaryFile(dir=work)
    d = ferrotemp.TemporaryDirectory(dir=work)
    print(json.dumps({"pid": os.getpid(), "child": [theirs.name, d.name]}), flush=True)
    time.sleep(600)
    os._exit(0)
time.sleep(0.5)
print(json.dumps({"pid": os.getpid(), "parent": [mine.name]}), flush=True)
time.sleep(600)
"""


def test_a_forked_child_entries_are_its_own(tmp_path: Path) -> None:
    root, registry, work = make_root(tmp_path)
    with Child(FORK_CHILD, work, guard_env(registry)) as child:
        first, second = child.ready(), child.ready()
        forked = first if "child" in first else second
        parent = second if forked is first else first
        assert len(records(registry)) == 2
        os.kill(forked["pid"], signal.SIGKILL)
        deadline = time.monotonic() + 10
        while True:
            report = ferrotemp.sweep(root)
            if report.records_removed or time.monotonic() > deadline:
                break
            time.sleep(0.02)  # the killed child's lock goes once it is reaped
        assert set(report.paths) == set(forked["child"])
        assert report.records_live == 1
        assert os.path.exists(parent["parent"][0])
    assert set(ferrotemp.sweep(root).paths) == set(parent["parent"])
    assert records(registry) == []


CYCLE_CHILD = """
import json, os, sys, time
import ferrotemp
work = sys.argv[1]
for _ in range(100_000):
    with ferrotemp.NamedTemporaryFile(dir=work):
        pass
live = ferrotemp.NamedTemporaryFile(dir=work)
print(json.dumps(live.name), flush=True)
time.sleep(600)
"""


def test_the_record_stays_bounded_after_100k_create_close_cycles(tmp_path: Path) -> None:
    root, registry, work = make_root(tmp_path)
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        work = Path(ferrotemp.mkdtemp(dir=shm))
    try:
        with Child(CYCLE_CHILD, work, guard_env(registry)) as child:
            live = child.ready()
            (record,) = records(registry)
            size = (registry / record).stat().st_size
            assert size <= 256 * 1024, f"record grew to {size} bytes"
            assert os.listdir(work) == [os.path.basename(live)]
        report = ferrotemp.sweep(root)
        assert report.paths == (live,)
    finally:
        if work.parent == shm:
            ferrotemp._core.remove_tree(str(work))


EXIT_CHILD = """
import sys
import ferrotemp
work = sys.argv[1]
for _ in range(5):
    with ferrotemp.NamedTemporaryFile(dir=work):
        pass
    with ferrotemp.TemporaryDirectory(dir=work):
        pass
# Still alive at exit: removed when the interpreter finalizes them.
still_open = ferrotemp.NamedTemporaryFile(dir=work)
still_here = ferrotemp.TemporaryDirectory(dir=work)
"""


def test_a_normal_exit_leaves_no_record_and_no_entry(tmp_path: Path) -> None:
    root, registry, work = make_root(tmp_path)
    done = subprocess.run(
        [sys.executable, "-W", "ignore::ResourceWarning", "-c", EXIT_CHILD, str(work)],
        capture_output=True,
        text=True,
        env=guard_env(registry),
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert registry.is_dir()
    assert os.listdir(registry) == []
    assert os.listdir(work) == []


WARN_CHILD = """
import json, os, sys, warnings
import ferrotemp
work = sys.argv[1]
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    names = []
    for _ in range(3):
        with ferrotemp.NamedTemporaryFile(dir=work) as f:
            names.append(f.name)
        with ferrotemp.TemporaryDirectory(dir=work) as d:
            names.append(d)
messages = [(w.category.__name__, str(w.message)) for w in caught]
gone = not any(os.path.lexists(n) for n in names)
print(json.dumps({"warnings": messages, "gone": gone}), flush=True)
"""


def run_warn_child(work: Path, registry: Path) -> Any:
    done = subprocess.run(
        [sys.executable, "-c", WARN_CHILD, str(work)],
        capture_output=True,
        text=True,
        env=guard_env(registry),
        check=True,
    )
    return json.loads(done.stdout)


def test_a_registry_precreated_as_a_symlink_is_refused_with_one_warning(tmp_path: Path) -> None:
    root, registry, work = make_root(tmp_path)
    target = tmp_path / "attacker"
    target.mkdir(mode=0o700)
    registry.symlink_to(target)

    result = run_warn_child(work, registry)

    assert len(result["warnings"]) == 1
    category, message = result["warnings"][0]
    assert category == "RuntimeWarning"
    assert "symbolic link" in message and str(registry) in message
    assert result["gone"], "entries are still removed normally"
    assert os.listdir(target) == [], "something was written through the link"
    assert registry.is_symlink()
    with pytest.raises(PermissionError):
        ferrotemp.sweep(root)
    done = run_cli("--dir", str(root))
    assert done.returncode == 1 and "symbolic link" in done.stderr


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to chown")
def test_a_registry_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    root, registry, work = make_root(tmp_path)
    # Readable by all, so that the owner check is what refuses it even for a root without
    # CAP_DAC_READ_SEARCH (the no-dac runs of make test), which cannot open a 0700 one.
    registry.mkdir(mode=0o755)
    os.chown(registry, 65534, 65534)

    result = run_warn_child(work, registry)

    assert len(result["warnings"]) == 1
    assert "owned by uid 65534" in result["warnings"][0][1]
    assert result["gone"]
    assert os.listdir(registry) == []
    with pytest.raises(PermissionError):
        ferrotemp.sweep(root)


def test_the_default_registry_works_in_the_test_environment() -> None:
    # pytest turns warnings into errors: a refused default registry would fail every test.
    # Here the guard is on, recording in the real (default or configured) registry.
    with ferrotemp.NamedTemporaryFile() as f:
        assert os.path.exists(f.name)
    assert ferrotemp._core.guard_unavailable_reason() is None


def test_durations_parse_and_bad_ones_are_clear_errors(tmp_path: Path) -> None:
    assert parse_duration("30s") == 30
    assert parse_duration("15m") == 900
    assert parse_duration("12h") == 43200
    assert parse_duration("7d") == 604800
    assert parse_duration("1h30m") == 5400
    for bad in ("", "12", "h", "12x", "-1h", "1h 2"):
        done = run_cli(f"--older-than={bad}", "--prefix", "x", "--dir", str(tmp_path))
        assert done.returncode == 2, bad
        assert "invalid duration" in done.stderr, done.stderr
    done = run_cli("--prefix", "x", "--dir", str(tmp_path))
    assert done.returncode == 2 and "go together" in done.stderr


def make_recent(path: Path) -> None:
    """Moves the timestamps an age sweep can be told about (access, modification) to the
    future: the entry is recent whatever its change time."""
    future = time.time() + 3600
    os.utime(path, (future, future), follow_symlinks=False)


# Age sweeps look at the change time too (as systemd-tmpfiles does), which os.utime cannot set
# back: fixtures age by waiting past a one-second cutoff, and os.utime makes entries recent.
AGE_WAIT = 1.3


def test_age_sweep_follows_prefix_cutoff_symlink_and_flock_rules(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "myapp_old").write_bytes(b"o" * 10)
    (root / "myapp_touched").write_bytes(b"n")
    (root / "other_old").write_bytes(b"x")
    tree = root / "myapp_tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "data").write_bytes(b"d" * 20)
    touched_inside = root / "myapp_tree_touched"
    (touched_inside / "sub").mkdir(parents=True)
    (touched_inside / "sub" / "recent").write_bytes(b"r")
    target = tmp_path / "outside"
    target.mkdir()
    (target / "precious").write_bytes(b"p")
    (root / "myapp_link").symlink_to(target)

    def make_new() -> None:
        # Recent by its change time alone, made again right before each run: with a 2 s cutoff
        # a CLI start on a loaded machine still leaves it recent.
        (root / "myapp_new").unlink(missing_ok=True)
        (root / "myapp_new").write_bytes(b"n")

    with ferrotemp.TemporaryDirectory(prefix="myapp_", dir=root) as live:
        time.sleep(2 + AGE_WAIT - 1)
        make_recent(root / "myapp_touched")
        make_recent(touched_inside / "sub" / "recent")
        args = ("--older-than", "2s", "--prefix", "myapp_", "--dir", str(root), "--json")
        expected = [str(root / "myapp_old"), str(tree)]
        make_new()
        dry = run_cli(*args, "--dry-run")
        assert dry.returncode == 0, dry.stderr
        assert sorted(json.loads(dry.stdout)["paths"]) == expected
        assert (root / "myapp_old").exists() and tree.exists()

        make_new()
        done = run_cli(*args)
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        assert sorted(report["paths"]) == expected
        assert report["bytes"] == 30
        skipped = {os.path.basename(p): why for p, why in report["skipped"]}
        assert skipped["myapp_link"] == "symlink"
        assert skipped[os.path.basename(live)] == "in_use"
        assert skipped["myapp_touched"] == "recent"
        assert skipped["myapp_new"] == "recent"
        assert skipped["myapp_tree_touched"] == "recent"
        assert "other_old" not in skipped
        assert os.path.isdir(live)
    assert sorted(os.listdir(root)) == [
        "myapp_link",
        "myapp_new",
        "myapp_touched",
        "myapp_tree_touched",
        "other_old",
    ]
    assert (target / "precious").read_bytes() == b"p"


def test_age_sweep_plain_output(tmp_path: Path) -> None:
    (tmp_path / "job_1").write_bytes(b"12345")
    time.sleep(AGE_WAIT)
    done = run_cli("--older-than", "1s", "--prefix", "job_", "--dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["reclaimed 1 entry, 5 B", f"  {tmp_path / 'job_1'}"]
    with pytest.raises(ValueError):
        ferrotemp._guard.sweep_older_than(tmp_path, "", 1.0)


FORKING_CHILD = """
import json, os, sys, time
import ferrotemp
work = sys.argv[1]
d = ferrotemp.TemporaryDirectory(dir=work)
with open(os.path.join(d.name, "data"), "wb") as out:
    out.write(b"w" * 10)
pid = os.fork()
if pid == 0:
    # A worker that inherited the directory's descriptor, and so its shared lock. It lets go
    # of the test's pipes so that killing its parent ends them.
    quiet = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(quiet, fd)
    time.sleep(600)
    os._exit(0)
print(json.dumps({"dir": d.name, "worker": pid}), flush=True)
time.sleep(600)
"""


def test_a_directory_still_locked_by_a_live_worker_is_not_swept(tmp_path: Path) -> None:
    root, registry, work = make_root(tmp_path)
    with Child(FORKING_CHILD, work, guard_env(registry)) as child:
        listed = child.ready()
    worker = listed["worker"]
    try:
        report = ferrotemp.sweep(root)
        assert report.entries == 0
        assert list(report.skipped) == [(listed["dir"], "in_use")]
        assert os.path.exists(os.path.join(listed["dir"], "data"))
        assert len(records(registry)) == 1  # kept for a later sweep
    finally:
        os.kill(worker, signal.SIGKILL)
        # The worker is the killed child's child: reparented, reaped by init, not by us.
        deadline = time.monotonic() + 10
        while os.path.exists(f"/proc/{worker}") and time.monotonic() < deadline:
            with open(f"/proc/{worker}/stat") as stat:
                if stat.read().split(") ")[1].startswith("Z"):
                    break
            time.sleep(0.05)
    # With the worker gone the lock is free, and the record kept by the first sweep lets a
    # later one finish the job.
    second = ferrotemp.sweep(root)
    assert second.paths == (listed["dir"],)
    assert not os.path.exists(listed["dir"])
    assert records(registry) == []


def test_a_refused_registry_never_makes_creation_fail_under_warnings_as_errors(
    tmp_path: Path,
) -> None:
    root, registry, work = make_root(tmp_path)
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o700)
    registry.symlink_to(target)
    code = """
import logging, os, sys, warnings
warnings.simplefilter("error")
logging.basicConfig(level=logging.WARNING, format="%(name)s:%(message)s")
import ferrotemp
f = ferrotemp.NamedTemporaryFile(dir=sys.argv[1])
d = ferrotemp.TemporaryDirectory(dir=sys.argv[1])
print(os.path.exists(f.name), os.path.isdir(d.name))
"""
    out = subprocess.run(
        [sys.executable, "-c", code, str(work)],
        capture_output=True,
        text=True,
        env=guard_env(registry),
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "True"]
    assert "ferrotemp:" in out.stderr and "symbolic link" in out.stderr
    assert os.listdir(work) == []
    assert os.listdir(target) == []


LIVE_PREFIXED_CHILD = """
import json, sys, time
import ferrotemp
f = ferrotemp.NamedTemporaryFile(prefix="myapp_", dir=sys.argv[1])
f.write(b"live")
f.flush()
print(json.dumps({"name": f.name}), flush=True)
time.sleep(600)
"""


def test_age_sweep_leaves_a_live_guarded_file_alone(tmp_path: Path) -> None:
    # A guarded NamedTemporaryFile holds no lock: only its live record says it is in use.
    root, registry, _ = make_root(tmp_path)
    with Child(LIVE_PREFIXED_CHILD, root, guard_env(registry)) as child:
        name = child.ready()["name"]
        (root / "myapp_stale").write_bytes(b"s")
        time.sleep(AGE_WAIT)
        args = ("--older-than", "1s", "--prefix", "myapp_", "--dir", str(root), "--json")
        done = run_cli(*args, env=guard_env(registry))
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        assert report["paths"] == [str(root / "myapp_stale")]
        assert [name, "in_use"] in report["skipped"]
        assert Path(name).read_bytes() == b"live"


RELATIVE_REGISTRY_CHILD = """
import json, os, sys
import ferrotemp
work = sys.argv[1]
f = ferrotemp.NamedTemporaryFile(dir=work)
made = sorted(os.listdir("reg"))
os.chdir("/")
d = ferrotemp.TemporaryDirectory(dir=work)
d.cleanup()
f.close()
print(json.dumps({"made": made}), flush=True)
"""


def test_a_relative_registry_dir_survives_a_chdir(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    env = guard_env(tmp_path / "unused")
    env["FERROTEMP_GUARD_DIR"] = "reg"  # relative to the child's starting directory
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(RELATIVE_REGISTRY_CHILD), str(work)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)["made"]) == 1
    assert "crash guard" not in done.stderr, done.stderr
    # The exit hook found the registry after the chdir: the empty record is gone.
    assert os.listdir(tmp_path / "reg") == []
    assert os.listdir(work) == []


LOOP_CHILD = """
import sys
import ferrotemp
work = sys.argv[1]
print("{}", flush=True)
while True:
    f = ferrotemp.NamedTemporaryFile(dir=work)
    f.close()
    d = ferrotemp.TemporaryDirectory(dir=work)
    d.cleanup()
"""


def test_children_killed_at_random_moments_in_a_creation_loop_leave_nothing_after_a_sweep(
    tmp_path: Path,
) -> None:
    import random

    rng = random.Random(19)
    roots: list[tuple[Path, Path]] = []
    batch = 10
    for first in range(0, 200, batch):
        children = []
        for i in range(first, first + batch):
            (tmp_path / str(i)).mkdir()
            root, registry, work = make_root(tmp_path / str(i))
            roots.append((root, work))
            children.append(Child(LOOP_CHILD, work, guard_env(registry)))
        for child in children:
            child.ready()
        for child in children:
            # Somewhere in the loop: creating, recording, closing, between two of them.
            time.sleep(rng.uniform(0, 0.02))
            child.kill()
    left = {}
    for root, work in roots:
        report = ferrotemp.sweep(root)
        assert report.errors == (), report.errors
        if os.listdir(work):
            left[str(work)] = (os.listdir(work), report.skipped)
    assert left == {}, f"{len(left)} of 200 killed children left entries: {left}"


FILL_CHILD = """
import sys, tempfile
import ferrotemp
mod = ferrotemp if sys.argv[2] == "ferrotemp" else tempfile
work = sys.argv[1]
files = []
while True:
    try:
        f = mod.NamedTemporaryFile(dir=work)
    except OSError:
        break
    try:
        f.write(b"x")
        f.flush()
    except OSError:
        try:
            f.close()
        except OSError:
            pass
        break
    files.append(f)
print(len(files), flush=True)
"""


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="mounting a tmpfs needs root"
)
def test_a_small_tmpfs_holds_as_many_guarded_files_as_the_standard_module_puts_there() -> None:
    # A short mount path keeps entries small, as in a real /tmp.
    mount = Path(ferrotemp.mkdtemp(prefix="ft", dir="/tmp"))
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=128k,mode=0700", "tmpfs", str(mount)], check=True
    )
    try:

        def fill(module: str) -> int:
            work = mount / "work"
            work.mkdir()
            env = guard_env(mount / "registry")
            done = subprocess.run(
                [sys.executable, "-W", "ignore", "-c", FILL_CHILD, str(work), module],
                capture_output=True,
                text=True,
                env=env,
                check=False,
            )
            assert done.returncode == 0, done.stderr
            assert os.listdir(work) == []
            work.rmdir()
            return int(done.stdout)

        standard = fill("tempfile")
        guarded = fill("ferrotemp")
        assert standard > 20
        # The record takes a page per fifty or so live entries, not a 64 KiB reserve.
        assert standard - 2 <= guarded <= standard, (standard, guarded)
    finally:
        subprocess.run(["umount", str(mount)], check=False)
        mount.rmdir()


UNDECODABLE_CHILD = """
import json, os, sys, time
import ferrotemp
f = ferrotemp.NamedTemporaryFile(prefix=b"bad\\xff-", dir=os.fsencode(sys.argv[1]))
print(json.dumps({"name": os.fsdecode(f.name)}), flush=True)
time.sleep(600)
"""


@pytest.mark.parametrize("as_json", [False, True])
def test_cli_prints_a_path_that_is_not_utf8_escaped_on_a_strict_utf8_stdout(
    tmp_path: Path, as_json: bool
) -> None:
    root, registry, work = make_root(tmp_path)
    with Child(UNDECODABLE_CHILD, work, guard_env(registry)) as child:
        name = child.ready()["name"]
    raw = os.fsencode(name)
    assert b"bad\xff-" in raw and os.path.lexists(raw)
    shown = raw.decode("utf-8", "backslashreplace")
    assert "bad\\xff-" in shown
    env = guard_env(registry, PYTHONIOENCODING="utf-8:strict")
    done = run_cli("--dir", str(root), *(["--json"] if as_json else []), env=env)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    if as_json:
        # Valid JSON, plain ASCII, with the name in the same escaped form as the text output.
        done.stdout.encode("ascii")
        report = json.loads(done.stdout)
        assert report["paths"] == [shown]
    else:
        assert done.stdout.splitlines()[1:] == [f"  {shown}"]
    assert not os.path.lexists(raw)


EXEC_CHILD = """
import json, os, sys
import ferrotemp
work = sys.argv[1]
d = ferrotemp.TemporaryDirectory(dir=work)
with open(os.path.join(d.name, "data"), "wb") as out:
    out.write(b"d" * 10)
f = ferrotemp.NamedTemporaryFile(dir=work)
f.write(b"f" * 10)
f.flush()
print(json.dumps({"dir": d.name, "file": f.name}), flush=True)
# A launcher handing its temp entries to a tool: same pid, new program, and the record's
# lock descriptor (close-on-exec) is gone.
os.execv("/bin/sleep", ["sleep", "600"])
"""


def test_an_execed_owner_keeps_its_entries_until_it_dies(tmp_path: Path) -> None:
    root, registry, work = make_root(tmp_path)
    with Child(EXEC_CHILD, work, guard_env(registry)) as child:
        listed = child.ready()
        entries = [listed["dir"], listed["file"]]
        # Wait for the exec: the record's lock is released when the old program goes.
        deadline = time.monotonic() + 10
        while Path(f"/proc/{child.proc.pid}/comm").read_text().strip() != "sleep":
            assert time.monotonic() < deadline, "the child never exec'd"
            time.sleep(0.01)
        for _ in range(2):
            report = ferrotemp.sweep(root)
            assert report.entries == 0, report
            assert report.records_live == 1
            assert all(os.path.exists(p) for p in entries)
        done = run_cli("--dir", str(root), "--json")
        assert done.returncode == 0 and json.loads(done.stdout)["entries"] == 0
        assert all(os.path.exists(p) for p in entries)
        child.kill()
    report = ferrotemp.sweep(root)
    assert set(report.paths) == set(entries)
    assert not any(os.path.lexists(p) for p in entries)
    assert records(registry) == []


def wait_gone(pid: int) -> None:
    """Waits until ``pid`` (not our child: reaped by init or a subreaper) has ended."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().rsplit(") ", 1)[1].startswith(("Z", "X")):
                    return
        except FileNotFoundError:
            return
        time.sleep(0.02)
    raise AssertionError(f"process {pid} did not end")


READER_PARENT = """
import json, os, subprocess, sys, time
import ferrotemp
work = sys.argv[1]
f = ferrotemp.NamedTemporaryFile(dir=work)
f.write(b"shared")
f.flush()
# A child that reads the file by name now and then, never holding it open in between.
reader = subprocess.Popen(
    [sys.executable, "-c",
     "import sys, time\\n"
     "while True:\\n"
     "    with open(sys.argv[1], 'rb') as f: f.read()\\n"
     "    time.sleep(0.05)\\n",
     f.name],
    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
)
print(json.dumps({"file": f.name, "reader": reader.pid}), flush=True)
time.sleep(600)
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="needs Linux /proc")
def test_a_child_of_a_killed_group_leader_keeps_its_temp_file(tmp_path: Path) -> None:
    root, registry, work = make_root(tmp_path)
    # Started as a shell starts a job (or a service manager a service): a group leader.
    child = Child(READER_PARENT, work, guard_env(registry), new_session=True)
    reader = 0
    try:
        assert os.getpgid(child.proc.pid) == child.proc.pid
        listed = child.ready()
        reader = listed["reader"]
        child.kill()
        for _ in range(3):
            report = ferrotemp.sweep(root)
            assert report.entries == 0, report
            assert report.records_live == 1
            assert Path(listed["file"]).read_bytes() == b"shared"
            time.sleep(0.1)
        # The reader still runs and still reads it.
        assert os.path.exists(f"/proc/{reader}")
    finally:
        child.kill()
        if reader:
            os.kill(reader, signal.SIGKILL)
            wait_gone(reader)
    report = ferrotemp.sweep(root)
    assert report.paths == (listed["file"],)
    assert not os.path.lexists(listed["file"])
    assert records(registry) == []


HOLDER_PARENT = """
import json, os, subprocess, sys, time
import ferrotemp
work = sys.argv[1]
d = ferrotemp.TemporaryDirectory(dir=work)
inside = os.path.join(d.name, "inside")
with open(inside, "wb") as out:
    out.write(b"i")
f = ferrotemp.NamedTemporaryFile(dir=work)
# Children in sessions of their own (daemonised workers): one works inside the directory,
# one holds a file in it open, one holds the named file open.
code = "import sys, time\\nf = open(sys.argv[1], 'rb')\\ntime.sleep(600)\\n"
quiet = dict(start_new_session=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
             stderr=subprocess.DEVNULL)
workers = [
    subprocess.Popen(["sleep", "600"], cwd=d.name, **quiet),
    subprocess.Popen([sys.executable, "-c", code, inside], **quiet),
    subprocess.Popen([sys.executable, "-c", code, f.name], **quiet),
]
time.sleep(0.5)
print(json.dumps({"dir": d.name, "file": f.name, "workers": [w.pid for w in workers]}),
      flush=True)
time.sleep(600)
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="needs Linux /proc")
def test_entries_a_live_process_holds_open_outlive_their_killed_owner(tmp_path: Path) -> None:
    root, registry, work = make_root(tmp_path)
    with Child(HOLDER_PARENT, work, guard_env(registry)) as child:
        listed = child.ready()
    workers = listed["workers"]
    try:
        # One worker at a time lets go; until the last one does, something stays in use.
        for i, worker in enumerate(workers):
            report = ferrotemp.sweep(root)
            held = {listed["dir"]} if i < 2 else {listed["file"]}
            assert held <= {p for p, why in report.skipped if why == "in_use"}, report
            assert not held & set(report.paths)
            assert all(os.path.exists(p) for p in held)
            assert len(records(registry)) == 1
            os.kill(worker, signal.SIGKILL)
            wait_gone(worker)
    finally:
        for worker in workers:
            try:
                os.kill(worker, signal.SIGKILL)
            except ProcessLookupError:
                pass
    report = ferrotemp.sweep(root)
    assert not os.path.lexists(listed["dir"]) and not os.path.lexists(listed["file"])
    assert records(registry) == []


FOREIGN_PARENT_CHILD = """
import json, os, sys, warnings
import ferrotemp
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    f = ferrotemp.NamedTemporaryFile()
    d = ferrotemp.TemporaryDirectory()
    g = ferrotemp.NamedTemporaryFile()
print(json.dumps({
    "tempdir": ferrotemp.gettempdir(),
    "warnings": [str(w.message) for w in caught if w.category is RuntimeWarning],
    "made": [os.path.exists(f.name), os.path.isdir(d.name)],
}), flush=True)
"""


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to chown to nobody"
)
def test_a_tmpdir_under_another_users_directory_turns_the_guard_off_with_one_warning(
    tmp_path: Path,
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    tempdir = shared / "tmp"
    # Made before the parent is given away: without DAC override (make test's no-dac runs)
    # root may not write in another user's 0755 directory.
    tempdir.mkdir()
    os.chown(shared, 65534, 65534)
    try:
        check_foreign_parent(tmp_path, tempdir)
    finally:
        os.chown(shared, os.geteuid(), os.getegid())


def check_foreign_parent(tmp_path: Path, tempdir: Path) -> None:
    env = guard_env(tmp_path / "unused", TMPDIR=str(tempdir))
    del env["FERROTEMP_GUARD_DIR"]  # the default registry: <TMPDIR>/ferrotemp-guard-<uid>
    done = subprocess.run(
        [sys.executable, "-c", FOREIGN_PARENT_CHILD],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["tempdir"] == str(tempdir)
    assert out["made"] == [True, True]
    assert len(out["warnings"]) == 1, out["warnings"]
    assert "crash guard disabled" in out["warnings"][0]
    assert "owned by uid 65534" in out["warnings"][0]
    assert not (tempdir / REGISTRY_NAME).exists()
    assert os.listdir(tempdir) == []
    # A sweep of that temp dir refuses it too.
    done = run_cli("--dir", str(tempdir))
    assert done.returncode == 1 and "owned by uid 65534" in done.stderr


LOW_NOFILE_CHILD = """
import json, os, resource, sys, threading
import ferrotemp
root, limit, headroom = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
# The program's own opens: up to `headroom` short of its limit, counting what it holds.
own = limit - headroom - (len(os.listdir("/proc/self/fd")) - 1) - 1
stop = threading.Event()
sweeps = [0]
worked = [0]

def sweeper():
    while not stop.is_set():
        report = ferrotemp.sweep(root, dry_run=True)
        sweeps[0] += 1
        worked[0] += bool(report.paths or report.skipped)

thread = threading.Thread(target=sweeper)
thread.start()
failures, rounds = [], 0
while rounds < 300 or sweeps[0] < 20:
    rounds += 1
    held = []
    try:
        for _ in range(own):
            held.append(open(os.devnull, "rb"))
    except OSError as err:
        failures.append(err.errno)
    finally:
        for f in held:
            f.close()
stop.set()
thread.join()
out = {"failures": failures, "rounds": rounds, "sweeps": sweeps[0], "worked": worked[0]}
print(json.dumps(out), flush=True)
"""

DEEP_CRASH_CHILD = """
import json, os, sys, time
import ferrotemp
work = sys.argv[1]
dirs = [ferrotemp.TemporaryDirectory(dir=work) for _ in range(4)]
for d in dirs:
    path = d.name
    for _ in range(63):  # as deep as a measuring walk goes (64 levels with the root)
        path = os.path.join(path, "d")
    os.makedirs(path)
    with open(os.path.join(path, "leaf"), "wb") as out:
        out.write(b"x")
print(json.dumps({"dirs": [d.name for d in dirs]}), flush=True)
time.sleep(600)
"""


@pytest.mark.parametrize("limit", [512, 1024])
def test_sweeps_leave_a_program_its_descriptors_under_a_low_limit(
    tmp_path: Path, limit: int
) -> None:
    root, registry, work = make_root(tmp_path)
    with Child(DEEP_CRASH_CHILD, work, guard_env(registry)) as child:
        dirs = child.ready()["dirs"]
    # The sweep's documented share of the soft limit: max(16, limit / 16). The program keeps
    # exactly that much of its limit free while sweeps walk the dead trees beside it.
    share = max(16, limit // 16)
    done = subprocess.run(
        [sys.executable, "-c", LOW_NOFILE_CHILD, str(root), str(limit), str(share)],
        capture_output=True,
        text=True,
        env=guard_env(registry),
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["sweeps"] >= 20 and out["rounds"] >= 300
    assert out["worked"] >= 1, out  # not only sweeps that found no room
    assert out["failures"] == [], out
    # A sweep in a process with room enough still removes the dead trees.
    report = ferrotemp.sweep(root)
    assert set(report.paths) == set(dirs)
    assert records(registry) == []


def test_the_cli_sweeps_directory_trees_even_when_started_under_a_low_limit(
    tmp_path: Path,
) -> None:
    root, registry, work = make_root(tmp_path)
    with Child(DEEP_CRASH_CHILD, work, guard_env(registry)) as child:
        dirs = child.ready()["dirs"]
    # Under a soft limit of 256 a sweep's share (16) is too small for a tree removal; the
    # CLI, being its own process, raises its soft limit first (as far as the hard one allows).
    code = (
        "import resource, sys\n"
        "hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))\n"
        "import ferrotemp\n"
        "print(len(ferrotemp.sweep(sys.argv[1], dry_run=True).paths))\n"
        "from ferrotemp.__main__ import main\n"
        "sys.argv = ['ferrotemp', 'sweep', '--dir', sys.argv[1], '--json']\n"
        "sys.exit(main())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(root)],
        capture_output=True,
        text=True,
        env=guard_env(registry),
        check=False,
    )
    assert done.returncode == 0, done.stderr
    first, rest = done.stdout.split("\n", 1)
    assert first == "0"  # within the process's own low limit: left for later
    assert set(json.loads(rest)["paths"]) == set(dirs)
    assert records(registry) == []


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="needs Linux /proc")
def test_age_sweep_leaves_a_killed_group_leaders_file_while_its_child_runs(
    tmp_path: Path,
) -> None:
    root, registry, work = make_root(tmp_path)
    args = ("--older-than", "1s", "--prefix", "tmp", "--dir", str(work), "--json")
    child = Child(READER_PARENT, work, guard_env(registry), new_session=True)
    reader = 0
    try:
        listed = child.ready()
        reader = listed["reader"]
        child.kill()
        time.sleep(AGE_WAIT)
        done = run_cli(*args, env=guard_env(registry))
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        assert [listed["file"], "in_use"] in report["skipped"], report
        assert Path(listed["file"]).read_bytes() == b"shared"
    finally:
        child.kill()
        if reader:
            os.kill(reader, signal.SIGKILL)
            wait_gone(reader)
    done = run_cli(*args, env=guard_env(registry))
    assert json.loads(done.stdout)["paths"] == [listed["file"]]
