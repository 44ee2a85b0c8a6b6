"""The type checkers see ferrotemp as typeshed's tempfile: misuse is reported, and a client
gets exactly the diagnostics it gets with the standard module.

These run once per gate (``make typecheck``), not per interpreter: mypy and pyright check for
each supported target version from one environment.
"""

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

# Each line marked `# error` must be reported; no other line may be.
CLIENT = """\
import ferrotemp

with ferrotemp.NamedTemporaryFile("w") as text_file:
    text_file.write(b"bytes into a text file")  # error
    text_file.write("fine")
with ferrotemp.NamedTemporaryFile() as binary_file:
    binary_file.write("text into a binary file")  # error
    binary_file.write(b"fine")
unnamed = ferrotemp.TemporaryFile("w+")
unnamed.write(b"x")  # error
unnamed_bytes: bytes = ferrotemp.TemporaryFile().read()
bytes_dir: str = ferrotemp.mkdtemp(dir=b"/tmp")  # error
str_dir: str = ferrotemp.mkdtemp()
fd, bytes_name = ferrotemp.mkstemp(prefix=b"x")
as_str: str = bytes_name  # error
fd2, str_name = ferrotemp.mkstemp(suffix=".txt")
ok_str: str = str_name
spool = ferrotemp.SpooledTemporaryFile(mode="w")
spool.write(b"x")  # error
bspool = ferrotemp.SpooledTemporaryFile()
bspool.write(b"fine")
read_back: str = ferrotemp.NamedTemporaryFile("w+").read()
with ferrotemp.TemporaryDirectory(dir=b"/tmp") as bytes_tmp:
    as_text: str = bytes_tmp  # error
with ferrotemp.TemporaryDirectory() as str_tmp:
    fine_text: str = str_tmp
"""


def test_mypy_reports_exactly_the_misuse(tmp_path: Path) -> None:
    client = tmp_path / "client.py"
    client.write_text(CLIENT)
    expected = {i for i, line in enumerate(CLIENT.splitlines(), 1) if line.endswith("# error")}
    out = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(client)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    reported = {int(m) for m in re.findall(r"client\.py:(\d+): error", out.stdout)}
    assert reported == expected, out.stdout


# One client, checked once with `import tempfile` and once with ferrotemp in its place; the
# `# error` lines are what typeshed's stubs reject, the rest what they accept.
COMPARED_CLIENT = """\
{import_line}
from typing import IO, Optional


def upload(f: IO[bytes]) -> int:
    return f.write(b"x")


def upload_text(f: IO[str]) -> int:
    return f.write("x")


def spooled_files_are_io() -> None:
    with tempfile.SpooledTemporaryFile(max_size=10) as binary:
        upload(binary)
        upload_text(binary)  # error
    with tempfile.SpooledTemporaryFile(mode="w+") as text:
        upload_text(text)
        upload(text)  # error
    annotated: tempfile.SpooledTemporaryFile[bytes] = tempfile.SpooledTemporaryFile()
    upload(annotated)
    stream: IO[bytes] = tempfile.SpooledTemporaryFile()
    lines: list[bytes] = list(tempfile.SpooledTemporaryFile())
    stream.close()
    del lines


def named_file_name() -> str:
    with tempfile.NamedTemporaryFile() as f:
        return f.name


def named_text_file_name() -> str:
    f = tempfile.NamedTemporaryFile("w+", delete=False)
    f.write("x")
    f.close()
    return f.name


def named_file_is_io() -> int:
    with tempfile.NamedTemporaryFile() as f:
        return upload(f)


def default_dir() -> Optional[str]:
    tempfile.tempdir = None
    tempfile.tempdir = "/tmp"
    wrong: bytes = tempfile.tempdir  # error
    del wrong
    return tempfile.tempdir


def unsafe_name() -> str:
    return tempfile.mktemp()  # error


def misuse() -> None:
    with tempfile.NamedTemporaryFile("w") as text_file:
        text_file.write(b"bytes into a text file")  # error
    unnamed = tempfile.TemporaryFile("w+")
    unnamed.write(b"x")  # error
    bytes_dir: str = tempfile.mkdtemp(dir=b"/tmp")  # error
    fd, bytes_name = tempfile.mkstemp(prefix=b"x")
    as_str: str = bytes_name  # error
    with tempfile.TemporaryDirectory(dir=b"/tmp") as bytes_tmp:
        as_text: str = bytes_tmp  # error
    del bytes_dir, fd, as_str, as_text
"""
IMPORTS = {"tempfile": "import tempfile", "ferrotemp": "import ferrotemp as tempfile"}
ERROR_LINES = {
    i
    for i, line in enumerate(COMPARED_CLIENT.format(import_line="").splitlines(), 1)
    if line.endswith("# error")
}
# Where the two modules' own names show in messages, both are called "tempfile".
OWN_NAMES = re.compile(r"\bferrotemp(\._[a-z]+)?\.")


def write_clients(tmp_path: Path) -> dict[str, Path]:
    paths = {}
    for module, import_line in IMPORTS.items():
        paths[module] = tmp_path / f"client_{module}.py"
        paths[module].write_text(COMPARED_CLIENT.format(import_line=import_line))
    return paths


def normalise(message: str) -> str:
    # A deprecation's reason is each module's own prose; that there is one is what counts.
    message = re.sub(r"(is deprecated)(:|\n).*", r"\1", message, flags=re.S)
    return OWN_NAMES.sub("tempfile.", message)


@pytest.mark.parametrize("version", ["3.10", "3.11", "3.12", "3.13"])
def test_mypy_strict_reports_the_same_for_ferrotemp_as_for_tempfile(
    tmp_path: Path, version: str
) -> None:
    clients = write_clients(tmp_path)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--enable-error-code=deprecated",
            f"--python-version={version}",
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
        match = re.match(r"client_(\w+)\.py:(\d+): (error|note): (.*)", line)
        if match:
            found[match[1]].append((int(match[2]), f"{match[3]}: {normalise(match[4])}"))
    assert found["ferrotemp"] == found["tempfile"], out.stdout
    # The comparison means something only if the standard module's stubs say what we expect.
    assert {n for n, text in found["tempfile"] if text.startswith("error")} == ERROR_LINES


PYRIGHT = shutil.which("basedpyright", path=str(Path(sys.executable).parent))


@pytest.mark.parametrize("version", ["3.10", "3.11", "3.12", "3.13"])
def test_pyright_strict_reports_the_same_for_ferrotemp_as_for_tempfile(
    tmp_path: Path, version: str
) -> None:
    # basedpyright, run in pyright's own strict mode (not basedpyright's "recommended" or
    # "all"), with deprecations reported as errors as mypy's check above does.
    # The test extra installs basedpyright next to this interpreter: its absence is a broken
    # environment, not a reason to skip.
    assert PYRIGHT is not None, (
        "basedpyright (test extra) is not installed next to " + sys.executable
    )
    clients = write_clients(tmp_path)
    config = {"typeCheckingMode": "strict", "reportDeprecated": "error", "pythonVersion": version}
    (tmp_path / "pyrightconfig.json").write_text(json.dumps(config))
    out = subprocess.run(
        [PYRIGHT, "--outputjson", "--pythonpath", sys.executable, *map(str, clients.values())],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    report = json.loads(out.stdout)
    found: dict[str, list[tuple[int, str, str, str]]] = {module: [] for module in clients}
    for diag in report["generalDiagnostics"]:
        module = Path(diag["file"]).stem.split("_", 1)[1]
        line = diag["range"]["start"]["line"] + 1
        found[module].append(
            (line, diag["severity"], diag.get("rule", ""), normalise(diag["message"]))
        )
    for diags in found.values():
        diags.sort()
    assert found["ferrotemp"] == found["tempfile"], json.dumps(found, indent=1)
    std_errors = {line for line, severity, _, _ in found["tempfile"] if severity == "error"}
    assert std_errors == ERROR_LINES, found["tempfile"]
