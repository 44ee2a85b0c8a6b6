"""Where live workspaces make themselves known to ``ferrotemp.metrics`` (and anything else
that reports on them): a weak set, so tracking never keeps a workspace alive.

A workspace calls ``track(self)`` once created and ``untrack(self)`` when it ends (removed or
kept). What the collector reads of each: ``.name`` (str), ``.path`` (its directory),
``.max_bytes`` / ``.max_files`` (int or None, optional) and ``.usage()`` (an object with
``bytes``, ``files`` and ``dirs``); a workspace whose ``usage()`` raises is left out of that
scrape.
"""

from __future__ import annotations

import weakref

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["live_workspaces", "track", "untrack"]

live_workspaces: weakref.WeakSet[Any] = weakref.WeakSet()


def track(workspace: Any) -> None:
    """Makes ``workspace`` visible to the metrics collector until ``untrack`` (or until it is
    garbage-collected)."""
    live_workspaces.add(workspace)


def untrack(workspace: Any) -> None:
    """Removes ``workspace`` from the metrics (idempotent)."""
    live_workspaces.discard(workspace)
