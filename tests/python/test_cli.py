"""The ``ferrotemp`` command as a user meets it: bad input is one line on stderr and exit
status 2 (never a traceback), for every command; ``info`` shows the crash guard's state."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def ferrotemp(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ferrotemp", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ, **env},
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nosuch"], "ferrotemp: error: argument command: invalid choice: 'nosuch'"),
        (["info", "--bogus"], "ferrotemp: error: unrecognized arguments: --bogus"),
        (["sweep", "--dir", "/nonexistent/x"], "ferrotemp sweep: error: argument --dir: "),
        (["sweep", "--dir", "/etc/hostname"], "ferrotemp sweep: error: argument --dir: "),
        (["sweep", "--older-than", "soon", "--prefix", "x"], "ferrotemp sweep: error: "),
        (["sweep", "--older-than", "1h"], "ferrotemp sweep: error: "),
        (["sweep", "--older-than", "1h", "--prefix", ""], "ferrotemp sweep: error: "),
        (["bench", "--rounds", "-3"], "ferrotemp bench: error: argument --rounds: "),
        (["bench", "--dir", "/nonexistent/x"], "ferrotemp bench: error: argument --dir: "),
        (["bench", "--only", "nothing like it"], "ferrotemp bench: error: argument --only: "),
        (["ls", "--watch", "never"], "ferrotemp ls: error: argument --watch: "),
    ],
)
def test_bad_input_is_one_line_and_status_2(args: list[str], message: str) -> None:
    done = ferrotemp(*args)
    assert done.returncode == 2, done
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(message), done.stderr
    assert lines[0].endswith("(see --help)"), done.stderr


def test_info_shows_the_crash_guard_and_keep_mode(tmp_path: Path) -> None:
    registry = tmp_path / "registry"
    done = ferrotemp("info", "--json", FERROTEMP_GUARD_DIR=str(registry), FERROTEMP_KEEP="0")
    assert done.returncode == 0, done.stderr
    guard = json.loads(done.stdout)["guard"]
    assert guard["state"] == "on" and guard["why"] is None
    assert guard["registry"] == str(registry) and guard["registry_from"] == "FERROTEMP_GUARD_DIR"
    assert guard["keep"] == "off"
    assert not registry.exists()  # info looks, it creates nothing

    done = ferrotemp("info", FERROTEMP_GUARD="0", FERROTEMP_KEEP="on-error")
    assert done.returncode == 0, done.stderr
    assert "crash guard: off (FERROTEMP_GUARD turns it off)" in done.stdout
    assert "keep mode:   on-error" in done.stdout

    done = ferrotemp("info", "--json", FERROTEMP_KEEP="1")
    assert json.loads(done.stdout)["guard"]["keep"].startswith("always")
