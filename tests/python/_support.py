"""Helpers shared by the tests: running code without root's permission overrides."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

SETPRIV = shutil.which("setpriv")
DROP_CAPS = "-dac_override,-dac_read_search,-fowner"


def run_without_dac(
    code: str, *, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Runs ``code`` in a child Python whose bounding set lacks the capabilities that let root
    ignore file modes, so permission checks behave as for an ordinary user."""
    assert SETPRIV is not None
    return subprocess.run(
        [SETPRIV, f"--bounding-set={DROP_CAPS}", sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
    )


needs_setpriv = pytest.mark.skipif(
    SETPRIV is None or os.geteuid() != 0,
    reason="needs root and setpriv to drop DAC capabilities (root ignores file modes)",
)
