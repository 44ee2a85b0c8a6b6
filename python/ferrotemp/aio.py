"""anyio's temporary-file API, name for name, on ferrotemp's files.

``from anyio import NamedTemporaryFile`` → ``from ferrotemp.aio import NamedTemporaryFile`` is
the whole migration: the same classes and functions (``TemporaryFile``, ``NamedTemporaryFile``,
``SpooledTemporaryFile``, ``TemporaryDirectory``, ``mkstemp``, ``mkdtemp``, ``gettempdir``,
``gettempdirb``), the same async context managers and ``anyio.AsyncFile`` results, under asyncio
and trio alike. Install with ``ferrotemp[aio]``; ``import ferrotemp`` alone never imports anyio.

Where the work happens:

- Disk work (creation, a spooled file's rollover, reads and writes of a file on disk, closing,
  tree removal) runs in anyio's worker threads; the native calls release the GIL, so the
  event loop keeps running while a directory of 100,000 files is removed.
- A spooled file's in-memory operations run inline, with no thread hop; its ``writelines``
  checks the size after each item, so the items after the one that crosses ``max_size`` go to
  disk rather than piling up in memory.

Cancellation:

- Leaving an ``async with`` block in any way, cancellation included, removes what it made:
  cleanup runs in a shielded scope.
- A creation either returns its result or leaves nothing: the worker thread is never
  abandoned (``abandon_on_cancel=False``), and if the task was cancelled while the thread ran
  (or anything else is raised once it has made the entry), the entry is removed before the
  cancellation propagates.

The crash guard and keep mode (``FERROTEMP_KEEP=1``) cover these objects as they cover the
synchronous ones: they wrap ferrotemp's own.
"""

from __future__ import annotations

import io
import os
from typing import TYPE_CHECKING, Any, AnyStr, Callable, Generic, Optional, TypeVar, Union, overload

from anyio import AsyncFile, CancelScope, to_thread
from anyio.lowlevel import checkpoint_if_cancelled

import ferrotemp as _pkg
from ferrotemp._spooled import SpooledTemporaryFile as _SyncSpooledTemporaryFile

if TYPE_CHECKING:
    from collections.abc import Iterable
    from types import TracebackType

    from _typeshed import OpenBinaryMode, OpenTextMode, ReadableBuffer, WriteableBuffer

    _StrPath = Union[str, "os.PathLike[str]"]

__all__ = [
    "TemporaryFile",
    "NamedTemporaryFile",
    "SpooledTemporaryFile",
    "TemporaryDirectory",
    "mkstemp",
    "mkdtemp",
    "gettempdir",
    "gettempdirb",
]

_T = TypeVar("_T")


async def _create(make: Callable[[], _T], discard: Callable[[_T], None]) -> _T:
    """``make()`` in a worker thread; its result is returned only if the task is still live
    once the thread is done, else ``discard(result)`` runs (in a worker thread, shielded) and
    the cancellation (or whatever was raised) propagates: a creation leaves nothing behind
    unless it returns.

    The thread is not abandoned on cancellation (anyio's default): an abandoned thread would
    finish its creation with no one left to remove the result.
    """
    made: list[_T] = []

    def run() -> _T:
        result = make()
        made.append(result)
        return result

    try:
        result = await to_thread.run_sync(run)
        await checkpoint_if_cancelled()
    except BaseException:
        if made:
            with CancelScope(shield=True):
                await to_thread.run_sync(_quietly, discard, made[0])
        raise
    return result


def _quietly(discard: Callable[[_T], None], made: _T) -> None:
    # Runs while a cancellation (or another error) propagates: an error of its own would
    # replace that one, which structured concurrency needs to see.
    try:
        discard(made)
    except OSError:
        pass


async def _shielded(func: Callable[..., object], *args: object) -> None:
    """``func(*args)`` in a worker thread, finished even if the task is cancelled meanwhile."""
    with CancelScope(shield=True):
        await to_thread.run_sync(func, *args)


class TemporaryFile(Generic[AnyStr]):
    """An unnamed temporary file (``ferrotemp.TemporaryFile``) as an async context manager
    that gives an ``anyio.AsyncFile``; closed (and so gone) when the block ends::

        async with TemporaryFile() as f:
            await f.write(b"data")
    """

    _async_file: AsyncFile[AnyStr]

    @overload
    def __init__(
        self: TemporaryFile[bytes],
        mode: OpenBinaryMode = ...,
        buffering: int = ...,
        encoding: Optional[str] = ...,
        newline: Optional[str] = ...,
        suffix: Optional[str] = ...,
        prefix: Optional[str] = ...,
        dir: Optional[_StrPath] = ...,
        *,
        errors: Optional[str] = ...,
    ) -> None: ...
    @overload
    def __init__(
        self: TemporaryFile[str],
        mode: OpenTextMode,
        buffering: int = ...,
        encoding: Optional[str] = ...,
        newline: Optional[str] = ...,
        suffix: Optional[str] = ...,
        prefix: Optional[str] = ...,
        dir: Optional[_StrPath] = ...,
        *,
        errors: Optional[str] = ...,
    ) -> None: ...
    def __init__(
        self,
        mode: Union[OpenBinaryMode, OpenTextMode] = "w+b",
        buffering: int = -1,
        encoding: Optional[str] = None,
        newline: Optional[str] = None,
        suffix: Optional[str] = None,
        prefix: Optional[str] = None,
        dir: Optional[_StrPath] = None,
        *,
        errors: Optional[str] = None,
    ) -> None:
        self.mode = mode
        self.buffering = buffering
        self.encoding = encoding
        self.newline = newline
        self.suffix: Optional[str] = suffix
        self.prefix: Optional[str] = prefix
        self.dir: Optional[_StrPath] = dir
        self.errors = errors

    def _make(self) -> Any:
        return _pkg.TemporaryFile(
            self.mode,
            self.buffering,
            self.encoding,
            self.newline,
            self.suffix,
            self.prefix,
            self.dir,
            errors=self.errors,
        )

    async def __aenter__(self) -> AsyncFile[AnyStr]:
        file = await _create(self._make, _close)
        self._async_file = AsyncFile(file)
        return self._async_file

    async def __aexit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc_value: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        await _shielded(self._async_file.wrapped.close)


def _close(file: Any) -> None:
    file.close()


class NamedTemporaryFile(Generic[AnyStr]):
    """A named temporary file (``ferrotemp.NamedTemporaryFile``) as an async context manager
    that gives an ``anyio.AsyncFile`` (its ``name`` is the path). When the block ends the file
    is closed and, unless ``delete=False``, removed: with ``delete_on_close=False`` too, as the
    standard module's context manager does, on every supported Python."""

    _async_file: AsyncFile[AnyStr]

    @overload
    def __init__(
        self: NamedTemporaryFile[bytes],
        mode: OpenBinaryMode = ...,
        buffering: int = ...,
        encoding: Optional[str] = ...,
        newline: Optional[str] = ...,
        suffix: Optional[str] = ...,
        prefix: Optional[str] = ...,
        dir: Optional[_StrPath] = ...,
        delete: bool = ...,
        *,
        errors: Optional[str] = ...,
        delete_on_close: bool = ...,
    ) -> None: ...
    @overload
    def __init__(
        self: NamedTemporaryFile[str],
        mode: OpenTextMode,
        buffering: int = ...,
        encoding: Optional[str] = ...,
        newline: Optional[str] = ...,
        suffix: Optional[str] = ...,
        prefix: Optional[str] = ...,
        dir: Optional[_StrPath] = ...,
        delete: bool = ...,
        *,
        errors: Optional[str] = ...,
        delete_on_close: bool = ...,
    ) -> None: ...
    def __init__(
        self,
        mode: Union[OpenBinaryMode, OpenTextMode] = "w+b",
        buffering: int = -1,
        encoding: Optional[str] = None,
        newline: Optional[str] = None,
        suffix: Optional[str] = None,
        prefix: Optional[str] = None,
        dir: Optional[_StrPath] = None,
        delete: bool = True,
        *,
        errors: Optional[str] = None,
        delete_on_close: bool = True,
    ) -> None:
        self._params: dict[str, Any] = {
            "mode": mode,
            "buffering": buffering,
            "encoding": encoding,
            "newline": newline,
            "suffix": suffix,
            "prefix": prefix,
            "dir": dir,
            "delete": delete,
            "errors": errors,
            "delete_on_close": delete_on_close,
        }

    def _make(self) -> Any:
        return _pkg.NamedTemporaryFile(**self._params)

    def _discard(self, file: Any) -> None:
        if not self._params["delete"]:
            # Removed while still open, so the name is certainly this file's.
            os.unlink(file.name)
        file.close()

    async def __aenter__(self) -> AsyncFile[AnyStr]:
        file = await _create(self._make, self._discard)
        self._async_file = AsyncFile(file)
        return self._async_file

    async def __aexit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc_value: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        await _shielded(self._async_file.wrapped.__exit__, exc_type, exc_value, traceback)


class _LoopSpool(_SyncSpooledTemporaryFile[Any]):
    """ferrotemp's spooled file whose own rollover, asked for by a write (or ``truncate``,
    ``fileno``) made on the event loop, is only noted: the async wrapper then performs it in a
    worker thread (``_rollover_now``)."""

    _rollover_due = False

    def rollover(self) -> None:
        if not self._rolled:
            self._rollover_due = True

    def fileno(self) -> int:
        # A rollover on the loop would block it: in memory there is no descriptor, as with
        # anyio's BytesIO (``await f.rollover()`` first).
        if not self._rolled:
            raise io.UnsupportedOperation("fileno of an in-memory spooled file")
        return super().fileno()

    def _rollover_now(self) -> None:
        _SyncSpooledTemporaryFile.rollover(self)
        self._rollover_due = False


class SpooledTemporaryFile(AsyncFile[AnyStr]):
    """A temporary file kept in memory until it grows past ``max_size`` bytes (0: never), then
    moved to an unnamed file on disk; an ``anyio.AsyncFile`` and an async context manager.

    Until the rollover every operation runs inline on the event loop (a cancellation check,
    no thread hop); the rollover and every operation after it run in a worker thread. The
    size is checked after each write and after each item of ``writelines``; ``truncate(n)``
    past ``max_size`` rolls over first, as in the standard module.
    """

    @overload
    def __init__(
        self: SpooledTemporaryFile[bytes],
        max_size: int = ...,
        mode: OpenBinaryMode = ...,
        buffering: int = ...,
        encoding: Optional[str] = ...,
        newline: Optional[str] = ...,
        suffix: Optional[str] = ...,
        prefix: Optional[str] = ...,
        dir: Optional[_StrPath] = ...,
        *,
        errors: Optional[str] = ...,
    ) -> None: ...
    @overload
    def __init__(
        self: SpooledTemporaryFile[str],
        max_size: int = ...,
        mode: OpenTextMode = ...,
        buffering: int = ...,
        encoding: Optional[str] = ...,
        newline: Optional[str] = ...,
        suffix: Optional[str] = ...,
        prefix: Optional[str] = ...,
        dir: Optional[_StrPath] = ...,
        *,
        errors: Optional[str] = ...,
    ) -> None: ...
    def __init__(
        self,
        max_size: int = 0,
        mode: Union[OpenBinaryMode, OpenTextMode] = "w+b",
        buffering: int = -1,
        encoding: Optional[str] = None,
        newline: Optional[str] = None,
        suffix: Optional[str] = None,
        prefix: Optional[str] = None,
        dir: Optional[_StrPath] = None,
        *,
        errors: Optional[str] = None,
    ) -> None:
        # Only memory is set up here: the file on disk is made by the rollover.
        spool = _LoopSpool(
            max_size, mode, buffering, encoding, newline, suffix, prefix, dir, errors=errors
        )
        super().__init__(spool)

    @property
    def _rolled(self) -> bool:
        return self._fp._rolled  # type: ignore[no-any-return]

    @property
    def closed(self) -> bool:
        return self._fp.closed  # type: ignore[no-any-return]

    async def aclose(self) -> None:
        if not self._fp._rolled:
            self._fp.close()
            return
        await _shielded(self._fp.close)

    async def rollover(self) -> None:
        """Move the data to an unnamed file on disk now (once; later calls do nothing)."""
        if self._fp._rolled:
            return
        await checkpoint_if_cancelled()
        await self._roll()

    async def _roll(self) -> None:
        # Shielded: the write that asked for it has happened, and the caller gets its result.
        await _shielded(self._fp._rollover_now)

    async def read(self, size: int = -1) -> AnyStr:
        if not self._fp._rolled:
            await checkpoint_if_cancelled()
            return self._fp.read(size)  # type: ignore[no-any-return]
        return await super().read(size)  # type: ignore[return-value]

    async def read1(self: SpooledTemporaryFile[bytes], size: int = -1) -> bytes:
        if not self._fp._rolled:
            await checkpoint_if_cancelled()
            return self._fp.read1(size)  # type: ignore[no-any-return]
        return await super().read1(size)

    async def readline(self) -> AnyStr:
        if not self._fp._rolled:
            await checkpoint_if_cancelled()
            return self._fp.readline()  # type: ignore[no-any-return]
        return await super().readline()  # type: ignore[return-value]

    async def readlines(self) -> list[AnyStr]:
        if not self._fp._rolled:
            await checkpoint_if_cancelled()
            return self._fp.readlines()  # type: ignore[no-any-return]
        return await super().readlines()  # type: ignore[return-value]

    async def readinto(self: SpooledTemporaryFile[bytes], b: WriteableBuffer) -> int:
        if not self._fp._rolled:
            await checkpoint_if_cancelled()
            return self._fp.readinto(b)  # type: ignore[no-any-return]
        return await super().readinto(b)

    async def readinto1(self: SpooledTemporaryFile[bytes], b: WriteableBuffer) -> int:
        if not self._fp._rolled:
            await checkpoint_if_cancelled()
            return self._fp.readinto1(b)  # type: ignore[no-any-return]
        return await super().readinto1(b)

    async def seek(self, offset: int, whence: Optional[int] = os.SEEK_SET) -> int:
        if not self._fp._rolled:
            await checkpoint_if_cancelled()
            return self._fp.seek(offset, whence)  # type: ignore[no-any-return]
        return await super().seek(offset, whence)

    async def tell(self) -> int:
        if not self._fp._rolled:
            await checkpoint_if_cancelled()
            return self._fp.tell()  # type: ignore[no-any-return]
        return await super().tell()

    async def flush(self) -> None:
        if not self._fp._rolled:
            await checkpoint_if_cancelled()
            return self._fp.flush()  # type: ignore[no-any-return]
        return await super().flush()

    async def truncate(self, size: Optional[int] = None) -> int:
        spool = self._fp
        if not spool._rolled:
            await checkpoint_if_cancelled()
            if size is None or size <= spool._max_size:
                # The underlying file's result (an int) on every Python: the spool's own
                # truncate gives None before 3.11, as the standard module's does.
                return spool._truncate(size)  # type: ignore[no-any-return]
            # Past max_size (0 included) the standard module rolls over first.
            await self._roll()
        return await to_thread.run_sync(spool._truncate, size)

    @overload
    async def write(self: SpooledTemporaryFile[bytes], b: ReadableBuffer) -> int: ...
    @overload
    async def write(self: SpooledTemporaryFile[str], b: str) -> int: ...
    async def write(self, b: Union[ReadableBuffer, str]) -> int:
        """Write ``b``; in memory inline, moving to disk (in a worker thread) if the position
        is then past ``max_size``."""
        spool = self._fp
        if not spool._rolled:
            await checkpoint_if_cancelled()
            # The spool's one-call native write (write, check, note a rollover) when it has
            # one (binary mode, int max_size), without its Python method around it.
            native_write = spool._native_write
            written: int = spool.write(b) if native_write is None else native_write(b)
            if spool._rollover_due:
                await self._roll()
            return written
        return await super().write(b)  # type: ignore[misc]

    @overload
    async def writelines(
        self: SpooledTemporaryFile[bytes], lines: Iterable[ReadableBuffer]
    ) -> None: ...
    @overload
    async def writelines(self: SpooledTemporaryFile[str], lines: Iterable[str]) -> None: ...
    async def writelines(self, lines: Union[Iterable[ReadableBuffer], Iterable[str]]) -> None:
        """Write each item; the size is checked after each one, and once an item has moved
        the file to disk the rest are written there (in a worker thread)."""
        spool = self._fp
        if spool._rolled:
            return await super().writelines(lines)  # type: ignore[misc]
        await checkpoint_if_cancelled()
        if spool.closed:
            # Before the iterable is touched, as io's writelines checks.
            raise ValueError("I/O operation on closed file.")
        items = iter(lines)
        for item in items:
            spool.write(item)
            if spool._rollover_due:
                await self._roll()
                await to_thread.run_sync(spool.writelines, items)
                return None
        return None


class TemporaryDirectory(Generic[AnyStr]):
    """A temporary directory (``ferrotemp.TemporaryDirectory``) as an async context manager
    that gives its path; removed with everything in it when the block ends (unless
    ``delete=False``), in a worker thread, shielded from cancellation.

    Removal walks the tree by file descriptor with the GIL released, never following a
    symlink inside it.
    """

    @overload
    def __init__(
        self: TemporaryDirectory[str],
        suffix: Optional[str] = ...,
        prefix: Optional[str] = ...,
        dir: Optional[_StrPath] = ...,
        *,
        ignore_cleanup_errors: bool = ...,
        delete: bool = ...,
    ) -> None: ...
    @overload
    def __init__(
        self: TemporaryDirectory[bytes],
        suffix: Optional[bytes] = ...,
        prefix: Optional[bytes] = ...,
        dir: Optional[Union[bytes, os.PathLike[bytes]]] = ...,
        *,
        ignore_cleanup_errors: bool = ...,
        delete: bool = ...,
    ) -> None: ...
    def __init__(
        self,
        suffix: Any = None,
        prefix: Any = None,
        dir: Any = None,
        *,
        ignore_cleanup_errors: bool = False,
        delete: bool = True,
    ) -> None:
        self.suffix: Optional[AnyStr] = suffix
        self.prefix: Optional[AnyStr] = prefix
        self.dir: Optional[Union[AnyStr, os.PathLike[AnyStr]]] = dir
        self.ignore_cleanup_errors = ignore_cleanup_errors
        self.delete = delete
        self._tempdir: Optional[_pkg.TemporaryDirectory[AnyStr]] = None

    def _make(self) -> _pkg.TemporaryDirectory[AnyStr]:
        return _pkg.TemporaryDirectory(
            self.suffix,
            self.prefix,
            self.dir,
            self.ignore_cleanup_errors,
            delete=self.delete,
        )

    async def __aenter__(self) -> AnyStr:
        # A cancelled creation removes the directory whatever `delete` says: it was never
        # handed over.
        self._tempdir = await _create(self._make, _remove_tempdir)
        return self._tempdir.name

    async def __aexit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc_value: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        if self._tempdir is not None and self._tempdir._delete:
            await _shielded(_remove_tempdir, self._tempdir)

    async def cleanup(self) -> None:
        """Remove the directory and everything in it now (shielded), then check for
        cancellation."""
        if self._tempdir is not None:
            await _shielded(_remove_tempdir, self._tempdir)
            await checkpoint_if_cancelled()


def _remove_tempdir(tempdir: _pkg.TemporaryDirectory[Any]) -> None:
    # `cleanup()` with one removing thread: the others would take the cores the event loop
    # needs while the worker thread removes (see the loop-latency benchmark).
    tempdir._cleanup_with(1)


@overload
async def mkstemp(
    suffix: Optional[str] = None,
    prefix: Optional[str] = None,
    dir: Optional[_StrPath] = None,
    text: bool = False,
) -> tuple[int, str]: ...
@overload
async def mkstemp(
    suffix: Optional[bytes] = None,
    prefix: Optional[bytes] = None,
    dir: Optional[Union[bytes, os.PathLike[bytes]]] = None,
    text: bool = False,
) -> tuple[int, bytes]: ...
async def mkstemp(
    suffix: Any = None, prefix: Any = None, dir: Any = None, text: bool = False
) -> tuple[int, Any]:
    """``ferrotemp.mkstemp`` in a worker thread: ``(fd, absolute_path)``; the caller closes
    and removes. Cancelled, it leaves no file and no open descriptor."""
    return await _create(lambda: _pkg.mkstemp(suffix, prefix, dir, text), _remove_mkstemp)


def _remove_mkstemp(made: tuple[int, Any]) -> None:
    fd, path = made
    try:
        os.unlink(path)
    finally:
        os.close(fd)


@overload
async def mkdtemp(
    suffix: Optional[str] = None,
    prefix: Optional[str] = None,
    dir: Optional[_StrPath] = None,
) -> str: ...
@overload
async def mkdtemp(
    suffix: Optional[bytes] = None,
    prefix: Optional[bytes] = None,
    dir: Optional[Union[bytes, os.PathLike[bytes]]] = None,
) -> bytes: ...
async def mkdtemp(suffix: Any = None, prefix: Any = None, dir: Any = None) -> Any:
    """``ferrotemp.mkdtemp`` in a worker thread: the new directory's absolute path; the caller
    removes it. Cancelled, it leaves no directory."""
    return await _create(lambda: _pkg.mkdtemp(suffix, prefix, dir), os.rmdir)


async def _tempdir(get: Callable[[], _T]) -> _T:
    # Once found the directory is a module global (ferrotemp.tempdir): no disk work, no hop.
    if _pkg.tempdir is None:
        return await to_thread.run_sync(get)
    await checkpoint_if_cancelled()
    return get()


async def gettempdir() -> str:
    """``ferrotemp.gettempdir()``: found in a worker thread the first time (it tries the
    candidate directories on disk), read inline after that."""
    return await _tempdir(_pkg.gettempdir)


async def gettempdirb() -> bytes:
    """``ferrotemp.gettempdirb()``, as ``gettempdir``."""
    return await _tempdir(_pkg.gettempdirb)
