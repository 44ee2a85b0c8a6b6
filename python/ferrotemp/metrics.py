"""Prometheus metrics for services: ``ferrotemp.metrics.register()`` adds a collector that
exposes the core's process-wide counters (``ferrotemp.stats()``) and the usage of this
process's live workspaces, measured at each scrape.

Needs ``prometheus_client`` (``pip install ferrotemp[metrics]``)::

    import ferrotemp.metrics
    ferrotemp.metrics.register()          # the default registry, served by start_http_server

Metrics (counters since the process started; gauges per workspace, labelled ``workspace``
with its name and ``path`` with its directory):

- ``ferrotemp_created_total``, ``ferrotemp_removed_total``: named temp entries created, and
  removed by their owner (close, cleanup, garbage collection);
- ``ferrotemp_cleanup_errors_total``: owners' removals that failed;
- ``ferrotemp_reclaimed_entries_total``, ``ferrotemp_reclaimed_bytes_total``: what sweeps of
  dead processes' leftovers (and age sweeps) removed;
- ``ferrotemp_quota_refusals_total``: creations and writes refused by a workspace's limits;
- ``ferrotemp_workspace_bytes``, ``ferrotemp_workspace_files``, ``ferrotemp_workspace_dirs``:
  a live workspace's tree, measured (blocks on disk, as ``du``);
- ``ferrotemp_workspace_max_bytes``, ``ferrotemp_workspace_max_files``: its limits, where set.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator, Optional

from . import _core, _metrics_hooks

if TYPE_CHECKING:
    from prometheus_client.registry import CollectorRegistry

__all__ = ["FerrotempCollector", "register"]

_COUNTERS = (
    ("created", "created", "Named temp files and directories created."),
    ("removed", "removed", "Owned temp entries removed by their owner."),
    ("cleanup_errors", "cleanup_errors", "Removals by an owner that failed."),
    ("reclaimed_entries", "entries_reclaimed", "Entries removed by sweeps."),
    ("reclaimed_bytes", "bytes_reclaimed", "Bytes held by the entries sweeps removed."),
    ("quota_refusals", "quota_refusals", "Creations or writes refused by a workspace's limits."),
)

_WORKSPACE_GAUGES = (
    ("bytes", "Bytes on disk in the workspace (blocks, as du), measured at scrape."),
    ("files", "Non-directories in the workspace, measured at scrape."),
    ("dirs", "Directories in the workspace (not counting its own), measured at scrape."),
    ("max_bytes", "The workspace's byte limit."),
    ("max_files", "The workspace's file limit."),
)

_LABELS = ("workspace", "path")


def _prometheus() -> Any:
    try:
        import prometheus_client.core as core
    except ImportError as err:
        raise ImportError(
            "ferrotemp.metrics needs prometheus_client: pip install 'ferrotemp[metrics]'"
        ) from err
    return core


class FerrotempCollector:
    """A ``prometheus_client`` collector of ferrotemp's counters and live workspaces."""

    def __init__(self) -> None:
        self._core = _prometheus()

    def _families(self) -> tuple[list[Any], dict[str, Any]]:
        core = self._core
        counters = [
            core.CounterMetricFamily(f"ferrotemp_{name}", doc) for name, _, doc in _COUNTERS
        ]
        gauges = {
            name: core.GaugeMetricFamily(f"ferrotemp_workspace_{name}", doc, labels=_LABELS)
            for name, doc in _WORKSPACE_GAUGES
        }
        return counters, gauges

    def describe(self) -> Iterator[Any]:
        """The metric families, without values (so registering does not measure)."""
        counters, gauges = self._families()
        yield from counters
        yield from gauges.values()

    def collect(self) -> Iterator[Any]:
        """The counters now, and each live workspace measured now."""
        counters, gauges = self._families()
        stats = _core.stats()
        for family, (_, field, _doc) in zip(counters, _COUNTERS):
            family.add_metric([], getattr(stats, field))
        for workspace in list(_metrics_hooks.live_workspaces):
            try:
                usage = workspace.usage()
                labels = [str(workspace.name), str(workspace.path)]
            except Exception:  # ended or removed meanwhile: not in this scrape
                continue
            for name in ("bytes", "files", "dirs"):
                gauges[name].add_metric(labels, getattr(usage, name))
            for name in ("max_bytes", "max_files"):
                limit = getattr(workspace, name, None)
                if limit is not None:
                    gauges[name].add_metric(labels, limit)
        yield from counters
        yield from gauges.values()


def register(registry: Optional[CollectorRegistry] = None) -> FerrotempCollector:
    """Registers a ``FerrotempCollector`` with ``registry`` (default: prometheus_client's
    global ``REGISTRY``) and returns it (``registry.unregister(collector)`` removes it).
    Raises ``ImportError`` without prometheus_client, and prometheus_client's
    ``ValueError`` if ferrotemp's metrics are registered there already."""
    collector = FerrotempCollector()
    if registry is None:
        from prometheus_client import REGISTRY

        registry = REGISTRY
    registry.register(collector)
    return collector
