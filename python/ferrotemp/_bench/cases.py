"""The cases of the main table, timed in this process: the standard module's operation, ours,
and the floors (bare ``os`` calls from Python, and the same syscalls in a Rust loop)."""

from __future__ import annotations

import importlib.util
import io
import os
import sysconfig
import tempfile as _tempfile
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Callable, Optional

import ferrotemp

from .. import _core

try:
    import fcntl
except ImportError:  # Windows: no flock, and no locked-directory floor
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "Case",
    "Op",
    "RustFloor",
    "build_cases",
    "rust_create_unlink",
    "rust_mkdir_rmdir",
    "tempfile",
]

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


# The floors timed in Rust, inside the core: one function each, the only callers of the core's
# benchmark-only functions.
def rust_create_unlink(d: str, count: int) -> float:
    """Seconds that ``count`` create+close+unlink rounds of one file in ``d`` took."""
    return _core._floor_create_unlink(d, count)


def rust_mkdir_rmdir(d: str, count: int) -> float:
    """Seconds that ``count`` mkdir+rmdir rounds of one directory in ``d`` took."""
    return _core._floor_mkdir_rmdir(d, count)


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


def publish_case(d: str, number: int) -> Case:
    """``atomic_write`` of 4 KiB with fsync against the usual hand-written pattern on the
    standard module: ``NamedTemporaryFile(delete=False)``, write, flush, ``os.fsync``,
    ``os.replace``. Ours also syncs the directory after the rename, which the hand-written
    pattern leaves out (and so promises less)."""
    payload = b"x" * 4096
    # Both destinations live in a directory removed when the case goes, so the run leaves
    # nothing behind.
    home = ferrotemp.TemporaryDirectory(dir=d)
    std_dest = f"{home.name}/std"
    our_dest = f"{home.name}/ours"

    def by_hand() -> None:
        with tempfile.NamedTemporaryFile(dir=home.name, delete=False) as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(f.name, std_dest)

    def ours() -> None:
        with ferrotemp.atomic_write(our_dest, "wb") as f:
            f.write(payload)

    by_hand.keep = home  # type: ignore[attr-defined]
    ours.keep = home  # type: ignore[attr-defined]
    return Case("atomic_write 4 KiB fsync", 1.1, number, by_hand, ours)


class TreeShape:
    """``dirs`` directories of ``files`` files each: 1,000 entries as 20 of 50, 100,000 as
    100 of 1,000. Trees are built before the clock starts, and only their removal is
    timed."""

    def __init__(self, d: str, flags: int, dirs: int = 20, files: int = 50) -> None:
        self.d = d
        self.flags = flags
        self.dirs = [f"d{i:03}" for i in range(dirs)]
        self.files = [f"f{j:04}" for j in range(files)]
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

    def floor_file_io() -> None:
        # The io floor of NamedTemporaryFile: the bare floor plus the same io objects on the
        # descriptor (io.open(fd, "w+b"): FileIO + BufferedRandom), closed through them.
        counter[0] += 1
        path = f"{base}i{counter[0]}"
        io.open(os.open(path, flags, 0o600), "w+b").close()
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

    def rust_files_floor(count: int) -> float:
        return rust_create_unlink(d, count)

    def rust_dirs_floor(count: int) -> float:
        return rust_mkdir_rmdir(d, count)

    # The Rust floor is in wheels built with the `bench` feature only (make build-dev).
    rust = os.name == "posix" and hasattr(_core, "_floor_create_unlink")
    rust_files: Optional[RustFloor] = rust_files_floor if rust else None
    rust_dirs: Optional[RustFloor] = rust_dirs_floor if rust else None

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
    big_tree = TreeShape(d, flags, dirs=100, files=1000)
    # Building 100,000 files takes a second or more per round and side: the full profile's
    # (python benches/bench.py) only.
    big_skip = None if scale >= 1.0 else "full profile only (python benches/bench.py)"

    cases = [
        Case(
            "NamedTemporaryFile with",
            0.6,
            n(1000),
            named_enter_exit(tempfile),
            named_enter_exit(ferrotemp),
            floor_file_io,
            floor_rust=rust_files,
        ),
        Case(
            "NamedTemporaryFile vs floor",
            1.15,
            n(1000),
            named_enter_exit(tempfile),
            named_enter_exit(ferrotemp),
            floor_file_io,
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
            0.45,
            n(2000),
            tempdir_enter_exit(tempfile),
            tempdir_enter_exit(ferrotemp),
            floor_dir_locked if fcntl is not None else floor_dir,
        ),
        Case(
            "TemporaryDirectory 1k cleanup",
            0.5,
            n(10),
            TreeCleanup(tree, lambda: tempfile.TemporaryDirectory(dir=d)),
            TreeCleanup(tree, lambda: ferrotemp.TemporaryDirectory(dir=d)),
            FloorTree(tree),
        ),
        Case(
            "TemporaryDirectory 100k cleanup",
            0.5,
            1,
            TreeCleanup(big_tree, lambda: tempfile.TemporaryDirectory(dir=d)),
            TreeCleanup(big_tree, lambda: ferrotemp.TemporaryDirectory(dir=d)),
            FloorTree(big_tree),
            skip=big_skip,
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
            1.0,
            n(100),
            spooled_rollover_round_trip(tempfile),
            spooled_rollover_round_trip(ferrotemp),
        ),
        publish_case(d, n(200)),
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
