"""Atomic publish (issue 14): ``atomic_write``, ``NamedTemporaryFile(...).persist`` and
``temp_path`` — each rule of their docs, races between processes, cross-device refusal, the
modes of new and replaced files under two umasks, and the crash guard never sweeping a
published file."""

from __future__ import annotations

import errno
import io
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import ferrotemp
import pytest
from _support import guard_env


def leftovers(directory: Path, *keep: str) -> list[str]:
    return sorted(n for n in os.listdir(directory) if n not in keep)


# --- atomic_write -------------------------------------------------------------------------


def test_atomic_write_creates_the_file_with_its_content_and_leaves_nothing_else(
    tmp_path: Path,
) -> None:
    dest = tmp_path / "out.txt"
    with ferrotemp.atomic_write(dest) as f:
        assert isinstance(f, io.TextIOWrapper)
        f.write("hello\n")
        assert not dest.exists(), "published before the block ended"
    assert dest.read_text() == "hello\n"
    assert leftovers(tmp_path) == ["out.txt"]


def test_atomic_write_replaces_an_existing_file_in_one_step(tmp_path: Path) -> None:
    dest = tmp_path / "out.bin"
    dest.write_bytes(b"old")
    old_inode = dest.stat().st_ino
    with ferrotemp.atomic_write(dest, "wb") as f:
        f.write(b"new")
        assert dest.read_bytes() == b"old"
    assert dest.read_bytes() == b"new"
    assert dest.stat().st_ino != old_inode, "written in place, not renamed"
    assert leftovers(tmp_path) == ["out.bin"]


@pytest.mark.parametrize("existing", [False, True])
def test_an_exception_leaves_the_destination_untouched_and_no_temp_file(
    tmp_path: Path, existing: bool
) -> None:
    dest = tmp_path / "out.txt"
    if existing:
        dest.write_text("old")
    with pytest.raises(KeyError):
        with ferrotemp.atomic_write(dest) as f:
            f.write("half")
            raise KeyError("boom")
    assert dest.exists() is existing
    if existing:
        assert dest.read_text() == "old"
    assert leftovers(tmp_path) == (["out.txt"] if existing else [])


@pytest.mark.parametrize("overwrite", [True, False], ids=["named", "unnamed"])
def test_closing_f_inside_the_block_still_publishes(tmp_path: Path, overwrite: bool) -> None:
    # A library handed ``f`` may close it; the content written is published all the same.
    dest = tmp_path / "closed.txt"
    with ferrotemp.atomic_write(dest, overwrite=overwrite) as f:
        f.write("written, then closed\n")
        f.close()
    assert dest.read_text() == "written, then closed\n"
    assert leftovers(tmp_path) == ["closed.txt"]


def test_a_relative_destination_is_fixed_on_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    with ferrotemp.atomic_write("out.txt") as f:
        f.write("here")
        os.chdir(tmp_path / "b")
    assert (tmp_path / "a" / "out.txt").read_text() == "here"
    assert os.listdir(tmp_path / "b") == []


def test_a_replaced_setuid_file_loses_the_setuid_bit(tmp_path: Path) -> None:
    # The new file may belong to the writer: copying set-user-ID would hand out the writer's
    # rights. The high bits come from ``permissions`` only.
    dest = tmp_path / "tool"
    dest.write_text("old")
    os.chmod(dest, 0o4755)
    with ferrotemp.atomic_write(dest) as f:
        f.write("new")
    assert stat.S_IMODE(dest.stat().st_mode) == 0o755
    with ferrotemp.atomic_write(dest, permissions=0o4750) as f:
        f.write("newer")
    assert stat.S_IMODE(dest.stat().st_mode) == 0o4750


@pytest.mark.skipif(
    os.geteuid() != 0, reason="needs root (CAP_CHOWN) to own a file as another user"
)
def test_root_replacing_a_users_file_keeps_its_owner_and_mode(tmp_path: Path) -> None:
    dest = tmp_path / "users.conf"
    dest.write_text("old")
    # Readable by others, so that the check reads it in the run without DAC capabilities too.
    os.chmod(dest, 0o644)
    os.chown(dest, 65534, 65534)
    with ferrotemp.atomic_write(dest) as f:
        f.write("new")
    st = dest.stat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (65534, 65534, 0o644)
    assert dest.read_text() == "new"


def test_overwrite_false_raises_file_exists_with_errno_and_filename(tmp_path: Path) -> None:
    dest = tmp_path / "taken"
    dest.write_text("old")
    with pytest.raises(FileExistsError) as info:
        with ferrotemp.atomic_write(dest, overwrite=False) as f:
            f.write("new")
    assert info.value.errno == errno.EEXIST
    assert os.fspath(info.value.filename) == os.fspath(dest)
    assert dest.read_text() == "old"
    assert leftovers(tmp_path) == ["taken"]


def test_overwrite_false_refuses_a_destination_that_appears_while_writing(
    tmp_path: Path,
) -> None:
    dest = tmp_path / "late"
    with pytest.raises(FileExistsError) as info:
        with ferrotemp.atomic_write(dest, overwrite=False) as f:
            f.write("mine")
            dest.write_text("theirs")
    assert info.value.errno == errno.EEXIST
    assert dest.read_text() == "theirs"
    assert leftovers(tmp_path) == ["late"]


def test_overwrite_false_publishes_to_a_free_name(tmp_path: Path) -> None:
    dest = tmp_path / "free"
    with ferrotemp.atomic_write(dest, "wb", overwrite=False, fsync=False) as f:
        f.write(b"x")
    assert dest.read_bytes() == b"x"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="O_TMPFILE and linkat are Linux's")
@pytest.mark.parametrize("mode", ["w", "wb"])
def test_overwrite_false_writes_an_unnamed_file_no_name_ever_shows(
    tmp_path: Path, mode: str
) -> None:
    dest = tmp_path / "dest"
    with ferrotemp.atomic_write(dest, mode, overwrite=False) as f:
        f.write("text" if mode == "w" else b"text")
        # (tmp_path is on a filesystem with O_TMPFILE here; the named fallback shows a name.)
        assert leftovers(tmp_path) == []
    assert dest.read_bytes() == b"text"
    assert stat.S_IMODE(dest.stat().st_mode) == 0o666 & ~ferrotemp._publish.current_umask()
    assert leftovers(tmp_path) == ["dest"]


def test_text_options_are_those_of_open(tmp_path: Path) -> None:
    dest = tmp_path / "t"
    with ferrotemp.atomic_write(dest, encoding="utf-16", newline="\r\n", errors="strict") as f:
        f.write("a\nb")
    assert dest.read_bytes().decode("utf-16") == "a\r\nb"


def test_bytes_and_str_destinations(tmp_path: Path) -> None:
    for dest in (os.fsencode(tmp_path / "b"), str(tmp_path / "s")):
        with ferrotemp.atomic_write(dest, "wb") as f:
            f.write(b"1")
    assert leftovers(tmp_path) == ["b", "s"]


@pytest.mark.parametrize("mode", ["r", "a", "x", "r+", "ab"])
def test_a_mode_that_does_not_truncate_is_refused(tmp_path: Path, mode: str) -> None:
    with pytest.raises(ValueError, match="writing mode"):
        ferrotemp.atomic_write(tmp_path / "x", mode)
    assert leftovers(tmp_path) == []


MODE_CHILD = textwrap.dedent(
    """
    import json, os, sys
    import ferrotemp
    os.umask(int(sys.argv[1], 8))
    d = sys.argv[2]
    out = {}
    new = os.path.join(d, "new")
    with ferrotemp.atomic_write(new) as f:
        f.write("x")
    out["new"] = os.stat(new).st_mode & 0o7777
    replaced = os.path.join(d, "replaced")
    with open(replaced, "w"):
        pass
    os.chmod(replaced, 0o640)
    with ferrotemp.atomic_write(replaced) as f:
        f.write("x")
    out["replaced"] = os.stat(replaced).st_mode & 0o7777
    forced_new = os.path.join(d, "forced_new")
    with ferrotemp.atomic_write(forced_new, permissions=0o604) as f:
        f.write("x")
    out["forced_new"] = os.stat(forced_new).st_mode & 0o7777
    with ferrotemp.atomic_write(replaced, permissions=0o600) as f:
        f.write("x")
    out["forced_replaced"] = os.stat(replaced).st_mode & 0o7777
    with open(os.path.join(d, "by_open"), "w"):
        pass
    out["open"] = os.stat(os.path.join(d, "by_open")).st_mode & 0o7777
    from ferrotemp._publish import current_umask
    out["umask_read"] = current_umask()
    print(json.dumps(out))
    """
)


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_modes_of_new_and_replaced_files_under_a_umask(tmp_path: Path, umask: int) -> None:
    out = subprocess.run(
        [sys.executable, "-c", MODE_CHILD, oct(umask), str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    modes = json.loads(out.stdout)
    assert modes["new"] == 0o666 & ~umask == modes["open"]
    assert modes["replaced"] == 0o640
    assert modes["forced_new"] == 0o604
    assert modes["forced_replaced"] == 0o600
    assert modes["umask_read"] == umask


# --- NamedTemporaryFile(...).persist ------------------------------------------------------


def test_persist_publishes_keeps_the_file_open_and_close_no_longer_removes(
    tmp_path: Path,
) -> None:
    dest = tmp_path / "dest"
    dest.write_bytes(b"old")
    with ferrotemp.NamedTemporaryFile(dir=tmp_path) as t:
        temp_name = t.name
        t.write(b"new")
        t.persist(dest)
        assert t.name == os.fspath(dest)
        assert not os.path.exists(temp_name)
        t.write(b"+more")
        t.flush()
        assert dest.read_bytes() == b"new+more"
    assert dest.read_bytes() == b"new+more"
    assert leftovers(tmp_path) == ["dest"]


@pytest.mark.parametrize("delete_on_close", [True, False])
def test_persist_then_close_keeps_the_file(tmp_path: Path, delete_on_close: bool) -> None:
    t = ferrotemp.NamedTemporaryFile(dir=tmp_path, delete_on_close=delete_on_close)
    t.write(b"x")
    t.persist(tmp_path / "kept", fsync=True)
    t.close()
    del t
    assert (tmp_path / "kept").read_bytes() == b"x"
    assert leftovers(tmp_path) == ["kept"]


def test_persist_noclobber_gives_the_file_back_unchanged(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.write_bytes(b"old")
    t = ferrotemp.NamedTemporaryFile(dir=tmp_path)
    t.write(b"mine")
    with pytest.raises(FileExistsError) as info:
        t.persist(dest, overwrite=False)
    assert info.value.errno == errno.EEXIST
    assert os.fspath(info.value.filename) == os.fspath(dest)
    assert dest.read_bytes() == b"old"
    assert os.path.exists(t.name) and t.name != os.fspath(dest)
    # Still owned: a second try works, or close() removes it.
    t.persist(tmp_path / "other", overwrite=False)
    t.close()
    assert (tmp_path / "other").read_bytes() == b"mine"
    assert leftovers(tmp_path) == ["dest", "other"]


def test_persist_after_close_is_refused(tmp_path: Path) -> None:
    t = ferrotemp.NamedTemporaryFile(dir=tmp_path)
    t.close()
    with pytest.raises(ValueError):
        t.persist(tmp_path / "late")
    assert leftovers(tmp_path) == []


def test_standard_module_wrapper_has_no_persist() -> None:
    import tempfile

    assert not hasattr(tempfile._TemporaryFileWrapper, "persist")
    assert hasattr(ferrotemp._TemporaryFileWrapper, "persist")


class Tmpfs:
    """A 1 MiB tmpfs mounted at ``path`` (root only); skips the test when it cannot be."""

    def __init__(self, path: Path) -> None:
        path.mkdir()
        out = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
        if out.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs (needs root): {out.stderr.strip()}")
        self.path = path

    def __enter__(self) -> Path:
        return self.path

    def __exit__(self, *exc: object) -> None:
        subprocess.run(["umount", str(self.path)], check=False)


@pytest.mark.parametrize("overwrite", [True, False])
def test_persist_across_filesystems_fails_with_exdev_and_gives_the_file_back(
    tmp_path: Path, overwrite: bool
) -> None:
    with Tmpfs(tmp_path / "mnt") as mnt:
        dest = mnt / "dest"
        t = ferrotemp.NamedTemporaryFile(dir=tmp_path)
        t.write(b"stays")
        with pytest.raises(OSError) as info:
            t.persist(dest, overwrite=overwrite)
        assert info.value.errno == errno.EXDEV
        assert not dest.exists(), "copied across filesystems"
        assert Path(t.name).read_bytes() == b"stays"
        name = t.name
        t.close()
        assert not os.path.exists(name)


# --- races between processes -------------------------------------------------------------

RACE_CHILD = textwrap.dedent(
    """
    import os, sys, time
    import ferrotemp
    dest, go, how = sys.argv[1], sys.argv[2], sys.argv[3]
    def wait():
        while not os.path.exists(go):
            pass
    try:
        if how == "atomic_write":
            with ferrotemp.atomic_write(dest, "wb", overwrite=False, fsync=False) as f:
                f.write(str(os.getpid()).encode())
                print("ready", flush=True)
                wait()
        else:
            t = ferrotemp.NamedTemporaryFile(dir=os.path.dirname(dest))
            t.write(str(os.getpid()).encode())
            print("ready", flush=True)
            wait()
            t.persist(dest, overwrite=False)
            t.close()
    except FileExistsError:
        sys.exit(17)
    """
)


@pytest.mark.parametrize("how", ["atomic_write", "persist"])
def test_noclobber_race_between_two_processes_exactly_one_wins(tmp_path: Path, how: str) -> None:
    for round_ in range(10):
        work = tmp_path / f"r{round_}"
        work.mkdir()
        dest, go = work / "dest", tmp_path / f"go{round_}"
        children = [
            subprocess.Popen(
                [sys.executable, "-c", RACE_CHILD, str(dest), str(go), how],
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        for child in children:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "ready"
        go.touch()
        codes = sorted(child.wait(timeout=30) for child in children)
        for child in children:
            assert child.stdout is not None
            child.stdout.close()
        assert codes == [0, 17], f"round {round_}: {codes}"
        winner = {str(c.pid) for c in children}
        assert dest.read_text() in winner
        assert leftovers(work) == ["dest"]


# --- temp_path ----------------------------------------------------------------------------


def test_temp_path_yields_a_closed_empty_private_file_removed_at_exit(tmp_path: Path) -> None:
    with ferrotemp.temp_path(dir=tmp_path, prefix="p-", suffix=".s") as path:
        assert isinstance(path, str)
        name = os.path.basename(path)
        assert name.startswith("p-") and name.endswith(".s")
        st = os.stat(path)
        assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_size == 0
        assert os.path.dirname(path) == str(tmp_path)
    assert not os.path.exists(path)
    assert leftovers(tmp_path) == []


def test_temp_path_is_bytes_when_the_arguments_are(tmp_path: Path) -> None:
    with ferrotemp.temp_path(dir=os.fsencode(tmp_path)) as path:
        assert isinstance(path, bytes)
        assert os.path.exists(path)
    assert not os.path.exists(path)


def test_temp_path_removes_what_a_tool_put_there_and_tolerates_it_gone(
    tmp_path: Path,
) -> None:
    with ferrotemp.temp_path(dir=tmp_path) as path:
        other = tmp_path / "other"
        other.write_text("tool output")
        os.replace(other, path)
    assert leftovers(tmp_path) == []
    with ferrotemp.temp_path(dir=tmp_path) as path:
        os.rename(path, tmp_path / "moved")
    assert leftovers(tmp_path) == ["moved"]


def test_temp_path_with_an_exception_still_removes(tmp_path: Path) -> None:
    with pytest.raises(KeyError):
        with ferrotemp.temp_path(dir=tmp_path):
            raise KeyError
    assert leftovers(tmp_path) == []


# --- the crash guard ----------------------------------------------------------------------

GUARD_CHILD = textwrap.dedent(
    """
    import os, signal, sys
    import ferrotemp
    d = sys.argv[1]
    with ferrotemp.atomic_write(os.path.join(d, "written")) as f:
        f.write("published")
    t = ferrotemp.NamedTemporaryFile(dir=d)
    t.write(b"persisted")
    t.persist(os.path.join(d, "persisted"))
    live = ferrotemp.NamedTemporaryFile(dir=d)
    cm = ferrotemp.temp_path(dir=d)
    tp = cm.__enter__()
    aw = ferrotemp.atomic_write(os.path.join(d, "never"))
    aw.__enter__().write("unfinished")
    print(live.name, tp, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def test_live_entries_are_swept_after_a_kill_and_published_files_never(
    tmp_path: Path,
) -> None:
    registry = tmp_path / "registry"
    work = tmp_path / "work"
    work.mkdir()
    out = subprocess.run(
        [sys.executable, "-c", GUARD_CHILD, str(work)],
        capture_output=True,
        text=True,
        env=guard_env(registry),
        check=False,
    )
    assert out.returncode == -signal.SIGKILL, out.stderr
    live, temp = out.stdout.split()
    assert len(leftovers(work, "written", "persisted")) == 3
    swept = swept_paths(registry)
    assert {live, temp} <= set(swept)
    assert len(swept) == 3, swept
    assert leftovers(work) == ["persisted", "written"]
    assert (work / "written").read_text() == "published"
    assert (work / "persisted").read_bytes() == b"persisted"


def swept_paths(registry: Path) -> list[str]:
    """What a sweep of ``registry`` removes, run in a child (the registry in use is the
    environment's choice)."""
    code = "import json, ferrotemp; print(json.dumps(list(ferrotemp.sweep().paths)))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=guard_env(registry),
        check=True,
    )
    paths: list[str] = json.loads(out.stdout)
    return paths
