"""The type checkers see ``ferrotemp.aio`` as they see anyio's temp-file API: one client,
checked with ``from anyio import ...`` and with ``from ferrotemp.aio import ...``, gets the
same diagnostics from mypy --strict and pyright strict. Once per gate (``make typecheck``)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.typecheck
pytest.importorskip("mypy")

CLIENT = """\
{import_line}
from anyio import AsyncFile


async def use() -> None:
    async with TemporaryFile() as binary:
        await binary.write(b"fine")
        await binary.write("text into a binary file")  # error
        data: bytes = await binary.read()
    async with TemporaryFile("w+") as text:
        await text.write("fine")
        await text.write(b"bytes into a text file")  # error
        wrong: bytes = await text.read()  # error
    async with NamedTemporaryFile() as named:
        as_file: AsyncFile[bytes] = named
    async with NamedTemporaryFile("w", delete=False, delete_on_close=False) as named_text:
        as_text_file: AsyncFile[str] = named_text
    spooled = SpooledTemporaryFile(max_size=10)
    await spooled.write(b"fine")
    await spooled.write("text")  # error
    await spooled.writelines([b"a", b"b"])
    await spooled.rollover()
    spooled_text = SpooledTemporaryFile(mode="w+")
    await spooled_text.write("fine")
    await spooled_text.write(b"bytes")  # error
    spooled_file: AsyncFile[bytes] = spooled
    async with TemporaryDirectory() as str_dir:
        as_str: str = str_dir
    async with TemporaryDirectory(dir=b"/tmp") as bytes_dir:
        # anyio's __aenter__ says str whatever the arguments; the path is bytes here.
        also_str: str = bytes_dir  # error (aio only)
    fd, name = await mkstemp()
    name_str: str = name
    fdb, name_b = await mkstemp(prefix=b"x")
    not_str: str = name_b  # error
    made: str = await mkdtemp()
    made_b: str = await mkdtemp(dir=b"/tmp")  # error
    tmp: str = await gettempdir()
    tmpb: str = await gettempdirb()  # error
    del data, wrong, as_file, as_text_file, spooled_file, as_str, also_str
    del fd, name_str, fdb, not_str, made, made_b, tmp, tmpb
"""
NAMES = (
    "TemporaryFile, NamedTemporaryFile, SpooledTemporaryFile, TemporaryDirectory, "
    "mkstemp, mkdtemp, gettempdir, gettempdirb"
)
IMPORTS = {
    "anyio": f"from anyio import {NAMES}",
    "aio": f"from ferrotemp.aio import {NAMES}",
}
ERROR_LINES = {
    i
    for i, line in enumerate(CLIENT.format(import_line="").splitlines(), 1)
    if line.endswith("# error")
}
STRICTER_LINES = {
    i
    for i, line in enumerate(CLIENT.format(import_line="").splitlines(), 1)
    if line.endswith("# error (aio only)")
}
# Where each module's own names show in messages.
OWN_NAMES = re.compile(r"\b(ferrotemp\.aio|anyio\._core\._tempfile|anyio)\.")


def write_clients(tmp_path: Path) -> dict[str, Path]:
    paths = {}
    for module, import_line in IMPORTS.items():
        paths[module] = tmp_path / f"client_{module}.py"
        paths[module].write_text(CLIENT.format(import_line=import_line))
    return paths


def normalise(message: str) -> str:
    return OWN_NAMES.sub("M.", message)


def test_mypy_strict_reports_the_same_for_aio_as_for_anyio(tmp_path: Path) -> None:
    clients = write_clients(tmp_path)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            f"--cache-dir={tmp_path / 'cache'}",
            "--hide-error-context",
            "--no-pretty",
            "--show-error-codes",
            *map(str, clients.values()),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    found: dict[str, list[tuple[int, str]]] = {module: [] for module in clients}
    for line in out.stdout.splitlines():
        match = re.match(r"client_(\w+)\.py:(\d+): (error): (.*)", line)
        if match:
            found[match[1]].append((int(match[2]), normalise(match[4])))
    aio_lines = {n: text for n, text in found["aio"]}
    anyio_lines = {n: text for n, text in found["anyio"]}
    assert set(anyio_lines) == ERROR_LINES, out.stdout
    assert set(aio_lines) == ERROR_LINES | STRICTER_LINES, out.stdout
    assert {n: aio_lines[n] for n in ERROR_LINES} == anyio_lines, out.stdout


PYRIGHT = shutil.which("basedpyright", path=str(Path(sys.executable).parent))


def test_pyright_strict_reports_the_same_for_aio_as_for_anyio(tmp_path: Path) -> None:
    assert PYRIGHT is not None, "basedpyright (test extra) is not installed next to " + str(
        sys.executable
    )
    clients = write_clients(tmp_path)
    config = {"typeCheckingMode": "strict"}
    (tmp_path / "pyrightconfig.json").write_text(json.dumps(config))
    out = subprocess.run(
        [PYRIGHT, "--outputjson", "--pythonpath", sys.executable, *map(str, clients.values())],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    report = json.loads(out.stdout)
    found: dict[str, set[int]] = {module: set() for module in clients}
    for diag in report["generalDiagnostics"]:
        if diag["severity"] == "error":
            module = Path(diag["file"]).stem.split("_", 1)[1]
            found[module].add(diag["range"]["start"]["line"] + 1)
    assert found["anyio"] == ERROR_LINES, json.dumps(report, indent=1)
    assert found["aio"] == ERROR_LINES | STRICTER_LINES, json.dumps(report, indent=1)
