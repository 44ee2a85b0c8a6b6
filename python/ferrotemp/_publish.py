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
    keeps its permission bits (never set-user-ID, set-group-ID or sticky: the new file may
    belong to someone else) and, where this process may set them, its owner and group;
    ``permissions`` sets the mode in both cases. A symbolic link at ``path`` is replaced by
    the new file, as ``os.replace`` does (its target keeps the old content). ``path`` is made
    absolute on entry; it must be on a filesystem where its directory is writable; nothing is
    ever copied across filesystems. Closing ``f`` inside the block loses nothing.
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
        # Absolute now: a `chdir` inside the block must not move where the file is published.
        self._dest: Any = _os.path.abspath(_os.fspath(path))
        self._mode = mode
        self._overwrite = overwrite
        self._fsync = fsync
        self._encoding = encoding
        self._newline = newline
        self._errors = errors
        self._permissions = permissions
        self._temp: Any = None
        self._unnamed = False
        # A duplicate of the temporary file's descriptor: the content is published even if
        # the caller (or a library handed ``f``) closes ``f`` inside the block.
        self._fd = -1

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
                self._fd = _os.dup(fd)
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
        try:
            self._fd = _os.dup(named.fileno())
        except BaseException:
            self._temp.close()
            self._temp = None
            raise
        return named

    def _set_mode_and_owner(self, fd: int) -> None:
        """The new file's mode (and, for a replaced file, its owner where this process may
        set it). Set-user-ID, set-group-ID and sticky bits come from ``permissions`` only: the
        new file may belong to another user than the old one."""
        if self._permissions is not None:
            _os.fchmod(fd, self._permissions)
            return
        try:
            old = _os.stat(self._dest)
        except FileNotFoundError:
            _os.fchmod(fd, 0o666 & ~current_umask())
            return
        # The mode first, while the file is still this process's own (after a chown to
        # another user, fchmod needs CAP_FOWNER); chown keeps the permission bits.
        _os.fchmod(fd, old.st_mode & 0o777)
        try:
            _os.fchown(fd, old.st_uid, old.st_gid)
        except PermissionError:
            try:
                _os.fchown(fd, -1, old.st_gid)
            except PermissionError:
                pass

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        temp, self._temp = self._temp, None
        fd, self._fd = self._fd, -1
        if temp is None:
            return
        try:
            if exc_type is not None:
                return
            file = temp if self._unnamed else temp.file
            if not file.closed:
                file.flush()
            self._set_mode_and_owner(fd)
            if self._unnamed:
                _core.publish_unnamed(fd, self._dest, self._overwrite, self._fsync)
            else:
                if self._fsync:
                    _os.fsync(fd)  # the wrapper's file may be closed: synced here
                temp._closer.persist(self._dest, self._overwrite, self._fsync)
        finally:
            _os.close(fd)
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
