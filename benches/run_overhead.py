"""What ``ferrotemp run`` adds to a command: ``true`` alone, then under each layer.

Each row is a process started and waited for as a caller sees it (spawn included), rounds
interleaved, the minimum and the median reported:

- ``true``: the command alone;
- ``python -c pass``: the interpreter's start, the floor of anything written in Python;
- ``python -c 'import ferrotemp'``: the package's import;
- ``ferrotemp.run(['true'])`` from ``python -c``: the job itself (workspace, lease, spawn,
  wait, removal) on top;
- ``python -m ferrotemp --version``: the full Python CLI's start (argparse and the commands'
  modules in ``ferrotemp._cli``), before any command runs;
- ``python -m ferrotemp run -- true``: the whole command line in Python (read without
  argparse by the core's plain reading, the core's job);
- ``ferrotemp run -- true``: the native command the wheel installs (crates/ferrotemp-cli):
  the same reading and job, no interpreter.

And in one process, ``ferrotemp.run(['true'])`` against ``os.posix_spawnp('true')`` plus
``waitpid``: the job's own cost without any interpreter start.

    python benches/run_overhead.py [--rounds 40] [--json PATH]

A registry of its own is used (``FERROTEMP_GUARD_DIR`` in a scratch directory), with the
automatic sweep off, so the figures do not depend on what the real registry holds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable

import ferrotemp


def timed(run: Callable[[], object], rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        start = time.perf_counter()
        run()
        out.append(time.perf_counter() - start)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    scratch = tempfile.mkdtemp(prefix="run-bench-")
    registry = os.path.join(scratch, "registry")
    os.mkdir(registry, 0o700)
    env = dict(os.environ, FERROTEMP_GUARD_DIR=registry, FERROTEMP_GUARD_SWEEP="0", TMPDIR=scratch)
    os.environ.update(FERROTEMP_GUARD_DIR=registry, FERROTEMP_GUARD_SWEEP="0")
    bindir = os.path.dirname(sys.executable)
    cli = shutil.which("ferrotemp", path=bindir) or shutil.which("ferrotemp")
    rows: list[tuple[str, list[str]]] = [
        ("true", ["true"]),
        ("python -c pass", [sys.executable, "-c", "pass"]),
        ("python -c 'import ferrotemp'", [sys.executable, "-c", "import ferrotemp"]),
        (
            "python -c ferrotemp.run(['true'])",
            [
                sys.executable,
                "-c",
                "import ferrotemp, sys; sys.exit(ferrotemp.run(['true']).returncode)",
            ],
        ),
    ]
    module = [sys.executable, "-m", "ferrotemp"]
    rows += [
        ("python -m ferrotemp --version", [*module, "--version"]),
        ("python -m ferrotemp run -- true", [*module, "run", "--", "true"]),
    ]
    if cli is None:
        raise SystemExit("the native ferrotemp command is not installed (see pyproject.toml)")
    rows.append(("ferrotemp run -- true (native)", [cli, "run", "--", "true"]))
    samples: dict[str, list[float]] = {name: [] for name, _ in rows}
    try:
        for _ in range(args.rounds):
            for name, cmd in rows:
                start = time.perf_counter()
                subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, check=True)
                samples[name].append(time.perf_counter() - start)

        def spawn_true() -> None:
            os.waitpid(os.posix_spawnp("true", ["true"], os.environ), 0)

        in_process = {
            "in process: posix_spawnp('true') + waitpid": timed(spawn_true, args.rounds * 5),
            "in process: ferrotemp.run(['true'])": timed(
                lambda: ferrotemp.run(["true"], dir=scratch), args.rounds * 5
            ),
        }
        samples.update(in_process)
    finally:
        shutil.rmtree(scratch)
    report: dict[str, Any] = {}
    width = max(len(name) for name in samples)
    for name, xs in samples.items():
        report[name] = {"min_ms": min(xs) * 1e3, "median_ms": statistics.median(xs) * 1e3}
        print(
            f"{name:<{width}}  min {report[name]['min_ms']:7.2f} ms"
            f"  median {report[name]['median_ms']:7.2f} ms"
        )
    if args.json:
        with open(args.json, "w") as out:
            json.dump(report, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
