"""ferrotemp serving `import tempfile`: install(), FERROTEMP_AS_TEMPFILE, and real clients'
use of private names under it."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from typing import Any

import ferrotemp


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
# `import tempfile`", "Crash guard").
DOCUMENTED_EXTRAS = {"install", "uninstall", "sweep", "SweepReport"}


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
