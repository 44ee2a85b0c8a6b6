"""TemporaryDirectory: the standard module's behaviour, and a removal that never leaves the
tree. Every test that puts a link to the outside in a tree checks the outside is untouched."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import gc
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
import types
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import ferrotemp
import pytest
from _support import needs_setpriv, run_without_dac
from ferrotemp._guard import sweep_older_than

if TYPE_CHECKING:
    from typing_extensions import assert_type
else:

    def assert_type(value: Any, _type: Any) -> Any:
        return value


Snapshot = dict[str, tuple[str, int, Any]]


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[Path]:
    """A scratch directory, on tmpfs when there is one (big trees build fast there, and it
    supports RENAME_EXCHANGE)."""
    base = Path("/dev/shm")
    if base.is_dir() and os.access(base, os.W_OK):
        path = Path(tempfile.mkdtemp(prefix="ft-test-", dir=base))
    else:
        path = tmp_path / "scratch"
        path.mkdir()
    try:
        yield path
    finally:
        for root, dirs, _ in os.walk(path):
            for name in dirs:
                full = os.path.join(root, name)
                if not os.path.islink(full):
                    if os.lstat(full).st_uid != os.geteuid():
                        # Given away by a test; without CAP_FOWNER (the no-dac runs of make
                        # test) only its owner may chmod it, so take it back first.
                        os.lchown(full, os.geteuid(), os.getegid())
                    os.chmod(full, 0o700)
        shutil.rmtree(path)


def snapshot(top: Path) -> Snapshot:
    """Every entry under `top` (not following links): kind, mode, and content or target."""
    result: Snapshot = {}
    for root, dirs, files in os.walk(top):
        for name in dirs + files:
            full = os.path.join(root, name)
            st = os.lstat(full)
            rel = os.path.relpath(full, top)
            if stat.S_ISLNK(st.st_mode):
                result[rel] = ("link", 0, os.readlink(full))
            elif stat.S_ISDIR(st.st_mode):
                result[rel] = ("dir", stat.S_IMODE(st.st_mode), None)
            else:
                with open(full, "rb") as f:
                    result[rel] = ("file", stat.S_IMODE(st.st_mode), f.read())
    return result


def make_outside(scratch: Path, names: list[str]) -> Path:
    """A directory outside every tree, holding files of the given names and a subdirectory."""
    out = scratch / "outside"
    out.mkdir()
    for name in names:
        (out / name).write_bytes(b"precious " + name.encode())
    (out / "nested").mkdir()
    (out / "nested" / "deep").write_bytes(b"deep")
    return out


# -- the standard module's behaviour -------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"prefix": "pre-", "suffix": ".d"},
        {"prefix": b"pre-", "suffix": b".d"},
        {"suffix": b""},
    ],
)
def test_name_type_and_affixes_match_standard_module(scratch: Path, kwargs: dict[str, Any]) -> None:
    as_bytes = isinstance(kwargs.get("prefix", kwargs.get("suffix")), bytes)
    base: Any = os.fsencode(scratch) if as_bytes else str(scratch)
    std = tempfile.TemporaryDirectory(dir=base, **kwargs)
    ours = ferrotemp.TemporaryDirectory(dir=base, **kwargs)
    try:
        assert type(ours.name) is type(std.name)
        assert os.path.dirname(ours.name) == os.path.dirname(std.name) == base
        prefix = kwargs.get("prefix", b"tmp" if as_bytes else "tmp")
        suffix = kwargs.get("suffix", b"" if as_bytes else "")
        for made in (std.name, ours.name):
            made_base = os.path.basename(made)
            assert made_base.startswith(prefix) and made_base.endswith(suffix)
            assert len(made_base) == len(prefix) + 8 + len(suffix)
        assert stat.S_IMODE(os.stat(ours.name).st_mode) == 0o700
        assert repr(ours) == repr(std).replace(repr(std.name), repr(ours.name))
        assert repr(ours) == f"<TemporaryDirectory {ours.name!r}>"
    finally:
        std.cleanup()
        ours.cleanup()


def test_path_dir_gives_str_and_bytes_dir_gives_bytes(scratch: Path) -> None:
    with ferrotemp.TemporaryDirectory(dir=scratch) as name:
        assert isinstance(name, str)
        assert os.path.dirname(name) == str(scratch)
    with ferrotemp.TemporaryDirectory(dir=os.fsencode(scratch)) as bname:
        assert isinstance(bname, bytes)
        assert os.path.isdir(bname)
    with ferrotemp.TemporaryDirectory() as default:
        assert os.path.dirname(default) == ferrotemp.gettempdir()
    mixed: Any = b"x"
    with pytest.raises(TypeError), tempfile.TemporaryDirectory(prefix=mixed, suffix="y"):
        pass
    with pytest.raises(TypeError), ferrotemp.TemporaryDirectory(prefix=mixed, suffix="y"):
        pass
    assert os.listdir(scratch) == []


def test_name_type_follows_the_arguments_for_mypy_too(scratch: Path) -> None:
    with ferrotemp.TemporaryDirectory(dir=scratch) as name:
        assert isinstance(assert_type(name, str), str)
    with ferrotemp.TemporaryDirectory(dir=os.fsencode(scratch)) as bname:
        assert isinstance(assert_type(bname, bytes), bytes)
    tmp = ferrotemp.TemporaryDirectory(prefix=b"p", dir=os.fsencode(scratch))
    assert isinstance(assert_type(tmp, ferrotemp.TemporaryDirectory[bytes]).name, bytes)
    tmp.cleanup()


def test_enter_returns_name_and_exit_removes_the_tree(scratch: Path) -> None:
    tmp = ferrotemp.TemporaryDirectory(dir=scratch)
    with tmp as name:
        assert name == tmp.name
        os.makedirs(os.path.join(name, "a", "b"))
        Path(name, "a", "b", "f").write_bytes(b"x")
        Path(name, "g").write_bytes(b"y")
    assert not os.path.exists(name)
    assert os.listdir(scratch) == []


def test_cleanup_is_idempotent_and_a_vanished_directory_is_no_error(scratch: Path) -> None:
    for module in (tempfile, ferrotemp):
        tmp = module.TemporaryDirectory(dir=scratch)
        os.rmdir(tmp.name)
        tmp.cleanup()
        tmp.cleanup()
        with tmp:
            pass
    assert os.listdir(scratch) == []


def test_a_directory_recreated_after_cleanup_is_treated_as_the_standard_module_does(
    scratch: Path,
) -> None:
    # The standard module's cleanup() checks os.path.exists once its finalizer is detached
    # and removes what is there again.
    left = {}
    for module in (tempfile, ferrotemp):
        tmp = module.TemporaryDirectory(dir=scratch)
        tmp.cleanup()
        os.mkdir(tmp.name)
        Path(tmp.name, "f").write_bytes(b"")
        tmp.cleanup()
        left[module.__name__] = os.path.exists(tmp.name)
        if left[module.__name__]:
            shutil.rmtree(tmp.name)
    assert left == {"tempfile": False, "ferrotemp": False}


def test_missing_parent_raises_file_not_found_like_standard_module(scratch: Path) -> None:
    missing = scratch / "missing"
    errors = []
    for module in (tempfile, ferrotemp):
        with pytest.raises(FileNotFoundError) as info:
            module.TemporaryDirectory(dir=missing)
        errors.append(info.value)
    std, ours = errors
    assert ours.errno == std.errno == errno.ENOENT
    assert ours.strerror == std.strerror
    assert os.path.dirname(ours.filename) == os.path.dirname(std.filename) == str(missing)
    with pytest.raises(FileNotFoundError) as binfo:
        ferrotemp.TemporaryDirectory(dir=os.fsencode(missing))
    assert isinstance(binfo.value.filename, bytes)


def test_class_getitem_gives_a_generic_alias() -> None:
    alias = ferrotemp.TemporaryDirectory[str]
    assert isinstance(alias, types.GenericAlias)
    assert alias.__origin__ is ferrotemp.TemporaryDirectory
    assert alias.__args__ == (str,)
    assert ferrotemp.TemporaryDirectory.__mro__[1:] == (object,)
    assert "TemporaryDirectory" in ferrotemp.__all__


def test_subclass_name_shows_in_repr_and_warning(scratch: Path) -> None:
    class Mine(ferrotemp.TemporaryDirectory[str]):
        pass

    tmp = Mine(dir=scratch)
    name = tmp.name
    assert repr(tmp) == f"<Mine {name!r}>"
    with pytest.warns(ResourceWarning) as record:
        del tmp
        gc.collect()
    assert str(record[0].message) == f"Implicitly cleaning up <Mine {name!r}>"


def test_overridden_repr_is_taken_at_creation_for_the_warning(scratch: Path) -> None:
    messages = []
    for module in (tempfile, ferrotemp):

        class Custom(module.TemporaryDirectory):  # type: ignore[name-defined,misc]
            label = "before"

            def __repr__(self) -> str:
                return f"<custom {self.label}>"

        tmp = Custom(dir=scratch)
        Custom.label = "after"
        with pytest.warns(ResourceWarning) as record:
            del tmp
            gc.collect()
        messages.append(str(record[0].message))
    assert messages[0] == messages[1] == "Implicitly cleaning up <custom before>"


def test_audit_events_match_standard_module(scratch: Path) -> None:
    code = f"""
import sys, tempfile, ferrotemp, json
seen = []
def hook(ev, args):
    if ev in ("tempfile.mkdtemp", "shutil.rmtree"):
        seen.append([ev, [a if isinstance(a, (str, type(None))) else repr(a) for a in args]])
sys.addaudithook(hook)
out = []
for m in (tempfile, ferrotemp):
    seen.clear()
    with m.TemporaryDirectory(dir={str(scratch)!r}) as name:
        pass
    out.append([[ev, [("NAME" if a == name else a) for a in args]] for ev, args in seen])
print(json.dumps(out))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    std, ours = json.loads(proc.stdout)
    assert ours == std
    assert [ev for ev, _ in ours] == ["tempfile.mkdtemp", "shutil.rmtree"]


# -- delete=False, implicit cleanup, the lock ------------------------------------------------


def test_delete_false_keeps_the_directory_on_exit_and_collection(scratch: Path) -> None:
    with ferrotemp.TemporaryDirectory(dir=scratch, delete=False) as name:
        Path(name, "f").write_bytes(b"kept")
    assert Path(name, "f").read_bytes() == b"kept"
    tmp = ferrotemp.TemporaryDirectory(dir=scratch, delete=False)
    other = tmp.name
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        del tmp
        gc.collect()
    assert os.path.isdir(other)
    # The lock goes with the object even though the directory stays.
    fd = os.open(other, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(fd)


def test_delete_false_still_removes_on_explicit_cleanup(scratch: Path) -> None:
    tmp = ferrotemp.TemporaryDirectory(dir=scratch, delete=False)
    Path(tmp.name, "f").write_bytes(b"")
    tmp.cleanup()
    assert not os.path.exists(tmp.name)


def test_delete_false_at_interpreter_exit_keeps_the_directory(scratch: Path) -> None:
    code = f"""
import ferrotemp
keep = ferrotemp.TemporaryDirectory(dir={str(scratch)!r}, delete=False)
print(keep.name)
"""
    proc = subprocess.run(
        [sys.executable, "-W", "error::ResourceWarning", "-c", code],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert os.path.isdir(proc.stdout.strip())


def test_implicit_cleanup_warns_exactly_as_standard_module(scratch: Path) -> None:
    messages = []
    for module in (tempfile, ferrotemp):
        tmp = module.TemporaryDirectory(dir=scratch)
        name = tmp.name
        Path(name, "f").write_bytes(b"")
        with pytest.warns(ResourceWarning) as record:
            del tmp
            gc.collect()
        assert not os.path.exists(name)
        assert len(record) == 1
        messages.append(str(record[0].message).replace(name, "NAME"))
    assert messages[0] == messages[1] == "Implicitly cleaning up <TemporaryDirectory 'NAME'>"


def test_refcount_drop_removes_at_once_without_the_collector(scratch: Path) -> None:
    gc.collect()
    gc.disable()
    try:
        tmp = ferrotemp.TemporaryDirectory(dir=scratch)
        name = tmp.name
        with pytest.warns(ResourceWarning):
            del tmp
        assert not os.path.exists(name)
    finally:
        gc.enable()


def test_finalizer_answers_as_weakref_finalize_does(scratch: Path) -> None:
    # `tmp._finalizer` is private, yet code in the wild detaches it to keep a directory: it
    # answers as the standard module's weakref.finalize, side by side.
    seen = []
    for module in (tempfile, ferrotemp):
        tmp = module.TemporaryDirectory(dir=scratch)
        name = tmp.name
        fin = tmp._finalizer
        peeked = fin.peek()
        assert fin.alive and peeked is not None and peeked[0] is tmp
        detached = fin.detach()
        assert detached is not None and detached[0] is tmp
        assert not fin.alive and fin.detach() is None and fin.peek() is None
        # Detached: collection (even in a cycle) neither removes nor warns.
        tmp.cycle = tmp
        with warnings.catch_warnings():
            warnings.simplefilter("error", ResourceWarning)
            del tmp, detached, peeked
            gc.collect()
        seen.append(os.path.isdir(name))
        os.rmdir(name)
        # Called by hand: cleans up at once, once.
        tmp = module.TemporaryDirectory(dir=scratch)
        name = tmp.name
        with pytest.warns(ResourceWarning):
            tmp._finalizer()
        assert not os.path.exists(name) and not tmp._finalizer.alive
        tmp._finalizer()
        tmp.cleanup()
    assert seen == [True, True]


def test_directories_alive_at_exit_are_removed_newest_first(scratch: Path) -> None:
    orders = []
    for module in ("tempfile", "ferrotemp"):
        code = f"""
import {module} as m
names = []
class T(m.TemporaryDirectory):
    @classmethod
    def _cleanup(cls, first, *args, **kwargs):
        # The standard module passes the name, ferrotemp the directory's owner.
        print(names.index(getattr(first, "name", first)), flush=True)
        super()._cleanup(first, *args, **kwargs)
keep = [T(dir={str(scratch)!r}) for _ in range(3)]
names.extend(t.name for t in keep)
keep.append(keep)  # a cycle: only the exit hook can reach them
"""
        proc = subprocess.run(
            [sys.executable, "-W", "ignore::ResourceWarning", "-c", code],
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, proc.stderr
        orders.append(proc.stdout.split())
    assert orders[0] == orders[1] == ["2", "1", "0"]
    assert list(scratch.iterdir()) == []


def test_implicit_cleanup_ignores_errors_when_asked(scratch: Path) -> None:
    # A symlinked root is refused; ignore_cleanup_errors swallows that on collection too.
    tmp = ferrotemp.TemporaryDirectory(dir=scratch, ignore_cleanup_errors=True)
    name = tmp.name
    os.rmdir(name)
    os.symlink(scratch, name)
    with pytest.warns(ResourceWarning):
        del tmp
        gc.collect()
    assert os.path.islink(name)
    os.unlink(name)


def test_interpreter_exit_cleans_up_and_warns_like_standard_module(scratch: Path) -> None:
    results = []
    for module in ("tempfile", "ferrotemp"):
        code = f"""
import {module} as m, os
tmp = m.TemporaryDirectory(dir={str(scratch)!r})
os.mkdir(os.path.join(tmp.name, "sub"))
print(tmp.name)
"""
        proc = subprocess.run(
            [sys.executable, "-W", "always::ResourceWarning", "-c", code],
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, proc.stderr
        name = proc.stdout.strip()
        assert not os.path.exists(name)
        warning = [line for line in proc.stderr.splitlines() if "ResourceWarning: " in line]
        assert len(warning) == 1, proc.stderr
        results.append(warning[0].split("ResourceWarning: ")[1].replace(name, "NAME"))
    assert results[0] == results[1]


def test_live_directory_holds_a_shared_flock(scratch: Path) -> None:
    tmp = ferrotemp.TemporaryDirectory(dir=scratch)
    fd = os.open(tmp.name, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with pytest.raises(BlockingIOError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        # Shared locks coexist, as systemd-tmpfiles' own check expects.
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        with pytest.raises(BlockingIOError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        tmp.cleanup()
        # The descriptor still names the removed inode; the lock on it is gone.
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(fd)


# -- symlinks and attacks --------------------------------------------------------------------


def test_symlinks_to_outside_directories_and_files_are_unlinked_not_followed(
    scratch: Path,
) -> None:
    out = make_outside(scratch, ["a", "b"])
    os.chmod(out / "a", 0o400)
    before = snapshot(out)
    with ferrotemp.TemporaryDirectory(dir=scratch) as name:
        root = Path(name)
        (root / "sub" / "deeper").mkdir(parents=True)
        os.symlink(out, root / "to-dir")
        os.symlink(out / "a", root / "to-file")
        os.symlink(out / "nested", root / "sub" / "to-nested")
        os.symlink(out, root / "sub" / "deeper" / "to-dir")
        os.symlink("../../..", root / "sub" / "deeper" / "relative-up")
        os.symlink(root / "dangling", root / "sub" / "dangling")
    assert not os.path.lexists(name)
    assert snapshot(out) == before
    assert sorted(os.listdir(scratch)) == ["outside"]


def _renameat2_exchange() -> Any:
    libc = ctypes.CDLL(None, use_errno=True)
    try:
        func = libc.renameat2
    except AttributeError:
        pytest.skip("libc has no renameat2")
    func.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    func.restype = ctypes.c_int
    at_fdcwd, rename_exchange = -100, 2

    def exchange(a: bytes, b: bytes) -> int:
        if func(at_fdcwd, a, at_fdcwd, b, rename_exchange) == 0:
            return 0
        return ctypes.get_errno()

    return exchange


def test_attacker_exchanging_a_subdirectory_for_a_symlink_never_redirects_cleanup(
    scratch: Path,
) -> None:
    exchange = _renameat2_exchange()
    names = [f"f{i:02}" for i in range(40)]
    out = make_outside(scratch, names)
    before = snapshot(out)
    probe = scratch / "probe"
    probe.mkdir()
    os.symlink(out, scratch / "probe-link")
    if exchange(bytes(scratch / "probe-link"), bytes(probe)) != 0:
        pytest.skip("this filesystem does not support RENAME_EXCHANGE")
    os.unlink(probe)
    os.rmdir(scratch / "probe-link")

    swaps = 0
    single_shot_hits = 0
    failures = 0
    # At least 100 rounds; on a loaded machine, more (up to 400) until the attack is seen to land.
    for round_no in range(400):
        if round_no >= 100 and single_shot_hits >= 10 and swaps >= 200:
            break
        link = scratch / f"link{round_no}"
        os.symlink(out, link)
        tmp = ferrotemp.TemporaryDirectory(dir=scratch)
        root = Path(tmp.name)
        for sub in ("a", "victim", "z"):
            (root / sub / "nested").mkdir(parents=True)
            for name in names:
                (root / sub / name).write_bytes(b"tree")
                (root / sub / "nested" / name).write_bytes(b"tree")
        victim = bytes(root / "victim")
        # Rounds vary the moment of the first exchange; odd rounds keep exchanging back and
        # forth until cleanup returns, so the walk meets both states.
        delay = (round_no % 25) * 20e-6
        keep_going = round_no % 2 == 1
        done = threading.Event()
        started = threading.Event()
        count = [0]

        def attack(
            link: bytes = bytes(link),
            victim: bytes = victim,
            delay: float = delay,
            keep_going: bool = keep_going,
            started: threading.Event = started,
            done: threading.Event = done,
            count: list[int] = count,
        ) -> None:
            started.set()
            deadline = time.perf_counter() + delay
            while time.perf_counter() < deadline:
                pass
            while True:
                if exchange(link, victim) == 0:
                    count[0] += 1
                if not keep_going or done.is_set():
                    return

        attacker = threading.Thread(target=attack)
        attacker.start()
        started.wait()
        try:
            tmp.cleanup()
        except OSError:
            failures += 1  # the walk may refuse a directory that changed under it
        finally:
            done.set()
            attacker.join()
        swaps += count[0]
        if not keep_going and count[0]:
            single_shot_hits += 1
        assert snapshot(out) == before, f"round {round_no}: the outside changed"
        # Whatever sits at the link's place now (the symlink or the exchanged-out directory)
        # and whatever was left of the tree go, without following anything.
        for leftover in (link, root):
            if os.path.islink(leftover):
                os.unlink(leftover)
            elif os.path.lexists(leftover):
                shutil.rmtree(leftover)
        assert snapshot(out) == before
    # The attack really ran: single exchanges landed in a good share of the one-shot rounds
    # and the back-and-forth rounds exchanged many times (idle, 100 rounds give several times
    # these counts; a loaded machine gets more rounds to reach them).
    assert single_shot_hits >= 10, single_shot_hits
    assert swaps >= 200, swaps
    assert sorted(os.listdir(scratch)) == ["outside"], failures


# -- permissions -----------------------------------------------------------------------------


@needs_setpriv
def test_read_only_tree_is_removed_without_dac_override_and_link_targets_keep_modes(
    scratch: Path,
) -> None:
    out = make_outside(scratch, ["target"])
    os.chmod(out / "target", 0o400)
    os.chmod(out / "nested", 0o500)
    before = snapshot(out)
    code = f"""
import os, ferrotemp
out = {str(out)!r}
tmp = ferrotemp.TemporaryDirectory(dir={str(scratch)!r})
root = tmp.name
os.makedirs(os.path.join(root, "a", "b", "c"))
for d in ("a", "a/b", "a/b/c"):
    with open(os.path.join(root, d, "file"), "w") as f:
        f.write("x")
    os.chmod(os.path.join(root, d, "file"), 0o400)
os.symlink(os.path.join(out, "target"), os.path.join(root, "a", "b", "to-target"))
os.symlink(os.path.join(out, "nested"), os.path.join(root, "a", "to-nested"))
for d in ("a/b/c", "a/b", "a", ""):
    os.chmod(os.path.join(root, d), 0o500)
try:
    os.unlink(os.path.join(root, "a", "file"))
except PermissionError:
    print("read-only for real")
tmp.cleanup()
print(os.path.lexists(root))
"""
    proc = run_without_dac(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:2] == ["read-only for real", "False"]
    assert snapshot(out) == before
    assert stat.S_IMODE(os.stat(out / "target").st_mode) == 0o400
    assert sorted(os.listdir(scratch)) == ["outside"]


@needs_setpriv
def test_cleanup_error_is_raised_like_standard_module_or_ignored_when_asked(
    scratch: Path,
) -> None:
    # A read-only directory owned by someone else: without CAP_FOWNER its mode cannot be
    # fixed, so the file in it cannot be removed, by either module.
    code = f"""
import os, json, tempfile, ferrotemp
def tree(m, base={str(scratch)!r}, **kw):
    tmp = m.TemporaryDirectory(dir=base, **kw)
    root = os.fsdecode(tmp.name)
    locked = os.path.join(root, "locked")
    os.mkdir(locked)
    open(os.path.join(locked, "file"), "w").close()
    open(os.path.join(root, "free"), "w").close()
    os.chmod(locked, 0o555)
    os.chown(locked, 65534, 65534)
    return tmp
out = {{}}
for m in (tempfile, ferrotemp):
    tmp = tree(m)
    try:
        tmp.cleanup()
        out[m.__name__] = None
    except OSError as e:
        out[m.__name__] = [type(e).__name__, e.errno, os.fsdecode(e.filename), tmp.name]
ignored = tree(ferrotemp, ignore_cleanup_errors=True)
ignored.cleanup()
out["ignored"] = sorted(os.listdir(ignored.name))
bytes_tmp = tree(ferrotemp, os.fsencode({str(scratch)!r}))
try:
    bytes_tmp.cleanup()
except OSError as e:
    out["bytes_filename"] = type(e.filename).__name__
print(json.dumps(out))
"""
    proc = run_without_dac(code)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    std, ours = out["tempfile"], out["ferrotemp"]
    assert std is not None and ours is not None
    assert ours[0] == std[0] == "PermissionError"
    assert ours[1] in (errno.EACCES, errno.EPERM)
    assert ours[2].startswith(ours[3] + os.sep)
    # What could be removed was; only the locked directory stays.
    assert out["ignored"] == ["locked"]
    assert out["bytes_filename"] == "bytes"


# -- size and depth --------------------------------------------------------------------------


def test_100000_entry_tree_is_removed_with_the_gil_released(scratch: Path) -> None:
    out = make_outside(scratch, ["a"])
    before = snapshot(out)
    tmp = ferrotemp.TemporaryDirectory(dir=scratch)
    root_fd = os.open(tmp.name, os.O_RDONLY | os.O_DIRECTORY)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    try:
        for d in range(100):
            os.mkdir(f"d{d}", dir_fd=root_fd)
            sub_fd = os.open(f"d{d}", os.O_RDONLY | os.O_DIRECTORY, dir_fd=root_fd)
            try:
                for f in range(999):
                    os.close(os.open(f"f{f}", flags, 0o600, dir_fd=sub_fd))
                os.symlink(out, "to-outside", dir_fd=sub_fd)
            finally:
                os.close(sub_fd)
    finally:
        os.close(root_fd)

    # A thread that wakes every millisecond and needs the GIL to count the wake-up: were the
    # GIL held through the removal, it could count at most once while cleanup runs.
    ticks = [0]
    stop = threading.Event()

    def count() -> None:
        while not stop.is_set():
            time.sleep(0.001)
            ticks[0] += 1

    counter = threading.Thread(target=count)
    counter.start()
    try:
        time.sleep(0.01)
        start, started = ticks[0], time.perf_counter()
        tmp.cleanup()
        elapsed, during = time.perf_counter() - started, ticks[0] - start
    finally:
        stop.set()
        counter.join()
    assert not os.path.lexists(tmp.name)
    assert snapshot(out) == before
    assert elapsed > 0.02, "too fast to tell whether the GIL was released"
    assert during >= 3, (elapsed, during)


def test_depth_10000_tree_is_removed(scratch: Path) -> None:
    out = make_outside(scratch, ["a"])
    before = snapshot(out)
    tmp = ferrotemp.TemporaryDirectory(dir=scratch)
    fd = os.open(tmp.name, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for level in range(10_000):
            os.mkdir("d", dir_fd=fd)
            if level % 1000 == 0:
                os.symlink(out, "to-outside", dir_fd=fd)
                os.close(os.open("file", os.O_WRONLY | os.O_CREAT, dir_fd=fd))
            child = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = child
    finally:
        os.close(fd)
    open_before = len(os.listdir("/proc/self/fd"))
    tmp.cleanup()
    # Only the lock's descriptor is gone: the walk leaked none.
    assert len(os.listdir("/proc/self/fd")) == open_before - 1
    assert not os.path.lexists(tmp.name)
    assert snapshot(out) == before
    assert sorted(os.listdir(scratch)) == ["outside"]


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_NOFILE is POSIX")
def test_many_live_directories_need_no_descriptor_each(tmp_path: Path) -> None:
    # Each live directory normally holds a descriptor for its lock; out of descriptors, it
    # lives unlocked rather than failing where the standard module would not.
    code = f"""
import resource, os, ferrotemp
resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
dirs = [ferrotemp.TemporaryDirectory(dir={str(tmp_path)!r}) for _ in range(200)]
print(sum(os.path.isdir(d.name) for d in dirs))
for d in dirs:
    d.cleanup()
print(len(os.listdir({str(tmp_path)!r})))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["200", "0"]


# --- mount points inside a tree (issue 12, item 4) ---------------------------------------

needs_mount = pytest.mark.skipif(
    sys.platform != "linux" or os.geteuid() != 0 or shutil.which("mount") is None,
    reason="mounting a bind mount or a tmpfs needs root and mount(8) on Linux",
)


@contextlib.contextmanager
def mounted(source: str | None, target: str) -> Iterator[str]:
    """A bind mount of ``source`` (a tmpfs when ``None``) at ``target``, unmounted on exit."""
    os.makedirs(target, exist_ok=True)
    if source is None:
        cmd = ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", target]
    else:
        cmd = ["mount", "--bind", source, target]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"mount refused here: {done.stderr.strip()}")
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", target], check=False)


def plant_canaries(top: str) -> dict[str, bytes]:
    """Files in ``top`` (and a subdirectory) that must survive; returns path → content."""
    os.makedirs(os.path.join(top, "sub"), exist_ok=True)
    canaries = {
        os.path.join(top, "canary"): b"precious",
        os.path.join(top, "sub", "canary"): b"deeper",
    }
    for path, data in canaries.items():
        with open(path, "wb") as f:
            f.write(data)
    return canaries


def assert_intact(canaries: dict[str, bytes]) -> None:
    for path, data in canaries.items():
        with open(path, "rb") as f:
            assert f.read() == data, path


@needs_mount
@pytest.mark.parametrize("kind", ["bind", "tmpfs"])
def test_cleanup_reports_a_mount_point_inside_and_never_enters_it(
    tmp_path: Path, kind: str
) -> None:
    # shutil.rmtree (the standard module's cleanup) would delete the mounted files and then
    # fail rmdir with EBUSY; ferrotemp does not descend: it names the mount point (EBUSY) and
    # removes the rest.
    outside = str(tmp_path / "outside")
    os.mkdir(outside)
    td = ferrotemp.TemporaryDirectory(dir=tmp_path)
    with open(os.path.join(td.name, "ordinary"), "wb") as f:
        f.write(b"x")
    point = os.path.join(td.name, "deep", "mnt")
    try:
        with mounted(outside if kind == "bind" else None, point):
            canaries = plant_canaries(outside if kind == "bind" else point)
            with pytest.raises(OSError) as info:
                td.cleanup()
            assert info.value.errno == errno.EBUSY
            assert info.value.filename == point
            assert_intact(canaries)
            assert not os.path.exists(os.path.join(td.name, "ordinary"))
            assert os.listdir(td.name) == ["deep"]
    finally:
        shutil.rmtree(td.name, ignore_errors=True)


GUARDED_DIR_CHILD = """
import json, sys, time, ferrotemp
d = ferrotemp.TemporaryDirectory(prefix="myapp_", dir=sys.argv[1])
open(d.name + "/ordinary", "wb").close()
print(json.dumps(d.name), flush=True)
time.sleep(600)
"""


@needs_mount
@pytest.mark.parametrize("sweep", ["registry", "age"])
def test_sweeps_of_a_dead_process_directory_never_enter_a_mount_inside(
    tmp_path: Path, sweep: str
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    outside = str(tmp_path / "outside")
    os.mkdir(outside)
    canaries = plant_canaries(outside)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FERROTEMP_")}
    env["FERROTEMP_GUARD_DIR"] = str(root / f"ferrotemp-guard-{os.geteuid()}")
    env["FERROTEMP_GUARD_SWEEP"] = "0"
    child = subprocess.Popen(
        [sys.executable, "-c", GUARDED_DIR_CHILD, str(root)],
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    assert child.stdout is not None
    name = json.loads(child.stdout.readline())
    bound = os.path.join(name, "bound")
    tmpfs = os.path.join(name, "sub", "tmp")
    try:
        with contextlib.ExitStack() as mounts:
            mounts.enter_context(mounted(outside, bound))
            if sweep == "registry":
                # The age sweep already skipped trees holding another device; a bind mount
                # of the same filesystem is what it missed.
                mounts.enter_context(mounted(None, tmpfs))
                canaries.update(plant_canaries(tmpfs))
            child.kill()
            child.wait()
            if sweep == "registry":
                report = ferrotemp.sweep(root)
                failed = {path for path, _ in report.errors}
                assert {bound, tmpfs} <= failed, report
                assert not os.path.exists(os.path.join(name, "ordinary"))
            else:
                time.sleep(1.3)  # past a one-second cutoff (change times cannot be set back)
                report = sweep_older_than(root, "myapp_", 1)
                assert (name, "other_filesystem") in report.skipped, report
                assert os.path.exists(os.path.join(name, "ordinary"))
            assert_intact(canaries)
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
        child.stdout.close()
        shutil.rmtree(name, ignore_errors=True)


# --- a scratch directory reset by its owner (issue 11, item 2) ----------------------------


def reset_by_owner(name: str) -> None:
    """What scratch-reset code does: throw the directory away and make it again, with data."""
    shutil.rmtree(name)
    os.mkdir(name)
    os.mkdir(os.path.join(name, "sub"))
    with open(os.path.join(name, "sub", "data"), "wb") as f:
        f.write(b"new data")


def finish(holder: list[Any], how: str) -> None:
    """Ends the life of the one object in ``holder`` the way ``how`` says (the caller holds
    no other reference, so ``gc`` really collects it); nothing may be raised."""
    td = holder.pop()
    if how == "exit":
        td.__exit__(None, None, None)
    elif how in ("cleanup", "ignore_cleanup_errors"):
        td.cleanup()
    else:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            del td
            gc.collect()
        assert [w.category for w in caught] == [ResourceWarning]


@pytest.mark.parametrize("how", ["exit", "cleanup", "ignore_cleanup_errors", "gc"])
@pytest.mark.parametrize("module", [tempfile, ferrotemp], ids=["tempfile", "ferrotemp"])
def test_a_directory_reset_by_its_owner_is_removed_as_the_standard_module_does(
    tmp_path: Path, module: Any, how: str
) -> None:
    kwargs = {"ignore_cleanup_errors": True} if how == "ignore_cleanup_errors" else {}
    td = module.TemporaryDirectory(dir=tmp_path, **kwargs)
    name = td.__enter__() if how == "exit" else td.name
    reset_by_owner(name)
    holder = [td]
    del td
    finish(holder, how)
    assert not os.path.lexists(name)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("module", [tempfile, ferrotemp], ids=["tempfile", "ferrotemp"])
def test_a_symlink_put_in_place_is_never_followed_nor_removed(tmp_path: Path, module: Any) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "canary").write_bytes(b"precious")
    td = module.TemporaryDirectory(dir=tmp_path)
    shutil.rmtree(td.name)
    os.symlink(outside, td.name)
    with pytest.raises(OSError) as info:
        td.cleanup()
    if module is ferrotemp:
        # The standard module's error has no errno (shutil's "Cannot call rmtree on a symbolic
        # link"); ferrotemp's is the one O_NOFOLLOW gives.
        assert info.value.errno == errno.ELOOP
        assert info.value.filename == td.name
    assert os.path.islink(td.name)
    assert (outside / "canary").read_bytes() == b"precious"
    os.unlink(td.name)


def has_capability(bit: int) -> bool:
    """Whether this process holds the capability numbered ``bit`` (Linux) in its effective set."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> bit & 1)
    return False


CAP_DAC_OVERRIDE = 1
CAP_FOWNER = 3


def give_away(name: str, uid: int) -> None:
    """Gives the tree ``reset_by_owner`` made to ``uid``."""
    for path in (name, os.path.join(name, "sub"), os.path.join(name, "sub", "data")):
        os.chown(path, uid, uid, follow_symlinks=False)


@pytest.mark.skipif(
    sys.platform != "linux" or os.geteuid() != 0, reason="chown to another user needs root"
)
@pytest.mark.parametrize("how", ["exit", "cleanup", "ignore_cleanup_errors", "gc"])
def test_another_users_directory_put_in_place_is_left_alone(tmp_path: Path, how: str) -> None:
    # The standard module, under this process's privileges: it removes the other user's tree
    # when it may (root with DAC override, or CAP_FOWNER to chmod it writable); without them
    # (make test's no-dac runs) its chmod of the other user's directory fails (EPERM).
    may_override = has_capability(CAP_DAC_OVERRIDE) or has_capability(CAP_FOWNER)
    std = tempfile.TemporaryDirectory(dir=tmp_path)
    reset_by_owner(std.name)
    give_away(std.name, 65534)
    try:
        std.cleanup()
    except PermissionError as err:
        assert not may_override, err
        assert err.errno == errno.EPERM
        assert os.path.exists(os.path.join(std.name, "sub", "data"))
        give_away(std.name, os.geteuid())
        shutil.rmtree(std.name)
    else:
        assert may_override
        assert not os.path.lexists(std.name)
    # ferrotemp never removes it (EPERM: not this owner's), with or without those privileges.
    td = ferrotemp.TemporaryDirectory(
        dir=tmp_path, ignore_cleanup_errors=(how == "ignore_cleanup_errors")
    )
    name = td.name
    reset_by_owner(name)
    give_away(name, 65534)
    if how in ("exit", "cleanup"):
        with pytest.raises(PermissionError) as info:
            td.cleanup() if how == "cleanup" else td.__exit__(None, None, None)
        assert info.value.errno == errno.EPERM
        assert info.value.filename == name
    elif how == "gc":
        # As any error of a collected TemporaryDirectory's cleanup: reported as unraisable.
        seen: list[Any] = []
        old_hook = sys.unraisablehook
        sys.unraisablehook = seen.append
        try:
            del td
            gc.collect()
        finally:
            sys.unraisablehook = old_hook
        assert [type(u.exc_value) for u in seen] == [PermissionError]
        assert seen[0].exc_value.filename == name
    else:
        holder = [td]
        del td
        finish(holder, how)
    with open(os.path.join(name, "sub", "data"), "rb") as f:
        assert f.read() == b"new data"
    # Taken back first: without DAC override root may not empty another user's directory.
    give_away(name, os.geteuid())
    shutil.rmtree(name)
    assert os.listdir(tmp_path) == []


OTHER_USER_CHILD = """
import json, os, shutil, sys, {module} as m
td = m.TemporaryDirectory(dir=sys.argv[1])
shutil.rmtree(td.name)
print(json.dumps(td.name), flush=True)
sys.stdin.readline()  # root now puts its own directory at the path
try:
    td.cleanup()
    print(json.dumps(None))
except OSError as e:
    print(json.dumps([type(e).__name__, e.errno, e.filename]))
"""


#: How the child runs, held to file modes: as the user nobody, or as root without the
#: capabilities that override them (make test's no-dac runs drop the same).
AS_NOBODY = ["--reuid=65534", "--regid=65534", "--clear-groups"]
WITHOUT_DAC = ["--bounding-set=-dac_override,-dac_read_search,-fowner", "--inh-caps=-all"]

PROBE_CHILD = (
    "import json, os, sys, tempfile; "
    "print(json.dumps([sys.version, tempfile.__file__, os.geteuid()]))"
)

#: Run as root in a private mount namespace of the child's own: makes the interpreter's
#: installation ($3) reachable by others when a directory above it ($2, e.g. pyenv's /root)
#: is closed to them: a tmpfs over that directory holds only a bind mount of the installation.
#: Nothing outside the namespace sees it; it ends with the child.
REACH_INTERPRETER = """
set -e
umask 022
stage=$1 closed=$2 prefix=$3
shift 3
mount --bind "$prefix" "$stage"
mount -t tmpfs -o mode=0755 ferrotemp-test "$closed"
mkdir -p "$prefix"
mount --bind "$stage" "$prefix"
exec "$@"
"""


def closed_ancestor(path: str) -> str | None:
    """The topmost directory above ``path`` that others may not enter, if any."""
    parts = path.split(os.sep)
    for depth in range(2, len(parts) + 1):
        ancestor = os.sep.join(parts[:depth])
        if not os.stat(ancestor).st_mode & stat.S_IXOTH:
            return ancestor
    return None


def child_command(who: str, stage: str) -> list[str]:
    """The command prefix running the child as ``who``; the nobody's reaches this
    interpreter's installation through a mount namespace when it lies under a closed
    directory (``stage`` is an empty directory for it)."""
    if who != "nobody":
        return ["setpriv", *WITHOUT_DAC]
    command = ["setpriv", *AS_NOBODY]
    prefix = os.path.realpath(sys.base_prefix)
    closed = closed_ancestor(prefix)
    if closed is None or shutil.which("unshare") is None:
        return command
    namespace = ["unshare", "--mount", "--propagation", "private"]
    return [*namespace, "sh", "-c", REACH_INTERPRETER, "sh", stage, closed, prefix, *command]


def unusable(command: list[str], uid: int) -> str | None:
    """Why this interpreter cannot run the child under ``command``, tried for real (e.g. its
    libpython is not found, or another Python's is, with another standard module), or None
    when it runs as itself, as ``uid``."""
    probe = subprocess.run(
        [*command, sys.executable, "-c", PROBE_CHILD], capture_output=True, text=True
    )
    if probe.returncode != 0:
        return f"{sys.executable} does not run under {command}: {probe.stderr.strip()}"
    ran = json.loads(probe.stdout)
    if ran[:2] != [sys.version, tempfile.__file__]:
        return f"{sys.executable} under {command} runs another Python: {ran}"
    assert ran[2] == uid, ran
    return None


@pytest.mark.skipif(
    sys.platform != "linux" or os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="needs root and setpriv to run without privileges",
)
@pytest.mark.parametrize("who", ["nobody", "root-without-dac"])
@pytest.mark.parametrize("module", ["tempfile", "ferrotemp"])
def test_unprivileged_another_users_directory_put_in_place_is_left(module: str, who: str) -> None:
    # A shared directory without the sticky bit: the child may remove anything in it, so the
    # standard module removes the directory another user put at its path; ferrotemp leaves it
    # (EPERM). The child is an ordinary user (the directory is root's), or root held to file
    # modes (the directory is given to nobody).
    # pytest's tmp_path (and maybe TMPDIR) lies under a directory only root may enter.
    shared = tempfile.mkdtemp(prefix="ft-shared-", dir="/tmp")
    stage = tempfile.mkdtemp(prefix="ft-stage-", dir="/tmp")
    try:
        command = child_command(who, stage)
        reason = unusable(command, 65534 if who == "nobody" else 0)
        if reason is not None:
            assert who == "nobody", reason  # root without DAC runs the venv's Python always
            pytest.skip(reason)
        os.chmod(shared, 0o777)
        other_user_resets(shared, module, command, 0 if who == "nobody" else 65534)
    finally:
        for top, dirs, files in os.walk(shared):
            for entry in dirs + files:
                os.lchown(os.path.join(top, entry), os.geteuid(), os.getegid())
        shutil.rmtree(shared)
        os.rmdir(stage)


def other_user_resets(shared: str, module: str, command: list[str], owner: int) -> None:
    child = subprocess.Popen(
        [*command, sys.executable, "-c"] + [OTHER_USER_CHILD.format(module=module), shared],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None and child.stdin is not None
    line = child.stdout.readline()
    if not line:
        _, err = child.communicate(timeout=60)
        raise AssertionError(err)
    name = json.loads(line)
    os.mkdir(name, 0o777)
    os.chmod(name, 0o777)
    with open(os.path.join(name, "root-data"), "wb") as f:
        f.write(b"root's")
    for path in (name, os.path.join(name, "root-data")):
        os.chown(path, owner, owner)
    out, err = child.communicate("go\n", timeout=60)
    assert child.returncode == 0, err
    result = json.loads(out)
    if module == "tempfile":
        assert result is None
        assert not os.path.exists(name)
    else:
        assert result == ["PermissionError", errno.EPERM, name]
        assert os.stat(name).st_uid == owner
        with open(os.path.join(name, "root-data"), "rb") as f:
            assert f.read() == b"root's"


# --- descriptors held by live directories (issue 12, item 7) ------------------------------

OPENS_AFTER_200_DIRS = """
import os, resource, sys, importlib
mod = importlib.import_module(sys.argv[1])
resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
dirs = [mod.TemporaryDirectory(dir=sys.argv[2]) for _ in range(200)]
fds = []
try:
    while True:
        fds.append(os.open(os.devnull, os.O_RDONLY))
except OSError as e:
    assert e.errno == 24, e
for fd in fds:
    os.close(fd)
print(len(fds))
"""

#: Descriptors ferrotemp holds for as long as the process has guarded entries: the crash
#: guard's record (README, "Descriptors").
FIXED_DESCRIPTORS = 1


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_NOFILE is POSIX")
def test_live_directories_leave_the_user_the_descriptors_the_standard_module_leaves(
    tmp_path: Path,
) -> None:
    # The background sweep's descriptors are transient and not what is measured here.
    env = {**os.environ, "FERROTEMP_GUARD_SWEEP": "0"}
    opens: dict[str, int] = {}
    for module in ("tempfile", "ferrotemp"):
        out = subprocess.run(
            [sys.executable, "-c", OPENS_AFTER_200_DIRS, module, str(tmp_path)],
            capture_output=True,
            text=True,
            env=env,
        )
        assert out.returncode == 0, out.stderr
        opens[module] = int(out.stdout)
    lock_share = min(64, 64 // 16)
    assert opens["tempfile"] > 50
    assert opens["tempfile"] - opens["ferrotemp"] <= lock_share + FIXED_DESCRIPTORS, opens


# --- audit events of a cleanup (issue 11, item 5) -----------------------------------------

AUDITED_CLEANUP = """
import gc, json, os, sys, importlib
mod = importlib.import_module(sys.argv[1])
how, veto = sys.argv[2], sys.argv[3]
td = mod.TemporaryDirectory(dir=sys.argv[4])
top = td.name
for d in ("a", "a/b", "c"):
    os.mkdir(os.path.join(top, d))
for f in ("f1", "a/f2", "a/b/f3", "c/f4", "a/f5"):
    open(os.path.join(top, f), "w").close()
os.symlink("/etc", os.path.join(top, "link"))
WANTED = {"open", "os.scandir", "os.remove", "os.rmdir", "shutil.rmtree"}
events = []

recording = True

def hook(event, args):
    if not recording or event not in WANTED:
        return
    if event == "os.scandir":  # its one argument is a descriptor: which one is not compared
        args = ()
    elif event == "open":  # (path, mode, flags): flags are the walker's own
        args = args[:2]
    elif event in ("os.remove", "os.rmdir"):  # (name, dir_fd): -1 means by path
        args = (args[0], args[1] == -1)
    events.append([event, [str(a).replace(top, "<top>") for a in args]])
    if veto and event + ":" + (str(args[0]) if args else "") == veto:
        raise RuntimeError("vetoed " + veto)

sys.addaudithook(hook)
raised = None
try:
    if how == "cleanup":
        td.cleanup()
    elif how == "exit":
        td.__exit__(None, None, None)
    else:
        del td
        gc.collect()
except RuntimeError as e:
    raised = str(e)
recording = False
left = sorted(
    os.path.relpath(os.path.join(r, n), top) for r, ds, fs in os.walk(top) for n in ds + fs
)
print(json.dumps({"events": events, "raised": raised, "left": left}))
"""


def audited_cleanup(tmp_path: Path, module: str, how: str, veto: str = "") -> Any:
    work = tmp_path / module
    work.mkdir()
    out = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", AUDITED_CLEANUP, module, how, veto, str(work)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.mark.parametrize("how", ["cleanup", "exit", "gc"])
def test_cleanup_raises_the_standard_modules_audit_events_in_its_order(
    tmp_path: Path, how: str
) -> None:
    # Same tree, same parent directory: the same listing order on the same filesystem.
    expected = audited_cleanup(tmp_path, "tempfile", how)
    got = audited_cleanup(tmp_path, "ferrotemp", how)
    names = [event for event, _ in expected["events"]]
    assert {"open", "os.scandir", "os.remove", "os.rmdir", "shutil.rmtree"} <= set(names)
    assert got["events"] == expected["events"]
    assert got["left"] == expected["left"] == []


@pytest.mark.parametrize("veto", ["os.remove:f2", "open:b", "os.rmdir:a", "os.scandir:"])
def test_a_raising_audit_hook_stops_the_cleanup_before_the_step(tmp_path: Path, veto: str) -> None:
    expected = audited_cleanup(tmp_path, "tempfile", "cleanup", veto)
    got = audited_cleanup(tmp_path, "ferrotemp", "cleanup", veto)
    assert expected["raised"] == got["raised"] == f"vetoed {veto}"
    assert got["events"] == expected["events"]
    # What the vetoed step would have removed is still there, as with the standard module.
    assert got["left"] == expected["left"] != []


@needs_mount
def test_age_sweep_never_empties_a_bind_mount_named_like_its_prefix(tmp_path: Path) -> None:
    # A top-level entry that is itself a bind mount of the same filesystem (same device):
    # removal refuses a root mounted over (EBUSY), and the files on it stay.
    root = tmp_path / "root"
    root.mkdir()
    outside = str(tmp_path / "outside")
    os.mkdir(outside)
    canaries = plant_canaries(outside)
    point = str(root / "myapp_bound")
    with mounted(outside, point):
        time.sleep(1.3)  # past a one-second cutoff (change times cannot be set back)
        report = sweep_older_than(root, "myapp_", 1)
        assert point not in report.paths
        assert point in {path for path, _ in report.errors} | {p for p, _ in report.skipped}
        assert_intact(canaries)
