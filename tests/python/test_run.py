"""``ferrotemp run`` and ``ferrotemp.run`` with real commands, and ``FERROTEMP_GUARD=all``.

Each test makes a temp root holding the workspaces (``--dir``) and a registry of its own
(``FERROTEMP_GUARD_DIR`` inside the root, so ``ferrotemp.sweep(root)`` sweeps it); "nothing
left" means the root holds nothing but that registry, and the registry no record. Waits are
on events (a line on a pipe, a file appearing, a process ending), never on a fixed sleep.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any, Callable, NoReturn, Optional

import ferrotemp
import pytest
from _support import guard_env
from ferrotemp._ls import snapshot
from hypothesis import given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.skipif(
    sys.platform == "win32" or not hasattr(os, "posix_spawnp"), reason="POSIX-only"
)

REGISTRY_NAME = f"ferrotemp-guard-{os.geteuid()}" if hasattr(os, "geteuid") else ""
# The two ways to start ferrotemp run: the native command the wheel installs as its script
# (crates/ferrotemp-cli), and the Python package's CLI. Both end in the core's job.
NATIVE = Path(sys.executable).parent / "ferrotemp"
LAUNCHERS = {"native": [str(NATIVE)], "python": [sys.executable, "-m", "ferrotemp"]}
WAIT = 60.0  # the most any event is waited for (a loaded machine), then the test fails


def wait_for(what: str, done: Callable[[], bool]) -> None:
    """Polls ``done`` (a file appearing, a process gone) until it holds, failing after WAIT."""
    deadline = time.monotonic() + WAIT
    delay = 0.001
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


@pytest.fixture(params=sorted(LAUNCHERS))
def launcher(request: pytest.FixtureRequest) -> list[str]:
    """``ferrotemp`` as each launcher starts it; a wheel without the native one fails."""
    if request.param == "native" and not NATIVE.is_file():
        pytest.fail(f"the native ferrotemp command is not installed: {NATIVE}")
    return LAUNCHERS[request.param]


class Root:
    """A temp root for workspaces with its own registry; ``ferrotemp run`` started by
    ``launcher`` (the Python CLI's by default)."""

    def __init__(self, tmp_path: Path, launcher: Optional[list[str]] = None, **env: str) -> None:
        self.launcher = LAUNCHERS["python"] if launcher is None else launcher
        self.path = tmp_path / "root"
        self.path.mkdir()
        self.registry = self.path / REGISTRY_NAME
        self.env = guard_env(self.registry, **env)

    def leftovers(self) -> list[str]:
        return sorted(n for n in os.listdir(self.path) if n != REGISTRY_NAME)

    def records(self) -> list[str]:
        if not self.registry.exists():
            return []
        return sorted(n for n in os.listdir(self.registry) if n.endswith(".rec"))

    def assert_clean(self) -> None:
        assert self.leftovers() == []
        assert self.records() == []

    def argv(self, *options: str) -> list[str]:
        return [*self.launcher, "run", "--dir", str(self.path), *options]

    def run(self, cmd: list[str], *options: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.argv(*options), "--", *cmd],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=WAIT,
            **kw,
        )

    def popen(self, cmd: list[str], *options: str, **kw: Any) -> subprocess.Popen[str]:
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        return subprocess.Popen([*self.argv(*options), "--", *cmd], env=self.env, text=True, **kw)


def py(code: str, *args: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code), *args]


def state_of(pid: int) -> str:
    """The state letter of ``pid`` (``R``, ``S``, ``T``, ``Z``…), ``""`` once it is reaped."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return ""


def gone(pid: int) -> bool:
    """Whether ``pid`` has exited (a zombie counts: it holds no descriptor any more)."""
    return state_of(pid) in ("Z", "")


MAKES_ENTRIES = """
import json, os, signal, sys, tempfile
d = tempfile.mkdtemp()
fd, f = tempfile.mkstemp()
os.write(fd, b"x" * 5000)
with open(os.path.join(d, "inner"), "wb") as out:
    out.write(b"y" * 5000)
print(json.dumps({"tmpdir": tempfile.gettempdir(), "made": [d, f]}), flush=True)
if sys.argv[1] == "kill":
    os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.parametrize("how", ["exit", "kill"])
def test_a_python_program_leaves_nothing_exiting_or_killed(
    tmp_path: Path, launcher: list[str], how: str
) -> None:
    root = Root(tmp_path, launcher)
    done = root.run(py(MAKES_ENTRIES, how))
    assert done.returncode == (0 if how == "exit" else 128 + signal.SIGKILL), done.stderr
    seen = json.loads(done.stdout)
    # The command's temp dir was a workspace in the root, its entries inside it.
    workspace = Path(seen["tmpdir"])
    assert workspace.parent == root.path and workspace.name.startswith("python")
    assert all(Path(p).parent == workspace for p in seen["made"])
    root.assert_clean()


def test_a_shell_script_with_mktemp_leaves_nothing(tmp_path: Path, launcher: list[str]) -> None:
    root = Root(tmp_path, launcher)
    script = 'd=$(mktemp -d) && f=$(mktemp) && echo "$d $f $TMP $TEMP" && echo data > "$d/x"'
    done = root.run(["sh", "-c", script], "--name", "script")
    assert done.returncode == 0, done.stderr
    d, f, tmp, temp = done.stdout.split()
    workspace = Path(d).parent
    assert workspace.parent == root.path and workspace.name.startswith("script-")
    assert Path(f).parent == workspace and tmp == temp == str(workspace)
    root.assert_clean()


@pytest.mark.parametrize(
    ("script", "status"),
    [
        ("exit 0", 0),
        ("exit 3", 3),
        ("kill -TERM $$", 128 + signal.SIGTERM),
        ("kill -USR1 $$", 128 + signal.SIGUSR1),
        ("kill -KILL $$", 128 + signal.SIGKILL),
    ],
)
def test_exit_statuses_pass_through(
    tmp_path: Path, launcher: list[str], script: str, status: int
) -> None:
    root = Root(tmp_path, launcher)
    done = root.run(["sh", "-c", script])
    assert done.returncode == status, done.stderr
    assert done.stderr == ""
    root.assert_clean()


def run_importtime(
    root: Root, words: list[str]
) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """``ferrotemp run --dir ROOT WORDS...`` under ``python -X importtime``: the result and
    the names of the modules it imported."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *root.argv()[1:], *words],
        env=root.env,
        capture_output=True,
        text=True,
        timeout=WAIT,
    )
    imported = {
        line.rsplit("|", 1)[1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    return done, imported


@pytest.mark.parametrize(
    ("separator", "reader"), [(["--"], "plain"), ([], "argparse")], ids=["plain", "argparse"]
)
def test_both_readings_run_the_same_job(tmp_path: Path, separator: list[str], reader: str) -> None:
    # `-- sh -c ...` is read by the core's plain reading; `sh -c ...` (a word starting with
    # "-" and no "--" before it) by argparse. -X importtime shows which one read it.
    root = Root(tmp_path)
    script = 'echo "$TMPDIR" > "$TMPDIR/where"; exit 4'
    done, imported = run_importtime(
        root, ["--keep", "on-error", "--name", "job", *separator, "sh", "-c", script]
    )
    assert done.returncode == 4, done.stderr
    assert ("argparse" in imported) == (reader == "argparse")
    messages = [ln for ln in done.stderr.splitlines() if not ln.startswith("import time:")]
    (kept,) = root.leftovers()
    path = root.path / kept
    assert kept.startswith("job")
    assert messages == [f"ferrotemp run: kept {path}"]
    assert (path / "where").read_text() == f"{path}\n"
    ferrotemp._core.remove_tree(str(path))
    root.assert_clean()


@pytest.mark.parametrize(
    ("words", "handed"),
    [
        (["--keep", "on-error", "--name", "job", "--", "sh", "-c", "exit 4"], False),
        (["--keep", "on-error", "--name", "job", "sh", "-c", "exit 4"], True),
        (["--keep=on-error", "--na", "job", "--", "sh", "-c", "exit 4"], True),
    ],
    ids=["plain", "dash-word", "abbreviation"],
)
def test_the_native_command_hands_to_python_only_what_it_does_not_read(
    tmp_path: Path, words: list[str], handed: bool
) -> None:
    # FERROTEMP_PYTHON names the interpreter the native command hands other lines to: here
    # a wrapper that notes each start. The same job either way.
    root = Root(tmp_path, LAUNCHERS["native"])
    log = tmp_path / "handed"
    wrapper = tmp_path / "python-wrapper"
    note, python = shlex.quote(str(log)), shlex.quote(sys.executable)
    wrapper.write_text(f'#!/bin/sh\necho "$@" >> {note}\nexec {python} "$@"\n')
    wrapper.chmod(0o755)
    root.env["FERROTEMP_PYTHON"] = str(wrapper)
    done = subprocess.run(
        [*root.argv(), *words], env=root.env, capture_output=True, text=True, timeout=WAIT
    )
    assert done.returncode == 4, done.stderr
    (kept,) = root.leftovers()
    assert kept.startswith("job-")
    assert done.stderr == f"ferrotemp run: kept {root.path / kept}\n"
    assert log.exists() == handed
    if handed:
        assert log.read_text().startswith("-c ") and " run --dir " in log.read_text()
    ferrotemp._core.remove_tree(str(root.path / kept))
    root.assert_clean()


def test_the_native_command_hands_other_commands_to_python(tmp_path: Path) -> None:
    env = dict(os.environ, FERROTEMP_PYTHON=sys.executable)
    native = subprocess.run(
        [str(NATIVE), "--version"], env=env, capture_output=True, text=True, timeout=WAIT
    )
    python = subprocess.run(
        [sys.executable, "-m", "ferrotemp", "--version"], capture_output=True, text=True
    )
    assert native.returncode == python.returncode == 0
    assert native.stdout == python.stdout and native.stdout.startswith("ferrotemp ")
    env["FERROTEMP_PYTHON"] = str(tmp_path / "no-such-python")
    missing = subprocess.run(
        [str(NATIVE), "info"], env=env, capture_output=True, text=True, timeout=WAIT
    )
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1
    assert missing.stderr.startswith("ferrotemp: error: cannot start the Python command line")


@pytest.mark.parametrize("python", ["beside", "FERROTEMP_PYTHON", "PYTHONSAFEPATH"])
def test_the_native_command_never_runs_a_ferrotemp_package_from_the_current_directory(
    tmp_path: Path, python: str
) -> None:
    # `python -m ferrotemp` would import ./ferrotemp first: the hand-over must not.
    (tmp_path / "ferrotemp").mkdir()
    (tmp_path / "ferrotemp" / "__init__.py").write_text("")
    (tmp_path / "ferrotemp" / "__main__.py").write_text("print('HIJACKED')\n")
    env = {k: v for k, v in os.environ.items() if k != "FERROTEMP_PYTHON"}
    if python == "FERROTEMP_PYTHON":
        env["FERROTEMP_PYTHON"] = sys.executable
    if python == "PYTHONSAFEPATH":
        # 3.11+: -c puts no '' first, and nothing may be taken off: here the first entry is
        # what finds ferrotemp (the base interpreter, with this venv's packages on PYTHONPATH).
        import sysconfig

        env["FERROTEMP_PYTHON"] = getattr(sys, "_base_executable", sys.executable)
        env["PYTHONPATH"] = sysconfig.get_paths()["purelib"]
        env["PYTHONSAFEPATH"] = "1"
    done = subprocess.run(
        [str(NATIVE), "--version"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=WAIT,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ferrotemp ") and "HIJACKED" not in done.stdout


def test_a_caller_ignoring_sigchld_gets_the_status_and_no_hang(
    tmp_path: Path, launcher: list[str]
) -> None:
    # An ignored SIGCHLD survives exec: the kernel would reap the command itself, send no
    # SIGCHLD, and the status would be lost. ferrotemp run undoes it, for itself and CMD.
    root = Root(tmp_path, launcher)
    code = """
    import signal, sys, time
    time.sleep(0.2)
    print(signal.getsignal(signal.SIGCHLD) == signal.SIG_DFL)
    sys.exit(3)
    """
    done = root.run(py(code), preexec_fn=lambda: signal.signal(signal.SIGCHLD, signal.SIG_IGN))
    assert done.returncode == 3, done.stderr
    assert done.stdout == "True\n"  # SIGCHLD at its default in CMD too
    root.assert_clean()


def test_a_guard_that_cannot_record_says_so_once_and_the_job_runs(
    tmp_path: Path, launcher: list[str]
) -> None:
    root = Root(tmp_path, launcher)
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    root.env["FERROTEMP_GUARD_DIR"] = str(blocker / "registry")
    done = root.run(["sh", "-c", 'test -d "$TMPDIR" && exit 3'])
    assert done.returncode == 3
    (line,) = done.stderr.splitlines()
    assert line.startswith("ferrotemp run: warning: crash guard ") and str(blocker) in line
    assert root.leftovers() == []


def test_a_command_not_found_is_127_and_leaves_nothing(tmp_path: Path, launcher: list[str]) -> None:
    root = Root(tmp_path, launcher)
    done = root.run(["ferrotemp-no-such-command"])
    assert done.returncode == 127
    assert done.stderr.count("\n") == 1 and "ferrotemp-no-such-command" in done.stderr
    root.assert_clean()


@pytest.mark.parametrize(
    "options",
    [
        [],
        ["--max-bytes", "12 parsecs", "--", "true"],
        ["--keep", "maybe", "--", "true"],
        ["--kill-on-quota", "--", "true"],
        ["--dir", "/nonexistent-ferrotemp", "--", "true"],
    ],
)
def test_bad_input_is_one_line_and_status_2(
    tmp_path: Path, launcher: list[str], options: list[str]
) -> None:
    root = Root(tmp_path, launcher)
    done = subprocess.run(
        [*launcher, "run", *options],
        env=root.env,
        capture_output=True,
        text=True,
        timeout=WAIT,
    )
    assert done.returncode == 2
    assert len([ln for ln in done.stderr.splitlines() if "error:" in ln]) == 1
    assert done.stderr.startswith("ferrotemp run: error: ")
    assert "Traceback" not in done.stderr
    assert root.leftovers() == []


def argparse_reading(words: list[str]) -> Optional[tuple[Any, ...]]:
    """What the full parser (``ferrotemp run``'s argparse parser, as ``_cli`` builds it)
    makes of ``words`` after ``run``, as ``run_cli`` reads it; None for a usage error."""
    from ferrotemp import _cli, _run

    parser = _cli._Parser(prog="ferrotemp")
    commands = parser.add_subparsers(dest="command")
    _run.add_parser(commands)
    errors: list[str] = []

    def error(message: str) -> NoReturn:
        errors.append(message)
        raise SystemExit(2)

    commands.choices["run"].error = error  # type: ignore[method-assign]
    try:
        args = parser.parse_args(["run", *words])
    except SystemExit:
        return None
    cmd = list(args.cmd)
    if cmd[:1] == ["--"]:
        del cmd[0]
    if not cmd or (args.kill_on_quota and args.max_bytes is None):
        return None
    return (args.dir, args.max_bytes, args.keep, args.name, args.kill_on_quota, cmd)


def plain_reading(words: list[str]) -> Optional[tuple[Any, ...]]:
    """What the core's plain reading (the native command's, and ``python -m ferrotemp``'s
    before argparse) makes of ``words``; None: left to argparse."""
    got = ferrotemp._core.parse_run_plain(words)
    if got is None:
        return None
    return (got.dir, got.max_bytes, got.keep, got.name, got.kill_on_quota, got.cmd)


@pytest.mark.parametrize(
    "words",
    [
        ["--", "true"],
        ["true", "x"],
        ["--dir", "d", "--", "sh", "-c", "exit 3"],
        ["--dir=d", "--name=", "--keep", "on-error", "make", "all"],
        ["--", "--", "x"],
        ["--", "--"],
        ["--", "true", "--k", "--dir", "-"],
        ["--max-bytes", "2GiB", "--kill-on-quota", "--", "cmd", "--", "x"],
        ["--max-bytes=500MB", "--max-bytes", "1", "--kill-on-quota", "cmd"],
        ["--name", "", "--dir", "", "--", "-x"],
        ["--keep", "always", "--keep=never", "cmd", "arg"],
        ["--name=-n", "cmd"],
    ],
)
def test_the_plain_reading_is_argparses(words: list[str]) -> None:
    # `ferrotemp run` reads its common command lines without argparse (its start is the
    # point): each of these is read alike by both.
    plain = plain_reading(words)
    assert plain is not None
    assert plain == argparse_reading(words)


@pytest.mark.parametrize(
    "words",
    [
        [],
        ["--"],
        ["--help", "--", "true"],
        ["-h", "true"],
        ["--di", "d", "true"],  # an abbreviation: argparse's
        ["--dir"],
        ["--dir", "-x", "true"],
        ["--max-bytes", "12 parsecs", "true"],
        ["--keep", "maybe", "true"],
        ["--kill-on-quota", "true"],
        ["--kill-on-quota=1", "--max-bytes", "1", "true"],
        ["--verbose", "true"],
        ["-1", "true"],
        # Words of the command starting with "-" and no "--" before it: argparse checks
        # them against the options (`--k` is ambiguous there, an error).
        ["true", "--dir", "x"],
        ["make", "-j2"],
        ["make", "--k"],
        ["true", "--k=1"],
        ["true", "--=x"],
        ["-", "arg"],
    ],
)
def test_the_plain_reading_leaves_the_rest_to_argparse(words: list[str]) -> None:
    assert plain_reading(words) is None


_WORDS = st.sampled_from(
    [
        "--",
        "-",
        "-x",
        "-h",
        "--help",
        "--dir",
        "--dir=a",
        "--max-bytes",
        "--max-bytes=1KiB",
        "--max-bytes=bad",
        "--keep",
        "--keep=on-error",
        "--keep=maybe",
        "never",
        "always",
        "on-error",
        "--name",
        "--name=",
        "--kill-on-quota",
        "--kill-on-quota=",
        "--di",
        "cmd",
        "arg",
        "--k",
        "--k=1",
        "--=x",
        "",
        "2GiB",
        "500MB",
        "-5",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_WORDS, max_size=8))
def test_the_plain_reading_never_differs_from_argparses(words: list[str]) -> None:
    plain = plain_reading(words)
    if plain is not None:
        assert plain == argparse_reading(words)


def test_run_starts_without_argparse_typing_or_re(tmp_path: Path) -> None:
    # What `python -X importtime` shows ferrotemp run importing: none of the modules that
    # made most of its start (argparse pulls in re, enum, gettext, locale and shutil).
    root = Root(tmp_path)
    done, imported = run_importtime(root, ["--", "true"])
    assert done.returncode == 0, done.stderr
    assert "ferrotemp._run" in imported
    assert imported & {"argparse", "typing", "re", "enum", "shutil", "ferrotemp._cli"} == set()
    root.assert_clean()


def test_the_command_inherits_the_lease_and_no_other_descriptor(
    tmp_path: Path, launcher: list[str]
) -> None:
    root = Root(tmp_path, launcher)
    code = """
    import json, os
    fds = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            fds[name] = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            pass  # the listing's own descriptor, closed already
    print(json.dumps(fds))
    """
    done = root.run(py(code), stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    extra = {
        int(n): target
        for n, target in json.loads(done.stdout).items()
        if int(n) > 2 and not target.startswith("/proc/")
    }
    assert len(extra) == 1, extra
    (target,) = extra.values()
    assert Path(target).parent == root.registry and target.endswith(".rec")


LEASE_CMD = """
import json, os, sys, tempfile, time
os.mkdir(os.path.join(tempfile.gettempdir(), "work"))
with open(sys.argv[1] + ".tmp", "w") as out:
    json.dump({"pid": os.getpid(), "tmpdir": tempfile.gettempdir()}, out)
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
while not os.path.exists(sys.argv[2]):
    time.sleep(0.01)
"""


def test_killing_ferrotemp_run_leaves_the_workspace_to_the_command_then_a_sweep(
    tmp_path: Path,
    launcher: list[str],
) -> None:
    root = Root(tmp_path, launcher)
    ready, release = tmp_path / "ready", tmp_path / "release"
    runner = root.popen(py(LEASE_CMD, str(ready), str(release)))
    try:
        wait_for("the command to start", ready.exists)
        seen = json.loads(ready.read_text())
        workspace = Path(seen["tmpdir"])
        (job,) = [e for p in snapshot(str(root.path))["processes"] for e in p["entries"]]
        assert job["path"] == str(workspace) and job["files"] == 0 and job["dirs"] == 1
        command = shlex.join(py(LEASE_CMD, str(ready), str(release)))
        assert job["workspace"] == {
            "name": os.path.basename(sys.executable),
            "max_bytes": None,
            "max_files": None,
            "command": command,
        }
        runner.send_signal(signal.SIGKILL)
        runner.wait(timeout=WAIT)
        assert not gone(seen["pid"])
        # ferrotemp ls still shows the job, alive (held by its command), with its command.
        (proc,) = snapshot(str(root.path))["processes"]
        assert proc["status"] == "alive" and proc["command"] is None
        assert proc["entries"][0]["workspace"]["command"] == command
        # ferrotemp run is dead, its command alive: the record is held by the lease.
        report = ferrotemp.sweep(root.path)
        assert report.entries == 0 and report.records_live == 1
        assert (workspace / "work").is_dir()
        release.touch()
        wait_for("the command to exit", lambda: gone(seen["pid"]))
        report = ferrotemp.sweep(root.path)
        assert list(report.paths) == [str(workspace)]
        root.assert_clean()
    finally:
        release.touch()
        if runner.poll() is None:
            runner.kill()
        runner.communicate(timeout=WAIT)


def test_without_flock_no_lease_is_given(tmp_path: Path, launcher: list[str]) -> None:
    # Records kept without flock give no lease (documented: the workspace is then judged by
    # ferrotemp run's own pid); the command starts all the same, with no extra descriptor.
    root = Root(tmp_path, launcher, FERROTEMP_GUARD_FLOCK="0")
    code = "import os; print(len([n for n in os.listdir('/proc/self/fd') if int(n) > 2]))"
    done = root.run(py(code), stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1"  # the listing's own descriptor
    root.assert_clean()


def test_keep_on_error_keeps_a_failed_job_and_says_where(
    tmp_path: Path, launcher: list[str]
) -> None:
    root = Root(tmp_path, launcher)
    failed = root.run(["sh", "-c", 'echo out > "$TMPDIR/result"; exit 5'], "--keep", "on-error")
    assert failed.returncode == 5
    (kept,) = root.leftovers()
    path = root.path / kept
    assert failed.stderr == f"ferrotemp run: kept {path}\n"
    assert (path / "result").read_text() == "out\n"
    # Kept means unrecorded: a sweep leaves it.
    assert ferrotemp.sweep(root.path).entries == 0 and path.exists()
    ferrotemp._core.remove_tree(str(path))
    ok = root.run(["sh", "-c", 'echo out > "$TMPDIR/result"'], "--keep", "on-error")
    assert ok.returncode == 0 and ok.stderr == ""
    root.assert_clean()


def test_ferrotemp_keep_sets_the_default_and_keep_never_overrides_it(
    tmp_path: Path, launcher: list[str]
) -> None:
    root = Root(tmp_path, launcher, FERROTEMP_KEEP="on-error")
    kept = root.run(["sh", "-c", "exit 1"])
    assert kept.returncode == 1
    (name,) = root.leftovers()
    assert kept.stderr == f"ferrotemp run: kept {root.path / name}\n"
    ferrotemp._core.remove_tree(str(root.path / name))
    removed = root.run(["sh", "-c", "exit 1"], "--keep", "never")
    assert removed.returncode == 1 and removed.stderr == ""
    root.assert_clean()


QUOTA_CMD = """
import os, signal, sys, tempfile, time
if sys.argv[1] == "stubborn":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
with open(os.path.join(tempfile.gettempdir(), "big"), "wb") as out:
    out.write(os.urandom(1 << 20))
    out.flush()
    os.fsync(out.fileno())
while not os.path.exists(sys.argv[2]):
    time.sleep(0.01)
"""


def test_max_bytes_reports_one_line_and_lets_the_command_run(
    tmp_path: Path, launcher: list[str]
) -> None:
    root = Root(tmp_path, launcher)
    release = tmp_path / "release"
    runner = root.popen(py(QUOTA_CMD, "plain", str(release)), "--max-bytes", "64KiB")
    assert runner.stderr is not None
    line = runner.stderr.readline()
    assert "over --max-bytes 64.0 KiB" in line and str(root.path) in line
    release.touch()
    out, err = runner.communicate(timeout=WAIT)
    assert runner.returncode == 0 and err == ""
    root.assert_clean()


def test_max_bytes_counts_the_content_not_the_workspace_directory(
    tmp_path: Path, launcher: list[str]
) -> None:
    root = Root(tmp_path, launcher)
    empty = root.run(["sh", "-c", "sleep 0.6"], "--max-bytes", "1")
    assert empty.returncode == 0 and empty.stderr == ""
    full = root.run(["sh", "-c", 'echo x > "$TMPDIR/f"; sync; sleep 0.6'], "--max-bytes", "1")
    # What is reported is what was compared: the file's blocks, not the directory's too.
    probe = tmp_path / "probe"
    probe.write_text("x\n")
    os.sync()
    blocks = os.stat(probe).st_blocks * 512
    held = f"{blocks / 1024:.1f} KiB" if blocks >= 1024 else f"{blocks} B"
    assert full.returncode == 0 and f"holds {held}, over --max-bytes 1 B" in full.stderr
    root.assert_clean()


def test_kill_on_quota_stops_the_command(tmp_path: Path, launcher: list[str]) -> None:
    root = Root(tmp_path, launcher)
    release = tmp_path / "never"
    done = root.run(py(QUOTA_CMD, "plain", str(release)), "--max-bytes", "64KiB", "--kill-on-quota")
    assert done.returncode == 128 + signal.SIGTERM
    assert done.stderr.count("\n") == 1 and "stopping" in done.stderr
    root.assert_clean()


def test_kill_on_quota_kills_a_command_deaf_to_sigterm_after_the_grace(tmp_path: Path) -> None:
    root = Root(tmp_path)
    env = guard_env(root.registry)
    code = f"""
    import ferrotemp, sys
    cmd = {py(QUOTA_CMD, "stubborn", str(tmp_path / "never"))!r}
    r = ferrotemp.run(cmd, dir={str(root.path)!r}, max_bytes="64KiB", kill_on_quota=True,
                      grace=0.2, check_interval=0.05)
    print(r.returncode, r.over_quota, r.kept, r.usage.bytes >= 1 << 20)
    """
    done = subprocess.run(py(code), env=env, capture_output=True, text=True, timeout=WAIT)
    assert done.stdout.split() == [str(-signal.SIGKILL), "True", "False", "True"], done.stderr
    root.assert_clean()


def test_signals_sent_to_ferrotemp_run_are_passed_on(tmp_path: Path, launcher: list[str]) -> None:
    root = Root(tmp_path, launcher)
    code = """
    import os, signal, sys, time
    got = []
    signal.signal(signal.SIGUSR1, lambda *a: got.append("usr1"))
    signal.signal(signal.SIGTERM, lambda *a: got.append("term"))
    print("ready", flush=True)
    # Not signal.pause(): a signal handled between the check and the pause would leave it
    # waiting for a third that never comes.
    while len(got) < 2:
        time.sleep(0.005)
    print(" ".join(got), flush=True)
    sys.exit(7)
    """
    runner = root.popen(py(code))
    assert runner.stdout is not None
    assert runner.stdout.readline() == "ready\n"
    runner.send_signal(signal.SIGUSR1)
    runner.send_signal(signal.SIGTERM)
    try:
        out, err = runner.communicate(timeout=WAIT)
    finally:
        if runner.poll() is None:  # a hang fails this test alone, leaving no process behind
            runner.kill()
            runner.communicate()
    assert sorted(out.split()) == ["term", "usr1"] and runner.returncode == 7, err
    root.assert_clean()


CTRL_C_CMD = """
import os, signal, sys
# Every SIGINT is taken with its sender: the terminal's comes from the kernel (si_code
# SI_KERNEL); one passed on by ferrotemp run would be from its pid.
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGUSR1})
print("ready", flush=True)
senders = []
while True:
    info = signal.sigwaitinfo({signal.SIGINT, signal.SIGUSR1})
    if info.si_signo == signal.SIGUSR1:
        break
    senders.append(info.si_pid)
    if len(senders) == 1:
        # ferrotemp run is stopped: this waits, pending there after the terminal's SIGINT,
        # and comes back after any SIGINT it passes on (lower numbers go first).
        os.kill(os.getppid(), signal.SIGUSR1)
        print("got", flush=True)
sys.exit(10 * senders.count(os.getppid()) + len(senders))
"""


def test_ctrl_c_in_a_terminal_reaches_the_command_once(tmp_path: Path, launcher: list[str]) -> None:
    import pty
    import termios

    root = Root(tmp_path, launcher)
    master, slave = pty.openpty()
    tty_name = os.ttyname(slave)

    def take_terminal() -> None:  # in the child, after setsid: the pty becomes its terminal
        fd = os.open(tty_name, os.O_RDWR)
        os.close(fd)

    runner = subprocess.Popen(
        [*root.argv(), "--", *py(CTRL_C_CMD)],
        env=root.env,
        stdin=slave,
        stdout=slave,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=take_terminal,
        text=True,
    )
    os.close(slave)

    def read_until(word: bytes) -> None:
        seen = b""
        while word not in seen:
            chunk = os.read(master, 1024)
            assert chunk, f"the command ended before saying {word!r}"
            seen += chunk

    try:
        read_until(b"ready")
        assert termios.tcgetattr(master)[3] & termios.ISIG
        # ferrotemp run stopped, so that the command takes the terminal's SIGINT before
        # ferrotemp run could pass one on (two pending SIGINTs would merge into one).
        runner.send_signal(signal.SIGSTOP)
        wait_for("ferrotemp run to stop", lambda: state_of(runner.pid) == "T")
        os.write(master, b"\x03")
        read_until(b"got")
        runner.send_signal(signal.SIGCONT)
        _, err = runner.communicate(timeout=WAIT)
        assert runner.returncode == 1, err  # one SIGINT, from the terminal
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.communicate(timeout=WAIT)
        os.close(master)
    root.assert_clean()


BACKEND = '''
"""A PEP 517 backend for the test's package: builds a wheel with zipfile, and when the
environment asks, announces itself and waits inside build_wheel (to be killed there)."""
import base64, hashlib, json, os, tempfile, time, zipfile

NAME, VERSION = "ftrundemo", "0.1"
DIST = f"{NAME}-{VERSION}.dist-info"

def get_requires_for_build_wheel(config_settings=None):
    return []

def _record(files):
    lines = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
        lines.append(f"{path},sha256={digest.decode()},{len(data)}")
    return "\\n".join(lines + [f"{DIST}/RECORD,,"]) + "\\n"

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    ready = os.environ.get("FTRUN_READY")
    if ready:
        scratch = tempfile.mkdtemp(prefix="backend-")
        with open(ready + ".tmp", "w") as out:
            json.dump({"pip": os.getppid(), "backend": os.getpid(),
                       "tmpdir": tempfile.gettempdir(),
                       "scratch": scratch, "entries": os.listdir(tempfile.gettempdir())}, out)
        os.rename(ready + ".tmp", ready)
        parent = os.getppid()
        while os.getppid() == parent:  # until pip is gone; then nothing more is written
            time.sleep(0.01)
        os._exit(1)
    files = {
        f"{NAME}/__init__.py": b"VALUE = 42\\n",
        f"{DIST}/METADATA": (
            f"Metadata-Version: 2.1\\nName: {NAME}\\nVersion: {VERSION}\\n".encode()
        ),
        f"{DIST}/WHEEL": (
            b"Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: true\\n"
            b"Tag: py3-none-any\\n"
        ),
    }
    wheel = f"{NAME}-{VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, wheel), "w") as zf:
        for path, data in files.items():
            zf.writestr(path, data)
        zf.writestr(f"{DIST}/RECORD", _record(files))
    return wheel
'''


def make_package(tmp_path: Path) -> Path:
    """A local source package built by an in-tree backend the test writes: no network, and
    no dependence on setuptools (absent from 3.12+ venvs) or wheel."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "backend.py").write_text(BACKEND)
    (pkg / "pyproject.toml").write_text(
        '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n'
        '[project]\nname = "ftrundemo"\nversion = "0.1"\n'
    )
    return pkg


PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]


def test_pip_install_of_a_local_package_leaves_nothing(tmp_path: Path, launcher: list[str]) -> None:
    root = Root(tmp_path, launcher)
    pkg, target = make_package(tmp_path), tmp_path / "target"
    cmd = [
        *PIP,
        "install",
        "-q",
        "--no-build-isolation",
        "--no-deps",
        "--target",
        str(target),
        str(pkg),
    ]
    done = root.run(cmd)
    assert done.returncode == 0, done.stderr
    assert (target / "ftrundemo" / "__init__.py").exists()
    root.assert_clean()


def test_pip_install_killed_mid_build_leaves_nothing(tmp_path: Path, launcher: list[str]) -> None:
    root = Root(tmp_path, launcher)
    root.env["FTRUN_READY"] = str(tmp_path / "ready")
    pkg, target = make_package(tmp_path), tmp_path / "target"
    cmd = [
        *PIP,
        "install",
        "-q",
        "--no-build-isolation",
        "--no-deps",
        "--target",
        str(target),
        str(pkg),
    ]
    runner = root.popen(cmd)
    try:
        wait_for("the build to start", (tmp_path / "ready").exists)
        seen = json.loads((tmp_path / "ready").read_text())
        workspace = Path(seen["tmpdir"])
        assert workspace.parent == root.path
        # pip made its temp dirs in the workspace (pip-*), the backend its own.
        assert any(n.startswith("pip-") for n in seen["entries"]), seen
        assert Path(seen["scratch"]).parent == workspace
        os.kill(seen["pip"], signal.SIGKILL)
        _, err = runner.communicate(timeout=WAIT)
        assert runner.returncode == 128 + signal.SIGKILL, err
        root.assert_clean()
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.communicate(timeout=WAIT)


@pytest.mark.parametrize("guard", ["all", "1"])
def test_pip_killed_mid_build_under_guard_all_leaves_nothing_after_a_sweep(
    tmp_path: Path, guard: str
) -> None:
    # The observation, without ferrotemp run: pip serving `import tempfile` from
    # ferrotemp, killed mid-build, leaves its pip-* directories (mkdtemp: the caller's) to
    # no sweep; with FERROTEMP_GUARD=all the next sweep reclaims them all.
    root = Root(tmp_path, FERROTEMP_AS_TEMPFILE="1", FERROTEMP_GUARD=guard)
    root.env["TMPDIR"] = str(root.path)
    root.env["FTRUN_READY"] = str(tmp_path / "ready")
    pkg, target = make_package(tmp_path), tmp_path / "target"
    cmd = [*PIP, "install", "-q", "--no-build-isolation", "--no-deps", "--target", str(target)]
    pip = subprocess.Popen([*cmd, str(pkg)], env=root.env, stderr=subprocess.PIPE, text=True)
    try:
        wait_for("the build to start", (tmp_path / "ready").exists)
        seen = json.loads((tmp_path / "ready").read_text())
        assert seen["tmpdir"] == str(root.path) and seen["pip"] == pip.pid
        pip.kill()
        _, err = pip.communicate(timeout=WAIT)
        wait_for("the backend to notice", lambda: gone(seen["backend"]))
        left = root.leftovers()
        assert any(n.startswith("pip-") for n in left) and "not understood" not in err, left
        report = ferrotemp.sweep(root.path)
        if guard == "all":
            assert root.leftovers() == [] and report.errors == ()
            assert root.records() == []
        else:  # its guarded entries (a TemporaryDirectory) go, its mkdtemp ones stay
            pip_dirs = [n for n in left if n.startswith("pip-")]
            assert [n for n in root.leftovers() if n.startswith("pip-")] == pip_dirs
    finally:
        if pip.poll() is None:
            pip.kill()
            pip.communicate(timeout=WAIT)


def test_the_python_api_returns_the_status_and_usage(tmp_path: Path) -> None:
    root = Root(tmp_path)
    code = f"""
    import ferrotemp, json
    cmd = ["sh", "-c", 'head -c 100000 /dev/zero > "$TMPDIR/f"; exit 3']
    r = ferrotemp.run(cmd, dir={str(root.path)!r}, name="api", keep="never")
    try:
        r.check_returncode()
    except Exception as err:
        raised = type(err).__name__
    print(json.dumps([r.returncode, r.kept, r.usage.bytes >= 100000, r.usage.files,
                      r.path.startswith({str(root.path)!r} + "/api-"), raised]))
    """
    done = subprocess.run(py(code), env=root.env, capture_output=True, text=True, timeout=WAIT)
    assert json.loads(done.stdout) == [3, False, True, 1, True, "CalledProcessError"], done.stderr
    root.assert_clean()


def test_the_python_api_kills_the_command_when_its_wait_is_interrupted(tmp_path: Path) -> None:
    root = Root(tmp_path)
    ready, release = tmp_path / "ready", tmp_path / "never"
    code = f"""
    import ferrotemp
    try:
        ferrotemp.run({py(LEASE_CMD, str(ready), str(release))!r}, dir={str(root.path)!r})
    except KeyboardInterrupt:
        print("interrupted", flush=True)
    """
    caller = subprocess.Popen(py(code), env=root.env, stdout=subprocess.PIPE, text=True)
    try:
        wait_for("the command to start", ready.exists)
        command = json.loads(ready.read_text())["pid"]
        caller.send_signal(signal.SIGINT)
        out, _ = caller.communicate(timeout=WAIT)
        assert out == "interrupted\n" and caller.returncode == 0
        assert gone(command)
        root.assert_clean()
    finally:
        if caller.poll() is None:
            caller.kill()
            caller.communicate(timeout=WAIT)


def test_the_python_api_rejects_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        ferrotemp.run("echo hi", dir=tmp_path)  # a str is a sequence, but not of arguments
    with pytest.raises(ValueError):
        ferrotemp.run([], dir=tmp_path)
    with pytest.raises(ValueError):
        ferrotemp.run(["true"], dir=tmp_path, keep="sometimes")
    with pytest.raises(ValueError):
        ferrotemp.run(["true"], dir=tmp_path, max_bytes="lots")
    assert os.listdir(tmp_path) == []


def test_the_api_job_ends_while_another_thread_reads_it(tmp_path: Path) -> None:
    # finish() releases the GIL while it removes the tree; a thread reading the job's state
    # meanwhile must not leave it waiting for the GIL forever.
    root = Root(tmp_path)
    code = f"""
    import threading
    from ferrotemp import _core
    job = _core.RunJob(["sh", "-c", 'cd "$TMPDIR" && for i in $(seq 3000); do : > f$i; done'],
                       dir={str(root.path)!r}, max_bytes=None, keep=None, name="t",
                       kill_on_quota=False, env=None, check_interval=0.25, grace=5.0)
    job.spawn()
    job.wait(print)
    stop = False
    def read():
        while not stop:
            job.over_quota, job.status, job.path
    reader = threading.Thread(target=read)
    reader.start()
    ending = job.finish(True)
    stop = True
    reader.join()
    print(ending.kept, ending.usage.files)
    """
    done = subprocess.run(py(code), env=root.env, capture_output=True, text=True, timeout=WAIT)
    assert done.stdout.split() == ["False", "3000"], done.stderr
    root.assert_clean()


def test_the_python_api_takes_infinite_times_as_never(tmp_path: Path) -> None:
    done = ferrotemp.run(
        ["sh", "-c", "exit 6"],
        dir=tmp_path,
        max_bytes=1,
        grace=float("inf"),
        check_interval=float("inf"),
    )
    assert done.returncode == 6 and not done.over_quota
    for bad in (-1.0, float("nan")):
        with pytest.raises(ValueError):
            ferrotemp.run(["true"], dir=tmp_path, grace=bad)
    assert os.listdir(tmp_path) == []


GUARD_ALL_CHILD = """
import json, os, sys, time
import ferrotemp
work = sys.argv[1]
d = ferrotemp.mkdtemp(dir=work)
with open(os.path.join(d, "inside"), "wb") as out:
    out.write(b"x" * 100)
fd, f = ferrotemp.mkstemp(dir=work)
os.close(fd)
kept = ferrotemp.NamedTemporaryFile(dir=work, delete=False)
kept.close()
bd = ferrotemp.mkdtemp(dir=os.fsencode(work))
print(json.dumps([d, f, kept.name, os.fsdecode(bd)]), flush=True)
if sys.argv[2] == "exit":
    sys.exit(0)
time.sleep(600)
"""


@pytest.mark.parametrize("mode", ["all", "1"])
def test_guard_all_records_the_callers_entries_for_a_crash(tmp_path: Path, mode: str) -> None:
    root = Root(tmp_path, FERROTEMP_GUARD=mode)
    work = tmp_path / "work"
    work.mkdir()
    child = subprocess.Popen(
        py(GUARD_ALL_CHILD, str(work), "wait"),
        env=root.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    made = json.loads(child.stdout.readline())
    child.kill()
    _, err = child.communicate(timeout=WAIT)
    assert "not understood" not in err
    report = ferrotemp.sweep(root.path)
    if mode == "all":
        assert sorted(report.paths) == sorted(made)
        assert os.listdir(work) == []
        assert root.records() == []
    else:  # as before: the callers' own entries are theirs, a crash or not
        assert report.entries == 0
        assert sorted(str(work / n) for n in os.listdir(work)) == sorted(made)


def test_guard_all_leaves_the_callers_entries_at_a_normal_exit(tmp_path: Path) -> None:
    root = Root(tmp_path, FERROTEMP_GUARD="all")
    work = tmp_path / "work"
    work.mkdir()
    done = subprocess.run(
        py(GUARD_ALL_CHILD, str(work), "exit"),
        env=root.env,
        capture_output=True,
        text=True,
        timeout=WAIT,
    )
    assert done.returncode == 0 and done.stderr == ""
    made = json.loads(done.stdout)
    assert root.records() == []  # unregistered at exit, record gone
    assert ferrotemp.sweep(root.path).entries == 0
    assert sorted(str(work / n) for n in os.listdir(work)) == sorted(made)


def test_guard_all_switch_reads_as_enabled_and_all(tmp_path: Path) -> None:
    code = "import ferrotemp; s = ferrotemp._core.guard_switches(); print(s.enabled, s.record_all)"
    for value, expect in [
        ("all", "True True"),
        (" ALL ", "True True"),
        ("1", "True False"),
        ("0", "False False"),
    ]:
        env = guard_env(tmp_path / "reg", FERROTEMP_GUARD=value)
        done = subprocess.run(py(code), env=env, capture_output=True, text=True, timeout=WAIT)
        assert done.stdout.split() == expect.split() and done.stderr == "", value


def test_the_recorded_command_line_is_quoted_as_shlex_quotes() -> None:
    quoted = ferrotemp._core.shell_command_line
    args = ["", "a b", "it's", "x\ny", "$HOME", "a'b\"c", "plain-1.2/x", "ü", "*", "~", "#"]
    args += [chr(c) for c in range(32, 127)]
    assert quoted(args) == shlex.join(args)
