"""The crash guard's storm (issue 12, "Done when"): many processes creating guarded entries are
SIGKILLed at random moments while five sweepers (the API and the CLI) run at once, in one temp
dir that also holds what the guard must never touch. Afterwards every dead entry is gone and
everything else is intact.

In the temp dir, besides the killed children's guarded entries (``deadNN_…``, nested too):

- canaries: a plain ``open``, ``mkstemp`` (ferrotemp's and the standard module's), ``mkdtemp``
  trees, a ``delete=False`` file, made by a process that is then killed; and, from the killed
  children, their own ``mkstemp`` / ``delete=False`` / ``mkdtemp`` entries (a guarded file
  inside such a directory must go, the directory must stay) and hard links to guarded files;
- live owners holding a guarded file and directory through the storm while their records
  change;
- an exec'd owner: a process that made a guarded directory and file, then ``os.execv``'d a
  program (same pid) that uses them until told to stop (issue 12 item 2);
- a child that outlives its parent: the parent made a guarded file and started a reader that
  holds it open and reads it by name, then the parent was SIGKILLed (issue 12 item 3). A
  subreaper above the parent adopts the reader, as systemd's user manager would (this
  machine's init never reaps orphans).

Sweepers may remove only killed children's entries, each once, without errors. A killed child
logs each guarded entry after creating it, so an entry made in the instant before a kill is
unlogged: after a final sweep the test therefore lists the temp dir and requires that nothing
but the canaries, the entries in use and the registry is left (issue 19 item 2: no unrecorded
window). Then the users end: the live owners remove their entries themselves, and one sweep
removes exactly the exec'd owner's and the orphaned file, after which no record is left. Every
check runs and the test fails once with all the problems found.

Run on ext4 (``/tmp``) and tmpfs (``/dev/shm``), and on tmpfs with records kept without
``flock`` (``FERROTEMP_GUARD_FLOCK=0``: liveness from pid and start time, claims by rename).

The processes are in ``storm_worker.py``. Kill moments come from a seed, printed (set
``FERROTEMP_STORM_SEED`` to replay one); the assertions do not depend on it.
"""

from __future__ import annotations

import json
import os
import random
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import IO, Any, Optional

import ferrotemp
import pytest
from storm_worker import WORKER, snapshot_of

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"),
    reason="the storm uses /proc, prctl(PR_SET_CHILD_SUBREAPER) and /dev/shm (Linux)",
)

CHILDREN = 50
SWEEPERS_API = 3
SWEEPERS_CLI = 2
LIVE_OWNERS = 3
# Storm children alive at once: enough to overlap, few enough for a loaded 2-core machine.
CONCURRENCY = 6
# A fifth of the children are killed at a moment counted from their start (so some die while
# importing or making their first record), the rest at a moment after they start creating.
FROM_SPAWN_SHARE = 0.2
MAX_KILL_DELAY = 0.5
# The storm stops spawning and kills what is left after this long, whatever the machine.
STORM_LIMIT = 40.0
WAIT = 30.0

REGISTRY_NAME = f"ferrotemp-guard-{os.geteuid()}" if hasattr(os, "geteuid") else ""
KEEP_NAME = re.compile(r"keep\d\d_")
PROBE_NAME = re.compile(r"[a-z0-9_]{8}")


def is_discovery_probe(path: str) -> bool:
    """Temp-dir discovery proves a directory writable by creating a file with a bare random
    name, writing ``blat`` and removing it, as the standard module does; a process killed in
    between leaves it (the standard module too), and it is no guarded entry."""
    if not PROBE_NAME.fullmatch(os.path.basename(path)) or not os.path.isfile(path):
        return False
    with open(path, "rb") as src:
        return b"blat".startswith(src.read())


class Lines:
    """JSON lines from a process's stdout, read with timeouts."""

    def __init__(self, stream: Optional[IO[bytes]], err: Optional[Path] = None) -> None:
        assert stream is not None
        self.err = err
        self.fd = stream.fileno()
        self.buffer = b""
        self.eof = False

    def _fill(self, timeout: float) -> None:
        ready, _, _ = select.select([self.fd], [], [], max(timeout, 0))
        if ready:
            chunk = os.read(self.fd, 65536)
            self.eof = not chunk
            self.buffer += chunk

    def poll(self) -> Optional[Any]:
        """The next line if one is there already, else None."""
        if b"\n" not in self.buffer and not self.eof:
            self._fill(0)
        return self._take()

    def next(self, timeout: float = WAIT) -> Any:
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            if self.eof:
                raise EOFError(f"the process closed its output: {self.stderr_tail()}")
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no line within {timeout} s: {self.stderr_tail()}")
            self._fill(left)
        line = self._take()
        assert line is not None
        return line

    def stderr_tail(self) -> str:
        if self.err is None:
            return ""
        return self.err.read_text(errors="replace")[-1500:]

    def _take(self) -> Optional[Any]:
        if b"\n" not in self.buffer:
            return None
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)


class Storm:
    """The processes of one storm, their logs, and the problems found (checked at the end)."""

    def __init__(self, base: Path, seed: int, env: dict[str, str]) -> None:
        self.base = base
        self.tmp = base / "tmp"
        self.logs = base / "logs"
        self.tmp.mkdir(mode=0o700)
        self.logs.mkdir()
        self.registry = self.tmp / REGISTRY_NAME
        self.stop = self.logs / "stop"
        self.churn_stop = self.logs / "churn-stop"
        self.seed = seed
        self.rng = random.Random(seed)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("FERROTEMP_")}
        self.env["TMPDIR"] = str(self.tmp)
        self.env["FERROTEMP_GUARD_DIR"] = str(self.registry)
        self.env.update(env)
        self.procs: list[subprocess.Popen[bytes]] = []
        self.stray_pids: list[int] = []
        self.problems: list[str] = []

    def problem(self, message: str) -> None:
        self.problems.append(message)

    def spawn(self, *args: str, err_name: str, stdin: bool = False) -> subprocess.Popen[bytes]:
        with open(self.logs / err_name, "wb") as err:
            proc = subprocess.Popen(
                [sys.executable, WORKER, *args],
                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=err,
                env=self.env,
            )
        self.procs.append(proc)
        return proc

    def stderr_tail(self, err_name: str) -> str:
        text = (self.logs / err_name).read_text(errors="replace")
        return text[-600:]

    def end(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=WAIT)
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()

    def kill_everything(self) -> None:
        for proc in self.procs:
            self.end(proc)
        for pid in self.stray_pids:
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if WORKER.encode() in cmdline:
                os.kill(pid, signal.SIGKILL)


def read_json_lines(path: Path) -> list[Any]:
    """A log's JSON lines; a killed writer may have left its last line unfinished."""
    if not path.exists():
        return []
    lines = path.read_bytes().split(b"\n")
    found = []
    for n, line in enumerate(lines):
        if not line:
            continue
        try:
            found.append(json.loads(line))
        except ValueError:
            assert n == len(lines) - 1, f"{path}: a damaged line that is not the last"
    return found


def compare(
    storm: Storm, what: str, expected: dict[str, dict[str, str]], ignore: Optional[str] = None
) -> int:
    """Checks each entry's snapshot; returns how many were intact. Dead entries inside a kept
    directory are not part of it (they are reported on their own)."""
    intact = 0
    for path, snap in sorted(expected.items()):
        try:
            now = snapshot_of(path)
        except OSError as err:
            storm.problem(f"{what} {path} damaged or gone: {err}")
            continue
        if ignore is not None:
            now.pop(ignore, None)
        now = {k: v for k, v in now.items() if not k.startswith("dead")}
        if now != snap:
            storm.problem(f"{what} {path} changed: {sorted(snap)} -> {sorted(now)}")
        else:
            intact += 1
    return intact


def run_storm_children(storm: Storm, counts: Counter[str]) -> tuple[set[str], dict[str, Any]]:
    """Spawns the killed children, a few at a time, and SIGKILLs each at its moment. Returns
    the guarded entries they logged and the entries they logged as never to be touched."""
    plans = [
        (storm.rng.random() < FROM_SPAWN_SHARE, storm.rng.uniform(0, MAX_KILL_DELAY))
        for _ in range(CHILDREN)
    ]
    waiting = list(range(CHILDREN))
    # index -> (process, its stdout, the moment to kill it or None until it starts creating)
    running: dict[int, tuple[subprocess.Popen[bytes], Lines, Optional[float]]] = {}
    limit = time.monotonic() + STORM_LIMIT
    while waiting or running:
        while waiting and len(running) < CONCURRENCY and time.monotonic() < limit:
            i = waiting.pop(0)
            proc = storm.spawn(
                "storm-child",
                str(i),
                str(storm.seed * 1000 + i),
                str(storm.logs / f"child{i:02d}.log"),
                err_name=f"child{i:02d}.err",
            )
            from_spawn, delay = plans[i]
            running[i] = (
                proc,
                Lines(proc.stdout),
                time.monotonic() + delay if from_spawn else None,
            )
        if time.monotonic() >= limit and waiting:
            counts["children never started (storm time limit)"] += len(waiting)
            waiting.clear()
        for i, (proc, lines, kill_at) in list(running.items()):
            if kill_at is None and lines.poll() is not None:
                counts["children killed while creating"] += 1
                running[i] = (proc, lines, time.monotonic() + plans[i][1])
        now = time.monotonic()
        for i, (proc, _, kill_at) in list(running.items()):
            if proc.poll() is not None:
                storm.problem(
                    f"storm child {i} exited by itself ({proc.returncode}): "
                    f"{storm.stderr_tail(f'child{i:02d}.err')}"
                )
            elif (kill_at is not None and now >= kill_at) or now >= limit:
                proc.send_signal(signal.SIGKILL)
                counts["children killed"] += 1
            else:
                continue
            storm.end(proc)
            del running[i]
        time.sleep(0.01)

    guarded: set[str] = set()
    kept: dict[str, Any] = {}
    for i in range(CHILDREN):
        for line in read_json_lines(storm.logs / f"child{i:02d}.log"):
            if "g" in line:
                guarded.add(line["g"])
            else:
                kept[line["k"]] = line["snap"]
    return guarded, kept


def sweeper_reports(storm: Storm, counts: Counter[str]) -> list[str]:
    """Checks every report of the five sweepers; returns every path they removed."""
    removed: list[str] = []
    for n in range(SWEEPERS_API + SWEEPERS_CLI):
        reports = read_json_lines(storm.logs / f"sweeper{n}.log")
        if not reports:
            storm.problem(f"sweeper {n} completed no sweep during the storm")
        counts["sweeps during the storm"] += len(reports)
        for report in reports:
            if report.get("returncode", 0) != 0 or "paths" not in report:
                storm.problem(f"sweeper {n}: ferrotemp sweep failed: {report}")
                continue
            for path, message in report["errors"]:
                storm.problem(f"sweeper {n} reported an error: {path}: {message}")
            removed.extend(report["paths"])
    return removed


def check_removed(storm: Storm, who: str, paths: list[str]) -> None:
    for path in paths:
        if not os.path.basename(path).startswith("dead"):
            storm.problem(f"{who} removed {path}, which is not a killed process's entry")
    for path, times in Counter(paths).items():
        if times > 1:
            storm.problem(f"{who}: {path} reported removed {times} times")


def storm_in(parent: str, seed: int, env: dict[str, str]) -> None:
    base = Path(tempfile.mkdtemp(prefix="ferrotemp-storm-", dir=parent))
    storm = Storm(base, seed, env)
    counts: Counter[str] = Counter()
    try:
        run(storm, counts)
    finally:
        storm.kill_everything()
        shutil.rmtree(base, ignore_errors=True)
    print(
        f"storm in {parent} {env}, seed {seed}: " + ", ".join(f"{k} {v}" for k, v in counts.items())
    )
    assert not storm.problems, f"seed {seed} ({len(storm.problems)} problems):\n" + "\n".join(
        storm.problems[:60]
    )


def run(storm: Storm, counts: Counter[str]) -> None:
    tmp = str(storm.tmp)

    # What must never be touched, made by a ferrotemp process that is then killed.
    canary_maker = storm.spawn("canary-maker", err_name="canary.err")
    made = Lines(canary_maker.stdout, storm.logs / "canary.err").next()
    canaries: dict[str, dict[str, str]] = made["entries"]
    plain = storm.tmp / "canary_test"
    plain.write_bytes(b"made by the test")
    canaries[str(plain)] = snapshot_of(str(plain))

    live_procs = [
        storm.spawn(
            "live-owner",
            str(storm.seed * 1000 + 900 + n),
            str(storm.churn_stop),
            err_name=f"live{n}.err",
            stdin=True,
        )
        for n in range(LIVE_OWNERS)
    ]
    exec_proc = storm.spawn("exec-launcher", err_name="exec.err", stdin=True)
    reaper = storm.spawn("orphan-reaper", err_name="orphan.err", stdin=True)

    live: dict[str, dict[str, str]] = {}
    live_lines = [Lines(p.stdout, storm.logs / f"live{n}.err") for n, p in enumerate(live_procs)]
    for lines in live_lines:
        live.update(lines.next()["entries"])
    exec_lines = Lines(exec_proc.stdout, storm.logs / "exec.err")
    exec_ready = exec_lines.next()
    if exec_ready["pid"] != exec_proc.pid:
        storm.problem(f"the exec'd program runs as {exec_ready['pid']}, not {exec_proc.pid}")
    exec_entries: dict[str, dict[str, str]] = exec_ready["entries"]
    orphan_lines = Lines(reaper.stdout, storm.logs / "orphan.err")
    first, second = orphan_lines.next(), orphan_lines.next()
    parent = first if first["role"] == "parent" else second
    storm.stray_pids += [parent["pid"], parent["reader"]]
    orphan_entries: dict[str, dict[str, str]] = parent["entries"]

    # The owners of the canaries' record and of the reader's file die first.
    canary_maker.send_signal(signal.SIGKILL)
    storm.end(canary_maker)
    os.kill(parent["pid"], signal.SIGKILL)

    sweepers = [
        storm.spawn(
            "api-sweeper" if n < SWEEPERS_API else "cli-sweeper",
            str(storm.logs / f"sweeper{n}.log"),
            str(storm.stop),
            err_name=f"sweeper{n}.err",
        )
        for n in range(SWEEPERS_API + SWEEPERS_CLI)
    ]

    guarded, kept = run_storm_children(storm, counts)
    guarded.add(made["guarded"])

    storm.stop.touch()
    storm.churn_stop.touch()
    for n, proc in enumerate(sweepers):
        if proc.wait(timeout=WAIT * 2) != 0:
            storm.problem(f"sweeper {n} failed: {storm.stderr_tail(f'sweeper{n}.err')}")
        storm.end(proc)
    for lines in live_lines:
        counts["live owners' create/remove cycles"] += lines.next()["churned"]

    removed = sweeper_reports(storm, counts)
    check_removed(storm, "the sweepers", removed)

    # Every killed child is reaped: one sweep now must leave no dead entry.
    final = ferrotemp.sweep(tmp)
    if not final.complete or final.errors:
        storm.problem(f"final sweep: complete={final.complete}, errors={final.errors}")
    check_removed(storm, "the final sweep", list(final.paths))
    removed += final.paths
    counts["guarded entries logged by killed children"] = len(guarded)
    counts["entries removed by sweeps"] = len(removed)
    counts["removed by the final sweep"] = final.entries

    # Nothing is left but canaries, live entries and the registry.
    in_use = {**live, **exec_entries, **orphan_entries}
    allowed = set(canaries) | set(kept) | set(in_use) | {str(storm.registry)}
    reported: set[str] = set()
    probes: set[str] = set()
    for name in sorted(os.listdir(tmp)):
        path = os.path.join(tmp, name)
        if path in allowed:
            continue
        if name.startswith("dead"):
            logged = path in guarded
            counts["dead entries left, logged" if logged else "dead entries left, unlogged"] += 1
            why = "logged" if logged else "not logged: made just before a kill, issue 19 item 2"
            storm.problem(f"dead entry left ({why}): {path}")
            reported.add(path)
        elif KEEP_NAME.match(name):
            counts["unlogged canaries of killed children"] += 1
        elif is_discovery_probe(path):
            counts["temp-dir discovery probes left by killed children"] += 1
            probes.add(path)
        else:
            storm.problem(f"unexpected entry: {path}")
    # Guarded entries made inside the killed children's own (kept) directories.
    for name in sorted(os.listdir(tmp)):
        if KEEP_NAME.match(name) and os.path.isdir(os.path.join(tmp, name)):
            for inner in sorted(os.listdir(os.path.join(tmp, name))):
                if inner.startswith("dead"):
                    path = os.path.join(tmp, name, inner)
                    said = "logged" if path in guarded else "not logged"
                    counts[f"dead entries left in kept directories, {said}"] += 1
                    storm.problem(f"dead entry left in a kept directory ({said}): {path}")
    intact = compare(storm, "canary", canaries) + compare(storm, "kept entry", kept)
    intact += compare(storm, "live owner's entry", live)
    intact += compare(
        storm, "exec'd owner's entry (issue 12 item 2)", exec_entries, ignore="heartbeat"
    )
    intact += compare(storm, "orphaned reader's file (issue 12 item 3)", orphan_entries)
    counts["entries checked intact"] = intact

    # The users end. The live owners remove their entries themselves; the exec'd program and the
    # orphaned reader do not (the standard module would not either), so those entries are now
    # a dead process's: one sweep removes exactly them.
    for n, proc in enumerate(live_procs):
        assert proc.stdin is not None
        proc.stdin.close()
        if proc.wait(timeout=WAIT) != 0:
            storm.problem(f"live owner {n} failed: {storm.stderr_tail(f'live{n}.err')}")
    for path in live:
        if os.path.lexists(path):
            storm.problem(f"a live owner's entry outlived its normal removal: {path}")
    assert exec_proc.stdin is not None
    exec_proc.stdin.close()
    exec_report = exec_lines.next()
    if exec_report["problems"] or exec_proc.wait(timeout=WAIT) != 0:
        storm.problem(
            f"the exec'd program lost its entries (issue 12 item 2): {exec_report['problems']}"
        )
    assert reaper.stdin is not None
    reaper.stdin.close()
    reader_report = orphan_lines.next()
    if reader_report["problems"] or reaper.wait(timeout=WAIT) != 0:
        storm.problem(
            f"the orphaned reader lost its file (issue 12 item 3): {reader_report['problems']}"
        )
    counts["exec'd program checks"] = exec_report["checks"]
    counts["orphaned reader checks"] = reader_report["checks"]

    after = ferrotemp.sweep(tmp)
    if set(after.paths) != set(exec_entries) | set(orphan_entries) or after.errors:
        storm.problem(
            "after their users ended, one sweep should remove exactly the exec'd owner's and the "
            f"orphaned file: removed {sorted(after.paths)}, errors {after.errors}"
        )
    left = {os.path.join(tmp, name) for name in os.listdir(tmp)}
    for path in sorted(
        left - set(canaries) - set(kept) - {str(storm.registry)} - reported - probes
    ):
        if not KEEP_NAME.match(os.path.basename(path)):
            storm.problem(f"left after every process ended: {path}")
    compare(storm, "canary at the end", canaries)
    compare(storm, "kept entry at the end", kept)
    records = sorted(os.listdir(storm.registry)) if storm.registry.is_dir() else []
    # A record still being created (`.new`) when its creator was killed holds no entry; it is
    # left for a minute in case its creator is merely slow.
    counts["unfinished records left"] = sum(r.endswith(".new") for r in records)
    for record in records:
        if not record.endswith(".new"):
            storm.problem(f"record left after every process ended: {record}")


@pytest.mark.timeout(180)
@pytest.mark.parametrize(
    ("parent", "env"),
    [
        pytest.param("/tmp", {}, id="tmp-ext4"),
        pytest.param("/dev/shm", {}, id="shm-tmpfs"),
        # Records kept as on a filesystem without flock: liveness from the owner's pid and start
        # time, and sweepers kept apart by renaming a dead record to claim it.
        pytest.param("/dev/shm", {"FERROTEMP_GUARD_FLOCK": "0"}, id="shm-tmpfs-no-flock"),
    ],
)
def test_storm_of_killed_processes_and_sweepers_removes_every_dead_entry_and_nothing_else(
    parent: str, env: dict[str, str]
) -> None:
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK):
        pytest.skip(f"{parent} is not a writable directory here")
    seed = int(os.environ.get("FERROTEMP_STORM_SEED", "0")) or random.randrange(1, 2**31)
    print(f"FERROTEMP_STORM_SEED={seed}")
    storm_in(parent, seed, env)
