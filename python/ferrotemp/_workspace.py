"""``Workspace``: one guarded temporary directory per job, with limits, usage and a keep policy.

The directory, its counters, its limits and its end are the core's (``_core.WorkspaceCore``);
this module holds what must be Python: the creators (the package's own, rooted in the
workspace and counted), the file objects' write checks, and the log lines.

What is enforced at write time: a creation through the workspace's creators while it is at or
over a limit, and a write through the file objects they return that would take the bytes
written through them past ``max_bytes`` (binary files count the growth of the file, text files
the encoded length of what is written). What is found by measurement: everything else written
into ``ws.path`` (a subprocess, ``open()`` on a path inside it, ``mkstemp``'s descriptor), which
``usage()`` measures as ``du -B1`` does; a measurement over a limit refuses later creations
until one finds the workspace back under it.
"""

from __future__ import annotations

import collections as _collections
import io as _io
import logging as _logging
import os as _os
import sys as _sys
from pathlib import Path as _Path

import ferrotemp as _pkg

from . import _core, _metrics_hooks
from ._files import _TemporaryFileWrapper
from ._spooled import SpooledTemporaryFile as _SpooledTemporaryFile
from ._tempdir import TemporaryDirectory as _TemporaryDirectory

TYPE_CHECKING = False
if not TYPE_CHECKING:
    # What the generic bases below are subscripted with at run time (their
    # __class_getitem__ ignores it).
    Any = object
else:
    from types import TracebackType
    from typing import IO, Any, Iterable, Iterator, NamedTuple, Optional, Type, Union

    from typing_extensions import Self

    _Size = Union[int, str, None]

__all__ = ["QuotaExceeded", "Usage", "Workspace"]

QuotaExceeded = _core.QuotaExceeded

_log = _logging.getLogger("ferrotemp")

if not TYPE_CHECKING:
    Usage = _collections.namedtuple(
        "Usage",
        ["bytes", "files", "dirs", "peak_bytes", "created", "removed", "cleanup_errors", "elapsed"],
        module="ferrotemp",
    )
else:

    class Usage(NamedTuple):
        bytes: int
        files: int
        dirs: int
        peak_bytes: int
        created: int
        removed: int
        cleanup_errors: int
        elapsed: float


Usage.__doc__ = """A workspace's usage: ``bytes`` on disk (blocks, hard links once, as ``du -B1``),
``files`` and ``dirs`` in the tree (measured; the workspace's own directory not counted),
``peak_bytes`` (the most seen: measured, or written through its objects when it has a
``max_bytes``), ``created`` and ``removed`` (entries its
creators made, and of those how many it saw removed), ``cleanup_errors`` and ``elapsed``
(seconds since it was made, to its end)."""


def _usage(native: Any) -> Usage:
    return Usage(
        native.bytes,
        native.files,
        native.dirs,
        native.peak_bytes,
        native.created,
        native.removed,
        native.cleanup_errors,
        native.elapsed,
    )


def _describe(usage: Usage) -> str:
    return (
        f"bytes={usage.bytes} files={usage.files} dirs={usage.dirs} "
        f"peak_bytes={usage.peak_bytes} created={usage.created} removed={usage.removed} "
        f"cleanup_errors={usage.cleanup_errors} elapsed={usage.elapsed:.3f}s"
    )


def _limit(value: Any, what: str, sizes: bool) -> Optional[int]:
    if value is None:
        return None
    if sizes and isinstance(value, str):
        return _core.parse_size(value)
    if isinstance(value, bool) or not isinstance(value, int):
        kinds = "an int, a size string such as '2 GiB'," if sizes else "an int"
        raise TypeError(f"{what} must be {kinds} or None, not {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{what} must not be negative: {value}")
    return value


class _Counted:
    """What a workspace's file objects share: the bytes reserved for the file so far, given
    back once when the file is removed."""

    _core: Any
    _size: int
    _gone: bool

    def _removed(self) -> None:
        if not self.__dict__.get("_gone", False):
            self._gone = True
            self._core.note_removed(self._size)


def _reserve_text(holder: Any, file: Any, data: str) -> None:
    """Reserves what ``data`` takes encoded, counted as appended (text files cannot say
    where a write lands without a costly ``tell()``)."""
    n = len(data.encode(file.encoding or "utf-8", file.errors or "strict"))
    holder._core.reserve_write(n)
    holder._size += n


# The write checks, only in workspaces with max_bytes: without one, a workspace's file writes
# as fast as any other.


class _BinaryLimit(_Counted):
    """Before a write, reserves the bytes by which it grows the file (none for overwriting)."""

    file: Any

    def write(self, s: Any, /) -> int:
        file = self.file
        end = file.tell() + (len(s) if type(s) is bytes else memoryview(s).nbytes)
        if end > self._size:
            self._core.reserve_write(end - self._size)
            self._size = end
        return file.write(s)  # type: ignore[no-any-return]

    def writelines(self, lines: Iterable[Any]) -> None:
        for line in lines:
            self.write(line)


class _TextLimit(_Counted):
    """Before a write, reserves what it takes encoded."""

    file: Any

    def write(self, s: Any, /) -> int:
        file = self.file
        _reserve_text(self, file, s)
        return file.write(s)  # type: ignore[no-any-return]

    def writelines(self, lines: Iterable[Any]) -> None:
        for line in lines:
            self.write(line)


class _WorkspaceNamedFile(_TemporaryFileWrapper[Any], _Counted):
    """A workspace's ``NamedTemporaryFile``: the standard wrapper, counted until removed."""

    _deletes_on_close: bool
    _deletes: bool

    def close(self) -> None:
        super().close()
        if self._deletes_on_close:
            self._removed()

    def __exit__(self, exc: Any, value: Any, tb: Any) -> None:
        super().__exit__(exc, value, tb)
        if self._deletes:
            self._removed()


class _BinaryLimitedNamedFile(_BinaryLimit, _WorkspaceNamedFile):
    pass


class _TextLimitedNamedFile(_TextLimit, _WorkspaceNamedFile):
    pass


class _WorkspaceFile(_Counted):
    """A workspace's ``TemporaryFile`` (or ``atomic_write``'s file): delegates to the ``io``
    object ``file``, counted until closed (when ``removes_on_close``)."""

    def __init__(self, file: IO[Any], core: Any, removes_on_close: bool) -> None:
        self.file = file
        self._core = core
        self._size = 0
        self._removes_on_close = removes_on_close

    def __getattr__(self, name: str) -> Any:
        # Reached for names not found on the instance: the file's, methods cached.
        attr = getattr(self.__dict__["file"], name)
        if callable(attr):
            setattr(self, name, attr)
        return attr

    def close(self) -> None:
        self.file.close()
        if self._removes_on_close:
            self._removed()

    def __enter__(self) -> Self:
        self.file.__enter__()
        return self

    def __exit__(self, exc: Any, value: Any, tb: Any) -> None:
        self.close()

    def __iter__(self) -> Iterator[Any]:
        return iter(self.file)

    def __repr__(self) -> str:
        return f"<workspace file {self.file!r}>"


class _BinaryLimitedFile(_BinaryLimit, _WorkspaceFile):
    pass


class _TextLimitedFile(_TextLimit, _WorkspaceFile):
    pass


def _workspace_file(file: IO[Any], core: Any, removes_on_close: bool) -> _WorkspaceFile:
    if core.max_bytes is None:
        cls: type[_WorkspaceFile] = _WorkspaceFile
    elif isinstance(file, _io.TextIOBase):
        cls = _TextLimitedFile
    else:
        cls = _BinaryLimitedFile
    return cls(file, core, removes_on_close)


def _spool_size(file: Any) -> int:
    """Bytes a spooled file holds in memory (text is counted encoded, as it is stored)."""
    buffer = file
    if isinstance(file, _io.TextIOWrapper):
        file.flush()
        buffer = file.buffer
    pos = buffer.tell()
    end = buffer.seek(0, 2)
    buffer.seek(pos)
    return end  # type: ignore[no-any-return]


class _WorkspaceSpooled(_SpooledTemporaryFile[Any], _Counted):
    """A workspace's ``SpooledTemporaryFile``: counted from its rollover (a creation, and the
    bytes moved to disk); writes after it are checked."""

    _text: bool
    _limited: bool

    def rollover(self) -> None:
        if self._rolled:
            return
        core = self._core
        size = _spool_size(self._file)
        core.reserve_create()
        try:
            core.reserve_write(size)
        except BaseException:
            core.cancel_create()
            raise
        try:
            super().rollover()
        except BaseException:
            core.cancel_create()
            core.release_bytes(size)
            raise
        self._size = size

    def write(self, s: Any) -> int:
        if self._rolled and self._limited:
            file = self._file
            if self._text:
                _reserve_text(self, file, s)
            else:
                end = file.tell() + (len(s) if type(s) is bytes else memoryview(s).nbytes)
                if end > self._size:
                    self._core.reserve_write(end - self._size)
                    self._size = end
        return super().write(s)

    def writelines(self, iterable: Iterable[Any]) -> None:
        for line in iterable:
            self.write(line)

    def close(self) -> None:
        super().close()
        if self._rolled:
            self._removed()


class _WorkspaceTempDir(_TemporaryDirectory[Any]):
    """A workspace's ``TemporaryDirectory``: its cleanup is counted."""

    _core: Any

    def cleanup(self) -> None:
        super().cleanup()
        core = self.__dict__.pop("_core", None)
        if core is not None:
            core.note_removed(0)


class _WorkspaceTempPath:
    def __init__(self, inner: Any, core: Any) -> None:
        self._inner = inner
        self._core = core

    def __enter__(self) -> Any:
        self._core.reserve_create()
        try:
            return self._inner.__enter__()
        except BaseException:
            self._core.cancel_create()
            raise

    def __exit__(self, exc: Any, value: Any, tb: Any) -> None:
        self._inner.__exit__(exc, value, tb)
        self._core.note_removed(0)


class _WorkspaceAtomicWrite:
    def __init__(self, inner: Any, core: Any) -> None:
        self._inner = inner
        self._core = core
        self._file: Optional[_WorkspaceFile] = None

    def __enter__(self) -> IO[Any]:
        self._core.reserve_create()
        try:
            file = self._inner.__enter__()
        except BaseException:
            self._core.cancel_create()
            raise
        self._file = _workspace_file(file, self._core, removes_on_close=False)
        return self._file  # type: ignore[return-value]

    def __exit__(self, exc: Any, value: Any, tb: Any) -> None:
        file, self._file = self._file, None
        self._inner.__exit__(exc, value, tb)
        if exc is not None and file is not None:
            # The temporary file is gone; published, it stays in the workspace, counted.
            file._removed()


class Workspace:
    """A temporary directory for one job: ``with Workspace("resize-42") as ws: ...``.

    The directory (mode 0700, named ``<name>-XXXXXXXX``, in ``dir`` or the default temp
    directory) is made at once and recorded by the crash guard with its name and limits; at
    the end of the ``with`` block it is removed, unless ``keep`` says otherwise:
    ``"never"``, ``"always"`` or ``"on-error"`` (kept when the block raised). ``None`` is
    ``FERROTEMP_KEEP``'s default: ``on-error`` there makes it ``"on-error"``; keep mode
    (``FERROTEMP_KEEP=1``) keeps every workspace. A kept workspace is unrecorded from the
    crash guard, and its path is logged (on stderr when the ``ferrotemp`` logger has no
    handler).

    ``max_bytes`` (an int, or a size such as ``"2 GiB"`` or ``"500MB"``) and ``max_files``
    (entries, directories included) limit the workspace: a creation through its methods while
    it is at or over a limit, or a write through their file objects that would pass
    ``max_bytes``, raises ``QuotaExceeded`` (an ``OSError``, ``errno.EDQUOT``, ``filename`` the
    workspace's path) before anything is created or written. Files written into ``path`` by
    other code are not refused: ``usage()`` measures them, and a measurement over a limit
    refuses later creations.

    The creators are the module's, rooted in ``path``: a ``dir`` argument must lie inside the
    workspace (``ValueError`` otherwise), and ``atomic_write`` takes a path inside it
    (relative paths are taken from ``path``).
    """

    def __init__(
        self,
        name: str,
        max_bytes: _Size = None,
        max_files: Optional[int] = None,
        keep: Optional[str] = None,
        dir: Union[str, _os.PathLike[str], None] = None,
    ) -> None:
        if not isinstance(name, str):
            raise TypeError(f"name must be str, not {type(name).__name__}")
        self._core = _core.WorkspaceCore(
            name,
            _limit(max_bytes, "max_bytes", True),
            _limit(max_files, "max_files", False),
            keep,
            dir,
        )
        self.name = name
        self._root: str = self._core.path
        self.path = _Path(self._root)
        _metrics_hooks.track(self)
        _log.info(
            "workspace %r created at %s (max_bytes=%s, max_files=%s, keep=%s)",
            name,
            self._root,
            self._core.max_bytes,
            self._core.max_files,
            self._core.keep,
        )

    @property
    def max_bytes(self) -> Optional[int]:
        return self._core.max_bytes

    @property
    def max_files(self) -> Optional[int]:
        return self._core.max_files

    @property
    def keep(self) -> str:
        """The keep policy in force (``"always"`` in keep mode, whatever was asked)."""
        return self._core.keep

    def __repr__(self) -> str:
        return f"<Workspace {self.name!r} {self._root!r}>"

    def __enter__(self) -> Workspace:
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.finish(exc_type is None, exc_type)

    def finish(self, ok: bool = True, exc_type: Optional[Type[BaseException]] = None) -> Usage:
        """End the workspace (what the end of the ``with`` block does): remove it, or keep it
        as the policy says for a job that ended ``ok``, and log the outcome. Returns the usage
        measured just before. Later calls change nothing."""
        if self._core.finished:
            return self.usage()
        ending = self._core.finish(ok)
        _metrics_hooks.untrack(self)
        usage = _usage(ending.usage)
        _log_end(self, ok, exc_type, ending.kept, ending.error, usage)
        return usage

    def usage(self) -> Usage:
        """Measure the tree (blocks on disk, files, directories, by descriptor walk, whoever
        wrote them) and add the workspace's counters; after the end, the usage measured
        then."""
        return _usage(self._core.usage())

    # Creators: the module's, rooted in the workspace, counted.

    def _dir(self, dir: Any, *parts: Any) -> Any:
        """``dir`` checked to lie inside the workspace; the workspace's path for ``None``, as
        bytes when the other arguments are bytes."""
        as_bytes = any(isinstance(p, bytes) for p in parts)
        if dir is None:
            return _os.fsencode(self._root) if as_bytes else self._root
        path = _os.fspath(dir)
        real = _os.path.realpath(_os.fsdecode(path))
        root = _os.path.realpath(self._root)
        if real != root and not real.startswith(root + _os.sep):
            raise ValueError(f"dir {_os.fsdecode(path)!r} is not inside the workspace {root!r}")
        return path

    def NamedTemporaryFile(  # noqa: N802 - the module's name
        self,
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
        """``ferrotemp.NamedTemporaryFile`` in the workspace, counted; writes are checked."""
        dir = self._dir(dir, suffix, prefix)
        core = self._core
        core.reserve_create()
        try:
            wrapper: Any = _pkg.NamedTemporaryFile(
                mode,
                buffering,
                encoding,
                newline,
                suffix,
                prefix,
                dir,
                delete,
                errors=errors,
                delete_on_close=delete_on_close,
            )
        except BaseException:
            core.cancel_create()
            raise
        if core.max_bytes is None:
            wrapper.__class__ = _WorkspaceNamedFile
        elif "b" in mode:
            wrapper.__class__ = _BinaryLimitedNamedFile
        else:
            wrapper.__class__ = _TextLimitedNamedFile
        wrapper._core = core
        wrapper._size = 0
        wrapper._deletes = delete
        wrapper._deletes_on_close = delete and delete_on_close
        return wrapper  # type: ignore[no-any-return]

    def TemporaryFile(  # noqa: N802 - the module's name
        self,
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
        """``ferrotemp.TemporaryFile`` in the workspace, counted until closed; the ``io``
        object comes in a thin wrapper that checks writes."""
        dir = self._dir(dir, suffix, prefix)
        core = self._core
        core.reserve_create()
        try:
            file = _pkg.TemporaryFile(
                mode, buffering, encoding, newline, suffix, prefix, dir, errors=errors
            )
        except BaseException:
            core.cancel_create()
            raise
        return _workspace_file(file, core, removes_on_close=True)  # type: ignore[return-value]

    def SpooledTemporaryFile(  # noqa: N802 - the module's name
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
    ) -> _SpooledTemporaryFile[Any]:
        """``ferrotemp.SpooledTemporaryFile`` whose rollover goes to the workspace: counted
        (a creation, and the bytes moved) when it rolls over; writes after are checked."""
        dir = self._dir(dir, suffix, prefix)
        self._core.check_create()
        file = _WorkspaceSpooled(
            max_size, mode, buffering, encoding, newline, suffix, prefix, dir, errors=errors
        )
        file._core = self._core
        file._size = 0
        file._text = "b" not in mode
        file._limited = self._core.max_bytes is not None
        return file

    def TemporaryDirectory(  # noqa: N802 - the module's name
        self,
        suffix: Any = None,
        prefix: Any = None,
        dir: Any = None,
        ignore_cleanup_errors: bool = False,
        *,
        delete: bool = True,
    ) -> _TemporaryDirectory[Any]:
        """``ferrotemp.TemporaryDirectory`` in the workspace, counted."""
        dir = self._dir(dir, suffix, prefix)
        core = self._core
        core.reserve_create()
        try:
            made = _WorkspaceTempDir(suffix, prefix, dir, ignore_cleanup_errors, delete=delete)
        except BaseException:
            core.cancel_create()
            raise
        made._core = core
        return made

    def mkstemp(
        self, suffix: Any = None, prefix: Any = None, dir: Any = None, text: bool = False
    ) -> tuple[int, Any]:
        """``ferrotemp.mkstemp`` in the workspace, counted. Writes through the descriptor are
        not checked (``usage()`` measures them)."""
        dir = self._dir(dir, suffix, prefix)
        self._core.reserve_create()
        try:
            return _pkg.mkstemp(suffix, prefix, dir, text)
        except BaseException:
            self._core.cancel_create()
            raise

    def mkdtemp(self, suffix: Any = None, prefix: Any = None, dir: Any = None) -> Any:
        """``ferrotemp.mkdtemp`` in the workspace, counted."""
        dir = self._dir(dir, suffix, prefix)
        self._core.reserve_create()
        try:
            return _pkg.mkdtemp(suffix, prefix, dir)
        except BaseException:
            self._core.cancel_create()
            raise

    def temp_path(
        self, suffix: Any = None, prefix: Any = None, dir: Any = None
    ) -> _WorkspaceTempPath:
        """``ferrotemp.temp_path`` in the workspace, counted."""
        dir = self._dir(dir, suffix, prefix)
        return _WorkspaceTempPath(_pkg.temp_path(suffix, prefix, dir), self._core)

    def atomic_write(
        self, path: Union[str, _os.PathLike[str]], mode: str = "w", **options: Any
    ) -> _WorkspaceAtomicWrite:
        """``ferrotemp.atomic_write`` to ``path`` inside the workspace (a relative path is
        taken from the workspace's), counted; writes are checked."""
        target = _os.path.join(self._root, _os.fspath(path))
        self._dir(_os.path.dirname(target))
        return _WorkspaceAtomicWrite(_pkg.atomic_write(target, mode, **options), self._core)


def _log_end(
    ws: Workspace,
    ok: bool,
    exc_type: Optional[Type[BaseException]],
    kept: bool,
    error: Optional[str],
    usage: Usage,
) -> None:
    if ok:
        outcome = "succeeded"
    elif exc_type is not None:
        outcome = f"failed ({exc_type.__qualname__})"
    else:
        outcome = "failed"
    if kept:
        where = f"kept at {ws._root}"
    elif error is not None:
        where = f"not removed completely ({error}); left for a sweep"
    else:
        where = "removed"
    message = f"workspace {ws.name!r} {outcome}, {where}: {_describe(usage)}"
    level = _logging.WARNING if (kept and not ok) or error is not None else _logging.INFO
    if kept and not _log.hasHandlers():
        # No handler: keep mode must never be silent, and logging's last resort would print
        # only warnings.
        if _sys.stderr is not None:
            _sys.stderr.write(f"ferrotemp: {message}\n")
        return
    _log.log(level, "%s", message)
