"""The example Rust+Python hybrid (``examples/hybrid``, module ``ferrotemp_hybrid_example``):
a PyO3 extension of its own, linking its own copy of the core, that makes temporaries in Rust
and returns them through ``ferrotemp::python``.

Its objects are compared side by side with what ``ferrotemp`` itself returns (and the standard
module where the behaviour is the standard module's): same types, same attributes, same
``delete``/keep behaviour, same errors. Its crash-guard entries are tested with real processes
killed with SIGKILL, each with a private registry (``FERROTEMP_GUARD_DIR``).
"""

from __future__ import annotations

import errno
import gc
import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import ferrotemp
import ferrotemp_hybrid_example as hybrid
import pytest
from _support import guard_env

pytestmark = pytest.mark.skipif(
    sys.platform == "win32", reason="ferrotemp::python converts files on POSIX only"
)

REGISTRY_NAME = f"ferrotemp-guard-{os.geteuid()}" if hasattr(os, "geteuid") else ""


def shape(wrapper: Any) -> dict[str, Any]:
    """What a `NamedTemporaryFile` object looks like from Python, paths aside."""
    buffer = getattr(wrapper.file, "buffer", wrapper.file)
    raw = buffer.raw
    return {
        "wrapper": type(wrapper),
        "file": type(wrapper.file),
        "buffer": type(buffer),
        "raw": type(raw),
        "closer": type(wrapper._closer),
        "name": type(wrapper.name),
        "raw_name_is_path": raw.name == wrapper.name,
        "raw_name_is_fd": raw.name == raw.fileno(),
        "mode": wrapper.file.mode,
        "raw_mode": raw.mode,
        "closefd": raw.closefd,
        "delete": wrapper._closer.delete,
        "delete_on_close": wrapper._closer.delete_on_close,
        "wrapper_delete": getattr(wrapper, "delete", "absent"),
        "absolute": os.path.isabs(wrapper.name),
    }


def test_the_extension_exports_its_own_init_only() -> None:
    # The core is an rlib with no module of its own: a hybrid's shared library must not
    # carry ferrotemp's `PyInit__core`.
    import ctypes
    import glob

    # maturin puts the module in a package beside its stub: the library is inside.
    (path,) = glob.glob(os.path.join(os.path.dirname(hybrid.__file__), "*.so"))
    library = ctypes.CDLL(path)
    assert hasattr(library, "PyInit_ferrotemp_hybrid_example")
    assert not hasattr(library, "PyInit__core")


# -- NamedTemporaryFile ------------------------------------------------------------------------


def test_a_rendered_file_is_exactly_what_named_temporary_file_returns() -> None:
    made = hybrid.render("hello")
    with ferrotemp.NamedTemporaryFile(suffix=".txt") as reference:
        assert shape(made) == shape(reference)
    with tempfile.NamedTemporaryFile() as standard:
        assert type(made.name) is type(standard.name) is str
        raws: list[Any] = [made.file.raw, standard.file.raw]  # type: ignore[attr-defined]
        assert (raws[0].name == made.name) == (raws[1].name == standard.name)
    assert os.fspath(made.name) == made.name
    assert os.path.dirname(made.name) == ferrotemp.gettempdir()
    assert made.name.endswith(".txt")
    assert os.stat(made.name).st_mode & 0o777 == 0o600
    assert made.read() == b"hello"
    made.close()


def test_a_text_mode_file_is_what_named_temporary_file_w_plus_returns() -> None:
    made = hybrid.render_text("h\u00e9")
    with ferrotemp.NamedTemporaryFile("w+", encoding="utf-8") as reference:
        assert shape(made) == shape(reference)
        assert type(made.file) is type(reference.file)
        files: list[Any] = [made.file, reference.file]
        assert files[0].encoding == files[1].encoding == "utf-8"
    assert made.read() == "h\u00e9"
    made.write("!")
    made.seek(0)
    assert made.read() == "h\u00e9!"
    made.close()


def test_a_temp_path_converts_to_the_same_object_reopened() -> None:
    made = hybrid.render_path("path")
    with ferrotemp.NamedTemporaryFile(suffix=".txt") as reference:
        assert shape(made) == shape(reference)
    assert made.read() == b"path"
    name = made.name
    made.close()
    assert not os.path.exists(name)


def test_dropping_a_rendered_file_removes_it_at_once() -> None:
    made = hybrid.render("x")
    name = made.name
    assert os.path.exists(name)
    del made
    assert not os.path.exists(name)


def test_a_bound_method_keeps_the_file_as_in_python() -> None:
    made = hybrid.render("x")
    name = made.name
    read = made.read
    del made
    assert os.path.exists(name)
    assert read() == b"x"
    del read
    assert not os.path.exists(name)


@pytest.mark.parametrize("delete_on_close", [True, False])
def test_close_and_exit_remove_as_delete_on_close_says(delete_on_close: bool) -> None:
    made = hybrid.render_text("x", delete_on_close=delete_on_close)
    reference = ferrotemp.NamedTemporaryFile("w+", delete_on_close=delete_on_close)
    for f in (made, reference):
        with f:
            f.close()
            assert os.path.exists(f.name) == (not delete_on_close)
        assert not os.path.exists(f.name)


def test_a_kept_file_stays_as_with_delete_false() -> None:
    made = hybrid.render("kept", keep=True)
    reference = ferrotemp.NamedTemporaryFile(delete=False)
    try:
        assert shape(made) | {"name": None} == shape(reference) | {"name": None}
        for f in (made, reference):
            with f:
                pass
            assert os.path.exists(f.name)
        name = made.name
        del made
        gc.collect()
        assert os.path.exists(name)
        with open(name, "rb") as again:
            assert again.read() == b"kept"
    finally:
        os.unlink(name)
        os.unlink(reference.name)


@pytest.mark.parametrize("factory", ["hybrid", "ferrotemp"])
def test_delete_set_on_the_closer_rules_as_in_python(factory: str) -> None:
    # Turned off after creation: kept; turned on for a kept file: removed at close.
    def make(keep: bool) -> Any:
        if factory == "hybrid":
            return hybrid.render("x", keep=keep)
        return ferrotemp.NamedTemporaryFile(delete=not keep)

    dropped = make(keep=False)
    dropped._closer.delete = False
    dropped.close()
    assert os.path.exists(dropped.name)
    os.unlink(dropped.name)

    revived = make(keep=True)
    revived._closer.delete = True
    revived.close()
    assert not os.path.exists(revived.name)


def test_persist_publishes_a_rendered_file_and_nothing_removes_it(tmp_path: Path) -> None:
    made = hybrid.render("published")
    old = made.name
    dest = tmp_path / "out.txt"
    made.persist(dest, fsync=True)
    assert made.name == os.fspath(dest)
    assert not os.path.exists(old)
    made.close()
    assert dest.read_bytes() == b"published"


def test_a_failed_persist_keeps_the_file_owned_and_raises_as_ferrotemp(tmp_path: Path) -> None:
    dest = tmp_path / "missing" / "out.txt"
    made = hybrid.render("x")
    reference = ferrotemp.NamedTemporaryFile()
    errors = []
    for f in (made, reference):
        with pytest.raises(OSError) as info:
            f.persist(dest)
        errors.append((type(info.value), info.value.errno, info.value.filename))
        assert os.path.exists(f.name)
        f.close()
        assert not os.path.exists(f.name)
    assert errors[0] == errors[1]
    assert errors[0][:2] == (FileNotFoundError, errno.ENOENT)


def test_creation_errors_carry_errno_and_filename_as_named_temporary_file() -> None:
    missing = os.path.join(ferrotemp.gettempdir(), "ferrotemp-hybrid-missing", "sub")
    caught = []
    for make in (
        lambda: hybrid.render("x", suffix="", dir=missing),
        lambda: ferrotemp.NamedTemporaryFile(dir=missing),
        lambda: tempfile.NamedTemporaryFile(dir=missing),
    ):
        with pytest.raises(OSError) as info:
            make()
        caught.append(info.value)
    assert {type(e) for e in caught} == {FileNotFoundError}
    assert {e.errno for e in caught} == {errno.ENOENT}
    assert {e.strerror for e in caught} == {os.strerror(errno.ENOENT)}
    assert {os.path.dirname(e.filename) for e in caught} == {missing}


def test_a_permission_error_carries_errno_and_filename(tmp_path: Path) -> None:
    from _support import SETPRIV, run_without_dac

    if SETPRIV is None and os.geteuid() == 0:
        pytest.skip("root ignores the directory's mode and setpriv is missing to drop that")
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o500)
    code = textwrap.dedent(
        f"""
        import json, ferrotemp_hybrid_example as hybrid
        try:
            hybrid.render("x", dir={str(closed)!r})
        except OSError as e:
            print(json.dumps([type(e).__name__, e.errno, e.filename]))
        """
    )
    if os.geteuid() == 0:
        done = run_without_dac(code)
    else:
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=False
        )
    assert done.returncode == 0, done.stderr
    kind, number, filename = json.loads(done.stdout)
    assert (kind, number) == ("PermissionError", errno.EACCES)
    assert os.path.dirname(filename) == str(closed)


# -- TemporaryDirectory ------------------------------------------------------------------------


def test_a_rendered_directory_is_a_ferrotemp_temporary_directory() -> None:
    made = hybrid.render_dir([("a.txt", "A"), ("b.txt", "B")])
    reference = ferrotemp.TemporaryDirectory()
    try:
        assert type(made) is type(reference) is ferrotemp.TemporaryDirectory
        assert type(made.name) is str
        assert os.path.dirname(made.name) == os.path.dirname(reference.name)
        assert repr(made) == f"<TemporaryDirectory {made.name!r}>"
        assert os.stat(made.name).st_mode & 0o777 == 0o700
        assert sorted(os.listdir(made.name)) == ["a.txt", "b.txt", "subdir"]
        with made as path:
            assert path == made.name
            assert Path(path, "subdir", "b.txt").read_text() == "B"
        assert not os.path.exists(made.name)
        made.cleanup()  # idempotent
    finally:
        reference.cleanup()


def test_dropping_a_rendered_directory_removes_the_tree_with_the_usual_warning() -> None:
    made = hybrid.render_dir([("a.txt", "A")])
    name = made.name
    with pytest.warns(ResourceWarning, match="Implicitly cleaning up"):
        del made
        gc.collect()
    assert not os.path.exists(name)


def test_a_kept_directory_behaves_as_delete_false() -> None:
    made = hybrid.render_dir([("a.txt", "A")], keep=True)
    reference = ferrotemp.TemporaryDirectory(delete=False)
    for d in (made, reference):
        with d:
            pass
        assert os.path.isdir(d.name)
        # An explicit cleanup removes it all the same, as in Python.
        d.cleanup()
        assert not os.path.exists(d.name)

    dropped = hybrid.render_dir([("a.txt", "A")], keep=True)
    name = dropped.name
    del dropped
    gc.collect()
    try:
        assert os.path.isdir(name)
    finally:
        ferrotemp.TemporaryDirectory._rmtree(name)


def test_a_directory_cleanup_error_carries_errno_and_filename(tmp_path: Path) -> None:
    made = hybrid.render_dir([("a.txt", "A")])
    # Replaced by a file (as another process could): cleanup refuses a non-directory.
    os.rename(made.name, tmp_path / "moved")
    Path(made.name).write_text("not a directory")
    try:
        with pytest.raises(OSError) as info:
            made.cleanup()
        assert info.value.errno in (errno.ENOTDIR, errno.ELOOP, errno.ESTALE)
        assert info.value.filename == made.name
    finally:
        os.unlink(made.name)


# -- SpooledTemporaryFile ----------------------------------------------------------------------


@pytest.mark.parametrize("size", [3, 100])
def test_a_spool_is_a_ferrotemp_spooled_temporary_file(size: int) -> None:
    made = hybrid.spool(b"x" * size, 10)
    reference = ferrotemp.SpooledTemporaryFile(10)
    reference.write(b"x" * size)
    reference.seek(0)
    for f in (made, reference):
        assert type(f) is ferrotemp.SpooledTemporaryFile
        assert f._rolled == (size > 10)
        assert f.read() == b"x" * size
    assert made.mode == reference.mode
    made.write(b"y" * 20)  # past max_size: rolls over as in Python
    assert made._rolled
    made.seek(0)
    assert made.read() == b"x" * size + b"y" * 20
    made.close()
    reference.close()


# -- From Python into Rust ---------------------------------------------------------------------


def test_rust_reads_ferrotemp_files_without_taking_them() -> None:
    named = ferrotemp.NamedTemporaryFile()
    unnamed = ferrotemp.TemporaryFile()
    spooled = ferrotemp.SpooledTemporaryFile(max_size=100)
    text = ferrotemp.NamedTemporaryFile("w+", encoding="utf-8")
    for f in (named, unnamed, spooled):
        f.write(b"from python")  # buffered: the extraction flushes it
    text.write("text")
    assert hybrid.read_file(named) == b"from python"
    assert hybrid.read_file(unnamed) == b"from python"
    assert hybrid.read_file(spooled) == b"from python"
    assert hybrid.read_file(text) == b"text"
    assert hybrid.file_path(named) == named.name
    assert hybrid.file_path(unnamed) is None
    # Still Python's: open, usable, and removed when closed.
    for f in (named, unnamed, spooled):
        f.write(b"!")
        f.seek(0)
        assert f.read() == b"from python!"
    named.close()
    assert not os.path.exists(named.name)
    text.close()
    unnamed.close()
    spooled.close()


def test_rust_reads_a_file_it_rendered_and_handed_over() -> None:
    made = hybrid.render("round trip")
    assert hybrid.read_file(made) == b"round trip"
    assert made.read() == b"round trip"
    made.close()


def test_rust_lists_a_ferrotemp_directory() -> None:
    with ferrotemp.TemporaryDirectory() as path:
        Path(path, "one").touch()
        d = ferrotemp.TemporaryDirectory()
        Path(d.name, "a").touch()
        Path(d.name, "b").mkdir()
        assert hybrid.list_dir(d) == ["a", "b"]
        d.cleanup()


def test_other_objects_are_refused_with_a_type_error() -> None:
    with pytest.raises(TypeError, match="expected a ferrotemp temporary file, not str"):
        hybrid.read_file("/etc/passwd")
    with pytest.raises(TypeError, match="expected a ferrotemp.TemporaryDirectory, not str"):
        hybrid.list_dir(ferrotemp.gettempdir())  # type: ignore[arg-type]


# -- The crash guard ---------------------------------------------------------------------------

CHILD = """
import json, sys, time
import ferrotemp, ferrotemp_hybrid_example as hybrid
if len(sys.argv) > 1 and sys.argv[1] == "guard-off":
    ferrotemp._core._set_guard_enabled(False)
files = [hybrid.render("x" * 100 * (i + 1)) for i in range(2)]
text = hybrid.render_text("t" * 10)
d = hybrid.render_dir([("a", "y" * 1000)])
kept = hybrid.render("k", keep=True)
ours = ferrotemp.NamedTemporaryFile()
ours.write(b"z" * 5)
ours.flush()
guarded = [f.name for f in files] + [text.name, d.name, ours.name]
print(json.dumps({"guarded": guarded, "kept": [kept.name]}), flush=True)
time.sleep(600)
"""


def records(registry: Path) -> list[str]:
    if not registry.exists():
        return []
    return sorted(n for n in os.listdir(registry) if n.endswith(".rec"))


def run_child(tmp_path: Path, *args: str, **env: str) -> tuple[Path, Path, Any, list[str]]:
    """Runs CHILD (entries in a private temp dir, records in a private registry) until it is
    ready; returns the registry root, the registry, what it printed and the records it had,
    after killing it with SIGKILL."""
    root = tmp_path / "root"
    work = tmp_path / "work"
    root.mkdir()
    work.mkdir()
    registry = root / REGISTRY_NAME
    child_env = guard_env(registry, TMPDIR=str(work), **env)
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=child_env,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"child failed: {proc.communicate(timeout=30)[1]}")
        live = records(registry)
        listed = json.loads(line)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    return root, registry, listed, live


def test_a_killed_hybrid_process_entries_are_swept_by_the_cli(tmp_path: Path) -> None:
    root, registry, listed, live = run_child(tmp_path)
    # One record per copy of the core in the process, in the one registry.
    assert len(live) == 2
    guarded = set(listed["guarded"])
    assert all(os.path.exists(p) for p in guarded | set(listed["kept"]))

    done = subprocess.run(
        [sys.executable, "-m", "ferrotemp", "sweep", "--dir", str(root), "--json"],
        capture_output=True,
        text=True,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert set(report["paths"]) == guarded
    # The directory holds "a" and "subdir/a".
    assert report["bytes"] == 100 + 200 + 10 + 2 * 1000 + 5
    assert report["records_removed"] == 2
    assert not any(os.path.lexists(p) for p in guarded)
    assert all(os.path.exists(p) for p in listed["kept"])
    assert records(registry) == []


def test_a_live_hybrid_process_entries_survive_a_sweep(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    registry = root / REGISTRY_NAME
    env = guard_env(registry, TMPDIR=str(tmp_path))
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        assert proc.stdout is not None
        listed = json.loads(proc.stdout.readline())
        report = ferrotemp.sweep(root)
        assert report.entries == 0
        assert report.records_live == 2
        assert all(os.path.exists(p) for p in listed["guarded"])
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    assert set(ferrotemp.sweep(root).paths) == set(listed["guarded"])


def test_a_normal_exit_leaves_no_record_and_no_entry(tmp_path: Path) -> None:
    code = textwrap.dedent(
        """
        import json, ferrotemp_hybrid_example as hybrid
        made = hybrid.render("x")
        d = hybrid.render_dir([("a", "b")])
        print(json.dumps([made.name, d.name]))
        """
    )
    registry = tmp_path / "registry"
    env = guard_env(registry, TMPDIR=str(tmp_path))
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    assert not any(os.path.lexists(p) for p in json.loads(done.stdout))
    assert records(registry) == []


def test_the_guard_switched_off_through_ferrotemp_is_off_for_the_hybrid(tmp_path: Path) -> None:
    _, registry, _, live = run_child(tmp_path, "guard-off")
    assert live == []


def test_the_guard_disabled_by_the_environment_is_off_for_the_hybrid(tmp_path: Path) -> None:
    _, _, _, live = run_child(tmp_path, FERROTEMP_GUARD="0")
    assert live == []


def test_keep_mode_keeps_hybrid_entries_as_ferrotemp_keeps_its_own(tmp_path: Path) -> None:
    code = textwrap.dedent(
        """
        import json, logging, os
        logging.basicConfig(level=logging.INFO)
        import ferrotemp, ferrotemp_hybrid_example as hybrid
        made = hybrid.render("k")
        ours = ferrotemp.NamedTemporaryFile()
        d = hybrid.render_dir([("a", "b")])
        seen = [made._closer.delete, ours._closer.delete, d._delete]
        names = [made.name, ours.name, d.name]
        made.close(); ours.close(); d.cleanup()
        print(json.dumps({"names": names, "delete": seen,
                          "exist": [os.path.exists(n) for n in names]}))
        """
    )
    env = guard_env(tmp_path / "registry", TMPDIR=str(tmp_path), FERROTEMP_KEEP="1")
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["delete"] == [True, True, True]
    assert out["exist"] == [True, True, True]
    for name in out["names"]:
        assert f"FERROTEMP_KEEP=1: keeping {name}" in done.stderr
