"""`import ferrotemp` loads only what the temp-file API needs: no typing machinery, nothing of
what the standard module pulls in for its Python implementation, and the sweep, the CLI and
the benchmark on first use. (The time itself is the benchmark's "import" row.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types

import ferrotemp

# Loaded by `import tempfile` or by typing/dataclasses, and needed by none of ferrotemp's
# creation paths. `warnings` is allowed: the standard module imports it too.
NOT_AT_IMPORT = {
    "typing",
    "dataclasses",
    "inspect",
    "threading",
    "functools",
    "weakref",
    "shutil",
    "random",
    "logging",
    "ferrotemp._guard",
    "ferrotemp._sweep_cli",
    "ferrotemp._bench",
    "ferrotemp.__main__",
    "ferrotemp._cli",
}


def modules_after(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running ``code``."""
    env = {k: v for k, v in os.environ.items() if k != "FERROTEMP_AS_TEMPFILE"}
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys, json; print(json.dumps(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return set(json.loads(out.stdout.splitlines()[-1]))


def test_import_loads_nothing_heavy_that_startup_had_not_loaded() -> None:
    at_startup = modules_after("pass")
    loaded = modules_after("import ferrotemp") - at_startup
    assert loaded & NOT_AT_IMPORT == set()
    assert "ferrotemp._core" in loaded


def test_creating_each_kind_of_entry_still_loads_no_typing() -> None:
    at_startup = modules_after("pass")
    loaded = modules_after(
        "import os, ferrotemp\n"
        "with ferrotemp.NamedTemporaryFile(): pass\n"
        "with ferrotemp.TemporaryFile(): pass\n"
        "with ferrotemp.SpooledTemporaryFile(max_size=1) as f: f.write(b'xy')\n"
        "with ferrotemp.TemporaryDirectory(): pass\n"
        "fd, path = ferrotemp.mkstemp(); os.close(fd); os.unlink(path)\n"
        "os.rmdir(ferrotemp.mkdtemp())\n"
    )
    loaded -= at_startup
    # TemporaryDirectory's finalizer is a weak reference of its own: not even weakref loads.
    assert loaded & NOT_AT_IMPORT == set()


def test_sweep_names_load_on_first_use_and_behave_as_before() -> None:
    code = """
import dataclasses, sys, ferrotemp
print("ferrotemp._guard" in sys.modules)
names = dir(ferrotemp)
print("sweep" in names, "SweepReport" in names, "_guard" in names)
from ferrotemp import SweepReport, sweep
print(dataclasses.is_dataclass(SweepReport), sweep is ferrotemp.sweep)
print(ferrotemp._guard.SweepReport is SweepReport, "ferrotemp._guard" in sys.modules)
print(hasattr(ferrotemp, "no_such_name"))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["False", "True True True", "True True", "True True", "False"]


def test_wrapper_has_the_standard_bases_and_can_be_subscripted() -> None:
    assert ferrotemp._TemporaryFileWrapper.__mro__[1:] == (object,)
    alias = ferrotemp._TemporaryFileWrapper[bytes]
    assert isinstance(alias, types.GenericAlias)
    assert alias.__origin__ is ferrotemp._TemporaryFileWrapper
