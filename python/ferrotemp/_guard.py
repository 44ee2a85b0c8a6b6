"""The crash guard's sweeps and their reports (loaded on first use: ``ferrotemp.sweep``).

The guard itself lives in the Rust core (``src/guard``): ``NamedTemporaryFile`` and
``TemporaryDirectory`` with deletion on are recorded there at creation, and a sweep removes
the entries of processes that died without cleaning up. See the README's "Crash guard". What
the guard's notice to a new entry's owner asks for is in ``_guard_notice``.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import _core

TYPE_CHECKING = False
if TYPE_CHECKING:
    import os
    from typing import Optional, Tuple, Union

    _PathArg = Union[str, bytes, os.PathLike[str], os.PathLike[bytes]]

__all__ = ["SweepReport", "sweep", "sweep_older_than"]


@dataclass(frozen=True)
class SweepReport:
    """What a sweep removed (or, with ``dry_run``, would remove)."""

    dry_run: bool
    #: How many entries were removed.
    entries: int
    #: How many bytes they held (file sizes; a directory counts the files inside).
    bytes: int
    #: The removed entries' paths.
    paths: Tuple[str, ...]
    #: Entries examined and left alone: ``(path, reason)``, reason one of ``gone``,
    #: ``replaced``, ``symlink``, ``other_filesystem``, ``other_owner``, ``in_use``,
    #: ``recent``, ``not_file_or_dir``, ``too_large``, ``born_before_owner`` (a record naming
    #: a file older than the record: never its owner's), ``unconfirmed`` (a pending entry
    #: whose path exists but cannot be shown to be the owner's).
    skipped: Tuple[Tuple[str, str], ...]
    #: Failures: ``(path, message)``.
    errors: Tuple[Tuple[str, str], ...]
    #: Dead processes' records removed (registry sweeps only).
    records_removed: int
    #: Live processes' records left alone (registry sweeps only).
    records_live: int
    #: False when the sweep stopped at a limit before the end.
    complete: bool


def _report(outcome: _core.SweepOutcome) -> SweepReport:
    removed = outcome.removed
    return SweepReport(
        dry_run=outcome.dry_run,
        entries=len(removed),
        bytes=sum(entry.bytes for entry in removed),
        paths=tuple(entry.path for entry in removed),
        skipped=tuple((entry.path, entry.reason) for entry in outcome.skipped),
        errors=tuple((entry.path, entry.message) for entry in outcome.errors),
        records_removed=outcome.records_removed,
        records_live=outcome.records_live,
        complete=outcome.complete,
    )


def sweep(dir: Optional[_PathArg] = None, *, dry_run: bool = False) -> SweepReport:
    """Remove what killed processes left behind: the guarded entries of every dead process's
    record, where the path still holds the very file or directory that was recorded (same
    device and inode), never following a symlink.

    ``dir`` is the temp dir whose registry to sweep (``None``: the registry in use, i.e.
    ``FERROTEMP_GUARD_DIR`` or the default temp dir's). With ``dry_run`` nothing is removed
    and the report says what would be. Live processes' entries are never touched. The GIL is
    released during the sweep. Raises ``PermissionError`` if the registry is refused (a
    symlink, or not owned by this user).
    """
    return _report(_core.sweep(dir, dry_run))


def sweep_older_than(
    dir: _PathArg, prefix: Union[str, bytes], older_than: float, *, dry_run: bool = False
) -> SweepReport:
    """Remove the top-level entries of ``dir`` whose name starts with ``prefix`` and whose
    timestamps (of the entry and of everything inside) are all older than ``older_than``
    seconds, by systemd-tmpfiles' rules: symlinks, other users' entries, other filesystems
    and ``flock``ed entries (a live ``TemporaryDirectory``) are skipped. The GIL is released
    during the sweep."""
    if not prefix:
        raise ValueError("an age-based sweep needs a non-empty prefix")
    return _report(_core.sweep_older_than(dir, prefix, float(older_than), dry_run))
