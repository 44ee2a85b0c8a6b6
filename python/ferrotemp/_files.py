"""TemporaryFile and NamedTemporaryFile: real ``io`` objects over descriptors made in Rust.

A named file's descriptor and path belong to a ``_core.NamedGuard``. The ``io`` object reads
and writes through that descriptor (opened with ``closefd=False``) and keeps the guard in its
``__dict__``, so whatever the caller holds (the wrapper, the file, or one bound method such as
``NamedTemporaryFile().write``) keeps the file open and present. When the last of them goes,
the guard's Rust destructor closes the descriptor and removes the path: no ``__del__``, no
reference cycle, no wait for the garbage collector.
"""

from __future__ import annotations

import io as _io
import os as _os
from typing import IO, TYPE_CHECKING, Any, AnyStr, Iterator, Literal, Optional, Union, overload

import ferrotemp as _pkg

from . import _core
from ._guard import report_notice as _report_guard_notice

if TYPE_CHECKING:
    # For the type checker the wrapper is an IO[AnyStr], as in typeshed, so misuse such as
    # bytes written to a text file is reported; at run time it only delegates.
    from collections.abc import Iterable
    from typing import IO as _WrapperBase

    from _typeshed import (
        OpenBinaryMode,
        OpenBinaryModeReading,
        OpenBinaryModeUpdating,
        OpenBinaryModeWriting,
        OpenTextMode,
        ReadableBuffer,
    )
else:
    from typing import Generic as _WrapperBase

_text_encoding = getattr(_io, "text_encoding", lambda encoding, stacklevel=2: encoding)


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


def _open_fd(
    fd: int,
    mode: str,
    buffering: int,
    encoding: Optional[str],
    errors: Optional[str],
    newline: Optional[str],
    closefd: bool,
) -> Any:
    """``io.open`` on a descriptor of a regular file we just created.

    The default binary mode is built directly: ``io.open`` would also ask the kernel whether
    the descriptor is a terminal, a system call whose answer here is always no.
    """
    if _is_default_binary(mode, buffering, encoding, errors, newline):
        raw = _io.FileIO(fd, "w+", closefd=closefd)
        return _io.BufferedRandom(raw, raw._blksize)  # type: ignore[attr-defined]
    return _io.open(
        fd,
        mode,
        buffering=buffering,
        newline=newline,
        encoding=encoding,
        errors=errors,
        closefd=closefd,
    )


def _raw(file: Any) -> Any:
    raw = getattr(file, "buffer", file)
    return getattr(raw, "raw", raw)


class _TemporaryFileWrapper(_WrapperBase[AnyStr]):
    """The object ``NamedTemporaryFile`` returns: delegates to ``file`` and owns its removal.

    Attributes looked up on the wrapper are the file's own, cached on first use, so method
    calls cost what they cost on the file itself.
    """

    file: IO[AnyStr]
    name: str  # bytes when the arguments were bytes; typeshed says str, and so do we
    delete: bool

    def __init__(
        self,
        file: IO[AnyStr],
        name: Any,
        delete: bool = True,
        delete_on_close: bool = True,
        *,
        _guard: Optional[_core.NamedGuard] = None,
    ) -> None:
        self.file = file
        self.name = name
        self.delete = delete
        self._delete_on_close = delete_on_close
        self._guard = _guard
        self._close_called = False
        self._cleanup_called = False

    def __getattr__(self, name: str) -> Any:
        # Only reached for names not in the instance dict: fetch from the file and cache.
        # Bound methods keep the file alive, and the file keeps the guard alive (bpo-18879).
        file = self.__dict__["file"]
        attr = getattr(file, name)
        if not isinstance(attr, int):
            setattr(self, name, attr)
        return attr

    def _close_file(self) -> None:
        try:
            self.file.close()
        finally:
            if self._guard is not None:
                self._guard.close_file()

    def _close_file_and_remove(self) -> None:
        try:
            self.file.close()
        finally:
            if self._guard is not None:
                # One native call: close the descriptor, then remove the path if deleting.
                self._guard.close_and_remove()
            elif self.delete:
                try:
                    _os.unlink(self.name)
                except FileNotFoundError:
                    pass

    def close(self) -> None:
        """Close the file; remove it too if ``delete`` and ``delete_on_close``."""
        if self._close_called:
            return
        self._close_called = True
        try:
            self._close_file()
        finally:
            if self.delete and self._delete_on_close:
                self._cleanup()

    def _cleanup(self) -> None:
        if self._cleanup_called:
            return
        self._cleanup_called = True
        self._close_called = True
        self._close_file_and_remove()

    def __enter__(self) -> _TemporaryFileWrapper[AnyStr]:
        self.file.__enter__()
        return self

    def __exit__(self, exc: Any, value: Any, tb: Any) -> None:
        try:
            self.file.__exit__(exc, value, tb)
        finally:
            self._cleanup()

    def __iter__(self) -> Iterator[AnyStr]:
        # A generator, as in the standard module, so a closed file fails on first next().
        yield from self.file

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
    prefix, suffix, dir = _pkg._resolve_params(prefix, suffix, dir)
    if "b" not in mode:
        encoding = _text_encoding(encoding)
    guard = _core.create_named(dir, prefix, suffix, _pkg.TMP_MAX, delete)
    try:
        if guard.guard_notice is not None:
            _report_guard_notice(guard.guard_notice, guard.name)
        file = _open_fd(guard.fd, mode, buffering, encoding, errors, newline, False)
        raw = _raw(file)
        raw.name = guard.name
        raw._ferrotemp_guard = guard
    except BaseException:
        guard.discard()
        raise
    # The checker sees an abstract IO subclass; at run time the wrapper delegates to `file`.
    return _TemporaryFileWrapper(  # type: ignore[abstract]
        file, guard.name, delete, delete_on_close, _guard=guard
    )


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
    prefix, suffix, dir = _pkg._resolve_params(prefix, suffix, dir)
    if "b" not in mode:
        encoding = _text_encoding(encoding)

    if _is_default_binary(mode, buffering, encoding, errors, newline):
        fd = _core.create_unnamed(dir, prefix, suffix, _pkg.TMP_MAX)
        try:
            raw = _io.FileIO(fd, "w+")
        except BaseException:
            _os.close(fd)
            raise
        return _io.BufferedRandom(raw, raw._blksize)  # type: ignore[attr-defined]

    # The descriptor is made inside the opener, so io.open validates the mode first and, if
    # anything fails after, closes the descriptor itself: it is never closed twice.
    def opener(_path: Any, _flags: int) -> int:
        return _core.create_unnamed(dir, prefix, suffix, _pkg.TMP_MAX)

    file = _io.open(
        dir,
        mode,
        buffering=buffering,
        newline=newline,
        encoding=encoding,
        errors=errors,
        opener=opener,
    )
    raw = _raw(file)
    raw.name = raw.fileno()
    return file
