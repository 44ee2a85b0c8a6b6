"""``ferrotemp.metrics``: the Prometheus collector, scraped as a server would
(``generate_latest``) on a registry of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional

import ferrotemp
import pytest

prometheus_client = pytest.importorskip(
    "prometheus_client", reason="prometheus_client is in the test extra; absent, nothing to test"
)
from ferrotemp import _metrics_hooks, metrics  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402


def scrape(registry: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of ``registry`` by (name, sorted labels)."""
    text = prometheus_client.generate_latest(registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict[Any, float], name: str, **labels: str) -> Optional[float]:
    return samples.get((name, tuple(sorted(labels.items()))))


@pytest.fixture
def registry() -> Any:
    registry = prometheus_client.CollectorRegistry()
    metrics.register(registry)
    return registry


def test_counters_move_when_files_are_created_and_removed(registry: Any, tmp_path: Path) -> None:
    before = scrape(registry)
    for name in (
        "ferrotemp_created_total",
        "ferrotemp_removed_total",
        "ferrotemp_cleanup_errors_total",
        "ferrotemp_reclaimed_entries_total",
        "ferrotemp_reclaimed_bytes_total",
        "ferrotemp_quota_refusals_total",
    ):
        assert value(before, name) is not None, name
    assert value(before, "ferrotemp_created_total") == ferrotemp.stats().created

    f = ferrotemp.NamedTemporaryFile(dir=tmp_path)
    d = ferrotemp.TemporaryDirectory(dir=tmp_path)
    created = scrape(registry)
    assert value(created, "ferrotemp_created_total") == value(before, "ferrotemp_created_total") + 2  # type: ignore[operator]

    f.close()
    d.cleanup()
    removed = scrape(registry)
    # At least: the garbage collector may remove another test's leftovers meanwhile.
    assert (
        value(removed, "ferrotemp_removed_total") >= value(before, "ferrotemp_removed_total") + 2  # type: ignore[operator]
    )


class FakeWorkspace:
    """What the collector reads of a workspace (see ferrotemp._metrics_hooks)."""

    def __init__(self, name: str, path: Path, max_bytes: Optional[int]) -> None:
        self.name = name
        self.path = path
        self.max_bytes = max_bytes
        self.max_files: Optional[int] = None

    def usage(self) -> Any:
        bytes_, files, dirs = ferrotemp._core.measure_tree(self.path)
        return type("Usage", (), {"bytes": bytes_, "files": files, "dirs": dirs})()


def test_tracked_workspaces_are_measured_at_each_scrape(registry: Any, tmp_path: Path) -> None:
    ws = FakeWorkspace("resize-42", tmp_path, 1 << 20)
    _metrics_hooks.track(ws)
    try:
        labels = {"workspace": "resize-42", "path": str(tmp_path)}
        first = scrape(registry)
        assert value(first, "ferrotemp_workspace_files", **labels) == 0
        assert value(first, "ferrotemp_workspace_max_bytes", **labels) == 1 << 20
        assert value(first, "ferrotemp_workspace_max_files", **labels) is None

        (tmp_path / "data").write_bytes(b"x" * 50_000)
        os.mkdir(tmp_path / "sub")
        second = scrape(registry)
        du = subprocess.run(["du", "-B1", "-s", str(tmp_path)], capture_output=True, text=True)
        assert value(second, "ferrotemp_workspace_bytes", **labels) == int(du.stdout.split()[0])
        assert value(second, "ferrotemp_workspace_files", **labels) == 1
        assert value(second, "ferrotemp_workspace_dirs", **labels) == 1
    finally:
        _metrics_hooks.untrack(ws)
    assert value(scrape(registry), "ferrotemp_workspace_files", **labels) is None


def test_a_workspace_whose_usage_fails_is_left_out_of_the_scrape(
    registry: Any, tmp_path: Path
) -> None:
    gone = FakeWorkspace("gone", tmp_path / "missing", None)
    _metrics_hooks.track(gone)
    try:
        samples = scrape(registry)
    finally:
        _metrics_hooks.untrack(gone)
    assert not any(labels and dict(labels)["workspace"] == "gone" for _, labels in samples)
    assert value(samples, "ferrotemp_created_total") is not None


def test_tracking_does_not_keep_a_workspace_alive(tmp_path: Path) -> None:
    ws = FakeWorkspace("dropped", tmp_path, None)
    _metrics_hooks.track(ws)
    assert ws in _metrics_hooks.live_workspaces
    del ws
    assert not any(w.name == "dropped" for w in _metrics_hooks.live_workspaces)


def test_registering_twice_on_one_registry_is_refused(registry: Any) -> None:
    with pytest.raises(ValueError):
        metrics.register(registry)


def test_a_live_workspace_appears_in_the_scrape_and_goes_when_it_ends(
    registry: Any, tmp_path: Path
) -> None:
    with ferrotemp.Workspace("scraped", max_files=10, dir=tmp_path) as ws:
        (ws.path / "data").write_bytes(b"y" * 9000)
        labels = {"workspace": "scraped", "path": str(ws.path)}
        samples = scrape(registry)
        assert value(samples, "ferrotemp_workspace_files", **labels) == 1
        assert value(samples, "ferrotemp_workspace_max_files", **labels) == 10
    assert value(scrape(registry), "ferrotemp_workspace_files", **labels) is None


def test_without_prometheus_client_register_says_what_to_install(tmp_path: Path) -> None:
    # A child where importing prometheus_client fails, as when it is not installed.
    code = (
        "import sys; sys.modules['prometheus_client'] = None\n"
        "import ferrotemp.metrics\n"
        "try:\n"
        "    ferrotemp.metrics.register()\n"
        "except ImportError as err:\n"
        "    print(err)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "pip install 'ferrotemp[metrics]'" in done.stdout
