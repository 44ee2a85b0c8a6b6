"""ferrotemp serving `import tempfile`: install(), FERROTEMP_AS_TEMPFILE, and real clients'
use of private names under it."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import ferrotemp
import pytest


def child(code: str, *flags: str, **env: str) -> str:
    out = subprocess.run(
        [sys.executable, *flags, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_env_var_installs_at_startup() -> None:
    code = "import tempfile; print(tempfile.__name__)"
    assert child(code, FERROTEMP_AS_TEMPFILE="1") == "ferrotemp"
    assert child(code, "-I", FERROTEMP_AS_TEMPFILE="1") == "ferrotemp"
    assert child(code, FERROTEMP_AS_TEMPFILE="0") == "tempfile"
    assert child(code) == "tempfile"


def test_env_var_install_precedes_user_code() -> None:
    # A module imported at startup by site (the .pth hook) installs before any user import,
    # so `from tempfile import ...` anywhere gets ferrotemp's classes.
    code = "from tempfile import NamedTemporaryFile as N; print(N.__module__)"
    assert child(code, FERROTEMP_AS_TEMPFILE="1") == "ferrotemp._files"


def test_install_and_uninstall_in_process() -> None:
    code = """
import ferrotemp, tempfile as before
ferrotemp.install()
import tempfile
from tempfile import mkdtemp
print(tempfile is ferrotemp, mkdtemp is ferrotemp.mkdtemp, before is not ferrotemp)
ferrotemp.uninstall()
import tempfile as after
print(after is before)
"""
    assert child(code).splitlines() == ["True True True", "True"]


def test_clients_private_names_work_under_install() -> None:
    code = """
import io, ferrotemp
ferrotemp.install()
import tempfile

class Upload(tempfile.SpooledTemporaryFile[bytes]):
    rolls = 0
    def rollover(self) -> None:
        type(self).rolls += 1
        super().rollover()

f = Upload(max_size=8)
f.write(b"1234")
print(f._rolled, f._max_size, f._file.getvalue())
f.write(b"56789")
print(f._rolled, Upload.rolls, isinstance(f._file, io.BufferedRandom))
f.close()
n = tempfile.NamedTemporaryFile()
print(type(n) is tempfile._TemporaryFileWrapper, type(n.file) is io.BufferedRandom)
n.close()
"""
    assert child(code).splitlines() == [
        "False 8 b'1234'",
        "True 1 True",
        "True True",
    ]


def test_typed_subclass_of_spooled_file_in_process() -> None:
    calls: list[int] = []

    class Mine(ferrotemp.SpooledTemporaryFile[bytes]):
        def rollover(self) -> None:
            calls.append(1)
            super().rollover()

    f: Any = Mine(max_size=4)
    f.write(b"abcdef")
    assert calls == [1] and f._rolled
    assert isinstance(f._file, io.BufferedRandom)
    f.close()


# ferrotemp's own documented API beyond the standard module's names (README: "Serving
# `import tempfile`", "Crash guard", "Atomic publish").
DOCUMENTED_EXTRAS = {"install", "uninstall", "sweep", "SweepReport", "atomic_write", "temp_path"}
DOCUMENTED_EXTRAS |= {"Workspace", "QuotaExceeded", "Usage"}  # README "Jobs"


DOCUMENTED_EXTRAS |= {"stats", "Stats"}  # README "Monitoring"
DOCUMENTED_EXTRAS |= {"run", "RunResult"}  # README "Any program"


def test_public_names_are_the_standard_modules_and_the_documented_api() -> None:
    # Compared with the standard module of the interpreter running the test, in a child so
    # that no install() in this process can stand in for it.
    code = (
        "import json, tempfile, ferrotemp;"
        "public = lambda m: sorted(n for n in dir(m) if not n.startswith('_'));"
        "print(json.dumps([tempfile.__name__, public(tempfile), public(ferrotemp),"
        " tempfile.__all__, ferrotemp.__all__]))"
    )
    name, std_public, ours_public, std_all, ours_all = json.loads(child(code))
    assert name == "tempfile"
    assert set(ours_public) == set(std_public) | DOCUMENTED_EXTRAS
    # `from tempfile import *` gets every standard name and nothing undocumented.
    assert set(std_all) <= set(ours_all) <= set(std_all) | DOCUMENTED_EXTRAS


# Every boolean FERROTEMP_* switch and its default (README, "Crash guard" and "Serving
# `import tempfile`").
SWITCHES = {
    "FERROTEMP_AS_TEMPFILE": False,
    "FERROTEMP_KEEP": False,
    "FERROTEMP_GUARD": True,
    "FERROTEMP_GUARD_SWEEP": True,
    "FERROTEMP_GUARD_FLOCK": True,
}
ON_SPELLINGS = ["1", "true", "yes", "on", "TRUE", "Yes", " On "]
OFF_SPELLINGS = ["0", "false", "no", "off", "", "FALSE", "No", " oFF "]
UNRECOGNISED = ["maybe", "2", "y", "enable"]

SWITCH_CHILD = """
import json, tempfile, ferrotemp
switches = ferrotemp._core.guard_switches()
read = {
    "FERROTEMP_AS_TEMPFILE": tempfile is ferrotemp,
    "FERROTEMP_KEEP": switches.keep,
    "FERROTEMP_GUARD": switches.enabled,
    "FERROTEMP_GUARD_SWEEP": switches.auto_sweep,
    "FERROTEMP_GUARD_FLOCK": switches.use_flock,
}
print(json.dumps(read))
"""


def switch_env(tmp_path: Path, value: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FERROTEMP_")}
    env["FERROTEMP_GUARD_DIR"] = str(tmp_path / "registry")
    return {**env, **dict.fromkeys(SWITCHES, value)}


@pytest.mark.parametrize(
    "value, expected",
    [(v, True) for v in ON_SPELLINGS]
    + [(v, False) for v in OFF_SPELLINGS]
    + [(v, None) for v in UNRECOGNISED],
)
def test_every_switch_reads_every_spelling_the_same_way(
    tmp_path: Path, value: str, expected: bool | None
) -> None:
    # All five switches get the same value in one child; each must read it as documented
    # (None: not understood, so its default, with one warning naming it).
    out = subprocess.run(
        [sys.executable, "-c", SWITCH_CHILD],
        capture_output=True,
        text=True,
        env=switch_env(tmp_path, value),
    )
    assert out.returncode == 0, out.stderr
    read = json.loads(out.stdout)
    assert read == {n: default if expected is None else expected for n, default in SWITCHES.items()}
    warnings = out.stderr.splitlines()
    if expected is None:
        assert len(warnings) == len(SWITCHES), out.stderr
        for name, line in zip(SWITCHES, warnings, strict=True):
            assert line.startswith(f'ferrotemp: {name}="{value}" is not understood'), line
            assert line.endswith("using the default, " + ("on" if SWITCHES[name] else "off"))
    else:
        assert warnings == []


def test_the_startup_hook_reads_the_switch_as_the_core_does(tmp_path: Path) -> None:
    # The .pth hook shortcuts unset/empty/"0" without importing ferrotemp; every other value
    # goes to the core's parser. Both paths must give what the core says for each spelling.
    code = "import sys; print('ferrotemp' in sys.modules, sys.modules.get('tempfile'))"
    for value in ON_SPELLINGS + OFF_SPELLINGS + UNRECOGNISED:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FERROTEMP_")}
        out = subprocess.run(
            [sys.executable, "-I", "-c", code],
            capture_output=True,
            text=True,
            env={**env, "FERROTEMP_AS_TEMPFILE": value},
        )
        assert out.returncode == 0, out.stderr
        imported, module = out.stdout.split(" ", 1)
        assert ("ferrotemp" in module) is (value in ON_SPELLINGS), (value, out.stdout)
        if value.strip() in ("", "0"):
            assert imported == "False", f"{value!r}: the hook imported ferrotemp"
        assert len(out.stderr.splitlines()) == (value in UNRECOGNISED), (value, out.stderr)


KEEP_FLOCK_CHILD = """
import errno, fcntl, json, os, sys, ferrotemp
registry = os.environ["FERROTEMP_GUARD_DIR"]
f = ferrotemp.NamedTemporaryFile(dir=sys.argv[1])
records = sorted(os.listdir(registry)) if os.path.isdir(registry) else []
locked = []
for rec in records:
    with open(os.path.join(registry, rec), "rb") as other:  # another open file description
        try:
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
            locked.append(False)
        except OSError as e:
            assert e.errno in (errno.EWOULDBLOCK, errno.EAGAIN), e
            locked.append(True)
name = f.name
f.close()
print(json.dumps({"records": len(records), "locked": locked, "kept": os.path.exists(name)}))
"""


@pytest.mark.skipif(sys.platform == "win32", reason="the crash guard is POSIX-only")
@pytest.mark.parametrize(
    "switch, value, expected",
    [
        ("FERROTEMP_KEEP", "Yes", {"kept": True, "records": 0}),
        ("FERROTEMP_KEEP", "off", {"kept": False, "records": 1, "locked": [True]}),
        ("FERROTEMP_GUARD", "false", {"kept": False, "records": 0}),
        ("FERROTEMP_GUARD", "ON", {"kept": False, "records": 1, "locked": [True]}),
        ("FERROTEMP_GUARD_FLOCK", "no", {"kept": False, "records": 1, "locked": [False]}),
        ("FERROTEMP_GUARD_FLOCK", "true", {"kept": False, "records": 1, "locked": [True]}),
        ("FERROTEMP_GUARD_FLOCK", "bogus", {"kept": False, "records": 1, "locked": [True]}),
    ],
)
def test_switch_spellings_reach_the_crash_guards_behaviour(
    tmp_path: Path, switch: str, value: str, expected: dict[str, Any]
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FERROTEMP_")}
    env.update(FERROTEMP_GUARD_DIR=str(tmp_path / "registry"), FERROTEMP_GUARD_SWEEP="0")
    env[switch] = value
    work = tmp_path / "work"
    work.mkdir()
    out = subprocess.run(
        [sys.executable, "-c", KEEP_FLOCK_CHILD, str(work)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert {k: got[k] for k in expected} == expected
