"""ferrotemp.aio against anyio's temp files: loop latency while a 100,000-file directory is
removed, and in-memory spooled writes. A thin front end over ``ferrotemp._bench.aio``.

    python benches/aio_bench.py [--backend asyncio|trio] [--rounds 3] [--files 100000]
"""

from __future__ import annotations

import sys

from ferrotemp._bench.aio import main

if __name__ == "__main__":
    sys.exit(main())
