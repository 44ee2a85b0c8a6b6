"""mkstemp, mkdtemp, mktemp, gettempdir & co. compared with the standard module."""

from __future__ import annotations

import errno
import json
import os
import pathlib
import stat
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any, Callable, List

import ferrotemp
import pytest
from _support import needs_setpriv, run_without_dac
from hypothesis import given, settings
from hypothesis import strategies as st

NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789_")


def entries(path: Path) -> list[str]:
    return sorted(os.listdir(path))


def remove(path: Any) -> None:
    if os.path.isdir(path):
        os.rmdir(path)
    else:
        os.unlink(path)


# -- the same results as the standard module ------------------------------------------------

affix = st.text(alphabet="abc.-_XY", max_size=6)


@st.composite
def params(draw: st.DrawFn) -> tuple[str, Any, Any, Any]:
    kind = draw(st.sampled_from(["str", "bytes", "path"]))
    prefix = draw(st.none() | affix)
    suffix = draw(st.none() | affix)
    use_dir = draw(st.booleans())
    if kind == "bytes":
        return kind, _encode(prefix), _encode(suffix), use_dir
    return kind, prefix, suffix, use_dir


def _encode(text: str | None) -> bytes | None:
    return None if text is None else text.encode()


def dir_arg(kind: str, use_dir: bool, base: Path) -> Any:
    if not use_dir:
        return None
    if kind == "bytes":
        return os.fsencode(base)
    if kind == "path":
        return pathlib.Path(base)
    return str(base)


def check_name(name: Any, prefix: Any, suffix: Any, directory: Any) -> None:
    as_str = os.fsdecode(name)
    assert os.path.isabs(as_str)
    base = os.path.basename(as_str)
    pre = "tmp" if prefix is None else os.fsdecode(prefix)
    suf = "" if suffix is None else os.fsdecode(suffix)
    assert base.startswith(pre) and base.endswith(suf)
    middle = base[len(pre) : len(base) - len(suf)]
    assert len(middle) == 8 and set(middle) <= NAME_CHARS
    expected_dir = tempfile.gettempdir() if directory is None else os.fsdecode(directory)
    assert os.path.dirname(as_str) == os.path.abspath(expected_dir)


@settings(max_examples=150, deadline=None)
@given(params())
def test_mkstemp_matches_stdlib_types_names_and_mode(tmp_path_factory: Any, p: Any) -> None:
    kind, prefix, suffix, use_dir = p
    base = tmp_path_factory.mktemp("mkstemp")
    directory = dir_arg(kind, use_dir, base)
    results = []
    for module in (tempfile, ferrotemp):
        fd, name = module.mkstemp(suffix=suffix, prefix=prefix, dir=directory)
        try:
            assert isinstance(fd, int)
            assert stat.S_IMODE(os.fstat(fd).st_mode) == 0o600
            assert not os.get_inheritable(fd)
            check_name(name, prefix, suffix, directory)
            results.append(type(name))
        finally:
            os.close(fd)
            os.unlink(name)
    assert results[0] is results[1]


@settings(max_examples=150, deadline=None)
@given(params())
def test_mkdtemp_matches_stdlib_types_names_and_mode(tmp_path_factory: Any, p: Any) -> None:
    kind, prefix, suffix, use_dir = p
    base = tmp_path_factory.mktemp("mkdtemp")
    directory = dir_arg(kind, use_dir, base)
    results = []
    for module in (tempfile, ferrotemp):
        name = module.mkdtemp(suffix=suffix, prefix=prefix, dir=directory)
        try:
            assert stat.S_IMODE(os.stat(name).st_mode) == 0o700
            check_name(name, prefix, suffix, directory)
            results.append(type(name))
        finally:
            os.rmdir(name)
    assert results[0] is results[1]


@pytest.mark.parametrize("func", ["mkstemp", "mkdtemp"])
@pytest.mark.parametrize(
    "kwargs",
    [
        {"prefix": "a", "suffix": b"b"},
        {"prefix": b"a", "dir": "/tmp"},
        {"suffix": "x", "dir": pathlib.Path("/tmp"), "prefix": b"p"},
    ],
)
def test_mixing_str_and_bytes_is_a_type_error(func: str, kwargs: dict[str, Any]) -> None:
    for module in (tempfile, ferrotemp):
        with pytest.raises(TypeError, match="Can't mix bytes and non-bytes"):
            getattr(module, func)(**kwargs)


def test_relative_dir_gives_absolute_results(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    os.mkdir("sub")
    fd, name = ferrotemp.mkstemp(dir="sub/../sub")
    os.close(fd)
    assert name == os.path.join(str(tmp_path), "sub", os.path.basename(name))
    dname = ferrotemp.mkdtemp(dir="sub")
    assert dname == os.path.join(str(tmp_path), "sub", os.path.basename(dname))


def test_text_flag_opens_read_write(tmp_path: Path) -> None:
    fd, name = ferrotemp.mkstemp(dir=tmp_path, text=True)
    os.write(fd, b"line\n")
    os.lseek(fd, 0, os.SEEK_SET)
    assert os.read(fd, 10) == b"line\n"
    os.close(fd)


# -- bad input: the standard module's exception, errno and filename; nothing left behind -----


def outcome(call: Callable[[], Any]) -> tuple[type, Any, Any]:
    try:
        result = call()
    except Exception as exc:  # noqa: BLE001 - the class itself is what is compared
        return type(exc), getattr(exc, "errno", None), getattr(exc, "filename", None)
    raise AssertionError(f"no error; returned {result!r}")


@pytest.mark.parametrize("func", ["mkstemp", "mkdtemp"])
@pytest.mark.parametrize(
    "case", ["missing_dir", "file_as_dir", "int_prefix", "nul_prefix", "nul_suffix", "bytes_nul"]
)
def test_bad_input_raises_like_stdlib(tmp_path: Path, func: str, case: str) -> None:
    a_file = tmp_path / "plain"
    a_file.write_bytes(b"")
    cases: dict[str, dict[str, Any]] = {
        "missing_dir": {"dir": str(tmp_path / "missing")},
        "file_as_dir": {"dir": str(a_file)},
        "int_prefix": {"prefix": 3, "dir": str(tmp_path)},
        "nul_prefix": {"prefix": "a\0b", "dir": str(tmp_path)},
        "nul_suffix": {"suffix": "a\0b", "dir": str(tmp_path)},
        "bytes_nul": {"prefix": b"a\0", "dir": os.fsencode(tmp_path)},
    }
    kwargs = cases[case]
    before = entries(tmp_path)
    std = outcome(lambda: getattr(tempfile, func)(**kwargs))
    ours = outcome(lambda: getattr(ferrotemp, func)(**kwargs))
    assert ours[0] is std[0]
    assert ours[1] == std[1]
    if std[2] is None:
        assert ours[2] is None
    else:
        assert type(ours[2]) is type(std[2])
        assert os.path.dirname(ours[2]) == os.path.dirname(std[2])
    assert entries(tmp_path) == before


@needs_setpriv
@pytest.mark.parametrize("func", ["mkstemp", "mkdtemp"])
def test_read_only_dir_raises_permission_error_with_errno_and_filename(
    tmp_path: Path, func: str
) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    code = f"""
import json, tempfile, ferrotemp
out = []
for m in (tempfile, ferrotemp):
    try:
        m.{func}(dir={str(ro)!r})
        out.append(None)
    except OSError as e:
        out.append([type(e).__name__, e.errno, e.filename])
print(json.dumps(out))
"""
    proc = run_without_dac(code)
    assert proc.returncode == 0, proc.stderr
    std, ours = json.loads(proc.stdout)
    assert std[0] == ours[0] == "PermissionError"
    assert std[1] == ours[1] == errno.EACCES
    assert os.path.dirname(ours[2]) == str(ro)
    assert os.listdir(ro) == []


def test_names_exhausted_raises_file_exists(tmp_path: Path, monkeypatch: Any) -> None:
    # With no attempts allowed every call runs out of names at once, as in the standard module.
    monkeypatch.setattr(ferrotemp, "TMP_MAX", 0)
    with pytest.raises(FileExistsError) as info:
        ferrotemp.mkstemp(dir=tmp_path)
    assert info.value.errno == errno.EEXIST
    assert "No usable temporary file name found" in str(info.value)
    with pytest.raises(FileExistsError, match="No usable temporary directory name found"):
        ferrotemp.mkdtemp(dir=tmp_path)
    assert entries(tmp_path) == []


# -- volume and inheritance ------------------------------------------------------------------


def test_20000_mkstemp_calls_never_collide_and_are_0600(tmp_path: Path) -> None:
    names = set()
    for _ in range(20_000):
        fd, name = ferrotemp.mkstemp(dir=tmp_path)
        mode = stat.S_IMODE(os.fstat(fd).st_mode)
        os.close(fd)
        assert mode == 0o600
        names.add(name)
    assert len(names) == 20_000
    assert len(os.listdir(tmp_path)) == 20_000


def test_mkstemp_descriptor_is_not_inherited_across_exec(tmp_path: Path) -> None:
    fd, name = ferrotemp.mkstemp(dir=tmp_path)
    try:
        probe = (
            f"import os\ntry:\n    os.fstat({fd})\n    print('open')\n"
            "except OSError:\n    print('closed')"
        )
        out = subprocess.run(
            [sys.executable, "-c", probe], close_fds=False, capture_output=True, text=True
        )
        assert out.stdout.strip() == "closed"
    finally:
        os.close(fd)


# -- audit events ----------------------------------------------------------------------------


def test_audit_events_name_each_attempt(tmp_path: Path) -> None:
    code = f"""
import sys, ferrotemp, os
seen = []
sys.addaudithook(lambda ev, args: seen.append((ev, args)) if ev.startswith("tempfile.") else None)
fd, f = ferrotemp.mkstemp(dir={str(tmp_path)!r}); os.close(fd)
d = ferrotemp.mkdtemp(dir={str(tmp_path)!r})
print(seen == [("tempfile.mkstemp", (f,)), ("tempfile.mkdtemp", (d,))])
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "True", out.stderr


def test_audit_hook_that_raises_prevents_creation(tmp_path: Path) -> None:
    code = f"""
import sys, ferrotemp, os
def hook(ev, args):
    if ev == "tempfile.mkstemp":
        raise RuntimeError("denied")
sys.addaudithook(hook)
try:
    ferrotemp.mkstemp(dir={str(tmp_path)!r})
except RuntimeError:
    print(os.listdir({str(tmp_path)!r}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "[]", out.stderr


# -- gettempdir & co -------------------------------------------------------------------------


def child_json(code: str, env: dict[str, str]) -> Any:
    full_env = {k: v for k, v in os.environ.items() if k not in ("TMPDIR", "TEMP", "TMP")}
    full_env.update(env)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full_env)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


DISCOVERY = """
import json, tempfile, ferrotemp
print(json.dumps([tempfile.gettempdir(), ferrotemp.gettempdir()]))
"""


@pytest.mark.parametrize("var", ["TMPDIR", "TEMP", "TMP"])
def test_env_vars_choose_the_dir_like_stdlib(tmp_path: Path, var: str) -> None:
    std, ours = child_json(DISCOVERY, {var: str(tmp_path) + "/./x/.."})
    assert std == ours == str(tmp_path)


def test_env_var_order_and_unusable_candidates_match_stdlib(tmp_path: Path) -> None:
    env = {
        "TMPDIR": str(tmp_path / "missing"),
        "TEMP": str(tmp_path / "file"),
        "TMP": str(tmp_path),
    }
    (tmp_path / "file").write_text("")
    std, ours = child_json(DISCOVERY, env)
    assert std == ours == str(tmp_path)
    std, ours = child_json(DISCOVERY, {"TMPDIR": str(tmp_path / "missing")})
    assert std == ours


def test_discovery_leaves_no_probe_file(tmp_path: Path) -> None:
    child_json(DISCOVERY, {"TMPDIR": str(tmp_path)})
    assert entries(tmp_path) == []


def test_tempdir_global_is_honoured_at_every_call(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr(ferrotemp, "tempdir", str(tmp_path))
    assert ferrotemp.gettempdir() == str(tmp_path)
    assert ferrotemp.gettempdirb() == os.fsencode(tmp_path)
    fd, name = ferrotemp.mkstemp()
    os.close(fd)
    assert os.path.dirname(name) == str(tmp_path)
    assert os.path.dirname(ferrotemp.mkdtemp()) == str(tmp_path)
    assert os.path.dirname(ferrotemp.mktemp()) == str(tmp_path)


def test_bytes_tempdir_makes_bytes_defaults(tmp_path: Path, monkeypatch: Any) -> None:
    # The running interpreter's module is the reference: 3.10+ infer bytes from a bytes
    # tempdir; 3.9 infers str and then fails to join the bytes dir with the str name.
    monkeypatch.setattr(ferrotemp, "tempdir", os.fsencode(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", os.fsencode(tmp_path))

    def made(module: Any) -> List[Any]:
        results: List[Any] = []
        for make in (module.mkstemp, module.mkdtemp, module.mktemp, module.NamedTemporaryFile):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", DeprecationWarning)  # mktemp
                    made = make()
            except TypeError as exc:
                results.append((TypeError, str(exc)))
                continue
            if isinstance(made, tuple):
                os.close(made[0])
                made = made[1]
            elif not isinstance(made, (str, bytes)):
                made.close()
                made = made.name
            results.append(type(made))
        with module.TemporaryFile() as f:  # joins no name: works on every version
            results.append(f.write(b"x"))
        return results

    expected = made(tempfile)
    assert made(ferrotemp) == expected
    assert expected[:3] == [bytes, bytes, str]  # mktemp's defaults are str
    assert ferrotemp.gettempdir() == str(tmp_path)


def test_tempdir_none_runs_discovery_again(monkeypatch: Any) -> None:
    monkeypatch.setattr(ferrotemp, "tempdir", None)
    assert ferrotemp.gettempdir() == tempfile.gettempdir()
    assert ferrotemp.tempdir == tempfile.gettempdir()


def test_template_global_is_the_default_prefix(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr(ferrotemp, "template", "custom")
    assert ferrotemp.gettempprefix() == "custom"
    assert ferrotemp.gettempprefixb() == b"custom"
    fd, name = ferrotemp.mkstemp(dir=tmp_path)
    os.close(fd)
    assert os.path.basename(name).startswith("custom")
    assert os.path.basename(ferrotemp.mkdtemp(dir=tmp_path)).startswith("custom")


def test_prefix_functions_match_stdlib() -> None:
    assert ferrotemp.gettempprefix() == tempfile.gettempprefix()
    assert ferrotemp.gettempprefixb() == tempfile.gettempprefixb()
    assert ferrotemp.gettempdirb() == tempfile.gettempdirb()


def test_compat_names_match_stdlib() -> None:
    std: Any = tempfile  # typeshed does not list the private names
    assert ferrotemp._text_openflags == std._text_openflags
    assert ferrotemp._bin_openflags == std._bin_openflags
    assert ferrotemp.TMP_MAX == tempfile.TMP_MAX
    cases: list[tuple[Any, ...]] = [(None, None), ("a", None), (b"a", None), (pathlib.Path("x"),)]
    for args in cases:
        assert ferrotemp._infer_return_type(*args) is std._infer_return_type(*args)


def test_mktemp_returns_an_unused_name(tmp_path: Path) -> None:
    name = ferrotemp.mktemp(suffix=".s", prefix="p", dir=str(tmp_path))
    assert not os.path.exists(name)
    assert os.path.dirname(name) == str(tmp_path)
    base = os.path.basename(name)
    assert base.startswith("p") and base.endswith(".s") and len(base) == 1 + 8 + 2
    assert entries(tmp_path) == []


# -- the command line ------------------------------------------------------------------------


def test_info_command_reports_the_chosen_dir_and_reason(tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-m", "ferrotemp", "info", "--json"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert info["tempdir"] == str(tmp_path)
    assert info["source"] == "$TMPDIR"
    assert info["version"] == ferrotemp.__version__
    assert isinstance(info["o_tmpfile"], bool)
    assert info["free_bytes"] > 0
    text = subprocess.run(
        [sys.executable, "-m", "ferrotemp", "info"], capture_output=True, text=True, env=env
    )
    assert str(tmp_path) in text.stdout and "$TMPDIR" in text.stdout


def test_empty_dir_means_the_current_directory(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    for module in (tempfile, ferrotemp):
        fd, name = module.mkstemp(dir="")
        os.close(fd)
        assert os.path.dirname(name) == str(tmp_path)
    # mkdtemp returns an absolute path since Python 3.12; ferrotemp does on every version.
    assert os.path.dirname(ferrotemp.mkdtemp(dir="")) == str(tmp_path)


def test_pathlike_tempdir_makes_bytes_defaults_as_stdlib(tmp_path: Path, monkeypatch: Any) -> None:
    # The standard module infers bytes when tempdir is neither None nor str.
    for module in (tempfile, ferrotemp):
        monkeypatch.setattr(module, "tempdir", tmp_path)
    results = []
    for module in (tempfile, ferrotemp):
        fd, name = module.mkstemp()
        os.close(fd)
        results.append((type(name), type(module.mkdtemp())))
    assert results[0] == results[1]


TMP_MAX_VALUES = [2**40, 2**64, 2**100, 1, 0, -1, -(2**70), True, 2.5, "3", None]


def _creation_outcome(mod: Any, what: str, d: str) -> tuple[Any, ...]:
    try:
        if what == "mkstemp":
            fd, name = mod.mkstemp(dir=d)
            os.close(fd)
            os.unlink(name)
        elif what == "mkdtemp":
            os.rmdir(mod.mkdtemp(dir=d))
        elif what == "NamedTemporaryFile":
            with mod.NamedTemporaryFile(dir=d):
                pass
        elif what == "TemporaryFile":
            with mod.TemporaryFile(dir=d):
                pass
        elif what == "TemporaryDirectory":
            with mod.TemporaryDirectory(dir=d):
                pass
        else:
            mod.mktemp(dir=d)
    except Exception as exc:  # noqa: BLE001 - the outcome is what is compared
        return (type(exc).__name__, getattr(exc, "errno", None), str(exc))
    return ("ok",)


@pytest.mark.parametrize("value", TMP_MAX_VALUES, ids=repr)
@pytest.mark.parametrize(
    "what",
    ["mkstemp", "mkdtemp", "NamedTemporaryFile", "TemporaryFile", "TemporaryDirectory", "mktemp"],
)
def test_any_tmp_max_behaves_as_the_standard_module(
    tmp_path: Path, monkeypatch: Any, value: Any, what: str
) -> None:
    # The standard module loops `range(TMP_MAX)`: any int works (a huge one is unlimited,
    # zero or less tries nothing), anything else fails as range() does.
    monkeypatch.setattr(tempfile, "TMP_MAX", value)
    monkeypatch.setattr(ferrotemp, "TMP_MAX", value)
    expected = _creation_outcome(tempfile, what, str(tmp_path))
    assert _creation_outcome(ferrotemp, what, str(tmp_path)) == expected
    assert os.listdir(tmp_path) == []


# -- names: abspath(dir) joined with the name as created ---------------------------------------

component = st.sampled_from(["", ".", "..", "sub", "link", "x", "x.y"])
path_affix = st.lists(component, max_size=3).map("/".join)
# Never absolute: a prefix starting with "/" would make files at the filesystem's root.
relative_affix = path_affix.filter(lambda affix: not affix.startswith("/"))


def expected_name(absdir: str, prefix: str, suffix: str, created: str) -> bool:
    """Whether ``created`` is ``join(absdir, prefix + 8 random + suffix)``."""
    head = os.path.join(absdir, prefix)
    if not (created.startswith(head) and created.endswith(suffix)):
        return False
    middle = created[len(head) : len(created) - len(suffix)]
    return len(middle) == 8 and set(middle) <= NAME_CHARS


def kept_dotdot(cwd: str, directory: str) -> str:
    """``directory`` made absolute with its ``..`` kept (``.`` and empty components go)."""
    parts = [p for p in os.path.join(cwd, directory).split("/") if p not in ("", ".")]
    return "/" + "/".join(parts)


def without_random(path: Any, suffix: str) -> Any:
    """``path`` (prefix + 8 random + suffix at its end) with the random part masked."""
    if not isinstance(path, str) or not path.endswith(suffix):
        return path
    cut = len(path) - len(suffix)
    return path[: cut - 8] + "R" * 8 + path[cut:]


def tree(root: str) -> set[str]:
    """Every entry under ``root``, not following symlinks."""
    found: set[str] = set()
    for parent, dirs, files in os.walk(root):
        found.update(os.path.join(parent, name) for name in dirs + files)
    return found


def names_outcome(
    func: str, module: Any, directory: str, prefix: str, suffix: str, top: str
) -> Any:
    before = tree(top)
    try:
        made = getattr(module, func)(prefix=prefix, suffix=suffix, dir=directory)
    except OSError as exc:
        return ("error", type(exc), exc.errno, exc.filename)
    path = made[1] if func == "mkstemp" else made
    if func == "mkstemp":
        os.close(made[0])
    # Where it really is: the one new entry in the tree (whatever the path returned says).
    (new,) = tree(top) - before
    return ("ok", path, os.path.lexists(path), os.path.realpath(os.path.dirname(new)))


@settings(max_examples=120, deadline=None)
@given(
    st.sampled_from(["mkstemp", "mkdtemp"]),
    st.sampled_from([".", "sub", "link", "link/..", "sub/../sub"]),
    relative_affix,
    path_affix,
)
def test_names_join_abspath_dir_with_the_name_as_created(
    tmp_path_factory: Any, func: str, directory: str, prefix: str, suffix: str
) -> None:
    # Work four levels down so that up to three ".." in a prefix (and one more through the
    # symlink) stay inside the test's tree: sub/, deep/inner/, link -> deep/inner (so
    # link/.. is deep/, lexically the working directory).
    top = tmp_path_factory.mktemp("names")
    root = top / "a" / "b" / "c" / "d"
    (root / "sub").mkdir(parents=True)
    (root / "deep" / "inner").mkdir(parents=True)
    (root / "link").symlink_to(root / "deep" / "inner")
    cwd = os.getcwd()
    os.chdir(root)
    try:
        absdir = os.path.abspath(directory)
        std = names_outcome(func, tempfile, directory, prefix, suffix, str(top))
        ours = names_outcome(func, ferrotemp, directory, prefix, suffix, str(top))
    finally:
        os.chdir(cwd)
    if ours[0] == "error":
        # The same error; its filename names the candidate as this interpreter's standard
        # module names it (under abspath(dir) for mkstemp since 3.10, under dir as given).
        assert std[:3] == ours[:3], (std, ours)
        assert without_random(ours[3], suffix) == without_random(std[3], suffix)
        return
    assert std[0] == "ok", (std, ours)
    _, path, exists, real_dir = ours
    assert exists, "the path returned names what was made"
    if func == "mkdtemp":
        # mkdtemp makes the directory under dir as given (the kernel resolving "link/.."),
        # and so does ferrotemp; the path returned names it.
        assert real_dir == std[3], "made in the same directory as the standard module's"
        assert expected_name(kept_dotdot(str(root), directory), prefix, suffix, path), path
    else:
        # mkstemp makes the file under abspath(dir), in both.
        assert expected_name(absdir, prefix, suffix, path), path
        assert real_dir == std[3], "made in the same directory as the standard module's"
    masked = without_random(std[1], suffix)
    if func == "mkstemp":
        assert expected_name(absdir, prefix, suffix, std[1])
        assert std[2]
    elif func == "mkdtemp" and sys.version_info < (3, 12):
        # Before 3.12 mkdtemp returned join(dir, name) unchanged (relative here).
        assert masked == os.path.join(directory, prefix + "R" * 8 + suffix)
    elif ".." not in prefix + suffix:
        # mkdtemp on 3.12+ normalises the joined path (a documented difference: after a
        # symlink, ".." then names another path).
        expected = os.path.normpath(without_random(path, suffix))
        at = expected.index("R" * 8)  # the affixes' alphabet has no "R"
        assert std[1][:at] + "R" * 8 + std[1][at + 8 :] == expected


def test_prefix_through_a_symlink_names_the_real_file_and_nothing_leaks(
    tmp_path: Path, monkeypatch: Any
) -> None:
    (tmp_path / "deep" / "inner").mkdir(parents=True)
    (tmp_path / "sub").symlink_to(tmp_path / "deep" / "inner")
    monkeypatch.chdir(tmp_path)
    with ferrotemp.NamedTemporaryFile(prefix="sub/../x", dir=".") as f:
        assert f.name.startswith(os.path.join(str(tmp_path), "sub/../x"))
        assert os.path.exists(f.name)
        assert entries(tmp_path / "deep") == ["inner", os.path.basename(f.name)]
    assert entries(tmp_path / "deep") == ["inner"]
    d = ferrotemp.mkdtemp(prefix="sub/../y", dir=".")
    assert os.path.isdir(d) and os.path.dirname(os.path.realpath(d)) == str(tmp_path / "deep")
    os.rmdir(d)
