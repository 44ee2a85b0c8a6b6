"""Side-by-side benchmarks: ferrotemp against the standard module and the bare-syscall floor.

Each case runs the standard module, ferrotemp and (where one exists) a floor of bare ``os``
calls, interleaved in every round so that machine noise hits all of them alike; a second
floor runs the same syscalls in a Rust loop inside the core (no Python at all). The table
gives medians per operation and the ratios the performance table in DESIGN.md is judged on.

``ferrotemp bench`` runs a short version; ``python benches/bench.py`` the full one. Both use
this package, so an installed wheel needs nothing from the repository. One concern a module:

- ``cases``: what the table times in this process, and the floors;
- ``fresh``: what needs a fresh interpreter (a rollover's peak memory, the import time);
- ``runner``: the profiles and the interleaved rounds, a directory's table;
- ``scaling``: cost as the directory fills, and one thread against two;
- ``report``: rows, tables and the chart;
- ``cli``: the command line (``ferrotemp bench``, ``benches/bench.py``).
"""

from __future__ import annotations

from .cases import Case, build_cases
from .cli import add_arguments, check_args, main, run_from_args
from .runner import PROFILES, Profile, run_dir

__all__ = [
    "PROFILES",
    "Case",
    "Profile",
    "add_arguments",
    "build_cases",
    "check_args",
    "main",
    "run_dir",
    "run_from_args",
]
