"""Workspaces: per-job directories with limits, measured usage, a keep policy, log lines, and
crash-guard records a sweep reclaims after SIGKILL."""

from __future__ import annotations

import errno
import gc
import json
import logging
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import threading
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Callable

import ferrotemp
import pytest
from _support import guard_env

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="workspaces are POSIX-only here")

REGISTRY_NAME = f"ferrotemp-guard-{os.geteuid()}" if hasattr(os, "geteuid") else ""


def du_bytes(path: Path) -> int:
    out = subprocess.run(["du", "-B1", "-s", str(path)], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0])


def count_tree(path: Path) -> tuple[int, int]:
    """(non-directories, directories) under ``path``, itself not counted; links not followed
    (a symlink is a non-directory), a hard-linked file once."""
    seen: set[tuple[int, int]] = set()
    dirs = 0
    pending = [path]
    while pending:
        for entry in os.scandir(pending.pop()):
            if entry.is_dir(follow_symlinks=False):
                dirs += 1
                pending.append(Path(entry.path))
            else:
                st = entry.stat(follow_symlinks=False)
                seen.add((st.st_dev, st.st_ino))
    return len(seen), dirs


def assert_quota(err: BaseException, ws: ferrotemp.Workspace) -> None:
    assert isinstance(err, ferrotemp.QuotaExceeded)
    assert isinstance(err, OSError)
    assert err.errno == errno.EDQUOT
    assert err.filename == str(ws.path)


def test_path_is_a_private_dir_named_after_the_job_and_removed_on_success(
    tmp_path: Path,
) -> None:
    with ferrotemp.Workspace("resize/42", dir=tmp_path) as ws:
        assert isinstance(ws.path, Path)
        assert ws.path.parent == tmp_path
        assert ws.path.name.startswith("resize_42-")
        assert ws.path.stat().st_mode & 0o777 == 0o700
        (ws.path / "out").write_bytes(b"x")
    assert not ws.path.exists()
    assert os.listdir(tmp_path) == []


def test_default_dir_is_the_module_tempdir() -> None:
    with ferrotemp.Workspace("default-dir") as ws:
        assert ws.path.parent == Path(ferrotemp.gettempdir())


def _spooled_rolled(ws: ferrotemp.Workspace, stack: ExitStack) -> None:
    spooled = stack.enter_context(ws.SpooledTemporaryFile(max_size=1))
    spooled.write(b"xx")


def _closed(made: tuple[int, str]) -> str:
    os.close(made[0])
    return made[1]


# Each creator, made inside ``stack`` (closed at the end of the test's workspace); the path
# made, when the creator gives one.
CREATORS: dict[str, Callable[[ferrotemp.Workspace, ExitStack], Any]] = {
    "NamedTemporaryFile": lambda ws, stack: stack.enter_context(ws.NamedTemporaryFile()).name,
    "TemporaryFile": lambda ws, stack: stack.enter_context(ws.TemporaryFile()),
    "SpooledTemporaryFile": _spooled_rolled,
    "TemporaryDirectory": lambda ws, stack: stack.enter_context(ws.TemporaryDirectory()),
    "mkstemp": lambda ws, stack: _closed(ws.mkstemp()),
    "mkdtemp": lambda ws, stack: ws.mkdtemp(),
    "atomic_write": lambda ws, stack: stack.enter_context(ws.atomic_write("published")),
    "temp_path": lambda ws, stack: stack.enter_context(ws.temp_path()),
}


@pytest.mark.parametrize("creator", sorted(CREATORS))
def test_each_creator_makes_its_entry_inside_the_workspace_and_counts_it(
    tmp_path: Path, creator: str
) -> None:
    with ferrotemp.Workspace("creators", dir=tmp_path) as ws, ExitStack() as stack:
        made = CREATORS[creator](ws, stack)
        if isinstance(made, str) and made:
            assert os.path.dirname(made) == str(ws.path)
            assert os.path.lexists(made)
        assert ws.usage().created == 1


@pytest.mark.parametrize("creator", sorted(CREATORS))
def test_each_creator_at_max_files_raises_quota_exceeded(tmp_path: Path, creator: str) -> None:
    with ferrotemp.Workspace("full", max_files=2, dir=tmp_path) as ws, ExitStack() as stack:
        (fd1, _), (fd2, _) = ws.mkstemp(), ws.mkstemp()
        os.close(fd1)
        os.close(fd2)
        before = sorted(os.listdir(ws.path))
        with pytest.raises(ferrotemp.QuotaExceeded) as caught:
            CREATORS[creator](ws, stack)
        assert_quota(caught.value, ws)
        assert sorted(os.listdir(ws.path)) == before
        assert ws.usage().created == 2


def test_creators_take_a_dir_inside_the_workspace_and_refuse_one_outside(tmp_path: Path) -> None:
    with ferrotemp.Workspace("dirs", dir=tmp_path) as ws:
        sub = ws.mkdtemp()
        with ws.NamedTemporaryFile(dir=sub) as f:
            assert os.path.dirname(f.name) == sub
        for outside in (tmp_path, ws.path / "..", "/etc"):
            with pytest.raises(ValueError, match="not inside the workspace"):
                ws.NamedTemporaryFile(dir=outside)
        with pytest.raises(ValueError, match="not inside the workspace"):
            ws.atomic_write(tmp_path / "escaped")
        assert ws.usage().created == 2


def test_a_write_past_max_bytes_raises_before_anything_is_written(tmp_path: Path) -> None:
    refusals = ferrotemp.stats().quota_refusals
    with ferrotemp.Workspace("bytes", max_bytes=10_000, dir=tmp_path) as ws:
        f = ws.NamedTemporaryFile()
        assert f.write(b"a" * 6000) == 6000
        f.flush()
        with pytest.raises(ferrotemp.QuotaExceeded) as caught:
            f.write(b"b" * 4001)
        assert_quota(caught.value, ws)
        f.flush()
        assert os.path.getsize(f.name) == 6000
        # Overwriting what is there adds nothing; growing to exactly the limit is allowed.
        f.seek(0)
        f.write(b"c" * 6000)
        f.write(bytearray(4000))
        f.flush()
        assert os.path.getsize(f.name) == 10_000
        # At the limit, creations are refused too.
        with pytest.raises(ferrotemp.QuotaExceeded):
            ws.mkdtemp()
        f.close()
        # The removed file gave its bytes back.
        with ws.TemporaryFile() as t:
            t.write(b"d" * 9000)
            with pytest.raises(ferrotemp.QuotaExceeded):
                t.writelines([b"e" * 500, b"f" * 501])
            t.flush()
            assert os.fstat(t.fileno()).st_size == 9500
    # Each refusal is counted in the process's statistics (other threads refuse nothing here).
    assert ferrotemp.stats().quota_refusals - refusals == 3


def test_text_files_count_what_they_write_encoded(tmp_path: Path) -> None:
    with ferrotemp.Workspace("text", max_bytes=100, dir=tmp_path) as ws:
        f = ws.NamedTemporaryFile("w+", encoding="utf-8")
        f.write("é" * 50)  # 100 bytes in UTF-8
        with pytest.raises(ferrotemp.QuotaExceeded):
            f.write("x")
        f.close()
        with ws.atomic_write("out.txt", encoding="utf-8") as out:
            out.write("y" * 100)
            with pytest.raises(ferrotemp.QuotaExceeded):
                out.write("z")
        assert (ws.path / "out.txt").read_text() == "y" * 100


def test_a_spooled_file_counts_when_it_rolls_over(tmp_path: Path) -> None:
    with ferrotemp.Workspace("spool", max_bytes=1000, dir=tmp_path) as ws:
        s = ws.SpooledTemporaryFile(max_size=5000)
        s.write(b"m" * 3000)  # in memory: not on disk, not counted
        assert not s._rolled
        assert ws.usage().created == 0
        with pytest.raises(ferrotemp.QuotaExceeded):
            s.write(b"n" * 3000)  # would roll 6000 bytes to disk
        assert not s._rolled
        s.close()
        small = ws.SpooledTemporaryFile(max_size=10)
        small.write(b"o" * 600)
        assert small._rolled
        assert ws.usage().created == 1
        with pytest.raises(ferrotemp.QuotaExceeded):
            small.write(b"p" * 401)
        small.write(b"q" * 400)
        small.close()
        assert ws.usage().removed == 1


def test_concurrent_creations_never_pass_max_files(tmp_path: Path) -> None:
    with ferrotemp.Workspace("race", max_files=20, dir=tmp_path) as ws:
        refused: list[BaseException] = []
        barrier = threading.Barrier(4)

        def create() -> None:
            barrier.wait()
            for _ in range(10):
                try:
                    ws.mkdtemp()
                except ferrotemp.QuotaExceeded as err:
                    refused.append(err)

        threads = [threading.Thread(target=create) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(os.listdir(ws.path)) == 20
        assert len(refused) == 20


def test_usage_matches_du_and_counts_trees_made_by_any_writer(tmp_path: Path) -> None:
    with ferrotemp.Workspace("measure", dir=tmp_path) as ws:
        # Through the workspace's creators ...
        kept = ws.NamedTemporaryFile(delete=False)
        kept.write(b"k" * 12_345)
        kept.close()
        sub = ws.mkdtemp()
        with ws.TemporaryDirectory(dir=sub) as d:
            Path(d, "inner").write_bytes(b"i" * 5000)
            # ... by path, and by a subprocess writing into ws.path.
            (ws.path / "by-path").mkdir()
            (ws.path / "by-path" / "data").write_bytes(os.urandom(70_000))
            os.symlink("/etc", ws.path / "link")
            os.link(kept.name, ws.path / "hardlink")
            subprocess.run(
                ["sh", "-c", 'mkdir "$1/sh" && head -c 200000 /dev/zero > "$1/sh/zeros"', "sh"]
                + [str(ws.path)],
                check=True,
            )
            usage = ws.usage()
            assert usage.bytes == du_bytes(ws.path)
            assert (usage.files, usage.dirs) == count_tree(ws.path)
            assert usage.files == 5 and usage.dirs == 4
            assert usage.created == 3
            assert usage.peak_bytes >= usage.bytes
            assert usage.elapsed > 0
        after = ws.usage()
        assert (after.files, after.dirs, after.removed) == (4, 3, 1)
        assert (after.files, after.dirs) == count_tree(ws.path)
        assert after.bytes == du_bytes(ws.path)


def test_a_measurement_over_a_limit_refuses_creations_until_back_under(tmp_path: Path) -> None:
    with ferrotemp.Workspace("external", max_bytes="64 KiB", dir=tmp_path) as ws:
        big = ws.path / "from-elsewhere"
        big.write_bytes(b"x" * 100_000)
        ws.mkdtemp()  # not measured yet
        assert ws.usage().bytes > 64 * 1024
        with pytest.raises(ferrotemp.QuotaExceeded):
            ws.mkdtemp()
        big.unlink()
        ws.usage()
        ws.mkdtemp()


@pytest.mark.parametrize(
    ("given", "limit"),
    [("2 GiB", 2 << 30), ("500MB", 500_000_000), ("4096", 4096), (1 << 40, 1 << 40), (None, None)],
)
def test_max_bytes_takes_ints_and_size_strings(tmp_path: Path, given: Any, limit: Any) -> None:
    with ferrotemp.Workspace("sizes", max_bytes=given, dir=tmp_path) as ws:
        assert ws.max_bytes == limit


def test_bad_arguments_are_refused_before_anything_is_made(tmp_path: Path) -> None:
    cases: list[tuple[dict[str, Any], type[Exception]]] = [
        ({"max_bytes": "lots"}, ValueError),
        ({"max_bytes": -1}, ValueError),
        ({"max_bytes": True}, TypeError),
        ({"max_files": "10"}, TypeError),
        ({"keep": "sometimes"}, ValueError),
    ]
    for kwargs, error in cases:
        with pytest.raises(error):
            ferrotemp.Workspace("bad", dir=tmp_path, **kwargs)
    with pytest.raises(FileNotFoundError):
        ferrotemp.Workspace("bad", dir=tmp_path / "missing")
    assert os.listdir(tmp_path) == []


def test_quota_exceeded_pickles_and_is_exported() -> None:
    err = ferrotemp.QuotaExceeded(errno.EDQUOT, os.strerror(errno.EDQUOT), "/w")
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is ferrotemp.QuotaExceeded
    assert (again.errno, again.filename) == (errno.EDQUOT, "/w")
    assert {"Workspace", "QuotaExceeded", "Usage"} <= set(ferrotemp.__all__)
    assert "Workspace" in dir(ferrotemp)


def test_on_error_keeps_a_failed_job_and_logs_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ferrotemp")
    with pytest.raises(KeyError):
        with ferrotemp.Workspace("failing", keep="on-error", dir=tmp_path) as ws:
            (ws.path / "evidence").write_bytes(b"e" * 10)
            raise KeyError("boom")
    assert (ws.path / "evidence").exists()
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert str(ws.path) in message and "KeyError" in message and "files=1" in message
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert len(infos) == 1 and "created" in infos[0] and str(ws.path) in infos[0]


def test_on_error_removes_a_successful_job_and_logs_two_info_lines(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ferrotemp")
    with ferrotemp.Workspace(
        "fine", max_bytes=5000, max_files=3, keep="on-error", dir=tmp_path
    ) as ws:
        ws.mkdtemp()
    assert not ws.path.exists()
    lines = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "ferrotemp"]
    assert [level for level, _ in lines] == [logging.INFO, logging.INFO]
    assert "max_bytes=5000" in lines[0][1] and "max_files=3" in lines[0][1]
    assert "succeeded, removed" in lines[1][1] and "created=1" in lines[1][1]


def test_keep_always_keeps_and_never_removes_even_on_error(tmp_path: Path) -> None:
    with ferrotemp.Workspace("always", keep="always", dir=tmp_path) as kept:
        pass
    assert kept.path.is_dir()
    with pytest.raises(RuntimeError):
        with ferrotemp.Workspace("never", keep="never", dir=tmp_path) as gone:
            raise RuntimeError
    assert not gone.path.exists()


def test_finish_is_idempotent_and_a_dropped_workspace_removes_its_tree(tmp_path: Path) -> None:
    ws = ferrotemp.Workspace("manual", dir=tmp_path)
    (ws.path / "f").write_bytes(b"x")
    first = ws.finish()
    assert first.files == 1 and not ws.path.exists()
    assert ws.finish(ok=False) == first == ws.usage()
    dropped = ferrotemp.Workspace("dropped", dir=tmp_path)
    path = dropped.path
    (path / "f").write_bytes(b"x")
    del dropped
    gc.collect()
    assert not path.exists()


def run_child(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )


def child_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return guard_env(tmp_path / "registry", **extra)


def test_without_a_log_handler_a_kept_path_goes_to_stderr_once(tmp_path: Path) -> None:
    code = f"""
    import ferrotemp
    try:
        with ferrotemp.Workspace("no-handler", keep="on-error", dir={str(tmp_path)!r}) as ws:
            raise ValueError
    except ValueError:
        pass
    print(ws.path)
    """
    done = run_child(code, child_env(tmp_path))
    assert done.returncode == 0, done.stderr
    path = done.stdout.strip()
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert path in lines[0] and "ValueError" in lines[0] and "kept" in lines[0]
    assert os.path.isdir(path)


@pytest.mark.parametrize(
    ("keep_env", "keep_arg", "fail", "kept"),
    [
        ("1", "'never'", False, True),
        ("1", "None", False, True),
        ("on-error", "None", True, True),
        ("on-error", "None", False, False),
        ("on-error", "'never'", True, False),
        ("0", "None", True, False),
    ],
)
def test_ferrotemp_keep_in_the_environment(
    tmp_path: Path, keep_env: str, keep_arg: str, fail: bool, kept: bool
) -> None:
    code = f"""
    import ferrotemp
    try:
        with ferrotemp.Workspace("env", keep={keep_arg}, dir={str(tmp_path)!r}) as ws:
            (ws.path / "f").write_bytes(b"x")
            if {fail}:
                raise ValueError
    except ValueError:
        pass
    print(ws.path)
    """
    done = run_child(code, child_env(tmp_path, FERROTEMP_KEEP=keep_env))
    assert done.returncode == 0, done.stderr
    path = Path(done.stdout.strip())
    assert path.is_dir() is kept
    assert "not understood" not in done.stderr
    assert (str(path) in done.stderr) is kept


JOB_CHILD = """
import json, os, sys, time
import ferrotemp
work = sys.argv[1]
ws = ferrotemp.Workspace("job-7", max_bytes="1 MiB", max_files=100, dir=work)
f = ws.NamedTemporaryFile()
f.write(b"x" * 5000)
f.flush()
os.makedirs(ws.path / "a" / "b")
(ws.path / "a" / "b" / "data").write_bytes(b"y" * 3000)
kept = ferrotemp.Workspace("kept", keep="always", dir=work)
kept.finish()
print(json.dumps({"ws": str(ws.path), "kept": str(kept.path)}), flush=True)
time.sleep(600)
"""


def test_a_workspace_of_a_killed_process_is_reclaimed_by_the_next_sweep(tmp_path: Path) -> None:
    root = tmp_path / "root"
    work = tmp_path / "work"
    root.mkdir()
    work.mkdir()
    registry = root / REGISTRY_NAME
    child = subprocess.Popen(
        [sys.executable, "-c", JOB_CHILD, str(work)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=guard_env(registry),
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line, child.communicate(timeout=30)[1]
        made = json.loads(line)
        # Alive: a sweep leaves it alone.
        assert ferrotemp.sweep(root).entries == 0
        assert os.path.isdir(made["ws"])
    finally:
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=30)
    done = subprocess.run(
        [sys.executable, "-m", "ferrotemp", "sweep", "--dir", str(root), "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert made["ws"] in report["paths"]
    assert not os.path.lexists(made["ws"])
    # The kept workspace was unrecorded: no sweep of the registry touches it.
    assert made["kept"] not in report["paths"]
    assert os.path.isdir(made["kept"])
    assert os.listdir(work) == [os.path.basename(made["kept"])]
