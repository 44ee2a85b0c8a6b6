"""Side-by-side benchmarks: ferrotemp against the standard module and the bare-syscall floor.

Each case runs the standard module, ferrotemp and (where one exists) a floor of bare ``os``
calls, interleaved in every round so that machine noise hits all of them alike; a second
floor runs the same syscalls in a Rust loop inside the core (no Python at all). The table
gives medians per operation and the ratios the performance table in DESIGN.md is judged on.

``ferrotemp bench`` runs a short version; ``python benches/bench.py`` the full one. Both use
this module, so an installed wheel needs nothing from the repository.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import sysconfig
import tempfile as _tempfile
import threading
import time
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Callable, Optional, Sequence

import ferrotemp

from . import _core

try:
    import fcntl
except ImportError:  # Windows: no flock, and no locked-directory floor
    fcntl = None  # type: ignore[assignment]

__all__ = ["PROFILES", "Case", "build_cases", "main", "run_dir"]

Op = Callable[[], None]
# A floor timed in Rust: given a count, returns the seconds that many rounds took.
RustFloor = Callable[[int], float]


def _stdlib_tempfile() -> ModuleType:
    """The standard module, even when ferrotemp serves ``import tempfile``."""
    if _tempfile is not ferrotemp and not getattr(_tempfile, "__name__", "").startswith("ferro"):
        return _tempfile
    path = os.path.join(sysconfig.get_paths()["stdlib"], "tempfile.py")
    spec = importlib.util.spec_from_file_location("_ferrotemp_bench_stdlib_tempfile", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tempfile = _stdlib_tempfile()


@dataclass(frozen=True)
class Profile:
    """How long a run takes: rounds, a scale for each case's inner count, the sizes scanned."""

    rounds: int
    scale: float
    memory_mib: int
    scaling_sizes: tuple[int, ...]
    thread_ops: int


PROFILES = {
    # python benches/bench.py: the figures for the README.
    "full": Profile(15, 1.0, 64, (10, 100, 1_000, 10_000, 100_000), 20_000),
    # ferrotemp bench: a few seconds per directory on the user's machine.
    "short": Profile(3, 0.1, 16, (10, 1_000, 10_000), 2_000),
    # ferrotemp bench --quick: the table's shape, for tests.
    "quick": Profile(1, 0.02, 8, (10, 1_000), 400),
}


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
    floor_rust: Optional[RustFloor] = None
    # Set when the case cannot run here; the row is printed with this reason.
    skip: Optional[str] = None
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


def guard_case(d: str, number: int, floor: Op) -> Case:
    """Crash guard on vs off: ``NamedTemporaryFile`` enter/exit with the guard switched off
    (the "std" column of this row) and on ("ours"). The switch is process-wide, so each timed
    batch sets it first, untimed, and both sides run interleaved in one process."""

    def side(enabled: bool) -> Op:
        def op() -> None:
            with ferrotemp.NamedTemporaryFile(dir=d):
                pass

        def prepare(_number: int) -> None:
            _core._set_guard_enabled(enabled)

        op.prepare = prepare  # type: ignore[attr-defined]
        return op

    return Case("crash guard on vs off", 1.10, number, side(False), side(True), floor)


class TreeShape:
    """1,000 entries: 20 directories of 50 files. Trees are built before the clock starts,
    and only their removal is timed."""

    def __init__(self, d: str, flags: int) -> None:
        self.d = d
        self.flags = flags
        self.dirs = [f"d{i:02}" for i in range(20)]
        self.files = [f"f{j:02}" for j in range(50)]
        self.count = 0

    def fill(self, root: str) -> None:
        for sub in self.dirs:
            os.mkdir(f"{root}/{sub}")
            for name in self.files:
                os.close(os.open(f"{root}/{sub}/{name}", self.flags, 0o600))


class TreeCleanup:
    """``cleanup()`` of a TemporaryDirectory holding a filled tree."""

    def __init__(self, shape: TreeShape, make: Callable[[], Any]) -> None:
        self.shape = shape
        self.make = make
        self.ready: list[Any] = []

    def prepare(self, number: int) -> None:
        for _ in range(number):
            tmp = self.make()
            self.shape.fill(os.fsdecode(getattr(tmp, "name", tmp)))
            self.ready.append(tmp)

    def __call__(self) -> None:
        self.ready.pop().cleanup()


class FloorTree:
    """Bare unlink/rmdir of known names, serial, from Python: no listing, no checks."""

    def __init__(self, shape: TreeShape) -> None:
        self.shape = shape
        self.ready: list[str] = []

    def prepare(self, number: int) -> None:
        for _ in range(number):
            self.shape.count += 1
            root = f"{self.shape.d}/floort{os.getpid()}-{self.shape.count}"
            os.mkdir(root, 0o700)
            self.shape.fill(root)
            self.ready.append(root)

    def __call__(self) -> None:
        root = self.ready.pop()
        unlink, rmdir = os.unlink, os.rmdir
        files = self.shape.files
        for sub in self.shape.dirs:
            path = f"{root}/{sub}"
            for name in files:
                unlink(f"{path}/{name}")
            rmdir(path)
        rmdir(root)


def build_cases(d: str, scale: float = 1.0) -> list[Case]:
    counter = [0]
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC

    base = f"{d}/floor{os.getpid()}-"

    def n(count: int) -> int:
        return max(1, int(count * scale))

    def floor_file() -> None:
        counter[0] += 1
        path = f"{base}f{counter[0]}"
        os.close(os.open(path, flags, 0o600))
        os.unlink(path)

    def floor_unnamed() -> None:
        os.close(os.open(d, os.O_RDWR | getattr(os, "O_TMPFILE", 0) | os.O_CLOEXEC, 0o600))

    def floor_dir() -> None:
        counter[0] += 1
        path = f"{base}d{counter[0]}"
        os.mkdir(path, 0o700)
        os.rmdir(path)

    def floor_dir_locked() -> None:
        # What a TemporaryDirectory must do at least: create, lock for systemd-tmpfiles, remove.
        counter[0] += 1
        path = f"{base}l{counter[0]}"
        os.mkdir(path, 0o700)
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        fcntl.flock(fd, fcntl.LOCK_SH)
        os.rmdir(path)
        os.close(fd)

    def rust_create_unlink(count: int) -> float:
        return _core._floor_create_unlink(d, count)

    def rust_mkdir_rmdir(count: int) -> float:
        return _core._floor_mkdir_rmdir(d, count)

    # The Rust floor is in wheels built with the `bench` feature only (make build-dev).
    rust = os.name == "posix" and hasattr(_core, "_floor_create_unlink")
    rust_files: Optional[RustFloor] = rust_create_unlink if rust else None
    rust_dirs: Optional[RustFloor] = rust_mkdir_rmdir if rust else None

    def mkstemp_round_trip(module: Any) -> Op:
        make = module.mkstemp

        def op() -> None:
            fd, name = make(dir=d)
            os.close(fd)
            os.unlink(name)

        return op

    def mkdtemp_round_trip(module: Any) -> Op:
        make = module.mkdtemp

        def op() -> None:
            os.rmdir(make(dir=d))

        return op

    def named_enter_exit(module: Any) -> Op:
        make = module.NamedTemporaryFile

        def op() -> None:
            with make(dir=d):
                pass

        return op

    def unnamed_enter_exit(module: Any) -> Op:
        make = module.TemporaryFile

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

        # The files live as long as the case does.
        op.keep = wrapper  # type: ignore[attr-defined]
        return op

    chunk64 = b"x" * 64
    chunk64k = b"x" * (64 << 10)

    def spooled_small_writes(module: Any) -> Op:
        spool = module.SpooledTemporaryFile()

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

    def spooled_rollover_round_trip(module: Any) -> Op:
        make = module.SpooledTemporaryFile

        def op() -> None:
            with make(max_size=1 << 20, dir=d) as f:
                for _ in range(20):  # 1.25 MiB in 64 KiB writes
                    f.write(chunk64k)
                f.seek(0)
                assert len(f.read()) == 20 * len(chunk64k)

        return op

    def tempdir_enter_exit(module: Any) -> Op:
        make = module.TemporaryDirectory

        def op() -> None:
            with make(dir=d):
                pass

        return op

    tree = TreeShape(d, flags)

    cases = [
        Case(
            "NamedTemporaryFile with",
            0.5,
            n(1000),
            named_enter_exit(tempfile),
            named_enter_exit(ferrotemp),
            floor_file,
            floor_rust=rust_files,
        ),
        Case(
            "NamedTemporaryFile vs floor",
            1.3,
            n(1000),
            named_enter_exit(tempfile),
            named_enter_exit(ferrotemp),
            floor_file,
            target_vs="floor",
            floor_rust=rust_files,
        ),
        Case(
            "TemporaryFile with",
            0.7,
            n(1000),
            unnamed_enter_exit(tempfile),
            unnamed_enter_exit(ferrotemp),
            floor_unnamed,
        ),
        Case(
            "mkstemp+close+unlink",
            0.6,
            n(2000),
            mkstemp_round_trip(tempfile),
            mkstemp_round_trip(ferrotemp),
            floor_file,
            floor_rust=rust_files,
        ),
        Case(
            "mkdtemp+rmdir",
            0.6,
            n(2000),
            mkdtemp_round_trip(tempfile),
            mkdtemp_round_trip(ferrotemp),
            floor_dir,
            floor_rust=rust_dirs,
        ),
        Case(
            "TemporaryDirectory with",
            0.4,
            n(2000),
            tempdir_enter_exit(tempfile),
            tempdir_enter_exit(ferrotemp),
            floor_dir_locked if fcntl is not None else floor_dir,
        ),
        Case(
            "TemporaryDirectory 1k cleanup",
            0.6,
            n(10),
            TreeCleanup(tree, lambda: tempfile.TemporaryDirectory(dir=d)),
            TreeCleanup(tree, lambda: ferrotemp.TemporaryDirectory(dir=d)),
            FloorTree(tree),
        ),
        Case(
            "Spooled 16x write 64 B",
            0.6,
            n(2000),
            spooled_small_writes(tempfile),
            spooled_small_writes(ferrotemp),
        ),
        Case(
            "Spooled 1.25 MiB roll+read",
            0.6,
            n(100),
            spooled_rollover_round_trip(tempfile),
            spooled_rollover_round_trip(ferrotemp),
        ),
        guard_case(d, n(1000), floor_file),
        Case(
            "wrapper write/seek/read",
            1.1,
            n(20000),
            via_wrapper(std_named),
            via_wrapper(our_named),
            calls_through(plain),
            target_vs="floor",
        ),
    ]
    return cases


def run(cases: list[Case], rounds: int) -> None:
    for case in cases:
        if case.skip is not None:
            continue
        warm = min(50, case.number)
        # Warm-up: imports, caches, discovery; once for cases that build trees first.
        for _ in range(1 if hasattr(case.std, "prepare") else 2):
            _time(case.std, warm)
            _time(case.ours, warm)
        for _ in range(rounds):
            variants = [("std", case.std), ("ours", case.ours)]
            if case.floor is not None:
                variants.append(("floor", case.floor))
            for label, op in variants:
                case.samples.setdefault(label, []).append(_time(op, case.number))
            if case.floor_rust is not None:
                seconds = case.floor_rust(case.number)
                case.samples.setdefault("floor_rust", []).append(seconds / case.number)


# --- peak memory of a rollover, in a fresh interpreter ---------------------------------

_MEMORY_CHILD = r"""
import json, sys
import {module} as tf

def status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])  # KiB

max_size = {max_size}
chunk = b"x" * (64 << 10)
spool = tf.SpooledTemporaryFile(max_size=max_size, dir={dir!r})
for _ in range(max_size // len(chunk)):
    spool.write(chunk)
assert not spool._rolled
# Reset the high-water mark to the current RSS, which now holds the buffered data.
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
buffered = status("VmRSS")
spool.write(chunk)  # passes max_size: rolls over
assert spool._rolled
print(json.dumps({{"buffered_kib": buffered, "peak_kib": status("VmHWM")}}))
"""


def measure_rollover_peak(d: str, max_mib: int, module: str) -> dict[str, Any]:
    """VmHWM above VmRSS during the write that rolls a full spool over, in a fresh process."""
    code = _MEMORY_CHILD.format(module=module, max_size=max_mib << 20, dir=d)
    env = {k: v for k, v in os.environ.items() if k != "FERROTEMP_AS_TEMPFILE"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip().splitlines()[-1] if out.stderr else "failed")
    result: dict[str, Any] = json.loads(out.stdout)
    result["above_kib"] = result["peak_kib"] - result["buffered_kib"]
    return result


def memory_row(d: str, max_mib: int) -> dict[str, Any]:
    row: dict[str, Any] = {
        "case": f"rollover peak above data ({max_mib} MiB)",
        "unit": "KiB",
        "target": 64.0,
        "target_vs": "KiB",
    }
    if not sys.platform.startswith("linux"):
        row["skip"] = "needs /proc/self/status (Linux)"
        return row
    try:
        std = measure_rollover_peak(d, max_mib, "tempfile")
        ours = measure_rollover_peak(d, max_mib, "ferrotemp")
    except (OSError, RuntimeError) as e:
        row["skip"] = f"could not measure: {e}"
        return row
    row.update(std=float(std["above_kib"]), ours=float(ours["above_kib"]))
    row["ratio"] = row["ours"] / row["std"] if row["std"] > 0 else None
    row["judged_ratio"] = row["ours"]
    row["met"] = row["ours"] <= row["target"]
    return row


# --- report -----------------------------------------------------------------------------


def case_row(case: Case) -> dict[str, Any]:
    row: dict[str, Any] = {
        "case": case.name,
        "unit": "us",
        "target": case.target,
        "target_vs": case.target_vs,
    }
    if case.skip is not None:
        row["skip"] = case.skip
        return row
    med = {k: statistics.median(v) * 1e6 for k, v in case.samples.items()}
    row["std"] = med["std"]
    row["ours"] = med["ours"]
    row["ratio"] = med["ours"] / med["std"]
    if "floor" in med:
        row["floor"] = med["floor"]
        row["floor_ratio"] = med["floor"] / med["std"]
        row["ours_floor"] = med["ours"] / med["floor"]
    if "floor_rust" in med:
        row["floor_rust"] = med["floor_rust"]
        row["floor_rust_ratio"] = med["floor_rust"] / med["std"]
    judged = row["ratio"] if case.target_vs == "std" else row["ours_floor"]
    row["judged_ratio"] = judged
    row["met"] = judged <= case.target
    # The target asks for less than the bare syscalls cost here: no code can reach it.
    if case.target_vs == "std":
        floors = [med[k] for k in ("floor", "floor_rust") if k in med]
        if floors and min(floors) / med["std"] > case.target:
            row["below_floor"] = True
    return row


def machine_info() -> dict[str, Any]:
    model = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "system": platform.system(),
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "cpu": model,
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "ferrotemp": ferrotemp.__version__,
    }


def fs_type(d: str) -> str:
    try:
        return str(_core.filesystem_info(d)["fs_type"])
    except OSError:
        return "?"


def run_dir(d: str, profile: Profile, only: Optional[str] = None) -> dict[str, Any]:
    cases = [c for c in build_cases(d, profile.scale) if only is None or only in c.name]
    run(cases, profile.rounds)
    rows = [case_row(c) for c in cases]
    if only is None or only in "rollover peak":
        rows.append(memory_row(d, profile.memory_mib))
    return {"dir": d, "fs_type": fs_type(d), "rounds": profile.rounds, "rows": rows}


def _num(value: Any, width: int, digits: int = 2) -> str:
    if value is None:
        return " " * width
    return f"{value:>{width}.{digits}f}"


TABLE_HEADER = (
    f"{'case':<34}{'std':>10}{'ours':>10}{'floor':>10}{'floor.rs':>10}"
    f"{'ours/std':>10}{'floor/std':>10}{'ours/floor':>11}  {'target':<14}status"
)


def format_table(result: dict[str, Any]) -> str:
    lines = [
        f"directory: {result['dir']} ({result['fs_type']}), medians of {result['rounds']} "
        "rounds; times in µs per operation, the rollover row in KiB",
        TABLE_HEADER,
    ]
    notes = []
    for row in result["rows"]:
        target = f"≤{row['target']:.2f}× {row['target_vs']}"
        if row["target_vs"] == "KiB":
            target = f"≤{row['target']:.0f} KiB"
        if "skip" in row:
            lines.append(f"{row['case']:<34}{'':>71}  {target:<14}skipped")
            notes.append(f"  {row['case']}: skipped: {row['skip']}")
            continue
        digits = 0 if row["unit"] == "KiB" else 2
        status = "met" if row["met"] else "MISSED"
        if not row["met"] and row.get("below_floor"):
            status = "MISSED (below the syscall floor here)"
        lines.append(
            f"{row['case']:<34}{_num(row['std'], 10, digits)}{_num(row['ours'], 10, digits)}"
            f"{_num(row.get('floor'), 10)}{_num(row.get('floor_rust'), 10)}"
            f"{_num(row.get('ratio'), 10)}{_num(row.get('floor_ratio'), 10)}"
            f"{_num(row.get('ours_floor'), 11)}  {target:<14}{status}"
        )
    return "\n".join(lines + notes)


# --- scaling: per-op cost as the directory fills, and threads ---------------------------


def scaling(d: str, sizes: Sequence[int], rounds: int) -> list[dict[str, Any]]:
    """Per-op µs of NamedTemporaryFile enter/exit and mkstemp round trips in a directory that
    already holds `size` live files."""
    out = []
    ops = 300
    for size in sizes:
        parent = ferrotemp.mkdtemp(prefix="scaling-", dir=d)
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
            for i in range(size):
                os.close(os.open(f"{parent}/live{i}", flags, 0o600))
            samples: dict[str, list[float]] = {"std": [], "ours": [], "floor_rust": []}
            for _ in range(rounds):
                for label, module in (("std", tempfile), ("ours", ferrotemp)):
                    make = module.NamedTemporaryFile
                    start = time.perf_counter()
                    for _ in range(ops):
                        with make(dir=parent):
                            pass
                    samples[label].append((time.perf_counter() - start) / ops)
                if os.name == "posix" and hasattr(_core, "_floor_create_unlink"):
                    samples["floor_rust"].append(_core._floor_create_unlink(parent, ops) / ops)
        finally:
            _core.remove_tree(parent)
        row: dict[str, Any] = {"live_files": size}
        for label, values in samples.items():
            if values:
                row[f"{label}_us"] = statistics.median(values) * 1e6
        out.append(row)
    return out


def format_scaling(d: str, rows: list[dict[str, Any]]) -> str:
    lines = [
        f"scaling in {d}: NamedTemporaryFile enter/exit, µs per op, by live files in the dir",
        f"{'live files':>12}{'std':>10}{'ours':>10}{'floor.rs':>10}",
    ]
    for row in rows:
        lines.append(
            f"{row['live_files']:>12}{_num(row.get('std_us'), 10)}{_num(row.get('ours_us'), 10)}"
            f"{_num(row.get('floor_rust_us'), 10)}"
        )
    return "\n".join(lines)


def _throughput(make_op: Callable[[], Op], threads: int, ops: int) -> float:
    """Operations per second with `threads` threads each doing `ops` operations."""
    barrier = threading.Barrier(threads + 1)
    errors: list[BaseException] = []

    def work() -> None:
        op = make_op()
        barrier.wait()
        try:
            for _ in range(ops):
                op()
        except BaseException as e:  # reported below, after the threads are joined
            errors.append(e)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for w in workers:
        w.start()
    barrier.wait()
    start = time.perf_counter()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    return threads * ops / elapsed


def thread_scaling(d: str, ops: int, rounds: int) -> dict[str, Any]:
    """Throughput of NamedTemporaryFile enter/exit with 1 and 2 threads (target ≥ 1.6×)."""
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC

    def named(module: Any) -> Callable[[], Op]:
        def make_op() -> Op:
            make = module.NamedTemporaryFile

            def op() -> None:
                with make(dir=d):
                    pass

            return op

        return make_op

    def floor() -> Op:
        base = f"{d}/floor-{threading.get_ident()}-"
        counter = [0]

        def op() -> None:
            counter[0] += 1
            path = f"{base}{counter[0]}"
            os.close(os.open(path, flags, 0o600))
            os.unlink(path)

        return op

    result: dict[str, Any] = {"dir": d, "ops_per_thread": ops, "target": 1.6}
    for label, make_op in (
        ("ours", named(ferrotemp)),
        ("std", named(tempfile)),
        ("floor", floor),
    ):
        one, two = [], []
        for _ in range(rounds):
            one.append(_throughput(make_op, 1, ops))
            two.append(_throughput(make_op, 2, ops))
        result[label] = {
            "one_thread_ops": statistics.median(one),
            "two_threads_ops": statistics.median(two),
            "speedup": statistics.median(two) / statistics.median(one),
        }
    return result


def format_threads(result: dict[str, Any]) -> str:
    lines = [
        f"threads in {result['dir']}: NamedTemporaryFile enter/exit, operations per second",
        f"{'':<8}{'1 thread':>12}{'2 threads':>12}{'speedup':>9}",
    ]
    for label in ("ours", "std", "floor"):
        r = result[label]
        lines.append(
            f"{label:<8}{r['one_thread_ops']:>12.0f}{r['two_threads_ops']:>12.0f}"
            f"{r['speedup']:>8.2f}×"
        )
    met = result["ours"]["speedup"] >= result["target"]
    lines.append(f"ferrotemp speedup target ≥{result['target']}×: {'met' if met else 'MISSED'}")
    return "\n".join(lines)


# --- chart ------------------------------------------------------------------------------


def draw_chart(report: dict[str, Any], path: str) -> bool:
    """A PNG of ours/std and floor/std per row and directory; False without matplotlib."""
    try:
        # Imported by name: matplotlib is an optional extra, unknown to type checkers that
        # look at an installed ferrotemp.
        matplotlib: Any = importlib.import_module("matplotlib")
        matplotlib.use("Agg")
        plt: Any = importlib.import_module("matplotlib.pyplot")
    except ImportError:
        return False
    results = report["results"]
    fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4.2), squeeze=False)
    for ax, result in zip(axes[0], results):
        rows = [
            r for r in result["rows"] if "skip" not in r and r["target_vs"] == "std" and r["std"]
        ]
        names = [r["case"] for r in rows]
        ys = range(len(rows))
        ours = [r["ratio"] for r in rows]
        floors = [min(r.get("floor_ratio", 9), r.get("floor_rust_ratio", 9)) for r in rows]
        ax.barh([y + 0.2 for y in ys], ours, height=0.4, label="ferrotemp / std", color="#c0504d")
        ax.barh(
            [y - 0.2 for y in ys],
            [f if f < 9 else 0 for f in floors],
            height=0.4,
            label="syscall floor / std",
            color="#9bbb59",
        )
        ax.scatter(
            [r["target"] for r in rows], list(ys), marker="|", s=300, color="k", label="target"
        )
        ax.axvline(1.0, color="grey", linewidth=0.8, linestyle="--")
        ax.set_yticks(list(ys))
        ax.set_yticklabels(names, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("time relative to the standard module (lower is better)")
        ax.set_title(f"{result['dir']} ({result['fs_type']})", fontsize=10)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=3)
    m = report["machine"]
    fig.suptitle(
        f"ferrotemp {m['ferrotemp']} vs tempfile — Python {m['python']}, {m['cpus']} CPUs, "
        f"Linux {m['kernel']}"
        if m["system"] == "Linux"
        else f"{m['system']} {m['kernel']}",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return True


# --- command line -----------------------------------------------------------------------


def default_dirs() -> list[str]:
    dirs = []
    if os.path.isdir("/dev/shm"):
        dirs.append("/dev/shm")
    default = tempfile.gettempdir()
    if os.path.realpath(default) not in [os.path.realpath(x) for x in dirs]:
        dirs.append(default)
    return dirs


def add_arguments(parser: argparse.ArgumentParser, *, default_profile: str) -> None:
    parser.add_argument(
        "--dir",
        action="append",
        dest="dirs",
        metavar="DIR",
        help="directory to measure in; repeat for several (default: /dev/shm and the temp dir)",
    )
    parser.add_argument(
        "--profile", choices=sorted(PROFILES), default=default_profile, help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--quick", action="store_const", const="quick", dest="profile", help="a seconds-long run"
    )
    parser.add_argument("--rounds", type=int, help="rounds per case (default: by profile)")
    parser.add_argument("--json", dest="json_out", metavar="PATH", help="write the results")
    parser.add_argument("--png", dest="png_out", metavar="PATH", help="draw a chart (matplotlib)")
    parser.add_argument("--only", metavar="NAME", help="only cases whose name contains NAME")
    parser.add_argument(
        "--scaling", action="store_true", help="also per-op cost as the directory fills"
    )
    parser.add_argument(
        "--threads", action="store_true", help="also 1 vs 2 threads creating named files"
    )
    parser.add_argument(
        "--no-table", action="store_true", help="skip the main table (with --scaling/--threads)"
    )


def run_from_args(args: argparse.Namespace) -> int:
    base = PROFILES[args.profile]
    rounds = args.rounds or base.rounds
    profile = Profile(rounds, base.scale, base.memory_mib, base.scaling_sizes, base.thread_ops)
    dirs: list[str] = args.dirs or default_dirs()
    machine = machine_info()
    report: dict[str, Any] = {"machine": machine, "profile": args.profile, "results": []}
    print(
        f"ferrotemp {machine['ferrotemp']} vs the standard tempfile — Python {machine['python']}"
        f" on {machine['system']} {machine['kernel']}, {machine['cpus']} CPUs ({machine['cpu']})"
    )
    if not args.no_table:
        for d in dirs:
            result = run_dir(d, profile, args.only)
            report["results"].append(result)
            print()
            print(format_table(result), flush=True)
    if args.scaling:
        report["scaling"] = []
        for d in dirs:
            rows = scaling(d, profile.scaling_sizes, max(1, min(rounds, 5)))
            report["scaling"].append({"dir": d, "rows": rows})
            print()
            print(format_scaling(d, rows), flush=True)
    if args.threads:
        d = "/dev/shm" if os.path.isdir("/dev/shm") else dirs[0]
        report["threads"] = thread_scaling(d, profile.thread_ops, max(1, min(rounds, 7)))
        print()
        print(format_threads(report["threads"]))
    if args.json_out:
        with open(args.json_out, "w") as out:
            json.dump(report, out, indent=2)
    if args.png_out and report["results"]:
        if draw_chart(report, args.png_out):
            print(f"\nchart: {args.png_out}")
        else:
            print("\nno chart: matplotlib is not installed (pip install 'ferrotemp[bench]')")
    return 0


def main(argv: Optional[Sequence[str]] = None, *, default_profile: str = "full") -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    add_arguments(parser, default_profile=default_profile)
    return run_from_args(parser.parse_args(argv))
