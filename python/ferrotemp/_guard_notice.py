"""What the crash guard's notice asks for when an entry is created: the warning that the guard
is unavailable, and keep mode's log line (``FERROTEMP_KEEP=1``).

Imported with the package, so it loads nothing until a notice comes: ``warnings`` and
``logging`` are imported when first needed.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ._core import GuardNotice

__all__ = ["report_notice"]


def report_notice(notice: GuardNotice, path: Any) -> None:
    """Acts on an owner's ``guard_notice``: warns (``RuntimeWarning``, once per process) that
    the crash guard is unavailable, and logs a kept entry's path on the ``ferrotemp`` logger.
    Called only when there is a notice, so the usual creation pays no logger lookup."""
    warning = notice.warning
    if warning is not None:
        import warnings

        try:
            # 1: here, 2: NamedTemporaryFile / TemporaryDirectory.__init__, 3: their caller.
            warnings.warn(warning, RuntimeWarning, stacklevel=3)
        except Exception:  # noqa: BLE001 - warnings turned into errors (-W error)
            # The guard being off must never make creating a temp file fail: the entry is
            # still removed normally. Say it on the logger instead.
            import logging

            logging.getLogger("ferrotemp").warning("%s", warning)
    if notice.kept:
        import logging
        import os

        logging.getLogger("ferrotemp").info("FERROTEMP_KEEP=1: keeping %s", os.fsdecode(path))
