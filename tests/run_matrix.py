"""Runs the test suites against one built wheel on every supported CPython, as root and again
with the DAC capabilities dropped, and prints a table of what ran.

Each interpreter comes from pyenv (``$(pyenv root)/versions/<minor>.<patch>``) and gets its
own venv under ``.venvs/<minor>`` with the wheel and the ``test`` extra. For each interpreter
and each mode it runs the pytest suite (the type-checker tests excepted: they run once, in
``make typecheck``) and CPython's own ``test.test_tempfile`` in both of its modes (``install()``
and ``FERROTEMP_AS_TEMPFILE=1``). An interpreter that is missing fails the run.

    python tests/run_matrix.py --wheel dist/ferrotemp-*.whl [--extra-wheels dist/hybrid/*.whl]
        [--versions 3.12 3.13]

``--extra-wheels`` are installed beside it without their dependencies: the example hybrid
(``examples/hybrid``), which ``tests/python/test_hybrid.py`` tests.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parent.parent
SUPPORTED = ["3.10", "3.11", "3.12", "3.13"]
# Root ignores file modes, so the permission tests skip or prove nothing as root; without
# these capabilities root is held to the modes like any other user.
DROP_DAC = [
    "setpriv",
    "--bounding-set=-dac_override,-dac_read_search,-fowner",
    "--inh-caps=-all",
]
MODES = ("root", "no-dac")


@dataclass
class Counts:
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    allowed: int = 0
    ok: bool = False
    note: str = ""

    def cell(self, with_allowed: bool) -> str:
        if self.note and not (self.passed or self.failed):
            return self.note
        text = f"{self.passed}/{self.failed}/{self.skipped}"
        if with_allowed:
            text += f"/{self.allowed}"
        return text + ("" if self.ok else " FAIL")


@dataclass
class Row:
    version: str
    mode: str
    interpreter: str = ""
    pytest: Counts = field(default_factory=Counts)
    cpython_install: Counts = field(default_factory=Counts)
    cpython_env: Counts = field(default_factory=Counts)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.pytest.ok and self.cpython_install.ok and self.cpython_env.ok


def pyenv_root() -> Path:
    if os.environ.get("PYENV_ROOT"):
        return Path(os.environ["PYENV_ROOT"])
    pyenv = shutil.which("pyenv")
    if pyenv:
        out = subprocess.run([pyenv, "root"], capture_output=True, text=True)
        if out.returncode == 0 and out.stdout.strip():
            return Path(out.stdout.strip())
    return Path.home() / ".pyenv"


def find_interpreter(minor: str) -> Optional[Path]:
    """The newest ``<minor>.<patch>`` release build in pyenv (no dev, rc or free-threaded)."""
    found: list[tuple[int, Path]] = []
    for path in glob.glob(str(pyenv_root() / "versions" / f"{minor}.*")):
        match = re.fullmatch(re.escape(minor) + r"\.(\d+)", Path(path).name)
        python = Path(path) / "bin" / "python"
        if match and python.exists():
            found.append((int(match.group(1)), python))
    return max(found)[1] if found else None


def clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("FERROTEMP_AS_TEMPFILE", "PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")
    }
    env.update(extra)
    return env


def run(cmd: list[str], **kwargs: object) -> int:
    print("+", " ".join(cmd), flush=True)
    return subprocess.run(cmd, **kwargs).returncode  # type: ignore[call-overload,no-any-return]


def make_venv(
    interpreter: Path, venv: Path, wheel: Path, extra_wheels: list[Path]
) -> Optional[str]:
    """Creates (or reuses) the venv and installs the wheel and the test extra into it."""
    python = venv / "bin" / "python"
    want = subprocess.run(
        [str(interpreter), "-c", "import sys; print(sys.version)"], capture_output=True, text=True
    ).stdout
    have = ""
    if python.exists():
        have = subprocess.run(
            [str(python), "-c", "import sys; print(sys.version)"], capture_output=True, text=True
        ).stdout
    if have != want:
        shutil.rmtree(venv, ignore_errors=True)
        if run([str(interpreter), "-m", "venv", str(venv)]) != 0:
            return "venv creation failed"
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    if run([*pip, "--force-reinstall", "--no-deps", str(wheel)]) != 0:
        return "installing the wheel failed"
    if run([*pip, "--find-links", str(wheel.parent), "ferrotemp[test]"]) != 0:
        return "installing the test extra failed"
    if extra_wheels and run([*pip, "--force-reinstall", "--no-deps", *map(str, extra_wheels)]):
        return "installing the extra wheels failed"
    return None


def pytest_counts(junit: Path, returncode: int) -> Counts:
    counts = Counts(ok=returncode == 0)
    try:
        suites = ET.parse(junit).getroot()
    except (OSError, ET.ParseError):
        counts.note = f"no report (exit {returncode})"
        counts.ok = False
        return counts
    for suite in suites.iter("testsuite"):
        tests = int(suite.get("tests", 0))
        failed = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        skipped = int(suite.get("skipped", 0))
        counts.passed += tests - failed - skipped
        counts.failed += failed
        counts.skipped += skipped
    return counts


def cpython_counts(report: Path, returncode: int) -> Counts:
    try:
        data = json.loads(report.read_text())
    except (OSError, ValueError):
        return Counts(ok=False, note=f"no report (exit {returncode})")
    return Counts(
        passed=data["passed"],
        failed=data["failed"] + data["now_passing"] + data["missing"],
        skipped=data["skipped"],
        allowed=data["allowed"],
        ok=returncode == 0,
    )


def run_mode(row: Row, python: Path, out_dir: Path) -> None:
    prefix = DROP_DAC if row.mode == "no-dac" else []
    tag = f"{row.version}-{row.mode}"
    junit = out_dir / f"pytest-{tag}.xml"
    junit.unlink(missing_ok=True)
    print(f"\n==== pytest, Python {row.version}, {row.mode} ====", flush=True)
    rc = run(
        [
            *prefix,
            str(python),
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-m",
            "not typecheck",
            f"--junitxml={junit}",
        ],
        cwd=ROOT,
        env=clean_env(),
    )
    row.pytest = pytest_counts(junit, rc)

    script = str(ROOT / "tests" / "cpython" / "run_test_tempfile.py")
    for attr, extra, env in (
        ("cpython_install", [], clean_env()),
        ("cpython_env", ["--env-only"], clean_env(FERROTEMP_AS_TEMPFILE="1")),
    ):
        report = out_dir / f"test_tempfile-{tag}-{attr}.json"
        report.unlink(missing_ok=True)
        print(f"\n==== test_tempfile ({attr[8:]}), Python {row.version}, {row.mode} ====")
        rc = run([*prefix, str(python), script, *extra, "--report", str(report)], env=env)
        setattr(row, attr, cpython_counts(report, rc))


def print_table(rows: list[Row], total: float) -> None:
    head = (
        "python",
        "interpreter",
        "mode",
        "pytest p/f/s",
        "test_tempfile install() p/f/s/allowed",
        "test_tempfile env p/f/s/allowed",
        "secs",
    )
    lines = [
        (
            r.version,
            r.interpreter,
            r.mode,
            r.pytest.cell(False),
            r.cpython_install.cell(True),
            r.cpython_env.cell(True),
            f"{r.seconds:.0f}",
        )
        for r in rows
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *lines, strict=True)]
    print("\n==== matrix summary (f counts failures outside the allowed lists) ====")
    for line in (head, *lines):
        print("  ".join(str(x).ljust(w) for x, w in zip(line, widths, strict=True)).rstrip())
    passed = sum(r.pytest.passed + r.cpython_install.passed + r.cpython_env.passed for r in rows)
    failed = sum(r.pytest.failed + r.cpython_install.failed + r.cpython_env.failed for r in rows)
    # A run that could not start (no interpreter, no venv) counts as one failure.
    failed += sum(1 for r in rows if r.pytest.note)
    skipped = sum(
        r.pytest.skipped + r.cpython_install.skipped + r.cpython_env.skipped for r in rows
    )
    ran = sorted({r.version for r in rows if r.interpreter}, key=SUPPORTED.index)
    print(f"interpreters run: {', '.join(ran) or 'none'}; {total:.0f} s")
    print(f"matrix: {passed} passed, {failed} failed, {skipped} skipped")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", required=True, type=Path)
    parser.add_argument("--extra-wheels", nargs="*", type=Path, default=[])
    parser.add_argument("--versions", nargs="+", default=SUPPORTED)
    parser.add_argument("--venvs", type=Path, default=ROOT / ".venvs")
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    args = parser.parse_args()
    wheel: Path = args.wheel.resolve()
    out_dir: Path = args.venvs / "reports"
    out_dir.mkdir(parents=True, exist_ok=True)
    if "no-dac" in args.modes and (shutil.which("setpriv") is None or os.geteuid() != 0):
        print("the no-dac runs need root and setpriv (util-linux)", file=sys.stderr)
        return 2

    start = time.monotonic()
    rows: list[Row] = []
    for version in args.versions:
        version_rows = [Row(version, mode) for mode in args.modes]
        rows.extend(version_rows)
        interpreter = find_interpreter(version)
        if interpreter is None:
            absent = f"MISSING: no {version}.* in {pyenv_root()}/versions"
            print(f"\n==== Python {version}: {absent} ====", file=sys.stderr, flush=True)
            for row in version_rows:
                row.pytest.note = absent
            continue
        began = time.monotonic()
        extra = [w.resolve() for w in args.extra_wheels]
        error = make_venv(interpreter, args.venvs / version, wheel, extra)
        for row in version_rows:
            row.interpreter = str(interpreter)
            if error:
                row.pytest.note = error
                continue
            mode_began = time.monotonic()
            run_mode(row, args.venvs / version / "bin" / "python", out_dir)
            row.seconds = time.monotonic() - mode_began
        version_rows[0].seconds += time.monotonic() - began - sum(r.seconds for r in version_rows)

    print_table(rows, time.monotonic() - start)
    failed = [f"{r.version} {r.mode}" for r in rows if not r.ok]
    missing = [v for v in args.versions if find_interpreter(v) is None]
    if missing:
        print(f"MISSING INTERPRETERS: {', '.join(missing)}", file=sys.stderr)
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
