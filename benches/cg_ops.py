"""Operations for ``benches/callgrind.sh``: instruction counts per operation, which stay
stable on a loaded machine where times do not. ``MOD=tempfile`` runs the standard module's.

    python benches/cg_ops.py OP COUNT   # OP: named unnamed tdir spool roll tree1k gettempdir
"""

from __future__ import annotations

import os
import sys
from typing import Any, Callable

t: Any = __import__(os.environ.get("MOD", "ferrotemp"))
op, n = sys.argv[1], int(sys.argv[2])
d = os.environ.get("CG_DIR", "/dev/shm")


def named() -> None:
    with t.NamedTemporaryFile(dir=d):
        pass


def unnamed() -> None:
    with t.TemporaryFile(dir=d):
        pass


def tdir() -> None:
    with t.TemporaryDirectory(dir=d):
        pass


sp = t.SpooledTemporaryFile(max_size=1 << 30)
b64 = b"x" * 64
b64k = b"x" * (64 << 10)


def spool() -> None:
    sp.write(b64)


def roll() -> None:
    # 1.25 MiB in 64 KiB writes past a 1 MiB max_size, read back: the bench's rollover row.
    with t.SpooledTemporaryFile(max_size=1 << 20, dir=d) as f:
        for _ in range(20):
            f.write(b64k)
        f.seek(0)
        f.read()


def tree1k() -> None:
    # Building the tree is counted too: compare two modules' figures, not one alone.
    tmp = t.TemporaryDirectory(dir=d)
    for i in range(20):
        sub = f"{tmp.name}/d{i:02}"
        os.mkdir(sub)
        for j in range(50):
            os.close(os.open(f"{sub}/f{j:02}", os.O_CREAT | os.O_WRONLY, 0o600))
    tmp.cleanup()


def gettempdir() -> None:
    t.gettempdir()


ops: dict[str, Callable[[], None]] = {
    "named": named,
    "unnamed": unnamed,
    "tdir": tdir,
    "spool": spool,
    "roll": roll,
    "tree1k": tree1k,
    "gettempdir": gettempdir,
}
f = ops[op]
for _ in range(min(n, 50)):
    f()
for _ in range(n):
    f()
