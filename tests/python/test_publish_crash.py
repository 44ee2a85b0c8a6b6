"""Crash test of ``atomic_write`` (issue 14): a child publishes 1 MiB versions of one file in a
loop and is SIGKILLed at a random moment, 200 times. The destination must always hold one
whole version (old or new, never a mix or a torn write), versions never go back, and the next
child's crash-guard sweep must leave no temporary file behind."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from _support import guard_env

SIZE = 1 << 20
KILLS = 200

# Version n is the 8-digit decimal n repeated to SIZE bytes: any mix or truncation shows.
CHILD = textwrap.dedent(
    """
    import json, os, sys
    import ferrotemp
    SIZE = int(sys.argv[2])
    d = sys.argv[1]
    dest = os.path.join(d, "dest")
    # The "next sweep" after the previous child's kill: its record is a dead process's now.
    ferrotemp.sweep()
    try:
        with open(dest, "rb") as f:
            n = int(f.read(8)) + 1
    except FileNotFoundError:
        n = 1
    print(json.dumps(sorted(os.listdir(d))), flush=True)
    while True:
        with ferrotemp.atomic_write(dest, "wb") as f:
            f.write(b"%08d" % n * (SIZE // 8))
        n += 1
    """
)


def check_whole_version(dest: Path) -> int:
    data = dest.read_bytes()
    assert len(data) == SIZE, f"torn: {len(data)} bytes"
    version = int(data[:8])
    assert data == b"%08d" % version * (SIZE // 8), "a mix of versions"
    return version


def test_sigkill_at_random_moments_never_leaves_a_torn_file_or_a_temp_file(
    tmp_path: Path,
) -> None:
    registry = tmp_path / "registry"
    work = tmp_path / "work"
    work.mkdir()
    dest = work / "dest"
    env = guard_env(registry)
    rng = random.Random(14)
    last = 0
    published_kills = 0
    for kill in range(KILLS):
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(work), str(SIZE)], stdout=subprocess.PIPE, env=env
        )
        assert child.stdout is not None
        listing = json.loads(child.stdout.readline())
        # What the previous kill left, after this child's sweep: the destination only.
        assert listing in ([], ["dest"]), f"kill {kill}: left {listing}"
        time.sleep(rng.uniform(0, 0.05))
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
        child.stdout.close()
        if dest.exists():
            version = check_whole_version(dest)
            assert version >= last, f"kill {kill}: went back from {last} to {version}"
            published_kills += version > last
            last = version
    # The sweep after the last kill, in a child with the same registry.
    out = subprocess.run(
        [sys.executable, "-c", "import ferrotemp; ferrotemp.sweep()"], env=env, check=True
    )
    assert out.returncode == 0
    assert sorted(os.listdir(work)) == ["dest"]
    check_whole_version(dest)
    # The kills landed while writing: many published something new, and not every one.
    assert last > 1 and published_kills > KILLS // 10, (last, published_kills)
