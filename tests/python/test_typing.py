"""The type checker sees ferrotemp as precisely as typeshed's tempfile: misuse is reported."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

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
