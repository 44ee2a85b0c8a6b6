"""TemporaryFile and NamedTemporaryFile: real ``io`` objects over descriptors made in Rust.

The file is created by an opener that ``io`` calls, as in the standard module, so the ``io``
object owns its descriptor (``closefd=True``) and the audit events come in the standard
module's order. A named file's path belongs to its closer (``_core._TemporaryFileCloser``,
native): the wrapper and each method it hands out hold the closer, so whatever the caller
keeps (the wrapper, or one bound method such as ``NamedTemporaryFile().write``) keeps the file
open and present, and when the last of them goes the closer's Rust destructor closes the file
and removes the path: no ``__del__``, no wait for the garbage collector. The file object alone
(``f.file``) does not keep it, as in the standard module.
"""

from __future__ import annotations

import io as _io
import os as _os
import sys
import sys as _sys
from _weakref import ref as _weakref_ref

import ferrotemp as _pkg

from . import _core
from ._guard_notice import report_notice as _report_guard_notice

# `typing` is not imported at run time (it costs more than the rest of the package): the
# interpreter takes the first branch, type checkers the second. In this order, because linters
# take the last binding of a name (`overload`) as the one in force.
TYPE_CHECKING = False
if not TYPE_CHECKING:
    from _functools import partial as _partial  # functools', without importing functools

    from ._typing_standins import AnyStr, GenericAlias, overload

    # Subscripting names object, so the class's bases are exactly the standard module's; at
    # run time the class itself is subscripted through __class_getitem__ (GenericAlias).
    class _WrapperBase:
        def __class_getitem__(cls, item: object) -> type:
            return object
else:
    # For the type checker the wrapper is an IO[AnyStr], as in typeshed, so misuse such as
    # bytes written to a text file is reported; at run time it only delegates.
    from collections.abc import Iterable
    from functools import partial as _partial
    from types import GenericAlias
    from typing import IO, Any, AnyStr, Iterator, Literal, Optional, Union, overload
    from typing import IO as _WrapperBase

    from _typeshed import (
        OpenBinaryMode,
        OpenBinaryModeReading,
        OpenBinaryModeUpdating,
        OpenBinaryModeWriting,
        OpenTextMode,
        ReadableBuffer,
    )


_text_encoding = getattr(_io, "text_encoding", lambda encoding, stacklevel=2: encoding)
_FileIO = _io.FileIO
_BufferedRandom = _io.BufferedRandom
_new_object = object.__new__


class _MethodProbe:
    def method(self) -> None:
        pass


# Methods of C types bound to an instance, and of Python classes (types.BuiltinMethodType and
# types.MethodType, taken as types.py takes them): both weakly referenceable.
_BOUND_METHOD_TYPES: tuple[type, ...] = (type([].append), type(_MethodProbe().method))
del _MethodProbe
# The io classes whose __exit__ is exactly close(): for them the closer's cleanup, which
# closes the file first, is the whole of the wrapper's __exit__.
_CLOSE_ON_EXIT = frozenset(
    {_io.FileIO, _io.BufferedRandom, _io.BufferedReader, _io.BufferedWriter, _io.TextIOWrapper}
)

# The wrapper's own `delete` attribute went away in 3.12 (it moved to the closer, with
# `delete_on_close`).
_WRAPPER_HAS_DELETE = _sys.version_info < (3, 12)

_TemporaryFileCloser = _core._TemporaryFileCloser
# TemporaryFile's first attempt (O_TMPFILE) uses only the directory: one opener serves all.
_TMPFILE_OPENER = _core.UnnamedOpener("", "", 0, True)


class _Hold(_weakref_ref):  # type: ignore[type-arg]
    """A weak reference to a method the wrapper handed out, holding the closer strongly; it
    lives in ``_held`` until the method goes, so the closer lives exactly as long."""

    __slots__ = ("closer",)
    closer: Any


_held: set[_Hold] = set()
_release = _held.discard


def _method_keeping(file: Any, name: str, method: Any, closer: Any) -> Any:
    """``method`` (``file.<name>``), made to keep ``closer`` alive as long as it lives
    (bpo-18879).

    A method bound to ``file`` through its type is made afresh by each lookup, so it is the
    wrapper's alone: it keeps its identity and speed, and a weak reference in ``_held`` holds
    the closer until the method goes. Anything else (possibly shared with other holders) is
    wrapped in a ``functools.partial`` that holds the closer, as the standard module wraps
    every method in a function.
    """
    if (
        type(method) in _BOUND_METHOD_TYPES
        and method.__self__ is file
        and name not in getattr(file, "__dict__", ())
    ):
        hold = _Hold(method, _release)
        hold.closer = closer
        _held.add(hold)
        return method
    wrapped = _partial(method)
    wrapped._closer = closer  # type: ignore[attr-defined]
    return wrapped


def _is_default_binary(
    mode: str,
    buffering: int,
    encoding: Optional[str],
    errors: Optional[str],
    newline: Optional[str],
) -> bool:
    return (
        buffering == -1
        and (mode == "w+b" or mode == "wb+")
        and encoding is None
        and errors is None
        and newline is None
    )


def _open(
    dir: Any,
    mode: str,
    buffering: int,
    encoding: Optional[str],
    errors: Optional[str],
    newline: Optional[str],
    opener: Any,
) -> Any:
    """``io.open(dir, ..., opener=opener)``, as the standard module opens its files.

    The default binary mode is built directly: ``io.open`` would also ask the kernel whether
    the descriptor is a terminal, a system call whose answer here is always no.
    """
    if _is_default_binary(mode, buffering, encoding, errors, newline):
        raw = _FileIO(dir, "w+", opener=opener)
        return _BufferedRandom(raw, raw._blksize)  # type: ignore[attr-defined]
    return _io.open(
        dir,
        mode,
        buffering=buffering,
        newline=newline,
        encoding=encoding,
        errors=errors,
        opener=opener,
    )


def _raw(file: Any) -> Any:
    raw = getattr(file, "buffer", file)
    return getattr(raw, "raw", raw)


class _TemporaryFileWrapper(_WrapperBase[AnyStr]):
    """The object ``NamedTemporaryFile`` returns: delegates to ``file``; its ``_closer``
    closes the file and removes it.

    Attributes looked up on the wrapper are the file's own, cached on first use; a method
    handed out keeps the closer alive as long as it lives (bpo-18879), and costs what the
    file's own method costs.
    """

    file: IO[AnyStr]
    name: str  # bytes when the arguments were bytes; typeshed says str, and so do we
    delete: bool
    _closer: _core._TemporaryFileCloser

    # `sys`, not `_sys`: type checkers read only `sys.version_info` conditions.
    if sys.version_info >= (3, 12):

        def __init__(
            self,
            file: IO[AnyStr],
            name: Any,
            delete: bool = True,
            delete_on_close: bool = True,
        ) -> None:
            self.file = file
            self.name = name
            self._closer = _TemporaryFileCloser(file, name, delete, delete_on_close)

    else:

        def __init__(self, file: IO[AnyStr], name: Any, delete: bool = True) -> None:
            self.file = file
            self.name = name
            self.delete = delete
            self._closer = _TemporaryFileCloser(file, name, delete)

    def __getattr__(self, name: str) -> Any:
        # Only reached for names not in the instance dict: fetch from the file and cache.
        file = self.__dict__["file"]
        attr = getattr(file, name)
        if hasattr(attr, "__call__"):  # noqa: B004 - as the standard module tests it
            attr = _method_keeping(file, name, attr, self._closer)
        if not isinstance(attr, int):
            setattr(self, name, attr)
        return attr

    def close(self) -> None:
        """Close the file; remove it too if ``delete`` and ``delete_on_close``."""
        self._closer.close()

    def persist(
        self,
        dest: Union[str, bytes, _os.PathLike[Any]],
        overwrite: bool = True,
        *,
        fsync: bool = False,
    ) -> None:
        """Publish the file at ``dest`` (an addition to the standard API, as the Rust
        ``tempfile`` crate's ``NamedTempFile::persist``): flush, then rename it there,
        replacing what is there; with ``overwrite=False`` raise ``FileExistsError`` if
        ``dest`` exists. ``fsync=True`` syncs the file before the rename and ``dest``'s
        directory after. ``dest`` must be on the same filesystem (else ``OSError`` ``EXDEV``;
        nothing is copied).

        The file stays open and usable; ``name`` becomes ``dest``, and neither ``close()`` nor
        the end of a ``with`` block removes it any more (the crash guard forgets it too). On
        failure nothing changes: the temporary file is still owned and still removed later.
        """
        self.file.flush()
        self._closer.persist(dest, overwrite, fsync)
        self.name = _os.fspath(dest)  # type: ignore[assignment]
        if _WRAPPER_HAS_DELETE:
            self.delete = False

    def __enter__(self) -> _TemporaryFileWrapper[AnyStr]:
        self.file.__enter__()
        return self

    def __exit__(self, exc: Any, value: Any, tb: Any) -> None:
        file = self.file
        if type(file) in _CLOSE_ON_EXIT:
            # Their __exit__ is close(), which cleanup() does first.
            self._closer.cleanup()
            return None
        result = file.__exit__(exc, value, tb)
        self._closer.cleanup()
        return result

    def __iter__(self) -> Iterator[AnyStr]:
        # A loop, not ``yield from``: closing this generator (a ``break`` out of a ``for``,
        # or dropping it half used) must not close the file (bpo-23700).
        for line in self.file:
            yield line

    # The standard module's wrapper cannot be subscripted at run time; this one can, as the
    # type checkers' view of it suggests.
    __class_getitem__: Any = classmethod(GenericAlias)

    if TYPE_CHECKING:
        # Reached through __getattr__ at run time. Declared with typeshed's signatures so a
        # client's misuse gets the very diagnostics the standard module's wrapper gets.
        @overload
        def write(self: _TemporaryFileWrapper[str], s: str, /) -> int: ...
        @overload
        def write(self: _TemporaryFileWrapper[bytes], s: ReadableBuffer, /) -> int: ...
        @overload
        def write(self, s: AnyStr, /) -> int: ...
        def write(self, s: Any, /) -> int:
            return self.file.write(s)

        @overload
        def writelines(self: _TemporaryFileWrapper[str], lines: Iterable[str]) -> None: ...
        @overload
        def writelines(
            self: _TemporaryFileWrapper[bytes], lines: Iterable[ReadableBuffer]
        ) -> None: ...
        @overload
        def writelines(self, lines: Iterable[AnyStr]) -> None: ...
        def writelines(self, lines: Any) -> None:
            self.file.writelines(lines)


def _wrap(file: Any, name: Any, delete: bool, closer: Any) -> _TemporaryFileWrapper[Any]:
    """A wrapper around a file ``NamedTemporaryFile`` made, with the closer that owns it."""
    wrapper: Any = _new_object(_TemporaryFileWrapper)  # type: ignore[type-abstract]
    wrapper.file = file
    wrapper.name = name
    if _WRAPPER_HAS_DELETE:
        wrapper.delete = delete
    wrapper._closer = closer
    return wrapper  # type: ignore[no-any-return]


@overload
def NamedTemporaryFile(
    mode: OpenTextMode,
    buffering: int = -1,
    encoding: Optional[str] = None,
    newline: Optional[str] = None,
    suffix: Optional[AnyStr] = None,
    prefix: Optional[AnyStr] = None,
    dir: Optional[Union[AnyStr, _os.PathLike[AnyStr]]] = None,
    delete: bool = True,
    *,
    errors: Optional[str] = None,
    delete_on_close: bool = True,
) -> _TemporaryFileWrapper[str]: ...
@overload
def NamedTemporaryFile(
    mode: OpenBinaryMode = "w+b",
    buffering: int = -1,
    encoding: Optional[str] = None,
    newline: Optional[str] = None,
    suffix: Optional[AnyStr] = None,
    prefix: Optional[AnyStr] = None,
    dir: Optional[Union[AnyStr, _os.PathLike[AnyStr]]] = None,
    delete: bool = True,
    *,
    errors: Optional[str] = None,
    delete_on_close: bool = True,
) -> _TemporaryFileWrapper[bytes]: ...
@overload
def NamedTemporaryFile(
    mode: str = "w+b",
    buffering: int = -1,
    encoding: Optional[str] = None,
    newline: Optional[str] = None,
    suffix: Optional[AnyStr] = None,
    prefix: Optional[AnyStr] = None,
    dir: Optional[Union[AnyStr, _os.PathLike[AnyStr]]] = None,
    delete: bool = True,
    *,
    errors: Optional[str] = None,
    delete_on_close: bool = True,
) -> _TemporaryFileWrapper[Any]: ...
def NamedTemporaryFile(
    mode: str = "w+b",
    buffering: int = -1,
    encoding: Optional[str] = None,
    newline: Optional[str] = None,
    suffix: Any = None,
    prefix: Any = None,
    dir: Any = None,
    delete: bool = True,
    *,
    errors: Optional[str] = None,
    delete_on_close: bool = True,
) -> _TemporaryFileWrapper[Any]:
    """A temporary file with a visible name, removed when closed (by default) or dropped.

    Python 3.12 semantics of ``delete`` / ``delete_on_close``: with ``delete_on_close=False``
    the file survives ``close()`` and goes when the context manager exits or the object is
    dropped. ``delete=False`` leaves the file for the caller.
    """
    if prefix is None and suffix is None and type(dir) is str:
        prefix, suffix = _pkg.template, ""  # _resolve_params' first case, inlined
    else:
        prefix, suffix, dir = _pkg._resolve_params(prefix, suffix, dir)
    if "b" not in mode:
        encoding = _text_encoding(encoding)
    opener = _core.NamedOpener(prefix, suffix, _pkg.TMP_MAX, delete)
    try:
        # _open and _raw inlined: this is the path every default NamedTemporaryFile takes.
        if (
            buffering == -1
            and (mode == "w+b" or mode == "wb+")
            and encoding is None
            and errors is None
            and newline is None
        ):
            raw = _FileIO(dir, "w+", opener=opener)
            file = _BufferedRandom(raw, raw._blksize)  # type: ignore[attr-defined]
        else:
            file = _open(dir, mode, buffering, encoding, errors, newline, opener)
            raw = _raw(file)
    except BaseException:
        # io closed the descriptor if it got one; the path goes whatever `delete` says.
        opener.discard()
        raise
    try:
        # raw.name = the path; the guard's notice, if any, reported; then the closer.
        closer, name = opener.finish(file, raw, delete_on_close)
    except BaseException:
        file.close()
        opener.discard()
        raise
    # _wrap, inlined.
    wrapper: Any = _new_object(_TemporaryFileWrapper)  # type: ignore[type-abstract]
    wrapper.file = file
    wrapper.name = name
    if _WRAPPER_HAS_DELETE:
        wrapper.delete = delete
    wrapper._closer = closer
    return wrapper  # type: ignore[no-any-return]


@overload
def TemporaryFile(
    mode: OpenTextMode,
    buffering: int = -1,
    encoding: Optional[str] = None,
    newline: Optional[str] = None,
    suffix: Optional[AnyStr] = None,
    prefix: Optional[AnyStr] = None,
    dir: Optional[Union[AnyStr, _os.PathLike[AnyStr]]] = None,
    *,
    errors: Optional[str] = None,
) -> _io.TextIOWrapper: ...
@overload
def TemporaryFile(
    mode: OpenBinaryMode,
    buffering: Literal[0],
    encoding: Optional[str] = None,
    newline: Optional[str] = None,
    suffix: Optional[AnyStr] = None,
    prefix: Optional[AnyStr] = None,
    dir: Optional[Union[AnyStr, _os.PathLike[AnyStr]]] = None,
    *,
    errors: Optional[str] = None,
) -> _io.FileIO: ...
@overload
def TemporaryFile(
    *,
    buffering: Literal[0],
    encoding: Optional[str] = None,
    newline: Optional[str] = None,
    suffix: Optional[AnyStr] = None,
    prefix: Optional[AnyStr] = None,
    dir: Optional[Union[AnyStr, _os.PathLike[AnyStr]]] = None,
    errors: Optional[str] = None,
) -> _io.FileIO: ...
@overload
def TemporaryFile(
    mode: OpenBinaryModeWriting,
    buffering: Literal[-1, 1] = -1,
    encoding: Optional[str] = None,
    newline: Optional[str] = None,
    suffix: Optional[AnyStr] = None,
    prefix: Optional[AnyStr] = None,
    dir: Optional[Union[AnyStr, _os.PathLike[AnyStr]]] = None,
    *,
    errors: Optional[str] = None,
) -> _io.BufferedWriter: ...
@overload
def TemporaryFile(
    mode: OpenBinaryModeReading,
    buffering: Literal[-1, 1] = -1,
    encoding: Optional[str] = None,
    newline: Optional[str] = None,
    suffix: Optional[AnyStr] = None,
    prefix: Optional[AnyStr] = None,
    dir: Optional[Union[AnyStr, _os.PathLike[AnyStr]]] = None,
    *,
    errors: Optional[str] = None,
) -> _io.BufferedReader: ...
@overload
def TemporaryFile(
    mode: OpenBinaryModeUpdating = "w+b",
    buffering: Literal[-1, 1] = -1,
    encoding: Optional[str] = None,
    newline: Optional[str] = None,
    suffix: Optional[AnyStr] = None,
    prefix: Optional[AnyStr] = None,
    dir: Optional[Union[AnyStr, _os.PathLike[AnyStr]]] = None,
    *,
    errors: Optional[str] = None,
) -> _io.BufferedRandom: ...
@overload
def TemporaryFile(
    mode: str = "w+b",
    buffering: int = -1,
    encoding: Optional[str] = None,
    newline: Optional[str] = None,
    suffix: Optional[AnyStr] = None,
    prefix: Optional[AnyStr] = None,
    dir: Optional[Union[AnyStr, _os.PathLike[AnyStr]]] = None,
    *,
    errors: Optional[str] = None,
) -> IO[Any]: ...
def TemporaryFile(
    mode: str = "w+b",
    buffering: int = -1,
    encoding: Optional[str] = None,
    newline: Optional[str] = None,
    suffix: Any = None,
    prefix: Any = None,
    dir: Any = None,
    *,
    errors: Optional[str] = None,
) -> IO[Any]:
    """A temporary file with no name: ``O_TMPFILE`` where the filesystem allows, else created
    and unlinked at once. The kernel frees it when it is closed."""
    if prefix is None and suffix is None and type(dir) is str:
        prefix, suffix = _pkg.template, ""  # _resolve_params' first case, inlined
    else:
        prefix, suffix, dir = _pkg._resolve_params(prefix, suffix, dir)
    if "b" not in mode:
        encoding = _text_encoding(encoding)
    # The descriptor is made inside the opener, so io validates the mode first and, if
    # anything fails after, closes the descriptor itself. As in the standard module, an
    # O_TMPFILE open that fails (a filesystem without it, a symlinked dir) is followed by a
    # second open that creates a named file and unlinks it.
    file = None
    if _core.o_tmpfile_enabled():
        try:
            if (
                buffering == -1
                and (mode == "w+b" or mode == "wb+")
                and encoding is None
                and errors is None
                and newline is None
            ):
                # _open and _raw inlined: the path every default TemporaryFile takes.
                raw = _FileIO(dir, "w+", opener=_TMPFILE_OPENER)
                raw.name = raw.fileno()
                return _BufferedRandom(raw, raw._blksize)  # type: ignore[attr-defined]
            file = _open(
                dir,
                mode,
                buffering,
                encoding,
                errors,
                newline,
                _core.UnnamedOpener(prefix, suffix, _pkg.TMP_MAX, True),
            )
        except OSError:
            pass
    if file is None:
        file = _open(
            dir,
            mode,
            buffering,
            encoding,
            errors,
            newline,
            _core.UnnamedOpener(prefix, suffix, _pkg.TMP_MAX, False),
        )
    raw = _raw(file)
    raw.name = raw.fileno()
    return file  # type: ignore[no-any-return]


def _adopt_named(
    fd: int,
    name: Any,
    owner: Any,
    mode: str,
    buffering: int,
    encoding: Optional[str],
    errors: Optional[str],
    newline: Optional[str],
    delete_on_close: bool,
) -> _TemporaryFileWrapper[Any]:
    """The wrapper ``NamedTemporaryFile`` returns, around ``fd``, a file a Rust+Python hybrid
    made (``ferrotemp::python``): the same objects, with ``owner`` (of the hybrid's copy of
    the core) removing the file. ``owner`` ``None``: a file the hybrid keeps (``delete`` off),
    removed by name if ``delete`` is set later. Owns ``fd`` from the call on."""
    if "b" not in mode:
        encoding = _text_encoding(encoding)
    taken = []

    def opener(path: Any, flags: int) -> int:
        # From here on io owns the descriptor, and closes it on any failure.
        taken.append(fd)
        return fd

    try:
        file = _open(name, mode, buffering, encoding, errors, newline, opener)
    except BaseException:
        if not taken:
            _os.close(fd)
        raise
    try:
        raw = _raw(file)
        raw.name = name
        if owner is None:
            closer = _TemporaryFileCloser(file, name, False, delete_on_close)
        else:
            notice = owner.guard_notice
            if notice is not None:
                _report_guard_notice(notice, name)
            closer = _TemporaryFileCloser._adopt(file, name, owner, delete_on_close)
    except BaseException:
        file.close()
        raise
    return _wrap(file, name, owner is not None, closer)
