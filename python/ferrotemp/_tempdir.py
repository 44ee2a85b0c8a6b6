"""``TemporaryDirectory``: the standard module's class, with creation and removal in Rust.

The directory belongs to a ``_core.TempDirOwner``, which holds a shared ``flock`` on it while
it lives and removes the tree by file descriptor, never following a symlink, with the GIL
released. As in the standard module, a ``weakref.finalize`` cleans up (with a
``ResourceWarning``) on garbage collection and at interpreter exit; the finalizer holds the
owner, not the object.
"""

from __future__ import annotations

import os as _os
import warnings as _warnings

import ferrotemp as _pkg

from . import _core
from ._guard_notice import report_notice as _report_guard_notice

__all__ = ["TemporaryDirectory"]

# `typing` is not imported at run time (it costs more than the rest of the package): the
# interpreter takes the first branch, type checkers the second. In this order, because linters
# take the last binding of a name (`overload`) as the one in force.
TYPE_CHECKING = False
if not TYPE_CHECKING:
    from ._typing_standins import AnyStr, GenericAlias, overload

    # Subscripting names object, so the class's bases are exactly the standard module's; at
    # run time the class itself is subscripted through __class_getitem__ (GenericAlias).
    class _GenericBase:
        def __class_getitem__(cls, item: object) -> type:
            return object

    def _finalize(*args, **kwargs):
        """``weakref.finalize``, imported at the first directory made (``weakref`` and what it
        imports would add a third to ``import ferrotemp``): this stand-in calls it and puts it
        in its own place, so later calls go to it directly."""
        global _finalize
        from weakref import finalize as _finalize

        return _finalize(*args, **kwargs)
else:
    from types import GenericAlias, TracebackType
    from typing import Any, AnyStr, Optional, Union, overload
    from typing import Generic as _GenericBase
    from weakref import finalize as _finalize

    _StrPath = Union[str, _os.PathLike[str]]
    _BytesPath = Union[bytes, _os.PathLike[bytes]]


class TemporaryDirectory(_GenericBase[AnyStr]):
    """A directory made as ``mkdtemp`` makes one (mode 0700, a fresh name), removed with
    everything in it when the ``with`` block ends, ``cleanup()`` is called, or the object is
    collected (unless ``delete=False``)::

        with TemporaryDirectory() as path:
            ...

    Removal walks the tree by file descriptor and never follows a symlink inside it.
    """

    name: AnyStr

    @overload
    def __init__(
        self: TemporaryDirectory[str],
        suffix: Optional[str] = None,
        prefix: Optional[str] = None,
        dir: Optional[_StrPath] = None,
        ignore_cleanup_errors: bool = False,
        *,
        delete: bool = True,
    ) -> None: ...
    @overload
    def __init__(
        self: TemporaryDirectory[bytes],
        suffix: Optional[bytes] = None,
        prefix: Optional[bytes] = None,
        dir: Optional[_BytesPath] = None,
        ignore_cleanup_errors: bool = False,
        *,
        delete: bool = True,
    ) -> None: ...
    def __init__(
        self,
        suffix: Any = None,
        prefix: Any = None,
        dir: Any = None,
        ignore_cleanup_errors: bool = False,
        *,
        delete: bool = True,
    ) -> None:
        prefix, suffix, dir = _pkg._resolve_params(prefix, suffix, dir)
        owner = _core.create_tempdir(dir, prefix, suffix, _pkg.TMP_MAX, delete)
        notice = self._take(owner, ignore_cleanup_errors, delete)
        if notice is not None:
            # Here, so that a warning names the caller.
            _report_guard_notice(notice, owner.name)

    def _take(self, owner: Any, ignore_cleanup_errors: bool, delete: bool) -> Any:
        # `owner` is a `_core.TempDirOwner`, or the like from a Rust+Python hybrid (`_adopt`).
        # Returns its guard notice, for the caller to report.
        self._owner = owner
        self.name = owner.name
        # Keep mode (FERROTEMP_KEEP=1) keeps the directory through every cleanup path.
        notice = owner.guard_notice
        self._kept = notice is not None and notice.kept
        self._ignore_cleanup_errors = ignore_cleanup_errors
        self._delete = delete
        # The warning names the object as its repr did at creation; for the usual repr that
        # text is built only if the warning is due.
        warn_message = None
        if type(self).__repr__ is not TemporaryDirectory.__repr__:
            warn_message = "Implicitly cleaning up {!r}".format(self)
        self._finalizer: _finalize[..., TemporaryDirectory[AnyStr]] = _finalize(
            self,
            self._cleanup,
            owner,
            warn_message=warn_message,
            ignore_errors=ignore_cleanup_errors,
            delete=delete,
        )
        return notice

    @classmethod
    def _rmtree(cls, name: Union[str, bytes], ignore_errors: bool = False) -> None:
        _core.remove_tree(name, ignore_errors)

    @classmethod
    def _cleanup(
        cls,
        owner: _core.TempDirOwner,
        warn_message: Optional[str],
        ignore_errors: bool = False,
        delete: bool = True,
    ) -> None:
        if delete:
            owner.cleanup(ignore_errors)
            if warn_message is None:
                warn_message = "Implicitly cleaning up <{} {!r}>".format(cls.__name__, owner.name)
            _warnings.warn(warn_message, ResourceWarning, stacklevel=1)
        else:
            owner.keep()

    def __repr__(self) -> str:
        return "<{} {!r}>".format(self.__class__.__name__, self.name)

    def __enter__(self) -> AnyStr:
        return self.name

    def __exit__(
        self,
        exc: Optional[type[BaseException]],
        value: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        if self._delete:
            self.cleanup()

    def cleanup(self) -> None:
        """Remove the directory and everything in it. Idempotent; a directory already gone
        is no error. Errors are raised (the first, as the ``OSError`` subclass its errno
        selects) unless ``ignore_cleanup_errors`` was given."""
        if self._finalizer.detach() is not None:
            self._owner.cleanup(self._ignore_cleanup_errors)
        elif not self._kept and _os.path.exists(self.name):
            # Cleaned up before, yet something is there again: the standard module
            # removes it.
            self._rmtree(self.name, ignore_errors=self._ignore_cleanup_errors)

    __class_getitem__: Any = classmethod(GenericAlias)


def _adopt(owner: Any, ignore_cleanup_errors: bool, delete: bool) -> TemporaryDirectory[Any]:
    """The ``TemporaryDirectory`` of a directory a Rust+Python hybrid made
    (``ferrotemp::python``): ``owner``, of the hybrid's copy of the core, has what
    ``_core.TempDirOwner`` has (``name``, ``guard_notice``, ``cleanup``, ``keep``)."""
    made: TemporaryDirectory[Any] = TemporaryDirectory.__new__(TemporaryDirectory)
    notice = made._take(owner, ignore_cleanup_errors, delete)
    if notice is not None:
        _report_guard_notice(notice, owner.name)
    return made
