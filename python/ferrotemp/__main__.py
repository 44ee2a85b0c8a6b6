"""The ``ferrotemp`` command: ``python -m ferrotemp info``, ``bench``, ``sweep``, ``ls``, ``run``.

``ferrotemp run`` starts a job, and its start is the point: a command line in the common
forms (read by the core, ``_core.parse_run_plain``, as the native ``ferrotemp`` command reads
it) goes straight to the core's job without argparse (whose import, with ``re``, ``enum`` and
``shutil``, costs more than the rest). Everything else, ``run --help`` and its errors
included, goes to the full parser in ``_cli``."""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional, Sequence


def main(argv: Optional[Sequence[str]] = None) -> int:
    words = sys.argv[1:] if argv is None else list(argv)
    if words[:1] == ["run"]:
        from . import _core, _run

        # POSIX only: elsewhere argparse reads every line (and `run` is not there).
        parse = getattr(_core, "parse_run_plain", None)
        line = None if parse is None else parse(words[1:])
        if line is not None:
            return _run.run_line(line)
    from . import _cli

    return _cli.main(words)


if __name__ == "__main__":
    sys.exit(main())
