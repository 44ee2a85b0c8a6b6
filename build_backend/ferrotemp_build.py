"""The wheel's build backend: maturin's, with the native ``ferrotemp`` command built first.

A wheel holds one PyO3 module or one Rust executable as maturin builds them, not both
(PyO3/maturin#368). ferrotemp wants both: the module ``ferrotemp._core``, and the command
``ferrotemp`` as a native executable, so that ``ferrotemp run`` starts a job in about a
millisecond instead of a Python interpreter's start (crates/ferrotemp-cli). So this backend
builds the command with cargo (the workspace's release profile, the same lock file), puts
it at ``target/wheel-data/scripts/ferrotemp``, which ``[tool.maturin] data`` adds to the wheel
as a script (pip installs it into the environment's ``bin``), and then hands every hook to
maturin unchanged.

``python build_backend/ferrotemp_build.py`` does the first step alone (``make build-dev``
runs it before ``maturin build``). The command is built for the machine that builds: a
cross-compiled wheel (``maturin build --target``) needs it built for its target by hand.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Optional

from maturin import *  # noqa: F403 (every PEP 517 hook maturin has, unchanged)
from maturin import build_editable as _maturin_build_editable
from maturin import build_wheel as _maturin_build_wheel

ROOT = Path(__file__).resolve().parent.parent
#: ``[tool.maturin] data`` in pyproject.toml: its ``scripts`` go to the environment's ``bin``.
WHEEL_DATA = ROOT / "target" / "wheel-data"
COMMAND = "ferrotemp.exe" if sys.platform == "win32" else "ferrotemp"
# maturin refuses a `data` directory that is not there, in every hook (the metadata's, the
# sdist's too), so it is made whenever this backend is loaded; only the wheel hooks fill it.
WHEEL_DATA.mkdir(parents=True, exist_ok=True)


def _cargo_build(argv: list[str]) -> str:
    """Runs ``cargo build … --message-format=json-render-diagnostics``; the path of the
    ``ferrotemp`` executable it built."""
    cargo = os.environ.get("CARGO", "cargo")
    done = subprocess.run(
        [cargo, "build", "--release", "--message-format=json-render-diagnostics", *argv],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    )
    for line in done.stdout.splitlines():
        message = json.loads(line)
        target = message.get("target", {})
        if message.get("reason") == "compiler-artifact" and "bin" in target.get("kind", []):
            if target.get("name") == "ferrotemp" and message.get("executable"):
                return str(message["executable"])
    raise RuntimeError("cargo built no `ferrotemp` executable (crates/ferrotemp-cli)")


def _in_workspace() -> bool:
    """Whether crates/ferrotemp-cli is a member of the workspace here: it is in the
    repository; an sdist's Cargo.toml, which maturin rewrites, lists only the module's crate."""
    cargo = os.environ.get("CARGO", "cargo")
    done = subprocess.run(
        [cargo, "metadata", "--no-deps", "--format-version", "1"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    )
    return any(p["name"] == "ferrotemp-cli" for p in json.loads(done.stdout)["packages"])


def _build_outside_workspace(scratch: Path) -> str:
    """Builds the command as a workspace of its own in ``scratch`` (sources, a manifest
    depending on the core here, the lock file), into this tree's target directory."""
    shutil.copytree(ROOT / "crates" / "ferrotemp-cli" / "src", scratch / "src")
    shutil.copy2(ROOT / "Cargo.lock", scratch / "Cargo.lock")
    manifest = (
        '[package]\nname = "ferrotemp-cli"\nversion = "0.0.0"\nedition = "2021"\n'
        'publish = false\n\n[[bin]]\nname = "ferrotemp"\npath = "src/main.rs"\n\n'
        f"[dependencies]\nferrotemp = {{ path = {json.dumps(str(ROOT))} }}\n\n"
        '[workspace]\n\n[profile.release]\nlto = "fat"\ncodegen-units = 1\n'
    )
    (scratch / "Cargo.toml").write_text(manifest)
    target = ["--target-dir", str(ROOT / "target")]
    return _cargo_build(["--manifest-path", str(scratch / "Cargo.toml"), *target])


def build_command() -> Path:
    """Builds crates/ferrotemp-cli and copies its executable into the wheel's scripts."""
    if _in_workspace():
        built = _cargo_build(["-p", "ferrotemp-cli"])
    else:
        with tempfile.TemporaryDirectory(prefix="ferrotemp-cli-") as scratch:
            built = _build_outside_workspace(Path(scratch))
    scripts = WHEEL_DATA / "scripts"
    if scripts.exists():
        shutil.rmtree(scripts)
    scripts.mkdir(parents=True)
    dest = scripts / COMMAND
    shutil.copy2(built, dest)
    dest.chmod(0o755)
    return dest


def build_wheel(
    wheel_directory: str,
    config_settings: Optional[dict[str, Any]] = None,
    metadata_directory: Optional[str] = None,
) -> str:
    build_command()
    return str(_maturin_build_wheel(wheel_directory, config_settings, metadata_directory))


def build_editable(
    wheel_directory: str,
    config_settings: Optional[dict[str, Any]] = None,
    metadata_directory: Optional[str] = None,
) -> str:
    build_command()
    return str(_maturin_build_editable(wheel_directory, config_settings, metadata_directory))


if __name__ == "__main__":
    print(build_command())
