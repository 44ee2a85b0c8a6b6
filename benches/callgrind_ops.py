"""Instructions per operation under callgrind: the stable before/after figure of issue 18's
per-call targets on a loaded machine (wall-clock ratios come from ``ferrotemp bench``).

    benches/callgrind.sh PYTHON OP        # ferrotemp
    MOD=tempfile benches/callgrind.sh PYTHON OP   # the standard module

runs ``python benches/callgrind_ops.py OP N`` for N = 1000 and 2000 under
``valgrind --tool=callgrind`` and prints the difference / 1000: the instructions of one
operation, start-up and warm-up cancelled. Operations (in ``/dev/shm``):

- ``named``: ``with NamedTemporaryFile(dir=d): pass``
- ``unnamed``: ``with TemporaryFile(dir=d): pass``
- ``tdir``: ``with TemporaryDirectory(dir=d): pass``
- ``spool``: one 64-byte ``SpooledTemporaryFile.write`` in memory
- ``iofloor``: ``NamedTemporaryFile``'s io floor: ``os.open(O_EXCL|O_NOFOLLOW|O_CLOEXEC)``,
  ``io.open(fd, "w+b")``, close, unlink (the module named by ``MOD`` is not used)
- ``nothing``: the loop's own cost per iteration (a call of an empty function)
- ``roll``: 1.25 MiB in 64 KiB writes past a 1 MiB ``max_size``, read back (the bench's
  rollover row; use a smaller N)
- ``tree1k``: a 1,000-entry tree built and removed by ``TemporaryDirectory.cleanup`` (the
  building is counted too: compare the two modules' figures, not one alone)
- ``gettempdir``: ``gettempdir()``
"""

from __future__ import annotations

import io
import os
import sys
from typing import Any, Callable

t: Any = __import__(os.environ.get("MOD", "ferrotemp"))
d = os.environ.get("DIR", "/dev/shm")
_count = [0]
_flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_spool = t.SpooledTemporaryFile(max_size=1 << 30)
_chunk = b"x" * 64
_chunk64k = b"x" * (64 << 10)


def named() -> None:
    with t.NamedTemporaryFile(dir=d):
        pass


def unnamed() -> None:
    with t.TemporaryFile(dir=d):
        pass


def tdir() -> None:
    with t.TemporaryDirectory(dir=d):
        pass


def spool() -> None:
    _spool.write(_chunk)


def iofloor() -> None:
    _count[0] += 1
    path = f"{d}/iofloor{os.getpid()}-{_count[0]}"
    io.open(os.open(path, _flags, 0o600), "w+b").close()
    os.unlink(path)


def nothing() -> None:
    pass


def roll() -> None:
    with t.SpooledTemporaryFile(max_size=1 << 20, dir=d) as f:
        for _ in range(20):
            f.write(_chunk64k)
        f.seek(0)
        f.read()


def tree1k() -> None:
    tmp = t.TemporaryDirectory(dir=d)
    for i in range(20):
        sub = f"{tmp.name}/d{i:02}"
        os.mkdir(sub)
        for j in range(50):
            os.close(os.open(f"{sub}/f{j:02}", os.O_CREAT | os.O_WRONLY, 0o600))
    tmp.cleanup()


def gettempdir() -> None:
    t.gettempdir()


OPS: dict[str, Callable[[], None]] = {
    "named": named,
    "unnamed": unnamed,
    "tdir": tdir,
    "spool": spool,
    "iofloor": iofloor,
    "nothing": nothing,
    "roll": roll,
    "tree1k": tree1k,
    "gettempdir": gettempdir,
}

if __name__ == "__main__":
    op, n = OPS[sys.argv[1]], int(sys.argv[2])
    for _ in range(min(n, 50)):
        op()
    for _ in range(n):
        op()
