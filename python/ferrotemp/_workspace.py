"""``Workspace``: one guarded temporary directory per job, with limits, usage and a keep policy.

The directory, its counters, its limits and its end are the core's (``_core.WorkspaceCore``);
this module holds what must be Python: the creators (the package's own, rooted in the
workspace and counted), the file objects' write checks, and the log lines.

What is enforced at write time: a creation through the workspace's creators while it is at or
over a limit, and a write through the file objects they return that would take the bytes
written through them past ``max_bytes`` (counted as the growth of the file: the bytes the io
stack writes, after newline translation and encoding). The check is a layer of the file's
own io stack (buffered and raw), so the file, ``writelines``, ``NamedTemporaryFile``'s
``file``, a text file's ``buffer`` and a buffer's ``raw`` all go through it; only the
descriptor (``fileno()``, ``os.write``) escapes it. What is found by measurement: everything
else written into ``ws.path`` (a subprocess, ``open()`` on a path inside it, ``mkstemp``'s
descriptor), which ``usage()`` measures as ``du -B1`` does; a measurement over a limit refuses
later creations until one finds the workspace back under it, and a measurement also finds
entries removed by other code (they stop counting against ``max_files``).
"""

from __future__ import annotations

import collections as _collections
import io as _io
import logging as _logging
import os as _os
import sys as _sys
import warnings as _warnings
from _thread import allocate_lock as _allocate_lock
from pathlib import Path as _Path

import ferrotemp as _pkg

from . import _core, _files, _metrics_hooks
from ._files import _TemporaryFileWrapper
from ._guard_notice import report_notice as _report_guard_notice
from ._spooled import SpooledTemporaryFile as _SpooledTemporaryFile
from ._spooled import _os_handle
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
creators made, and of those how many it saw removed: closed, or dropped unclosed and deleted
by their finalizer), ``cleanup_errors`` and ``elapsed`` (seconds since it was made, to its end).

``bytes`` and ``peak_bytes`` are blocks on disk (what ``du -B1`` and ``ferrotemp ls`` show);
``max_bytes`` refuses writes by file length (the bytes written through the workspace's
objects), and ``ferrotemp.stats()``'s ``bytes_reclaimed`` by sweeps is file lengths too."""


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


class _Account:
    """A workspace file's share of the counters: the bytes reserved for it (the furthest end
    a write through its objects reached), given back when the file is removed, and that
    removal, counted once by whichever comes first: ``close()``, the end of a ``with``
    block, or this object's finalizer when the file is dropped unclosed (its closer then
    deletes it, as the standard module's does; an unnamed file goes with its descriptor).

    ``lock`` makes the raw layer's position, reservation and write one step."""

    __slots__ = ("core", "size", "lock", "deletes")

    def __init__(self, core: Any, deletes: bool) -> None:
        self.core = core
        self.size = 0
        self.lock = _allocate_lock()
        self.deletes = deletes

    def reserve_to(self, end: int) -> None:
        """Reserves up to ``end`` (a write's end), or raises ``QuotaExceeded``."""
        core = self.core
        if end > self.size and core is not None:
            core.reserve_write(end - self.size)
            self.size = end

    def removed(self) -> None:
        with self.lock:
            core, self.core = self.core, None
        if core is not None:
            core.note_removed(self.size)

    def __del__(self) -> None:
        if self.deletes and self.core is not None:
            self.removed()


def _nbytes(b: Any) -> int:
    return len(b) if type(b) is bytes else memoryview(b).nbytes


# The write checks, only in workspaces with max_bytes (without one a workspace's files are the
# plain io objects: no cost per write). They are the io stack's own layers, so every way of
# writing goes through them: the file, a text file's buffer (newline translation, BOMs and
# encoders counted as the bytes they make), writelines, NamedTemporaryFile's ``file``, the
# buffer's ``raw``. The raw layer is what holds the limit: each write to the descriptor
# reserves up to its end first, with position, reservation and write under the file's lock.
# The buffered layer refuses early: a write that would pass the limit raises at once, before
# anything is buffered. Only the descriptor itself (fileno(), os.write) is not checked.


class _CheckedFileIO(_io.FileIO):
    _account: _Account
    _appends: bool

    def write(self, b: Any, /) -> int:
        account = self._account
        n = _nbytes(b)
        with account.lock:
            if self._appends:
                end = _os.fstat(self.fileno()).st_size + n
            else:
                end = self.tell() + n
            account.reserve_to(end)
            return _FileIO_write(self, b)


class _CheckedRandom(_io.BufferedRandom):
    _account: _Account
    _wlock: Any
    _appends: bool

    def write(self, b: Any, /) -> int:
        # The account's lock is taken only around the reservation, never across the write:
        # the raw layer takes it inside the buffer's own lock (a flush), so holding it here
        # while waiting for the buffer's lock could deadlock.
        account = self._account
        n = len(b) if type(b) is bytes else memoryview(b).nbytes
        with self._wlock:
            end = account.size + n if self._appends else self.tell() + n
            if end > account.size:
                with account.lock:
                    account.reserve_to(end)
            return _BufferedRandom_write(self, b)


class _CheckedWriter(_io.BufferedWriter):
    _account: _Account
    _wlock: Any
    _appends: bool

    def write(self, b: Any, /) -> int:
        # As _CheckedRandom.write.
        account = self._account
        n = len(b) if type(b) is bytes else memoryview(b).nbytes
        with self._wlock:
            end = account.size + n if self._appends else self.tell() + n
            if end > account.size:
                with account.lock:
                    account.reserve_to(end)
            return _BufferedWriter_write(self, b)


_FileIO_write = _io.FileIO.write
_BufferedRandom_write = _io.BufferedRandom.write
_BufferedWriter_write = _io.BufferedWriter.write


def _open_checked(account: _Account) -> Any:
    """An ``open`` as ``_files._open``'s, making the checked stack for ``account``."""

    def open_checked(
        dir: Any,
        mode: str,
        buffering: int,
        encoding: Optional[str],
        errors: Optional[str],
        newline: Optional[str],
        opener: Any,
    ) -> Any:
        modes = set(mode)
        binary = "b" in modes
        if (
            len(modes) != len(mode)
            or not modes <= set("axrwb+t")
            or sum(c in modes for c in "rwax") != 1
            or (binary and ("t" in modes or (encoding, errors, newline) != (None,) * 3))
            or ("r" in modes and "+" not in modes)
        ):
            # A mode io refuses (it raises its own error before the opener makes anything),
            # or a read-only one: nothing to check.
            return _files._open(dir, mode, buffering, encoding, errors, newline, opener)
        if binary and buffering == 1:
            _warnings.warn(
                "line buffering (buffering=1) isn't supported in binary mode, the default "
                "buffer size will be used",
                RuntimeWarning,
                2,
            )
        raw = _CheckedFileIO(dir, "".join(c for c in "rwax+" if c in modes), opener=opener)
        try:
            raw._account = account
            raw._appends = "a" in modes
            line_buffering = buffering == 1 and not binary
            if buffering < 0 or buffering == 1:
                buffering = raw._blksize  # type: ignore[attr-defined]
            if buffering == 0:
                if binary:
                    return raw
                raise ValueError("can't have unbuffered text I/O")
            buffer: Any = (_CheckedRandom if "+" in modes else _CheckedWriter)(raw, buffering)
            buffer._account = account
            buffer._wlock = _allocate_lock()
            buffer._appends = raw._appends
            if binary:
                return buffer
            # Written through at once: each write reaches the buffer's check (and raises)
            # in the call that makes it.
            text = _io.TextIOWrapper(
                buffer, encoding, errors, newline, line_buffering, write_through=True
            )
            text.mode = mode  # type: ignore[misc]
            return text
        except BaseException:
            raw.close()
            raise

    return open_checked


class _WorkspaceNamedFile(_TemporaryFileWrapper[Any]):
    """A workspace's ``NamedTemporaryFile``: the standard wrapper, counted until removed."""

    _account: _Account
    _deletes_on_close: bool
    _deletes: bool

    def close(self) -> None:
        super().close()
        if self._deletes_on_close:
            self._account.removed()

    def __exit__(self, exc: Any, value: Any, tb: Any) -> None:
        super().__exit__(exc, value, tb)
        if self._deletes:
            self._account.removed()

    def persist(self, dest: Any, overwrite: bool = True, *, fsync: bool = False) -> None:
        super().persist(dest, overwrite, fsync=fsync)
        self._account.deletes = self._deletes = self._deletes_on_close = False


class _WorkspaceFile:
    """A workspace's ``TemporaryFile`` (or ``atomic_write``'s file): delegates to the ``io``
    object ``file``, counted until closed (when ``removes_on_close``) or dropped."""

    def __init__(self, file: IO[Any], account: _Account, removes_on_close: bool) -> None:
        self.file = file
        self._account = account
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
            self._account.removed()

    def __enter__(self) -> Self:
        self.file.__enter__()
        return self

    def __exit__(self, exc: Any, value: Any, tb: Any) -> None:
        self.close()

    def __iter__(self) -> Iterator[Any]:
        return iter(self.file)

    def __repr__(self) -> str:
        return f"<workspace file {self.file!r}>"


def _named_checked(
    account: _Account,
    mode: str,
    buffering: int,
    encoding: Optional[str],
    newline: Optional[str],
    suffix: Any,
    prefix: Any,
    dir: Any,
    delete: bool,
    errors: Optional[str],
    delete_on_close: bool,
) -> Any:
    """``ferrotemp.NamedTemporaryFile`` (as ``_files`` makes it), on the checked io stack."""
    prefix, suffix, dir = _pkg._resolve_params(prefix, suffix, dir)
    if "b" not in mode:
        encoding = _files._text_encoding(encoding)
    opener = _core.NamedOpener(prefix, suffix, _pkg.TMP_MAX, delete)
    try:
        file = _open_checked(account)(dir, mode, buffering, encoding, errors, newline, opener)
    except BaseException:
        opener.discard()
        raise
    try:
        name = opener.name
        _files._raw(file).name = name
        notice = opener.guard_notice
        if notice is not None:
            _report_guard_notice(notice, name)
        closer = opener.closer(file, delete_on_close)
    except BaseException:
        file.close()
        opener.discard()
        raise
    return _files._wrap(file, name, delete, closer)


def _unnamed_checked(
    account: _Account,
    mode: str,
    buffering: int,
    encoding: Optional[str],
    newline: Optional[str],
    suffix: Any,
    prefix: Any,
    dir: Any,
    errors: Optional[str],
) -> Any:
    """``ferrotemp.TemporaryFile`` (as ``_files`` makes it), on the checked io stack."""
    prefix, suffix, dir = _pkg._resolve_params(prefix, suffix, dir)
    if "b" not in mode:
        encoding = _files._text_encoding(encoding)
    open_checked = _open_checked(account)
    file = None
    if _core.o_tmpfile_enabled():
        try:
            file = open_checked(
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
        file = open_checked(
            dir,
            mode,
            buffering,
            encoding,
            errors,
            newline,
            _core.UnnamedOpener(prefix, suffix, _pkg.TMP_MAX, False),
        )
    raw = _files._raw(file)
    raw.name = raw.fileno()
    return file


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


def _encoded_len(s: str, encoding: Optional[str], errors: Optional[str], newline: Any) -> int:
    """Bytes a text write makes: newlines translated, then encoded (a BOM counted for every
    write of an encoding that has one: a little more than written, never less)."""
    if newline and newline != "\n":
        s = s.replace("\n", newline)
    return len(s.encode(encoding or "utf-8", errors or "strict"))


class _LimitedWrites(_WorkspaceFile):
    """``atomic_write``'s file in a workspace with ``max_bytes``: its writes checked here (its
    io stack is ``atomic_write``'s own), position, reservation and write in one step."""

    _newline: Any

    def write(self, s: Any, /) -> int:
        file: Any = self.file
        account = self._account
        with account.lock:
            if isinstance(s, str):
                n = _encoded_len(s, file.encoding, file.errors, self._newline)
                account.reserve_to(account.size + n)
            else:
                account.reserve_to(file.tell() + _nbytes(s))
            return file.write(s)  # type: ignore[no-any-return]

    def writelines(self, lines: Iterable[Any]) -> None:
        for line in lines:
            self.write(line)


class _WorkspaceSpooled(_SpooledTemporaryFile[Any]):
    """A workspace's ``SpooledTemporaryFile``: counted from its rollover (a creation, and the
    bytes moved to disk); with ``max_bytes`` it rolls over to a checked file, so writes after
    are checked as a ``TemporaryFile``'s. A write that would roll it over reserves the
    creation and the bytes first: refused, it writes nothing."""

    _account: _Account
    _text: bool
    _limited: bool
    _newline: Any

    def _write_size(self, s: Any) -> int:
        if self._text:
            file = self._file
            return _encoded_len(s, file.encoding, file.errors, self._newline)
        return _nbytes(s)

    def rollover(self) -> None:
        if self._rolled:
            return
        account = self._account
        core = account.core
        # Reserved by write() when the write rolls it over.
        size = self.__dict__.pop("_reserved", None)
        if size is None:
            size = _spool_size(self._file)
            core.reserve_create()
            try:
                core.reserve_write(size)
            except BaseException:
                core.cancel_create()
                raise
        file = self._file
        args = getattr(self, "_TemporaryFileArgs", None)
        newfile = None
        moved = False
        try:
            if args is not None:
                # The base class's rollover, onto a checked file when there is a limit.
                if self._limited:
                    newfile = _unnamed_checked(account, **args)
                else:
                    newfile = _pkg.TemporaryFile(**args)
                # What moves is written through the descriptor, reserved above.
                account.size = size
                if isinstance(file, _io.TextIOWrapper):
                    pos = file.tell()
                    buffer = file.buffer
                else:
                    pos = None
                    buffer = file
                moved = buffer.move_to(self, newfile, _os_handle(newfile.fileno()), pos)
        except BaseException:
            if newfile is not None and self._file is not newfile:
                newfile.close()
            account.size = 0
            core.cancel_create()
            core.release_bytes(size)
            raise
        if not moved:
            # Another thread's rollover got there first.
            if newfile is not None:
                newfile.close()
            core.cancel_create()
            core.release_bytes(size)
            return
        self._native_write = None
        self.__dict__.pop("_TemporaryFileArgs", None)
        # On disk now: dropped unclosed, its file goes with its descriptor.
        account.deletes = True

    def write(self, s: Any) -> int:
        if not self._rolled:
            # The base class's max_size, without its property.
            roll_above = self._SpooledTemporaryFile__max_size  # type: ignore[attr-defined]
            if roll_above:
                file = self._file
                end = file.tell() + (len(s) if type(s) is bytes else self._write_size(s))
                if end > roll_above:
                    core = self._account.core
                    total = max(_spool_size(file), end)
                    core.reserve_create()
                    try:
                        core.reserve_write(total)
                    except BaseException:
                        core.cancel_create()
                        raise
                    self._reserved = total
                    try:
                        return _spooled_write(self, s)
                    finally:
                        if self.__dict__.pop("_reserved", None) is not None:
                            # It did not roll over after all.
                            core.cancel_create()
                            core.release_bytes(total)
        return _spooled_write(self, s)

    def writelines(self, iterable: Iterable[Any]) -> None:
        for line in iterable:
            self.write(line)

    def close(self) -> None:
        super().close()
        if self._rolled:
            self._account.removed()


_spooled_write = _SpooledTemporaryFile.write


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
    def __init__(self, inner: Any, core: Any, newline: Any) -> None:
        self._inner = inner
        self._core = core
        self._newline = newline
        self._file: Optional[_WorkspaceFile] = None

    def __enter__(self) -> IO[Any]:
        core = self._core
        core.reserve_create()
        try:
            file = self._inner.__enter__()
        except BaseException:
            core.cancel_create()
            raise
        account = _Account(core, False)
        if core.max_bytes is None:
            self._file = _WorkspaceFile(file, account, removes_on_close=False)
        else:
            self._file = _LimitedWrites(file, account, removes_on_close=False)
            self._file._newline = self._newline
        return self._file  # type: ignore[return-value]

    def __exit__(self, exc: Any, value: Any, tb: Any) -> None:
        file, self._file = self._file, None
        self._inner.__exit__(exc, value, tb)
        if exc is not None and file is not None:
            # The temporary file is gone; published, it stays in the workspace, counted.
            file._account.removed()


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
    workspace, and a ``prefix`` or ``suffix`` must not contain a path separator
    (``ValueError`` otherwise: the standard module would make ``prefix="../x"`` outside
    ``dir``); ``atomic_write`` takes a path inside it (relative paths are taken from
    ``path``).
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

    def _dir(self, dir: Any, suffix: Any = None, prefix: Any = None) -> Any:
        """``dir`` checked to lie inside the workspace; the workspace's path for ``None``, as
        bytes when the other arguments are bytes. A ``prefix`` or ``suffix`` with a path
        separator (``"../x"``) is refused: it would make the entry outside ``dir``, where the
        standard module makes it."""
        as_bytes = isinstance(suffix, bytes) or isinstance(prefix, bytes)
        for what, part in (("prefix", prefix), ("suffix", suffix)):
            if part is not None and _has_separator(part):
                raise ValueError(
                    f"{what} {part!r} contains a path separator: a workspace's creators make "
                    f"their entries inside the workspace"
                )
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
        account = _Account(core, delete)
        try:
            if core.max_bytes is None:
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
            else:
                wrapper = _named_checked(
                    account,
                    mode,
                    buffering,
                    encoding,
                    newline,
                    suffix,
                    prefix,
                    dir,
                    delete,
                    errors,
                    delete_on_close,
                )
        except BaseException:
            account.deletes = False
            core.cancel_create()
            raise
        wrapper.__class__ = _WorkspaceNamedFile
        wrapper._account = account
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
        account = _Account(core, True)
        try:
            if core.max_bytes is None:
                file = _pkg.TemporaryFile(
                    mode, buffering, encoding, newline, suffix, prefix, dir, errors=errors
                )
            else:
                file = _unnamed_checked(
                    account, mode, buffering, encoding, newline, suffix, prefix, dir, errors
                )
        except BaseException:
            account.deletes = False
            core.cancel_create()
            raise
        return _WorkspaceFile(file, account, removes_on_close=True)  # type: ignore[return-value]

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
        file._account = _Account(self._core, False)
        file._newline = newline
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
        not checked (``usage()`` measures them, and finds the file gone if it is removed)."""
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
        return _WorkspaceAtomicWrite(
            _pkg.atomic_write(target, mode, **options), self._core, options.get("newline")
        )


def _has_separator(part: Any) -> bool:
    seps: list[Any]
    if isinstance(part, bytes):
        seps = [_os.fsencode(sep) for sep in (_os.sep, _os.altsep) if sep]
    else:
        seps = [sep for sep in (_os.sep, _os.altsep) if sep]
    return any(sep in part for sep in seps)


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
