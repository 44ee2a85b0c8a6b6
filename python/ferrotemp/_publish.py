"""Atomic publish for Python: ``atomic_write`` and ``temp_path`` (issue 14).

Both are classes rather than ``contextlib`` generators, so that ``import ferrotemp`` stays
cheap. The temporary files are ``NamedTemporaryFile``'s, so the crash guard records them while
they live; a published file is unregistered (the Rust core's ``persist``), so no sweep ever
removes it.
"""

from __future__ import annotations

import io as _io
import os as _os

import ferrotemp as _pkg

from . import _core
from ._files import NamedTemporaryFile
from ._guard_notice import report_notice as _report_guard_notice

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import TracebackType
    from typing import IO, Any, AnyStr, Generic, Optional, Type, Union

    _Path = Union[str, bytes, "_os.PathLike[str]", "_os.PathLike[bytes]"]
else:
    from ._typing_standins import AnyStr

    class Generic:
        def __class_getitem__(cls, item: object) -> type:
            return object


_text_encoding = getattr(_io, "text_encoding", lambda encoding, stacklevel=2: encoding)


def current_umask() -> int:
    """The process's umask, read without changing it where Linux shows it (4.7+:
    ``Umask:`` in ``/proc/self/status``); else by setting and restoring it, which another
    thread creating a file at that instant could see."""
    try:
        with _io.open("/proc/self/status", "rb") as status:
            for line in status:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    old = _os.umask(0o077)
    _os.umask(old)
    return old


def _check_write_mode(mode: str) -> None:
    if not isinstance(mode, str) or "w" not in mode or any(c in mode for c in "rax"):
        raise ValueError(f"atomic_write needs a writing mode ('w', 'wb', 'w+', ...), not {mode!r}")


class atomic_write:  # noqa: N801 - a context manager named as the function users expect
    """Write a file atomically: ``with atomic_write(path) as f: f.write(...)``.

    ``f`` is a real ``io`` object (text or binary as ``mode`` says) on a temporary file in
    ``path``'s directory. On normal exit the content is published at ``path`` in one step
    (``rename``); readers see the old file or the new, never a mix. With
    ``overwrite=False`` the file is unnamed (``O_TMPFILE``) until ``linkat`` names it
    ``path``, or where that cannot be, a named one moved by ``renameat2(RENAME_NOREPLACE)``;
    either raises ``FileExistsError`` if ``path`` exists. With ``fsync`` (the default) the
    file is synced before the rename and the directory after, so the new content survives a
    power loss once the block has exited. On an exception ``path`` is untouched and the
    temporary file is removed.

    A new file gets the mode ``open()`` would give it (``0o666 & ~umask``); a replaced file
    keeps its mode; ``permissions`` sets the mode in both cases. ``path`` must be on a
    filesystem where its directory is writable; nothing is ever copied across filesystems.
    """

    def __init__(
        self,
        path: _Path,
        mode: str = "w",
        *,
        overwrite: bool = True,
        fsync: bool = True,
        encoding: Optional[str] = None,
        newline: Optional[str] = None,
        errors: Optional[str] = None,
        permissions: Optional[int] = None,
    ) -> None:
        _check_write_mode(mode)
        self._dest: Any = _os.fspath(path)
        self._mode = mode
        self._overwrite = overwrite
        self._fsync = fsync
        self._encoding = encoding
        self._newline = newline
        self._errors = errors
        self._permissions = permissions
        self._temp: Any = None
        self._unnamed = False

    def __enter__(self) -> IO[Any]:
        if self._temp is not None:
            raise RuntimeError("atomic_write is not reentrant")
        dest = self._dest
        directory, base = _os.path.split(_os.path.abspath(dest))
        # The temporary name shows what it will become: `.NAME.XXXXXXXX.tmp` beside it.
        prefix: Any = (b"." if isinstance(base, bytes) else ".") + base
        prefix += b"." if isinstance(base, bytes) else "."
        suffix: Any = b".tmp" if isinstance(base, bytes) else ".tmp"
        if not self._overwrite and _os.path.lexists(dest):
            # Checked again, atomically, at publication; this spares writing for nothing.
            raise FileExistsError(17, _os.strerror(17), dest)
        if not self._overwrite:
            # No name at all until `linkat` gives it the destination's: nothing to sweep.
            fd = _core.open_linkable_unnamed(directory)
            if fd is not None:
                encoding = self._encoding
                if "b" not in self._mode:
                    encoding = _text_encoding(encoding)
                try:
                    file: IO[Any] = _io.open(
                        fd,
                        self._mode,
                        encoding=encoding,
                        newline=self._newline,
                        errors=self._errors,
                    )
                except BaseException:
                    _os.close(fd)
                    raise
                self._temp = file
                self._unnamed = True
                return file
        self._temp = NamedTemporaryFile(
            self._mode,
            encoding=self._encoding,
            newline=self._newline,
            errors=self._errors,
            prefix=prefix,
            suffix=suffix,
            dir=directory,
        )
        self._unnamed = False
        named: IO[Any] = self._temp.file
        return named

    def _final_mode(self) -> int:
        if self._permissions is not None:
            return self._permissions
        try:
            return _os.stat(self._dest).st_mode & 0o7777
        except FileNotFoundError:
            return 0o666 & ~current_umask()

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        temp, self._temp = self._temp, None
        if temp is None:
            return
        if exc_type is not None:
            temp.close()
            return
        try:
            if self._unnamed:
                temp.flush()
                _os.fchmod(temp.fileno(), self._final_mode())
                _core.publish_unnamed(temp.fileno(), self._dest, self._overwrite, self._fsync)
            else:
                temp.file.flush()
                _os.fchmod(temp.file.fileno(), self._final_mode())
                temp.persist(self._dest, self._overwrite, fsync=self._fsync)
        except BaseException:
            temp.close()
            raise
        temp.close()


class temp_path(Generic[AnyStr]):  # noqa: N801 - a context manager named as a function
    """``with temp_path() as path:`` the path of a fresh, closed, empty temporary file
    (mode 0600), for tools that open or replace it themselves; removed at exit if it still
    exists. ``str``, or ``bytes`` when the arguments are, as ``mkstemp``. Recorded by the
    crash guard while the block runs."""

    def __init__(
        self,
        suffix: Optional[AnyStr] = None,
        prefix: Optional[AnyStr] = None,
        dir: Optional[Union[AnyStr, _os.PathLike[AnyStr]]] = None,
    ) -> None:
        self._args: tuple[Any, Any, Any] = (suffix, prefix, dir)
        self._closer: Any = None

    def __enter__(self) -> AnyStr:
        if self._closer is not None:
            raise RuntimeError("temp_path is not reentrant")
        prefix, suffix, dir = _pkg._resolve_params(self._args[1], self._args[0], self._args[2])
        opener = _core.NamedOpener(prefix, suffix, _pkg.TMP_MAX, True)
        fd = opener(dir, 0)
        try:
            file = _io.FileIO(fd, "r")
        except BaseException:
            _os.close(fd)
            opener.discard()
            raise
        name: AnyStr = opener.name
        notice = opener.guard_notice
        if notice is not None:
            _report_guard_notice(notice, name)
        closer = opener.closer(file, False)
        closer.close()
        self._closer = closer
        return name

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        closer, self._closer = self._closer, None
        if closer is not None:
            closer.cleanup()
