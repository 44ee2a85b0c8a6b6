"""Side-by-side benchmarks: ferrotemp against the standard module and the bare-syscall floor.

Each case runs the standard module, ferrotemp and (where one exists) a floor of bare ``os``
calls, interleaved A/B/C in every round so that machine noise hits all three alike. The
table gives the median time per operation and ferrotemp's ratio to the standard module.

    python benches/bench.py [--dir /dev/shm] [--rounds 15] [--json out.json] [--only NAME]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import ferrotemp

try:
    import fcntl
except ImportError:  # Windows: no flock, and no locked-directory floor
    fcntl = None  # type: ignore[assignment]

Op = Callable[[], None]


@dataclass
class Case:
    name: str
    target: float
    number: int
    std: Op
    ours: Op
    floor: Optional[Op] = None
    # What the target ratio is measured against: the standard module, or the floor.
    target_vs: str = "std"
    samples: dict[str, list[float]] = field(default_factory=dict)


def _time(op: Op, number: int) -> float:
    # An op may carry untimed preparation for its next `number` calls (trees to remove).
    prepare = getattr(op, "prepare", None)
    if prepare is not None:
        prepare(number)
    start = time.perf_counter()
    for _ in range(number):
        op()
    return (time.perf_counter() - start) / number


def build_cases(d: str) -> list[Case]:
    counter = [0]
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC

    def floor_file() -> None:
        counter[0] += 1
        path = f"{d}/floor{counter[0]}"
        os.close(os.open(path, flags, 0o600))
        os.unlink(path)

    def floor_unnamed() -> None:
        os.close(os.open(d, os.O_RDWR | getattr(os, "O_TMPFILE", 0) | os.O_CLOEXEC, 0o600))

    def floor_dir() -> None:
        counter[0] += 1
        path = f"{d}/floord{counter[0]}"
        os.mkdir(path, 0o700)
        os.rmdir(path)

    def floor_dir_locked() -> None:
        # What a TemporaryDirectory must do at least: create, lock for systemd-tmpfiles, remove.
        counter[0] += 1
        path = f"{d}/floorl{counter[0]}"
        os.mkdir(path, 0o700)
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        fcntl.flock(fd, fcntl.LOCK_SH)
        os.rmdir(path)
        os.close(fd)

    def mkstemp_round_trip(module: object) -> Op:
        make = module.mkstemp  # type: ignore[attr-defined]

        def op() -> None:
            fd, name = make(dir=d)
            os.close(fd)
            os.unlink(name)

        return op

    def mkdtemp_round_trip(module: object) -> Op:
        make = module.mkdtemp  # type: ignore[attr-defined]

        def op() -> None:
            os.rmdir(make(dir=d))

        return op

    def named_enter_exit(module: object) -> Op:
        make = module.NamedTemporaryFile  # type: ignore[attr-defined]

        def op() -> None:
            with make(dir=d):
                pass

        return op

    def named_with_guard(enabled: bool) -> Op:
        # The guard is process-wide: each timed batch switches it first (untimed), so the two
        # sides of the case can run interleaved in one process.
        def op() -> None:
            with ferrotemp.NamedTemporaryFile(dir=d):
                pass

        def prepare(_number: int) -> None:
            ferrotemp._core._set_guard_enabled(enabled)

        op.prepare = prepare  # type: ignore[attr-defined]
        return op

    def unnamed_enter_exit(module: object) -> Op:
        make = module.TemporaryFile  # type: ignore[attr-defined]

        def op() -> None:
            with make(dir=d):
                pass

        return op

    # Method calls: the same write/seek/read through the wrapper and on the plain io object.
    payload = b"x" * 64

    def calls_through(file: Any) -> Op:
        write, seek, read = file.write, file.seek, file.read

        def op() -> None:
            seek(0)
            write(payload)
            seek(0)
            read(64)

        return op

    std_named = tempfile.NamedTemporaryFile(dir=d)
    our_named = ferrotemp.NamedTemporaryFile(dir=d)
    plain = open(f"{d}/plain-io-{os.getpid()}", "w+b")  # noqa: SIM115 - lives for the run
    os.unlink(plain.name)

    def via_wrapper(wrapper: Any) -> Op:
        def op() -> None:
            wrapper.seek(0)
            wrapper.write(payload)
            wrapper.seek(0)
            wrapper.read(64)

        return op

    chunk64 = b"x" * 64
    chunk64k = b"x" * (64 << 10)

    def spooled_small_writes(module: object) -> Op:
        spool = module.SpooledTemporaryFile()  # type: ignore[attr-defined]

        def op() -> None:
            # 16 writes of 64 bytes, then back to the start so the buffer stays small.
            f = spool
            f.write(chunk64)
            f.write(chunk64)
            f.write(chunk64)
            f.write(chunk64)
            f.write(chunk64)
            f.write(chunk64)
            f.write(chunk64)
            f.write(chunk64)
            f.write(chunk64)
            f.write(chunk64)
            f.write(chunk64)
            f.write(chunk64)
            f.write(chunk64)
            f.write(chunk64)
            f.write(chunk64)
            f.write(chunk64)
            f.seek(0)

        return op

    def spooled_rollover_round_trip(module: object) -> Op:
        make = module.SpooledTemporaryFile  # type: ignore[attr-defined]

        def op() -> None:
            with make(max_size=1 << 20, dir=d) as f:
                for _ in range(20):  # 1.25 MiB in 64 KiB writes
                    f.write(chunk64k)
                f.seek(0)
                assert len(f.read()) == 20 * len(chunk64k)

        return op

    def tempdir_enter_exit(module: object) -> Op:
        make = module.TemporaryDirectory  # type: ignore[attr-defined]

        def op() -> None:
            with make(dir=d):
                pass

        return op

    # 1,000 entries: 20 directories of 50 files. Trees are built before the clock starts, and
    # only cleanup() is timed.
    tree_dirs = [f"d{i:02}" for i in range(20)]
    tree_files = [f"f{j:02}" for j in range(50)]

    def fill_tree(root: str) -> None:
        for sub in tree_dirs:
            os.mkdir(f"{root}/{sub}")
            for name in tree_files:
                os.close(os.open(f"{root}/{sub}/{name}", flags, 0o600))

    class TreeCleanup:
        def __init__(self, make: Callable[[], Any]) -> None:
            self.make = make
            self.ready: list[Any] = []

        def prepare(self, number: int) -> None:
            for _ in range(number):
                tmp = self.make()
                fill_tree(os.fsdecode(getattr(tmp, "name", tmp)))
                self.ready.append(tmp)

        def __call__(self) -> None:
            self.ready.pop().cleanup()

    class FloorTree:
        """Bare unlink/rmdir of known names, serial, from Python: no listing, no checks."""

        def __init__(self) -> None:
            self.ready: list[str] = []

        def prepare(self, number: int) -> None:
            for _ in range(number):
                counter[0] += 1
                root = f"{d}/floort{counter[0]}"
                os.mkdir(root, 0o700)
                fill_tree(root)
                self.ready.append(root)

        def __call__(self) -> None:
            root = self.ready.pop()
            unlink, rmdir = os.unlink, os.rmdir
            for sub in tree_dirs:
                path = f"{root}/{sub}"
                for name in tree_files:
                    unlink(f"{path}/{name}")
                rmdir(path)
            rmdir(root)

    return [
        Case(
            "NamedTemporaryFile with",
            0.5,
            1000,
            named_enter_exit(tempfile),
            named_enter_exit(ferrotemp),
            floor_file,
        ),
        Case(
            "TemporaryFile with",
            0.7,
            1000,
            unnamed_enter_exit(tempfile),
            unnamed_enter_exit(ferrotemp),
            floor_unnamed,
        ),
        Case(
            "wrapper write/seek/read",
            1.1,
            20000,
            via_wrapper(std_named),
            via_wrapper(our_named),
            calls_through(plain),
            target_vs="floor",
        ),
        Case(
            "mkstemp+close+unlink",
            0.6,
            2000,
            mkstemp_round_trip(tempfile),
            mkstemp_round_trip(ferrotemp),
            floor_file,
        ),
        Case(
            "mkdtemp+rmdir",
            0.6,
            2000,
            mkdtemp_round_trip(tempfile),
            mkdtemp_round_trip(ferrotemp),
            floor_dir,
        ),
        Case(
            "Spooled 16x write 64 B",
            0.6,
            2000,
            spooled_small_writes(tempfile),
            spooled_small_writes(ferrotemp),
        ),
        Case(
            "Spooled 1.25 MiB roll+read",
            0.6,
            100,
            spooled_rollover_round_trip(tempfile),
            spooled_rollover_round_trip(ferrotemp),
        ),
        Case(
            "TemporaryDirectory with",
            0.4,
            2000,
            tempdir_enter_exit(tempfile),
            tempdir_enter_exit(ferrotemp),
            floor_dir_locked,
        ),
        Case(
            "TemporaryDirectory 1k cleanup",
            0.6,
            10,
            TreeCleanup(lambda: tempfile.TemporaryDirectory(dir=d)),
            TreeCleanup(lambda: ferrotemp.TemporaryDirectory(dir=d)),
            FloorTree(),
        ),
        # "std" here is ferrotemp with the crash guard off; "ours" has it on.
        Case(
            "guard on/off: NamedTempFile",
            1.10,
            1000,
            named_with_guard(False),
            named_with_guard(True),
            floor_file,
        ),
    ]


def run(cases: list[Case], rounds: int) -> None:
    for case in cases:
        for _ in range(2):  # warm-up: imports, caches, discovery
            _time(case.std, 50)
            _time(case.ours, 50)
        for _ in range(rounds):
            variants = [("std", case.std), ("ours", case.ours)]
            if case.floor is not None:
                variants.append(("floor", case.floor))
            for label, op in variants:
                case.samples.setdefault(label, []).append(_time(op, case.number))


def report(cases: list[Case], d: str) -> dict[str, object]:
    rows = []
    for case in cases:
        med = {k: statistics.median(v) for k, v in case.samples.items()}
        ratio = med["ours"] / med["std"]
        judged = med["ours"] / med[case.target_vs]
        row: dict[str, object] = {
            "case": case.name,
            "std_us": med["std"] * 1e6,
            "ours_us": med["ours"] * 1e6,
            "ratio": ratio,
            "target": case.target,
            "target_vs": case.target_vs,
            "judged_ratio": judged,
            "met": judged <= case.target,
        }
        if "floor" in med:
            row["floor_us"] = med["floor"] * 1e6
            row["floor_ratio_to_std"] = med["floor"] / med["std"]
        rows.append(row)
    return {"dir": d, "python": sys.version.split()[0], "rows": rows}


def print_table(result: dict[str, object]) -> None:
    print(f"directory: {result['dir']}   python {result['python']}")
    header = f"{'case':<28}{'stdlib µs':>11}{'ferrotemp µs':>14}{'ours/std':>9}"
    print(header + f"{'floor µs':>10}{'floor/std':>11}{'ours/floor':>11}{'target':>15}")
    for row in result["rows"]:  # type: ignore[attr-defined]
        line = f"{row['case']:<28}{row['std_us']:>11.2f}{row['ours_us']:>14.2f}{row['ratio']:>9.2f}"
        if "floor_us" in row:
            ours_floor = row["ours_us"] / row["floor_us"]
            line += f"{row['floor_us']:>10.2f}{row['floor_ratio_to_std']:>11.2f}{ours_floor:>11.2f}"
        else:
            line += " " * 32
        target = f"≤{row['target']:.2f}× {row['target_vs']}"
        print(line + f"{target:>15}" + ("" if row["met"] else "  MISSED"))


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_dir = "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()
    parser.add_argument("--dir", default=default_dir)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--json", dest="json_out")
    parser.add_argument("--only")
    args = parser.parse_args(argv)
    cases = [c for c in build_cases(args.dir) if args.only is None or args.only in c.name]
    run(cases, args.rounds)
    result = report(cases, args.dir)
    print_table(result)
    if args.json_out:
        with open(args.json_out, "w") as out:
            json.dump(result, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
