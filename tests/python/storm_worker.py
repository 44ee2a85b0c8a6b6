"""The processes of the crash-guard storm (``test_guard_storm.py``), one role per invocation:

    python storm_worker.py ROLE ARGS...

Every role that makes temp entries uses only ferrotemp's public API, in the temp dir its
environment names (``TMPDIR``, with ``FERROTEMP_GUARD_DIR`` inside it). Roles report on stdout,
one JSON object a line; a role that waits for the end waits for EOF on stdin. Entries are
named by prefix, so that what is left at the end can be judged by name:

- ``deadNN_`` / ``deadcm_``: guarded entries of a process that is killed (must all go);
- ``keepNN_`` / ``canary_``: what the guard must never touch (plain files, ``mkstemp``,
  ``mkdtemp``, ``delete=False`` files, hard links to guarded files);
- ``live_``, ``exec_``, ``orphan_``: guarded entries still in use by a live process.

``exec-target`` and ``orphan-reader`` stand for other programs: they never import ferrotemp.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import select
import subprocess
import sys
import time
from typing import Any, Callable, Optional, Union

WORKER = os.path.abspath(__file__)


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def snapshot_of(path: str) -> dict[str, str]:
    """A file's digest (key ``""``); for a directory, every entry under it by relative path:
    a file's digest, ``"dir"`` for a directory (key ending in ``/``), ``"other"`` else."""
    if not os.path.isdir(path) or os.path.islink(path):
        with open(path, "rb") as src:
            return {"": digest(src.read())}
    found: dict[str, str] = {}
    for top, dirs, files in os.walk(path):
        for name in dirs:
            found[os.path.relpath(os.path.join(top, name), path) + "/"] = "dir"
        for name in files:
            full = os.path.join(top, name)
            if os.path.isfile(full) and not os.path.islink(full):
                with open(full, "rb") as src:
                    found[os.path.relpath(full, path)] = digest(src.read())
            else:
                found[os.path.relpath(full, path)] = "other"
    return found


def say(**fields: Any) -> None:
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def write_file(path: str, data: bytes) -> None:
    with open(path, "wb") as out:
        out.write(data)


def stdin_closed(timeout: float) -> bool:
    """Whether stdin reached EOF, waiting up to ``timeout`` seconds."""
    ready, _, _ = select.select([0], [], [], timeout)
    return bool(ready) and os.read(0, 4096) == b""


def wait_for_stdin_eof() -> None:
    while not stdin_closed(3600):
        pass


# --- the killed children -------------------------------------------------------------------


class Held:
    """A guarded entry a storm child keeps open, with the guarded entries made inside it."""

    def __init__(self, obj: Any, is_dir: bool) -> None:
        self.obj = obj
        self.is_dir = is_dir
        self.inner: list[Held] = []

    def path(self) -> str:
        return str(self.obj.name)

    def close(self) -> None:
        for held in reversed(self.inner):
            held.close()
        self.inner.clear()
        if self.is_dir:
            self.obj.cleanup()
        else:
            self.obj.close()


def storm_child(index: int, seed: int, log_path: str) -> None:
    """Creates and removes guarded entries in a tight loop until SIGKILLed, logging each
    guarded entry after it is made (``{"g": path}``) and each entry the guard must never touch
    after its content is final (``{"k": path, "snap": ...}``)."""
    import ferrotemp

    rng = random.Random(seed)
    dead = f"dead{index:02d}_"
    keep = f"keep{index:02d}_"
    tmp = ferrotemp.gettempdir()
    log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)

    def note(**fields: Any) -> None:
        os.write(log, (json.dumps(fields) + "\n").encode())

    def payload() -> bytes:
        return rng.randbytes(rng.randrange(0, 3000))

    held: list[Held] = []
    links = 0

    def new_file(where: Optional[str] = None) -> Held:
        f = ferrotemp.NamedTemporaryFile(prefix=dead, dir=where)
        note(g=f.name)
        f.write(payload())
        f.flush()
        return Held(f, False)

    def new_dir(where: Optional[str] = None) -> Held:
        d = ferrotemp.TemporaryDirectory(prefix=dead, dir=where)
        note(g=d.name)
        for n in range(rng.randrange(1, 4)):
            write_file(os.path.join(d.name, f"payload{n}"), payload())
        if rng.random() < 0.5:
            os.mkdir(os.path.join(d.name, "sub"))
            write_file(os.path.join(d.name, "sub", "payload"), payload())
        return Held(d, True)

    def nested() -> None:
        outers = [h for h in held if h.is_dir]
        if not outers:
            held.append(new_dir())
            return
        outer = rng.choice(outers)
        make = new_dir if rng.random() < 0.5 else new_file
        outer.inner.append(make(outer.path()))

    def round_trip() -> None:
        choice = rng.random()
        if choice < 0.4:
            with ferrotemp.NamedTemporaryFile(prefix=dead) as f:
                note(g=f.name)
                f.write(payload())
        elif choice < 0.7:
            with ferrotemp.NamedTemporaryFile(prefix=dead, delete_on_close=False) as f:
                note(g=f.name)
                f.write(payload())
                f.close()
                with open(f.name, "rb") as again:
                    again.read()
        else:
            with ferrotemp.TemporaryDirectory(prefix=dead) as d:
                note(g=d)
                write_file(os.path.join(d, "payload"), payload())

    def keeper() -> None:
        nonlocal links
        data = payload()
        choice = rng.random()
        if choice < 0.25:
            fd, path = ferrotemp.mkstemp(prefix=keep)
            os.write(fd, data)
            os.close(fd)
            note(k=path, snap={"": digest(data)})
        elif choice < 0.5:
            with ferrotemp.NamedTemporaryFile(prefix=keep, delete=False) as f:
                f.write(data)
            note(k=f.name, snap={"": digest(data)})
        elif choice < 0.75:
            # The caller's own directory, with a guarded file inside it: the sweep takes that
            # file and nothing else.
            path = ferrotemp.mkdtemp(prefix=keep)
            write_file(os.path.join(path, "content"), data)
            note(k=path, snap={"content": digest(data)})
            held.append(new_file(path))
        else:
            # A guarded file published under a second name: only the guarded name may go.
            f = ferrotemp.NamedTemporaryFile(prefix=dead)
            note(g=f.name)
            f.write(data)
            f.flush()
            links += 1
            link = os.path.join(tmp, f"{keep}link{links}")
            os.link(f.name, link)
            note(k=link, snap={"": digest(data)})
            held.append(Held(f, False))

    def close_one() -> None:
        if held:
            held.pop(rng.randrange(len(held))).close()

    actions: list[tuple[float, Callable[[], None]]] = [
        (0.25, lambda: held.append(new_file())),
        (0.20, lambda: held.append(new_dir())),
        (0.15, nested),
        (0.20, round_trip),
        (0.12, close_one),
        (0.08, keeper),
    ]
    say(go=os.getpid())
    while True:
        pick = rng.random()
        for weight, action in actions:
            pick -= weight
            if pick < 0:
                action()
                break
        while len(held) > 12:
            held.pop(0).close()


# --- sweepers ------------------------------------------------------------------------------


def api_sweeper(log_path: str, stop: str) -> None:
    """``ferrotemp.sweep()`` in a loop until ``stop`` exists; one JSON line per sweep."""
    import dataclasses

    import ferrotemp

    with open(log_path, "a") as log:
        while not os.path.exists(stop):
            report = ferrotemp.sweep()
            log.write(json.dumps(dataclasses.asdict(report)) + "\n")
            log.flush()
            time.sleep(0.02)


def cli_sweeper(log_path: str, stop: str) -> None:
    """``ferrotemp sweep --json`` in a loop until ``stop`` exists; one JSON line per run,
    with the exit status and any stderr."""
    with open(log_path, "a") as log:
        while not os.path.exists(stop):
            done = subprocess.run(
                [sys.executable, "-m", "ferrotemp", "sweep", "--json"],
                capture_output=True,
                text=True,
                check=False,
            )
            try:
                report = json.loads(done.stdout)
            except ValueError:
                report = {}
            report["returncode"] = done.returncode
            report["stderr"] = done.stderr
            log.write(json.dumps(report) + "\n")
            log.flush()


# --- live owners ---------------------------------------------------------------------------


def live_owner(seed: int, churn_stop: str) -> None:
    """Holds a guarded file and a guarded directory (with a nested one) through the storm while
    its record changes: guarded entries come and go until ``churn_stop`` exists. Exits normally
    at EOF on stdin."""
    import ferrotemp

    rng = random.Random(seed)
    data = rng.randbytes(1000)
    f = ferrotemp.NamedTemporaryFile(prefix="live_")
    f.write(data)
    f.flush()
    d = ferrotemp.TemporaryDirectory(prefix="live_")
    write_file(os.path.join(d.name, "content"), data)
    inner = ferrotemp.TemporaryDirectory(prefix="live_", dir=d.name)
    write_file(os.path.join(inner.name, "content"), data)
    say(pid=os.getpid(), entries={f.name: snapshot_of(f.name), d.name: snapshot_of(d.name)})
    churned = 0
    while not os.path.exists(churn_stop):
        if rng.random() < 0.5:
            with ferrotemp.NamedTemporaryFile(prefix="live_"):
                pass
        else:
            with ferrotemp.TemporaryDirectory(prefix="live_"):
                pass
        churned += 1
        time.sleep(0.005)
    say(churned=churned)
    wait_for_stdin_eof()
    inner.cleanup()
    d.cleanup()
    f.close()


# --- an owner that execs -------------------------------------------------------------------


def exec_launcher() -> None:
    """Makes a guarded directory and file, then replaces itself (same pid) with a program that
    uses them: the standard module would never remove them while that program runs."""
    import ferrotemp

    data = os.urandom(64)
    d = ferrotemp.TemporaryDirectory(prefix="exec_")
    write_file(os.path.join(d.name, "data"), data)
    f = ferrotemp.NamedTemporaryFile(prefix="exec_")
    f.write(data)
    f.flush()
    sys.stdout.flush()
    os.execv(sys.executable, [sys.executable, WORKER, "exec-target", d.name, f.name, data.hex()])


def check_content(path: str, data: bytes) -> Optional[str]:
    try:
        with open(path, "rb") as src:
            got = src.read()
    except OSError as err:
        return f"{path}: {err}"
    return None if got == data else f"{path}: content changed"


def exec_target(dir_path: str, file_path: str, hex_data: str) -> None:
    """The exec'd program: reads the directory's file and the file by name, and writes a
    heartbeat into the directory, every 20 ms until EOF on stdin; then reports."""
    data = bytes.fromhex(hex_data)
    # What the launcher made; not read back here: on a guard that lets a sweeper take an
    # exec'd process's entries they may be gone already.
    say(pid=os.getpid(), entries={file_path: {"": digest(data)}, dir_path: {"data": digest(data)}})
    checks = 0
    problems: list[str] = []
    while not stdin_closed(0.02):
        checks += 1
        for problem in (
            check_content(file_path, data),
            check_content(os.path.join(dir_path, "data"), data),
        ):
            if problem is not None and len(problems) < 5:
                problems.append(problem)
        try:
            write_file(os.path.join(dir_path, "heartbeat"), str(checks).encode())
        except OSError as err:
            if len(problems) < 5:
                problems.append(f"heartbeat: {err}")
    say(checks=checks, problems=problems)


# --- a child that outlives its killed parent -----------------------------------------------


def orphan_reaper() -> None:
    """A subreaper above ``orphan-parent``: when the test kills the parent, the reader it
    started is reparented here (not to an init that may never reap it), and reaped."""
    import ctypes

    pr_set_child_subreaper = 36
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(pr_set_child_subreaper, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")
    _parent = subprocess.Popen([sys.executable, WORKER, "orphan-parent"])
    while True:
        try:
            os.wait()
        except ChildProcessError:
            return


def orphan_parent() -> None:
    """Makes a guarded file, starts a reader on it by name, and waits to be killed."""
    import ferrotemp

    data = os.urandom(64)
    f = ferrotemp.NamedTemporaryFile(prefix="orphan_")
    f.write(data)
    f.flush()
    reader = subprocess.Popen([sys.executable, WORKER, "orphan-reader", f.name, data.hex()])
    say(role="parent", pid=os.getpid(), reader=reader.pid, entries={f.name: {"": digest(data)}})
    time.sleep(3600)


def orphan_reader(path: str, hex_data: str) -> None:
    """Holds the file open and reads it by name every 20 ms until EOF on stdin; then reports."""
    data = bytes.fromhex(hex_data)
    with open(path, "rb") as held:
        say(role="reader", pid=os.getpid())
        checks = 0
        problems: list[str] = []
        while not stdin_closed(0.02):
            checks += 1
            problem = check_content(path, data)
            if problem is None and os.pread(held.fileno(), len(data) + 1, 0) != data:
                problem = "held descriptor: content changed"
            if problem is not None and len(problems) < 5:
                problems.append(problem)
    say(role="reader", checks=checks, problems=problems)


# --- canaries from a process that is then killed -------------------------------------------


def canary_maker() -> None:
    """Makes every kind of entry the guard must never touch, plus one guarded file so that it
    has a record, reports them, and waits to be SIGKILLed."""
    import tempfile

    import ferrotemp

    tmp = ferrotemp.gettempdir()
    made: list[str] = []
    plain = os.path.join(tmp, "canary_plain")
    write_file(plain, b"plain open")
    made.append(plain)
    for module in (ferrotemp, tempfile):
        fd, path = module.mkstemp(prefix="canary_")
        os.write(fd, path.encode())
        os.close(fd)
        made.append(path)
        tree = module.mkdtemp(prefix="canary_")
        write_file(os.path.join(tree, "content"), tree.encode())
        os.mkdir(os.path.join(tree, "sub"))
        write_file(os.path.join(tree, "sub", "content"), b"nested")
        made.append(tree)
    with ferrotemp.NamedTemporaryFile(prefix="canary_", delete=False) as kept:
        kept.write(b"delete=False")
    made.append(kept.name)
    guarded = ferrotemp.NamedTemporaryFile(prefix="deadcm_")
    guarded.write(b"guarded")
    guarded.flush()
    entries: dict[str, dict[str, str]] = {p: snapshot_of(p) for p in made}
    say(pid=os.getpid(), entries=entries, guarded=guarded.name)
    time.sleep(3600)


ROLES: dict[str, Callable[..., None]] = {
    "storm-child": lambda i, seed, log: storm_child(int(i), int(seed), log),
    "api-sweeper": api_sweeper,
    "cli-sweeper": cli_sweeper,
    "live-owner": lambda seed, stop: live_owner(int(seed), stop),
    "exec-launcher": exec_launcher,
    "exec-target": exec_target,
    "orphan-reaper": orphan_reaper,
    "orphan-parent": orphan_parent,
    "orphan-reader": orphan_reader,
    "canary-maker": canary_maker,
}


def main(argv: list[str]) -> None:
    role: Union[str, None] = argv[1] if len(argv) > 1 else None
    if role not in ROLES:
        raise SystemExit(f"usage: storm_worker.py {{{','.join(ROLES)}}} ARGS...")
    ROLES[role](*argv[2:])


if __name__ == "__main__":
    main(sys.argv)
