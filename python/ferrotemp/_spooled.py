"""``SpooledTemporaryFile``: the standard module's class, with its buffer in Rust.

Before rollover ``_file`` is a ``_core.MemorySpool`` (an ``io.BytesIO`` with ``getvalue()``)
or, in text mode, an ``io.TextIOWrapper`` around one, exactly as the standard module wraps
a ``BytesIO``; after rollover it is the real ``io`` file object on an unnamed file.
"""

from __future__ import annotations

import io as _io
import os as _os
import sys
import warnings as _warnings
from _weakref import ref as _weakref_ref

import ferrotemp as _pkg

from . import _core

__all__ = ["SpooledTemporaryFile"]

# `typing` is not imported at run time (it costs more than the rest of the package): the
# interpreter takes the first branch, type checkers the second. In this order, because linters
# take the last binding of a name (`overload`) as the one in force.
TYPE_CHECKING = False
if not TYPE_CHECKING:
    from ._typing_standins import AnyStr, GenericAlias, overload

    # At run time the class is subscripted through __class_getitem__, as in the standard
    # module; this stand-in only lets the class statement name a generic base for mypy.
    class _GenericBase:
        def __class_getitem__(cls, item: object) -> type:
            return cls
else:
    from types import GenericAlias, TracebackType

    # For the type checker an IO[AnyStr], as in typeshed, so a spooled file is accepted
    # wherever an IO[bytes] / IO[str] is expected.
    from typing import IO as _GenericBase
    from typing import Any, AnyStr, Iterable, Iterator, List, Literal, Optional, Union, overload

    from typing_extensions import Buffer, Self

    _BinaryMode = Literal[
        "rb+", "r+b", "+rb", "br+", "b+r", "+br", "wb+", "w+b", "+wb", "bw+", "b+w", "+bw",
        "ab+", "a+b", "+ab", "ba+", "b+a", "+ba", "xb+", "x+b", "+xb", "bx+", "b+x", "+bx",
        "rb", "br", "wb", "bw", "ab", "ba", "xb", "bx",
    ]  # fmt: skip
    _TextMode = Literal[
        "r+", "+r", "rt+", "r+t", "+rt", "tr+", "t+r", "+tr", "w+", "+w", "wt+", "w+t", "+wt",
        "tw+", "t+w", "+tw", "a+", "+a", "at+", "a+t", "+at", "ta+", "t+a", "+ta", "x+", "+x",
        "xt+", "x+t", "+xt", "tx+", "t+x", "+tx", "w", "wt", "tw", "a", "at", "ta", "x", "xt",
        "tx", "r", "rt", "tr",
    ]  # fmt: skip
    _StrOrBytesPath = Union[str, bytes, _os.PathLike[str], _os.PathLike[bytes]]


def _text_encoding(encoding: Optional[str]) -> Optional[str]:
    """The standard module's ``io.text_encoding(encoding)``, warning at the caller's caller."""
    return _io.text_encoding(encoding, 3)  # type: ignore[attr-defined,no-any-return,unused-ignore]


def _roll_above(max_size: Any) -> Any:
    """The standard module's rollover rule for writes, written once for the Python class:
    a write that leaves the position past the value returned rolls over; ``None`` (a false
    ``max_size``, such as 0): writes never do. ``_check`` applies it, and the native buffer's
    ``write_checked`` is handed its value for an ``int`` ``max_size``."""
    return max_size if max_size else None


if _os.name == "nt":
    import msvcrt as _msvcrt

    def _os_handle(fd: int) -> int:
        return _msvcrt.get_osfhandle(fd)  # type: ignore[attr-defined,no-any-return]

else:

    def _os_handle(fd: int) -> int:
        return fd


class SpooledTemporaryFile(_io.IOBase, _GenericBase[AnyStr]):
    """A temporary file kept in memory until it grows past ``max_size`` bytes, or until
    ``fileno()`` is asked for, then moved to an unnamed file on disk.

    The standard module's class, rule for rule: the check follows each write (each item of
    ``writelines``), ``truncate(n)`` with ``n > max_size`` and ``fileno()`` roll over, and
    ``rollover()`` is always called through the instance, so subclasses may override it.
    """

    _rolled: bool = False
    _file: Any

    @overload
    def __init__(
        self: SpooledTemporaryFile[bytes],
        max_size: int = 0,
        mode: _BinaryMode = "w+b",
        buffering: int = -1,
        encoding: Optional[str] = None,
        newline: Optional[str] = None,
        suffix: Optional[AnyStr] = None,
        prefix: Optional[AnyStr] = None,
        dir: Optional[_StrOrBytesPath] = None,
        *,
        errors: Optional[str] = None,
    ) -> None: ...
    @overload
    def __init__(
        self: SpooledTemporaryFile[str],
        max_size: int,
        mode: _TextMode,
        buffering: int = -1,
        encoding: Optional[str] = None,
        newline: Optional[str] = None,
        suffix: Optional[AnyStr] = None,
        prefix: Optional[AnyStr] = None,
        dir: Optional[_StrOrBytesPath] = None,
        *,
        errors: Optional[str] = None,
    ) -> None: ...
    @overload
    def __init__(
        self: SpooledTemporaryFile[str],
        max_size: int = 0,
        *,
        mode: _TextMode,
        buffering: int = -1,
        encoding: Optional[str] = None,
        newline: Optional[str] = None,
        suffix: Optional[AnyStr] = None,
        prefix: Optional[AnyStr] = None,
        dir: Optional[_StrOrBytesPath] = None,
        errors: Optional[str] = None,
    ) -> None: ...
    @overload
    def __init__(
        self: SpooledTemporaryFile[Any],
        max_size: int = 0,
        mode: str = "w+b",
        buffering: int = -1,
        encoding: Optional[str] = None,
        newline: Optional[str] = None,
        suffix: Optional[AnyStr] = None,
        prefix: Optional[AnyStr] = None,
        dir: Optional[_StrOrBytesPath] = None,
        *,
        errors: Optional[str] = None,
    ) -> None: ...
    def __init__(
        self,
        max_size: int = 0,
        mode: str = "w+b",
        buffering: int = -1,
        encoding: Optional[str] = None,
        newline: Optional[str] = None,
        suffix: Any = None,
        prefix: Any = None,
        dir: Any = None,
        *,
        errors: Optional[str] = None,
    ) -> None:
        # The native buffer compares positions itself only for a plain int max_size; any
        # other (the standard module accepts whatever compares) goes through _check.
        native_limit = type(max_size) is int and -(2**63) <= max_size < 2**63
        roll_above = _roll_above(max_size) if native_limit else None
        # With the class's own rollover(), the write that crosses max_size goes straight to
        # the new file instead of through the buffer (the rollover's peak stays at the data).
        cls = type(self)
        defer = cls.rollover is SpooledTemporaryFile.rollover and "b" in mode
        buffer = _core.MemorySpool(roll_above, _weakref_ref(self), defer)
        # The fast write: one native call that writes, checks, and calls self.rollover()
        # (through the instance) when crossing. Only the buffer's bound method is kept, never
        # a reference to self, so there is no cycle; rollover() and a change of _max_size
        # turn it off, and a subclass overriding _check keeps the Python path.
        self._native_write: Any = None
        if "b" in mode:
            self._file = buffer
            if native_limit and type(self)._check is SpooledTemporaryFile._check:
                self._native_write = buffer.write_checked
        else:
            encoding = _text_encoding(encoding)
            self._file = _io.TextIOWrapper(
                buffer,
                encoding=encoding,
                errors=errors,
                newline=newline,
            )
        self.__max_size = max_size
        self._rolled = False
        self._TemporaryFileArgs = {
            "mode": mode,
            "buffering": buffering,
            "suffix": suffix,
            "prefix": prefix,
            "encoding": encoding,
            "newline": newline,
            "dir": dir,
            "errors": errors,
        }

    __class_getitem__: Any = classmethod(GenericAlias)

    @property
    def _max_size(self) -> Any:
        return self.__max_size

    @_max_size.setter
    def _max_size(self, value: Any) -> None:
        self.__max_size = value
        self._native_write = None

    def _check(self, file: Any) -> None:
        if self._rolled:
            return
        roll_above = _roll_above(self._max_size)
        if roll_above is not None and file.tell() > roll_above:
            self.rollover()

    def rollover(self) -> None:
        """Move the data to an unnamed file on disk (once; later calls do nothing)."""
        # Read before _rolled: the switch sets both at once, so a file read while _rolled
        # is still false is the in-memory one (whose move_to then says if it moved already).
        file = self._file
        if self._rolled:
            return
        # Gone once another thread's rollover has finished.
        args = getattr(self, "_TemporaryFileArgs", None)
        if args is None:
            return
        newfile = None
        try:
            # The standard module's new file: the one TemporaryFile(**args) makes (unnamed;
            # io.open checks the mode before the descriptor exists).
            newfile = _pkg.TemporaryFile(**args)
            if isinstance(file, _io.TextIOWrapper):
                pos = file.tell()  # flushes what the wrapper holds into the buffer
                buffer = file.buffer
            else:
                pos = None
                buffer = file
            # One native call copies the data, positions newfile and makes it self._file
            # (with _rolled set): an interrupt finds the data in memory or on disk, never
            # half-way. False if another thread's rollover got there first.
            moved = buffer.move_to(self, newfile, _os_handle(newfile.fileno()), pos)
        except BaseException:
            if newfile is not None and self._file is not newfile:
                newfile.close()
            raise
        if not moved:
            newfile.close()
            return
        self._native_write = None  # (until now it went on to the new file, more slowly)
        self.__dict__.pop("_TemporaryFileArgs", None)

    # Context management protocol
    def __enter__(self) -> Self:
        if self._file.closed:
            raise ValueError("Cannot enter context with closed file")
        return self

    def __exit__(
        self,
        exc: Optional[type[BaseException]],
        value: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self._file.close()

    def __iter__(self) -> Iterator[AnyStr]:  # type: ignore[override]
        return self._file.__iter__()  # type: ignore[no-any-return]

    if TYPE_CHECKING:
        # io.IOBase's, which reads a line: AnyStr, as typeshed says.
        def __next__(self) -> AnyStr: ...  # type: ignore[override]

    def __del__(self) -> None:
        if not self.closed:
            _warnings.warn(
                f"Unclosed file {self!r}",
                ResourceWarning,
                stacklevel=2,
                source=self,
            )
            self.close()

    def close(self) -> None:
        self._file.close()

    @property
    def closed(self) -> bool:
        return self._file.closed  # type: ignore[no-any-return]

    @property
    def encoding(self) -> str:
        return self._file.encoding  # type: ignore[no-any-return]

    @property
    def errors(self) -> Optional[str]:
        return self._file.errors  # type: ignore[no-any-return]

    def fileno(self) -> int:
        self.rollover()
        return self._file.fileno()  # type: ignore[no-any-return]

    def flush(self) -> None:
        self._file.flush()

    def isatty(self) -> bool:
        return self._file.isatty()  # type: ignore[no-any-return]

    @property
    def mode(self) -> str:
        try:
            return self._file.mode  # type: ignore[no-any-return]
        except AttributeError:
            return self._TemporaryFileArgs["mode"]  # type: ignore[no-any-return]

    @property
    def name(self) -> Union[str, int, None]:
        try:
            return self._file.name  # type: ignore[no-any-return]
        except AttributeError:
            return None

    @property
    def newlines(self) -> Union[str, tuple[str, ...], None]:
        return self._file.newlines  # type: ignore[no-any-return]

    def readable(self) -> bool:
        return self._file.readable()  # type: ignore[no-any-return]

    def read(self, *args: Any) -> AnyStr:
        return self._file.read(*args)  # type: ignore[no-any-return]

    def read1(self, *args: Any) -> AnyStr:
        return self._file.read1(*args)  # type: ignore[no-any-return]

    def readinto(self, b: Any) -> int:
        return self._file.readinto(b)  # type: ignore[no-any-return]

    def readinto1(self, b: Any) -> int:
        return self._file.readinto1(b)  # type: ignore[no-any-return]

    def readline(self, *args: Any) -> AnyStr:  # type: ignore[override]
        return self._file.readline(*args)  # type: ignore[no-any-return]

    def readlines(self, *args: Any) -> List[AnyStr]:  # type: ignore[override]
        return self._file.readlines(*args)  # type: ignore[no-any-return]

    def seekable(self) -> bool:
        return self._file.seekable()  # type: ignore[no-any-return]

    def seek(self, *args: Any) -> int:
        return self._file.seek(*args)  # type: ignore[no-any-return]

    def tell(self) -> int:
        return self._file.tell()  # type: ignore[no-any-return]

    def _truncate(self, size: Optional[int]) -> int:
        # The standard module's rule for truncate (not _check's: max_size 0 counts here).
        if size is None:
            return self._file.truncate()  # type: ignore[no-any-return]
        if size > self._max_size:
            self.rollover()
        return self._file.truncate(size)  # type: ignore[no-any-return]

    # `sys`, not `_sys`: type checkers read only `sys.version_info` conditions.
    if sys.version_info >= (3, 11):

        def truncate(self, size: Optional[int] = None) -> int:
            return self._truncate(size)

    else:
        # The running interpreter's return value: before 3.11 the standard module's
        # truncate returns None.
        def truncate(self, size: Optional[int] = None) -> None:  # type: ignore[override]
            self._truncate(size)

    def writable(self) -> bool:
        return self._file.writable()  # type: ignore[no-any-return]

    @overload
    def write(self: SpooledTemporaryFile[bytes], s: Buffer) -> int: ...
    @overload
    def write(self: SpooledTemporaryFile[str], s: str) -> int: ...
    def write(self, s: Any) -> int:
        native_write = self._native_write
        if native_write is not None:
            return native_write(s)  # type: ignore[no-any-return]
        file = self._file
        rv = file.write(s)
        self._check(file)
        if file is not self._file:
            # Another thread rolled over meanwhile: push on what the old text wrapper holds
            # (its buffer passes it on to the new file).
            file.flush()
        return rv  # type: ignore[no-any-return]

    def writelines(self, iterable: Iterable[AnyStr]) -> None:  # type: ignore[override]
        # Checked after each item, so a long iterable never piles up in memory (gh-127371);
        # an empty one is checked once, as the standard module checks after writelines.
        file = self._file
        if file.closed:
            # Checked before the iterable is touched, as io's writelines does.
            raise ValueError("I/O operation on closed file.")
        empty = True
        for line in iterable:
            empty = False
            file.write(line)
            self._check(file)
            file = self._file
        if empty:
            self._check(file)

    def detach(self) -> Any:
        return self._file.detach()


if not TYPE_CHECKING:
    # `write` made native (a method descriptor): a 64-byte write in memory runs no Python
    # frame; `f.write` is still a bound method holding `f`. Every call it does not serve
    # itself (text mode, rolled over, keywords, a subclass's `_check`) goes to `_write_py`,
    # the Python `write` above.
    SpooledTemporaryFile._write_py = SpooledTemporaryFile.write
    SpooledTemporaryFile.write = _core._spool_write_method(SpooledTemporaryFile)


def _adopt(
    max_size: int, dir: Any, data: Optional[bytes], position: int, fd: Optional[int]
) -> SpooledTemporaryFile[bytes]:
    """The ``SpooledTemporaryFile`` (mode ``w+b``) of a spool a Rust+Python hybrid made
    (``ferrotemp::python``): ``data`` and ``position`` if it was in memory, else ``fd``, its
    unnamed file (owned from the call on), at its position. A Rust ``max_size`` of 0 rolls
    over at the first byte: the object is then on disk from the start."""
    spool: SpooledTemporaryFile[bytes] = SpooledTemporaryFile(max_size, dir=dir)
    if fd is None:
        spool.write(data or b"")
        spool.seek(position)
        if max_size == 0:
            spool.rollover()
        return spool
    try:
        raw = _io.FileIO(fd, "w+")
    except BaseException:
        _os.close(fd)
        raise
    file = _io.BufferedRandom(raw, raw._blksize)  # type: ignore[attr-defined]
    spool._file = file
    spool._rolled = True
    spool._native_write = None
    spool.__dict__.pop("_TemporaryFileArgs", None)
    return spool
