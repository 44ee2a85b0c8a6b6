"""``TemporaryDirectory``: the standard module's class, with creation and removal in Rust.

The directory belongs to a ``_core.TempDirOwner``, which holds a shared ``flock`` on it while
it lives and removes the tree by file descriptor, never following a symlink, with the GIL
released. As in the standard module, a finalizer cleans up (with a ``ResourceWarning``) on
garbage collection and at interpreter exit; it holds the owner, not the object. It is
``weakref.finalize``'s job done by a weak reference of its own (``_DirFinalizer``), which
costs a tenth of a ``finalize`` object (a third of the whole ``with`` block was ``finalize``).
"""

from __future__ import annotations

import os as _os
import sys
import warnings as _warnings
from _weakref import ref as _weakref_ref

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

else:
    from types import GenericAlias, TracebackType
    from typing import Any, AnyStr, Callable, Optional, Union, overload
    from typing import Generic as _GenericBase

    _StrPath = Union[str, _os.PathLike[str]]
    _BytesPath = Union[bytes, _os.PathLike[bytes]]


# Finalizers whose directory may still need cleaning up, by id, in creation order: a weak
# reference is called back only while something holds it, and the exit hook runs what is left.
_live: dict[int, _DirFinalizer] = {}
# Set once the exit hook has run: later collections do nothing (as weakref.finalize's).
_shutdown = False
_exit_hook_registered = False


class _DirFinalizer(_weakref_ref):  # type: ignore[type-arg]
    """What ``weakref.finalize(obj, func, *args)`` does for a ``TemporaryDirectory``, with the
    same interface (``detach``, ``peek``, ``alive``, ``atexit``, calling it): ``func(*args)``
    runs once, at the first of an explicit call, the object's collection, or interpreter exit
    (in reverse order of creation, before modules are torn down). Made by
    ``TemporaryDirectory.__init__``."""

    __slots__ = ("func", "args", "atexit")

    func: Callable[..., Any]
    args: tuple[Any, ...]
    atexit: bool

    def __call__(self, _: Any = None) -> Any:
        """Runs the finalizer now if it has not run (nor been detached); returns its result."""
        if _live.pop(id(self), None) is not None and not _shutdown:
            return self.func(*self.args)
        return None

    def detach(self) -> Optional[tuple[Any, Callable[..., Any], tuple[Any, ...], dict[str, Any]]]:
        """If alive, marks it dead and returns ``(obj, func, args, kwargs)``, as
        ``weakref.finalize.detach``."""
        obj = _weakref_ref.__call__(self)
        if obj is not None and _live.pop(id(self), None) is not None:
            return (obj, self.func, self.args, {})
        return None

    def peek(self) -> Optional[tuple[Any, Callable[..., Any], tuple[Any, ...], dict[str, Any]]]:
        """If alive, returns ``(obj, func, args, kwargs)`` without marking it dead."""
        obj = _weakref_ref.__call__(self)
        if obj is not None and id(self) in _live:
            return (obj, self.func, self.args, {})
        return None

    @property
    def alive(self) -> bool:
        return id(self) in _live


def _collected(finalizer: _DirFinalizer) -> None:
    """The weak reference's callback: the directory object was collected. (``finalizer()``
    written out: this runs at every collection, after ``cleanup()`` too.)"""
    if _live.pop(id(finalizer), None) is not None and not _shutdown:
        finalizer.func(*finalizer.args)


def _at_exit() -> None:
    """Runs the finalizers still alive, the newest first (as ``weakref.finalize`` does at
    exit; the garbage collector is paused meanwhile, so no collection runs one half-way)."""
    global _shutdown
    import gc

    reenable = gc.isenabled()
    gc.disable()
    try:
        while _live:
            finalizer = _live[next(reversed(_live))]
            if not finalizer.atexit:
                del _live[id(finalizer)]
                continue
            try:
                finalizer()
            except Exception:
                sys.excepthook(*sys.exc_info())
    finally:
        _shutdown = True
        if reenable:
            gc.enable()


def _register_exit_hook() -> None:
    """Registers :func:`_at_exit`, once, at the first directory made (as weakref.finalize
    registers its own at its first use)."""
    global _exit_hook_registered
    if not _exit_hook_registered:
        import atexit

        atexit.register(_at_exit)
        _exit_hook_registered = True


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
        # weakref.finalize(self, self._cleanup, owner, ...), written out (a call less).
        if not _exit_hook_registered:
            _register_exit_hook()
        finalizer = _DirFinalizer(self, _collected)
        finalizer.func = self._cleanup
        finalizer.args = (owner, warn_message, ignore_cleanup_errors, delete)
        finalizer.atexit = True
        _live[id(finalizer)] = finalizer
        self._finalizer = finalizer
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
        self._cleanup_with(0)

    def _cleanup_with(self, threads: int) -> None:
        """``cleanup()`` with at most ``threads`` threads removing (0: one per core).
        ``ferrotemp.aio`` removes with one, leaving the other cores to the event loop."""
        finalizer = self._finalizer
        # Our finalizer's detach() written out (the object is alive: it is self); any other
        # object put in its place is asked.
        if (
            _live.pop(id(finalizer), None) is not None
            if type(finalizer) is _DirFinalizer
            else finalizer.detach() is not None
        ):
            if threads and type(self._owner) is _core.TempDirOwner:
                self._owner.cleanup(self._ignore_cleanup_errors, threads)
            else:  # a hybrid's owner (`_adopt`) takes no thread count
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
