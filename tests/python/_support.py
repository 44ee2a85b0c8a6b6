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


def guard_env(registry: object, **extra: str) -> dict[str, str]:
    """The environment for a child with its own crash-guard registry ``registry``: no keep or
    off switch inherited, the automatic sweep off unless ``extra`` turns it on."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("FERROTEMP_KEEP", "FERROTEMP_GUARD", "FERROTEMP_AS_TEMPFILE")
    }
    env["FERROTEMP_GUARD_DIR"] = str(registry)
    env["FERROTEMP_GUARD_SWEEP"] = "0"
    env.update(extra)
    return env
