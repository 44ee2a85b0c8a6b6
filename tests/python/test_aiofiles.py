"""aiofiles' temp-file API over ferrotemp installed as ``tempfile`` (FERROTEMP_AS_TEMPFILE=1).

aiofiles (pinned in the ``test`` extra) reaches into ``tempfile._TemporaryFileWrapper`` and,
on 3.12+, its ``_closer``; each case runs in a child started with the switch, so that
aiofiles imports ferrotemp as ``tempfile``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import asyncio, os, sys, tempfile
assert tempfile.__name__ == "ferrotemp", tempfile
import aiofiles.tempfile as atf

d = sys.argv[1]

async def main():
    names = []
    async with atf.NamedTemporaryFile("w+", dir=d) as f:
        await f.write("text\n")
        await f.seek(0)
        assert await f.read() == "text\n"
        assert os.path.exists(f.name)
        names.append(f.name)
    async with atf.NamedTemporaryFile("wb+", dir=d) as f:
        await f.write(b"bytes")
        await f.seek(0)
        assert await f.read() == b"bytes"
        assert os.path.exists(f.name)
        names.append(f.name)
    async with atf.TemporaryFile(dir=d) as f:
        await f.write(b"unnamed")
        await f.seek(0)
        assert await f.read() == b"unnamed"
        assert os.listdir(d) == []
    async with atf.SpooledTemporaryFile(max_size=4, dir=d) as f:
        await f.write(b"spooled past max_size")
        await f.seek(0)
        assert await f.read() == b"spooled past max_size"
    async with atf.TemporaryDirectory(dir=d) as td:
        with open(os.path.join(td, "x"), "w") as inner:
            inner.write("x")
        names.append(td)
    return names

names = asyncio.run(main())
assert not any(os.path.exists(n) for n in names), names
assert os.listdir(d) == [], os.listdir(d)
print("ok")
"""


def test_aiofiles_temp_files_over_ferrotemp(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path)],
        capture_output=True,
        text=True,
        env={**os.environ, "FERROTEMP_AS_TEMPFILE": "1"},
        timeout=120,
    )
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
