"""Side-by-side benchmarks: ferrotemp against the standard module and the bare-syscall floor.

A thin front end over ``ferrotemp._bench`` (shipped in the wheel, so ``ferrotemp bench`` works
without this repository), run here with the full profile: 15 interleaved rounds per case.

    python benches/bench.py [--dir /dev/shm --dir /tmp] [--rounds 15] [--json out.json]
                            [--png docs/bench.png] [--only NAME] [--scaling] [--threads]
"""

from __future__ import annotations

import sys

from ferrotemp._bench import main

if __name__ == "__main__":
    sys.exit(main(default_profile="full"))
