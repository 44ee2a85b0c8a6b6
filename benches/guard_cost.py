"""The crash guard's cost on creation as a fresh process sees it, with the sweep included.

``python benches/bench.py --only "crash guard"`` times ``NamedTemporaryFile`` enter/exit with
the guard on and off inside one warmed-up process (the figure the <= 1.10x target is judged
on). It cannot show what a process pays for the sweep its guard starts by itself, nor what a
registry full of dead records costs. This script times the first ``--ops`` enter/exit cycles
of fresh processes, interleaved in each round:

- ``off``: ``FERROTEMP_GUARD=0`` (the baseline);
- ``on, clean``: the guard on, its registry empty;
- ``on, dead records``: the guard on, its registry holding ``--dead-records`` records of
  processes that died (``os._exit``) with ``--entries`` guarded files each, made afresh
  (untimed) before the run. The automatic sweep reclaims them while the process works.

Each process gets its own scratch registry (``FERROTEMP_GUARD_DIR``) in ``--dir``; nothing
outside it is touched. Medians over ``--rounds``; also how many dead entries were still
there when the timed process ended.

    python benches/guard_cost.py [--dir /dev/shm] [--rounds 7] [--ops 2000]
                                 [--dead-records 200] [--entries 10] [--json PATH]
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
from typing import Any, Optional, Sequence

FILL = r"""
import os, sys
import ferrotemp
work, records, entries = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for _ in range(records):
    pid = os.fork()
    if pid == 0:
        held = [ferrotemp.NamedTemporaryFile(dir=work) for _ in range(entries)]
        os._exit(0)  # no exit hook: the record stays, its owner dead
    os.waitpid(pid, 0)
"""

TIMED = r"""
import json, sys, time
import ferrotemp
work, ops = sys.argv[1], int(sys.argv[2])
start = time.perf_counter()
for _ in range(ops):
    with ferrotemp.NamedTemporaryFile(dir=work):
        pass
print(json.dumps({"us_per_op": (time.perf_counter() - start) / ops * 1e6}))
"""


def child_env(registry: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FERROTEMP_")}
    env["FERROTEMP_GUARD_DIR"] = registry
    env.update(extra)
    return env


def run_python(code: str, args: Sequence[str], env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip() or f"exit status {done.returncode}")
    return done.stdout


def one_run(d: str, variant: str, ops: int, records: int, entries: int) -> dict[str, float]:
    scratch = tempfile.mkdtemp(prefix="ferrotemp-guard-cost-", dir=d)
    try:
        registry = os.path.join(scratch, "registry")
        dead_work = os.path.join(scratch, "dead")
        work = os.path.join(scratch, "work")
        os.mkdir(dead_work)
        os.mkdir(work)
        if variant == "on, dead records":
            fill_env = child_env(registry, FERROTEMP_GUARD_SWEEP="0")
            run_python(FILL, [dead_work, str(records), str(entries)], fill_env)
            made = len(os.listdir(dead_work))
            if made != records * entries:
                raise RuntimeError(f"filling made {made} entries, not {records * entries}")
        env = child_env(registry, FERROTEMP_GUARD="0" if variant == "off" else "1")
        result: dict[str, float] = json.loads(run_python(TIMED, [work, str(ops)], env))
        result["dead_entries_left"] = float(len(os.listdir(dead_work)))
        return result
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


VARIANTS = ("off", "on, clean", "on, dead records")


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--dir", default="/dev/shm", help="where to measure (default /dev/shm)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--ops", type=int, default=2000, help="enter/exit cycles per process")
    parser.add_argument("--dead-records", type=int, default=200)
    parser.add_argument("--entries", type=int, default=10, help="guarded files per dead record")
    parser.add_argument("--json", metavar="PATH", help="write the results")
    args = parser.parse_args(argv)

    samples: dict[str, list[dict[str, float]]] = {v: [] for v in VARIANTS}
    for r in range(args.rounds):
        # Rotated so that no variant always runs first in a round.
        for variant in VARIANTS[r % 3 :] + VARIANTS[: r % 3]:
            samples[variant].append(
                one_run(args.dir, variant, args.ops, args.dead_records, args.entries)
            )
    base = statistics.median(s["us_per_op"] for s in samples["off"])
    rows: list[dict[str, Any]] = []
    print(
        f"NamedTemporaryFile enter/exit, first {args.ops} in a fresh process, {args.dir}, "
        f"median of {args.rounds} rounds; dead records: {args.dead_records} x {args.entries}"
    )
    print(f"{'variant':<18} {'us/op':>8} {'vs off':>7} {'dead entries left':>18}")
    for variant in VARIANTS:
        us = statistics.median(s["us_per_op"] for s in samples[variant])
        left = statistics.median(s["dead_entries_left"] for s in samples[variant])
        rows.append({"variant": variant, "us_per_op": us, "vs_off": us / base, "left": left})
        shown_left = f"{left:.0f}" if variant == "on, dead records" else ""
        print(f"{variant:<18} {us:>8.2f} {us / base:>6.2f}x {shown_left:>18}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"args": vars(args), "rows": rows, "samples": samples}, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
