"""TemporaryFile and NamedTemporaryFile compared with the standard module."""

from __future__ import annotations

import functools
import gc
import io
import itertools
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

import ferrotemp
import pytest

MODES = ["w+b", "wb", "rb+", "w+", "w", "a+", "r", "x+", "x+b", "ab+"]
BUFFERINGS = [-1, 0, 1, 64]
ENCODINGS = [None, "utf-8", "utf-16", "latin-1"]
NEWLINES = [None, "", "\n", "\r\n"]
ERRORS = [None, "strict", "replace"]


def open_files() -> int:
    # /proc/self/fd on Linux, /dev/fd on macOS and the BSDs.
    return len(os.listdir("/proc/self/fd" if os.path.isdir("/proc/self/fd") else "/dev/fd"))


@pytest.fixture
def no_gc() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def error_class(exc: BaseException) -> Any:
    return type(exc)


def same_outcome(ours: Any, std: Any) -> bool:
    """Whether ferrotemp's result is the standard module's."""
    return bool(ours == std)


def outcome(call: Callable[[], Any]) -> Any:
    try:
        return ("ok", call())
    except Exception as exc:  # noqa: BLE001 - the class is what is compared
        return ("error", error_class(exc))


def exercise(factory: Callable[..., Any], dir: Path, **kwargs: Any) -> Any:
    """Writes, reads back and reports what a file object did, or the error class it raised."""
    try:
        f = factory(dir=dir, **kwargs)
    except Exception as exc:  # noqa: BLE001
        return ("create-error", error_class(exc))
    with f:
        inner = getattr(f, "file", f)
        text = "b" not in kwargs["mode"]
        data: Any = "héllo\nwörld\r\nend\r" if text else b"h\xe9llo\nw\x00rld\r\n"
        steps: list[Any] = [type(inner).__name__, getattr(inner, "mode", None)]
        steps.append(outcome(lambda: f.write(data)))
        steps.append(outcome(f.flush))
        steps.append(outcome(lambda: f.seek(0)))
        steps.append(outcome(f.read))
        name = getattr(f, "name", None)
        if isinstance(name, str):
            with open(name, "rb") as disk:
                steps.append(disk.read())
        return steps


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("buffering", BUFFERINGS)
def test_mode_buffering_matrix_matches_stdlib(tmp_path: Path, mode: str, buffering: int) -> None:
    for factory in ("NamedTemporaryFile", "TemporaryFile"):
        std = exercise(getattr(tempfile, factory), tmp_path, mode=mode, buffering=buffering)
        ours = exercise(getattr(ferrotemp, factory), tmp_path, mode=mode, buffering=buffering)
        assert same_outcome(ours, std), (factory, mode, buffering, ours, std)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    "encoding,newline,errors", list(itertools.product(ENCODINGS, NEWLINES, ERRORS))
)
def test_text_matrix_matches_stdlib(
    tmp_path: Path, encoding: Any, newline: Any, errors: Any
) -> None:
    for mode in ("w+", "w+b"):
        kwargs = {"mode": mode, "encoding": encoding, "newline": newline, "errors": errors}
        for factory in ("NamedTemporaryFile", "TemporaryFile"):
            std = exercise(getattr(tempfile, factory), tmp_path, **kwargs)
            ours = exercise(getattr(ferrotemp, factory), tmp_path, **kwargs)
            assert same_outcome(ours, std), (factory, kwargs, ours, std)
    assert os.listdir(tmp_path) == []


def test_types_match_stdlib(tmp_path: Path) -> None:
    for kwargs in ({}, {"buffering": 0}, {"mode": "w+"}, {"mode": "wb"}, {"mode": "rb"}):
        for factory in ("NamedTemporaryFile", "TemporaryFile"):
            std = getattr(tempfile, factory)(dir=tmp_path, **kwargs)
            ours = getattr(ferrotemp, factory)(dir=tmp_path, **kwargs)
            assert type(getattr(ours, "file", ours)) is type(getattr(std, "file", std))
            std.close()
            ours.close()


def test_temporary_file_has_no_name_in_the_directory(tmp_path: Path) -> None:
    f = ferrotemp.TemporaryFile(dir=tmp_path)
    assert os.listdir(tmp_path) == []
    assert isinstance(f, io.BufferedRandom)
    assert f.name == f.fileno()
    f.write(b"abc")
    f.seek(0)
    assert f.read() == b"abc"
    f.close()


def test_named_file_wrapper_type_and_attributes(tmp_path: Path) -> None:
    with ferrotemp.NamedTemporaryFile(dir=tmp_path, suffix=".x", prefix="p") as f:
        assert type(f) is ferrotemp._TemporaryFileWrapper
        assert isinstance(f.file, io.BufferedRandom)
        assert os.path.basename(f.name).startswith("p") and f.name.endswith(".x")
        assert f._closer.delete is True
        assert os.path.dirname(f.name) == str(tmp_path)
        assert os.stat(f.name).st_mode & 0o777 == 0o600


def test_bytes_arguments_give_a_bytes_name(tmp_path: Path) -> None:
    with ferrotemp.NamedTemporaryFile(dir=os.fsencode(tmp_path), prefix=b"b") as f:
        assert isinstance(f.name, bytes)
        assert os.path.exists(f.name)


# -- lifecycle -------------------------------------------------------------------------------


def test_close_removes_by_default_and_is_idempotent(tmp_path: Path) -> None:
    f = ferrotemp.NamedTemporaryFile(dir=tmp_path)
    name = f.name
    f.close()
    assert not os.path.exists(name)
    f.close()
    assert f.closed


def test_delete_on_close_false_keeps_until_exit(tmp_path: Path) -> None:
    with ferrotemp.NamedTemporaryFile(dir=tmp_path, delete_on_close=False) as f:
        f.write(b"data")
        f.close()
        assert os.path.exists(f.name)
        with open(f.name, "rb") as reader:
            assert reader.read() == b"data"
    assert not os.path.exists(f.name)


def test_delete_on_close_false_removed_when_dropped(tmp_path: Path, no_gc: None) -> None:
    f = ferrotemp.NamedTemporaryFile(dir=tmp_path, delete_on_close=False)
    name = f.name
    f.close()
    assert os.path.exists(name)
    del f
    assert not os.path.exists(name)


def test_delete_false_keeps_the_file(tmp_path: Path) -> None:
    with ferrotemp.NamedTemporaryFile(dir=tmp_path, delete=False) as f:
        name = f.name
        assert f._closer.delete is False
    assert os.path.exists(name)
    f2 = ferrotemp.NamedTemporaryFile(dir=tmp_path, delete=False)
    name2 = f2.name
    del f2
    assert os.path.exists(name2)


def test_dropping_the_last_reference_removes_at_once(tmp_path: Path, no_gc: None) -> None:
    f = ferrotemp.NamedTemporaryFile(dir=tmp_path)
    name = f.name
    f.write(b"x")
    del f
    assert not os.path.exists(name)
    assert os.listdir(tmp_path) == []


def test_a_bound_method_keeps_the_file_usable(tmp_path: Path, no_gc: None) -> None:
    # bpo-18879: the wrapper is gone as soon as .write is looked up.
    write = ferrotemp.NamedTemporaryFile(dir=tmp_path).write
    assert write(b"x") == 1
    assert len(os.listdir(tmp_path)) == 1
    del write
    assert os.listdir(tmp_path) == []


def test_holding_only_the_file_closes_and_removes_it_as_stdlib(tmp_path: Path, no_gc: None) -> None:
    # The wrapper (and its closer) going closes the file and removes it, whoever still holds
    # the file object: the standard module's closer does that from __del__.
    results = []
    for module in (tempfile, ferrotemp):
        inner = module.NamedTemporaryFile(dir=tmp_path).file
        name = inner.name
        results.append((inner.closed, os.path.exists(name)))
        del inner
    assert results[1] == results[0]
    assert results[1][0] is True
    assert os.listdir(tmp_path) == []


def test_close_tolerates_a_file_removed_behind_its_back(tmp_path: Path) -> None:
    f = ferrotemp.NamedTemporaryFile(dir=tmp_path)
    os.unlink(f.name)
    f.close()
    with ferrotemp.NamedTemporaryFile(dir=tmp_path) as g:
        os.unlink(g.name)


def test_exit_propagates_exceptions_and_removes(tmp_path: Path) -> None:
    with pytest.raises(KeyError):
        with ferrotemp.NamedTemporaryFile(dir=tmp_path) as f:
            raise KeyError("x")
    assert not os.path.exists(f.name)


def test_iteration_yields_lines(tmp_path: Path) -> None:
    with ferrotemp.NamedTemporaryFile("w+", dir=tmp_path) as f:
        f.write("a\nb\n")
        f.seek(0)
        assert list(f) == ["a\n", "b\n"]


def iteration_steps(module: Any, dir: Path, mode: str) -> list[Any]:
    lines = ["a\n", "b\n", "c\n", "d\n"]
    data: Any = "".join(lines) if "b" not in mode else "".join(lines).encode()
    steps: list[Any] = []
    with module.NamedTemporaryFile(mode, dir=dir) as f:
        f.write(data)
        f.seek(0)
        for line in f:  # noqa: B007 - the line read before the break is compared
            break  # closes the loop's generator
        steps += [line, f.closed]
        it = iter(f)
        steps.append(next(it))
        del it  # a half-used iterator, dropped: finalised at once
        gc.collect()
        steps += [f.closed, f.readline(), f.read()]
    return steps


@pytest.mark.parametrize("mode", ["w+", "w+b"])
def test_leaving_an_iteration_keeps_the_file_open_as_stdlib(tmp_path: Path, mode: str) -> None:
    # bpo-23700: the standard module iterates with a loop, not `yield from`, so closing the
    # generator does not close the file.
    std = iteration_steps(tempfile, tmp_path, mode)
    ours = iteration_steps(ferrotemp, tmp_path, mode)
    assert ours == std
    assert ours[1] is False and ours[3] is False
    assert os.listdir(tmp_path) == []


def test_another_process_reads_the_file_by_name(tmp_path: Path) -> None:
    with ferrotemp.NamedTemporaryFile(dir=tmp_path, delete_on_close=False) as f:
        f.write(b"shared")
        f.flush()
        code = f"print(open({f.name!r}, 'rb').read().decode())"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert out.stdout.strip() == "shared"


@pytest.mark.parametrize("factory", ["NamedTemporaryFile", "TemporaryFile"])
def test_descriptor_not_inherited(tmp_path: Path, factory: str) -> None:
    with getattr(ferrotemp, factory)(dir=tmp_path) as f:
        fd = f.fileno()
        assert not os.get_inheritable(fd)
        code = (
            f"import os\ntry:\n    os.fstat({fd}); print('open')\nexcept OSError: print('closed')"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], close_fds=False, capture_output=True, text=True
        )
        assert out.stdout.strip() == "closed"


@pytest.mark.parametrize("factory", ["NamedTemporaryFile", "TemporaryFile"])
@pytest.mark.parametrize("op", ["write", "read", "seek", "flush", "fileno"])
def test_closed_file_operations_raise_value_error(tmp_path: Path, factory: str, op: str) -> None:
    args = {"write": (b"x",), "read": (), "seek": (0,), "flush": (), "fileno": ()}[op]
    results = []
    for module in (tempfile, ferrotemp):
        f = getattr(module, factory)(dir=tmp_path)
        f.close()
        with pytest.raises(ValueError) as info:
            getattr(f, op)(*args)
        results.append(str(info.value))
    assert results[0] == results[1]


# -- bad input -------------------------------------------------------------------------------

BAD_INPUTS: list[dict[str, Any]] = [
    {"mode": "wt+b"},
    {"mode": "q"},
    {"mode": "w+", "encoding": "no-such-codec"},
    {"mode": "w+", "newline": "bad"},
    {"mode": "w+", "errors": 3},
    {"mode": "wb", "encoding": "utf-8"},
    {"buffering": "x"},
    {"prefix": 3},
    {"prefix": "a\0"},
    {"suffix": b"x"},
]


@pytest.mark.parametrize("kwargs", BAD_INPUTS)
@pytest.mark.parametrize("factory", ["NamedTemporaryFile", "TemporaryFile"])
def test_bad_input_raises_like_stdlib_and_leaves_nothing(
    tmp_path: Path, factory: str, kwargs: dict[str, Any]
) -> None:
    before = open_files()
    results = []
    for module in (tempfile, ferrotemp):
        make: Callable[..., Any] = getattr(module, factory)
        result = outcome(functools.partial(make, dir=str(tmp_path), **kwargs))
        if result[0] == "ok":  # O_TMPFILE never uses prefix or suffix, so it may succeed
            result[1].close()
            result = ("ok", None)
        results.append(result)
    assert same_outcome(results[1], results[0]), results
    assert os.listdir(tmp_path) == []
    assert open_files() == before


@pytest.mark.parametrize("factory", ["NamedTemporaryFile", "TemporaryFile"])
def test_missing_dir_raises_file_not_found_with_filename(tmp_path: Path, factory: str) -> None:
    missing = tmp_path / "missing"
    with pytest.raises(FileNotFoundError) as info:
        getattr(ferrotemp, factory)(dir=missing)
    assert info.value.filename is not None
    assert os.path.dirname(info.value.filename) == str(missing)


def test_no_descriptor_leaks_over_10000_cycles(tmp_path: Path) -> None:
    # The crash guard's record, opened once per process at the first guarded file, is no leak.
    ferrotemp.NamedTemporaryFile(dir=tmp_path).close()
    before = open_files()
    for i in range(10_000):
        if i % 4 == 0:
            with ferrotemp.NamedTemporaryFile(dir=tmp_path) as f:
                f.write(b"x")
        elif i % 4 == 1:
            ferrotemp.TemporaryFile(dir=tmp_path).close()
        elif i % 4 == 2:
            ferrotemp.NamedTemporaryFile(dir=tmp_path, delete_on_close=False).close()
        else:
            with pytest.raises(LookupError):
                ferrotemp.NamedTemporaryFile("w+", dir=tmp_path, encoding="no-such-codec")
    assert open_files() == before
    assert os.listdir(tmp_path) == []


# -- the wrapper's private surface, as this interpreter's standard module has it -------------


def public_names(obj: Any) -> set[str]:
    return {name for name in dir(obj) if not name.startswith("__")}


def test_wrapper_and_closer_have_the_stdlib_attributes(tmp_path: Path) -> None:
    std = tempfile.NamedTemporaryFile(dir=tmp_path)
    ours = ferrotemp.NamedTemporaryFile(dir=tmp_path)
    try:
        assert public_names(std._closer) <= public_names(ours._closer)
        for attr in ("delete", "close_called", "cleanup_called", "delete_on_close"):
            if hasattr(std._closer, attr):  # cleanup_called and delete_on_close: 3.12+
                assert getattr(ours._closer, attr) == getattr(std._closer, attr)
        assert ours._closer.file is ours.file and ours._closer.name == ours.name
        # The wrapper's own attributes: `delete` only before 3.12, as there.
        for attr in ("file", "name", "delete", "_closer"):
            assert (attr in vars(ours)) is (attr in vars(std)), attr
    finally:
        std.close()
        ours.close()


def test_wrapper_constructor_signature_matches_stdlib() -> None:
    import inspect

    std = inspect.signature(tempfile._TemporaryFileWrapper.__init__)
    ours = inspect.signature(ferrotemp._TemporaryFileWrapper.__init__)
    assert [(p.name, p.default) for p in ours.parameters.values()] == [
        (p.name, p.default) for p in std.parameters.values()
    ]


def closer_delete_false(module: Any, dir: Path, how: str) -> bool:
    f = module.NamedTemporaryFile(dir=dir)
    name = f.name
    f._closer.delete = False
    if how == "close":
        f.close()
    elif how == "exit":
        with f:
            pass
    else:
        del f
    kept = os.path.exists(name)
    if kept:
        os.unlink(name)
    return kept


@pytest.mark.parametrize("how", ["close", "exit", "drop"])
def test_closer_delete_false_keeps_the_file_as_stdlib(
    tmp_path: Path, how: str, no_gc: None
) -> None:
    std = closer_delete_false(tempfile, tmp_path, how)
    ours = closer_delete_false(ferrotemp, tmp_path, how)
    assert ours == std
    assert ours is True


def test_closer_delete_set_later_removes_a_file_made_with_delete_false(
    tmp_path: Path, no_gc: None
) -> None:
    results = []
    for module in (tempfile, ferrotemp):
        f = module.NamedTemporaryFile(dir=tmp_path, delete=False)
        name = f.name
        f._closer.delete = True
        f.close()
        results.append(os.path.exists(name))
    assert results == [False, False]


def hand_built(module: Any, dir: Path, how: str) -> tuple[bool, bool]:
    fd, name = tempfile.mkstemp(dir=dir)
    file = open(fd, "w+b")  # noqa: SIM115 - the wrapper owns it
    wrapper = module._TemporaryFileWrapper(file, name)
    wrapper.write(b"x")
    if how == "close":
        wrapper.close()
    elif how == "exit":
        with wrapper:
            pass
    else:
        del wrapper
    return file.closed, os.path.exists(name)


@pytest.mark.parametrize("how", ["close", "exit", "drop"])
def test_hand_built_wrapper_removes_its_file_as_stdlib(
    tmp_path: Path, how: str, no_gc: None
) -> None:
    std = hand_built(tempfile, tmp_path, how)
    ours = hand_built(ferrotemp, tmp_path, how)
    assert ours == std == (True, False)
    assert os.listdir(tmp_path) == []


def file_close_steps(module: Any, dir: Path) -> list[Any]:
    f = module.NamedTemporaryFile(dir=dir)
    fd = f.fileno()
    f.file.close()
    steps: list[Any] = [f.closed, os.path.exists(f.name)]
    try:
        os.fstat(fd)
        steps.append("descriptor open")
    except OSError as exc:
        steps.append(exc.errno)
    f.close()
    steps.append(os.path.exists(f.name))
    return steps


def test_closing_the_file_object_closes_the_descriptor_as_stdlib(tmp_path: Path) -> None:
    std = file_close_steps(tempfile, tmp_path)
    ours = file_close_steps(ferrotemp, tmp_path)
    assert ours == std
    assert "descriptor open" not in ours


@pytest.mark.parametrize(
    "kwargs", [{}, {"mode": "w+"}, {"buffering": 0}, {"mode": "r+b"}, {"mode": "w+", "newline": ""}]
)
def test_file_object_repr_and_name_match_stdlib(tmp_path: Path, kwargs: dict[str, Any]) -> None:
    import re

    def shape(f: Any) -> list[str]:
        objs = [f.file, getattr(f.file, "buffer", None), getattr(f.file, "raw", None)]
        texts = [repr(o) for o in objs if o is not None]
        texts.append(repr(type(f.file.name)))
        texts.append(str(getattr(f.file, "closefd", getattr(_raw(f.file), "closefd", None))))
        # The name differs by its random part (and the descriptor number by the file).
        return [re.sub(r"name=(\d+|'[^']*')", "name=N", t) for t in texts]

    std = tempfile.NamedTemporaryFile(dir=tmp_path, **kwargs)
    ours = ferrotemp.NamedTemporaryFile(dir=tmp_path, **kwargs)
    try:
        assert shape(ours) == shape(std)
        assert ours.file.name == ours.name
    finally:
        std.close()
        ours.close()


def _raw(file: Any) -> Any:
    raw = getattr(file, "buffer", file)
    return getattr(raw, "raw", raw)


@pytest.mark.parametrize("kwargs", [{}, {"mode": "w+"}, {"buffering": 0}])
def test_dropping_an_unclosed_file_warns_nothing_as_stdlib(
    tmp_path: Path, kwargs: dict[str, Any]
) -> None:
    import warnings

    for module in (tempfile, ferrotemp):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            f = module.NamedTemporaryFile(dir=tmp_path, **kwargs)
            f.write(b"x" if "b" in kwargs.get("mode", "b") else "x")
            del f
            gc.collect()
        assert [str(w.message) for w in caught] == [], module.__name__
    assert os.listdir(tmp_path) == []


def test_a_wrapper_in_a_reference_cycle_is_collected_and_removed(tmp_path: Path) -> None:
    import warnings

    results = []
    for module in (tempfile, ferrotemp):
        f = module.NamedTemporaryFile(dir=tmp_path)
        name = f.name
        f.file.cycle = f  # the file now refers back to its wrapper
        del f
        with warnings.catch_warnings(record=True) as caught:
            # In a cycle the file's own finalizer may run first, and say it was left open.
            warnings.simplefilter("always")
            gc.collect()
        other = [w for w in caught if not issubclass(w.category, ResourceWarning)]
        results.append((os.path.exists(name), [str(w.message) for w in other]))
    assert results == [(False, []), (False, [])]


def test_methods_handed_out_keep_the_file_until_the_last_goes(tmp_path: Path, no_gc: None) -> None:
    # bpo-18879, as CPython's test_method_lookup, with several methods.
    f = ferrotemp.NamedTemporaryFile(dir=tmp_path)
    write, seek, read = f.write, f.seek, f.read
    assert write is f.write  # cached
    name = f.name
    del f
    write(b"abc")
    del write
    seek(0)
    assert os.path.exists(name)
    del seek
    assert read() == b"abc"
    del read
    assert not os.path.exists(name)
    assert ferrotemp._files._held == set()


def test_a_shared_callable_attribute_does_not_keep_the_file(tmp_path: Path, no_gc: None) -> None:
    # A callable stored on the file is handed out wrapped: holding it must not tie the file's
    # life to the shared object's.
    results = []
    for module in (tempfile, ferrotemp):
        f = module.NamedTemporaryFile(dir=tmp_path)
        f.file.hook = print
        hook = f.hook
        assert hook is not print
        name = f.name
        del f
        steps = [os.path.exists(name)]  # the method handed out holds the file
        del hook
        steps.append(os.path.exists(name))  # print lives on; the file does not
        results.append(steps)
    assert results == [[True, False], [True, False]]


# -- audit events -----------------------------------------------------------------------------

AUDIT_CHILD = r"""
import gc, json, os, re, sys
module_name, base = sys.argv[1], sys.argv[2]
if module_name == "ferrotemp":
    import ferrotemp as T
else:
    import tempfile as T

SCENARIOS = {
    "named": lambda d: T.NamedTemporaryFile(dir=d).__exit__(None, None, None),
    "named_text": lambda d: T.NamedTemporaryFile("w+", dir=d).__exit__(None, None, None),
    "named_close": lambda d: T.NamedTemporaryFile(dir=d).close(),
    "named_drop": lambda d: T.NamedTemporaryFile(dir=d).write(b"x"),
    "named_keep": lambda d: T.NamedTemporaryFile(dir=d, delete=False).close(),
    "temporary": lambda d: T.TemporaryFile(dir=d).close(),
    "temporary_text": lambda d: T.TemporaryFile("w+", dir=d).close(),
    # O_TMPFILE with O_NOFOLLOW fails on a symlink: the named fallback (create, unlink).
    "temporary_fallback": lambda d: T.TemporaryFile(dir=d + "/link").close(),
    "mkstemp": lambda d: os.close(T.mkstemp(dir=d)[0]),
    "mkdtemp": lambda d: T.mkdtemp(dir=d),
    "mkstemp_rel": lambda d: os.close(T.mkstemp(dir=os.path.relpath(d))[0]),
    "mkdtemp_rel": lambda d: T.mkdtemp(dir=os.path.relpath(d)),
}
if sys.version_info < (3, 12):
    del SCENARIOS["named_keep"]  # delete=False is 3.12's only closing path without removal

state = {"events": None, "raise_at": -1}

def hook(event, args):
    if state["events"] is None:
        return
    if event == "open" or event.startswith(("os.", "tempfile.")):
        state["events"].append([event, list(args)])
        if len(state["events"]) - 1 == state["raise_at"]:
            raise RuntimeError("denied by the audit hook")

sys.addaudithook(hook)
os.chdir(base)
# The crash guard opens its record at the first guarded file, once per process: not a leak.
T.NamedTemporaryFile(dir=base).close()

def normal(value, d):
    if isinstance(value, str):
        value = value.replace(d, "D").replace(os.path.relpath(d), "REL")
        return re.sub(r"tmp[a-z0-9_]{8}", "tmpRANDOM", value)
    return value

def fds():
    return len(os.listdir("/proc/self/fd"))

result = {}
for name, run in SCENARIOS.items():
    runs = []
    raise_at = -1
    while True:
        d = os.path.join(base, "%s-%d" % (name, raise_at + 1))
        os.mkdir(d)
        if name == "temporary_fallback":
            os.mkdir(d + "/real")
            os.symlink(d + "/real", d + "/link")
        before = fds()
        state["events"], state["raise_at"] = [], raise_at
        try:
            run(d)
            raised = False
        except RuntimeError:
            raised = True
        gc.collect()
        events, state["events"] = state["events"], None
        events = [[ev, [normal(a, d) for a in args]] for ev, args in events]
        # A descriptor number stands for whatever file it is.
        events = [[ev, ["FD" if isinstance(a, int) and ev == "open" and i == 0 else a
                        for i, a in enumerate(args)]] for ev, args in events]
        inside = d + "/real" if name == "temporary_fallback" else d
        left = sorted(normal(e, d) for e in os.listdir(inside))
        runs.append({"events": events, "raised": raised, "left": left,
                     "leaked_fds": fds() - before})
        if raise_at + 1 >= len(events):
            break
        raise_at += 1
    result[name] = runs
print(json.dumps(result))
"""


def audit_runs(module: str, base: Path) -> Any:
    import json

    base.mkdir()
    out = subprocess.run(
        [sys.executable, "-c", AUDIT_CHILD, module, str(base)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_audit_events_match_stdlib(tmp_path: Path) -> None:
    std = audit_runs("tempfile", tmp_path / "std")
    ours = audit_runs("ferrotemp", tmp_path / "ours")
    assert std.keys() == ours.keys()
    for scenario in std:
        std_events = std[scenario][0]["events"]
        our_events = ours[scenario][0]["events"]
        assert std_events, scenario
        # The length is checked after the loop, so the first differing event is reported.
        for (ev, args), (std_ev, std_args) in zip(our_events, std_events, strict=False):
            assert ev == std_ev, (scenario, our_events, std_events)
            assert args == std_args, (scenario, ev)
        assert len(our_events) == len(std_events), (scenario, our_events, std_events)
        assert ours[scenario][0]["left"] == std[scenario][0]["left"], scenario


def test_a_raising_audit_hook_stops_the_action_as_stdlib(tmp_path: Path) -> None:
    std = audit_runs("tempfile", tmp_path / "std")
    ours = audit_runs("ferrotemp", tmp_path / "ours")
    for scenario, runs in ours.items():
        assert all(run["leaked_fds"] == 0 for run in runs), scenario
        denied = runs[1:]  # run i+1 denied the i-th event
        assert denied, scenario
        for index, run in enumerate(denied):
            event = run["events"][index][0]
            if event in ("open", "tempfile.mkstemp", "tempfile.mkdtemp", "os.mkdir"):
                # Denied before the file or directory exists: nothing is left behind.
                assert run["raised"] and run["left"] == [], (scenario, event)
        outcomes = [(r["raised"], r["left"]) for r in denied]
        std_outcomes = [(r["raised"], r["left"]) for r in std[scenario][1:]]
        assert outcomes == std_outcomes, scenario
