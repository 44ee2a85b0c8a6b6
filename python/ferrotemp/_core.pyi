"""The native module: thin bindings over ferrotemp's Rust core.

Every function that touches the filesystem releases the GIL around its syscalls. OS errors
are raised as the ``OSError`` subclass their ``errno`` selects (``FileNotFoundError``,
``PermissionError``, ``FileExistsError`` …) with ``errno``, ``strerror`` and ``filename``
set; an embedded NUL byte raises ``ValueError``.
"""

import weakref
from collections.abc import Iterator
from typing import Any, Optional, TypedDict, Union, final, overload

__all__ = [
    "_floor_create_unlink",
    "_floor_mkdir_rmdir",
    "MemorySpool",
    "NamedOpener",
    "TempDirGuard",
    "UnnamedOpener",
    "_TemporaryFileCloser",
    "__version__",
    "_set_guard_enabled",
    "candidate_dirs",
    "create_tempdir",
    "discover_tempdir",
    "discovery_report",
    "filesystem_info",
    "guard_registry_path",
    "guard_switches",
    "guard_unavailable_reason",
    "mkdtemp",
    "mkstemp",
    "o_tmpfile_enabled",
    "random_name",
    "read_switch",
    "remove_tree",
    "sweep",
    "sweep_older_than",
]
__version__: str

class _Discovery(TypedDict):
    dir: str
    source: str
    rejected: list[tuple[str, str]]

class _FsInfo(TypedDict):
    fs_type: str
    free_bytes: int
    total_bytes: int
    o_tmpfile: bool

@overload
def mkstemp(dir: Any, prefix: str, suffix: str, text: bool, attempts: int, /) -> tuple[int, str]:
    """Create a file (0600, O_EXCL|O_NOFOLLOW|O_CLOEXEC) named prefix+random+suffix in dir.

    Emits the audit event ``tempfile.mkstemp`` before each attempt. Returns the descriptor
    (a Windows handle on Windows) and the absolute path, bytes if prefix is bytes. Raises
    ``FileExistsError`` after ``attempts`` taken names.
    """

@overload
def mkstemp(
    dir: Any, prefix: bytes, suffix: bytes, text: bool, attempts: int, /
) -> tuple[int, bytes]: ...
@overload
def mkdtemp(dir: Any, prefix: str, suffix: str, attempts: int, /) -> str:
    """Create a directory (0700) named prefix+random+suffix in dir; return its absolute path.

    Emits the audit event ``tempfile.mkdtemp`` before each attempt.
    """

@overload
def mkdtemp(dir: Any, prefix: bytes, suffix: bytes, attempts: int, /) -> bytes: ...
def read_switch(name: str, default: bool, /) -> tuple[bool, Optional[str]]:
    """The boolean ``FERROTEMP_*`` switch ``name`` from the environment: ``1/true/yes/on`` on,
    ``0/false/no/off``/empty off (any case). Returns ``(value, warning)``: for a value not
    understood, ``default`` and the warning to show; the core prints nothing."""

def guard_switches() -> dict[str, bool]:
    """The crash guard's boolean switches in force, keyed by variable name (``FERROTEMP_GUARD``,
    ``FERROTEMP_KEEP``, ``FERROTEMP_GUARD_SWEEP``, ``FERROTEMP_GUARD_FLOCK``)."""

def random_name() -> str:
    """Eight characters of ``a-z0-9_`` from the OS CSPRNG."""

def candidate_dirs() -> list[str]:
    """The directories discovery tries, in order: $TMPDIR, $TEMP, $TMP, the platform's, cwd."""

def discover_tempdir() -> str:
    """Find the default temporary directory as the standard module does, without caching.

    Raises ``FileNotFoundError`` when no candidate is usable.
    """

def discovery_report() -> _Discovery:
    """Discovery with its reasons: the directory, why it was chosen, what was rejected."""

def filesystem_info(dir: Union[str, bytes], /) -> _FsInfo:
    """Type, free and total bytes of the filesystem holding dir, and whether O_TMPFILE works."""

@final
class _TemporaryFileCloser:
    """The standard module's ``_TemporaryFileCloser`` (3.12 semantics): closes ``file`` and
    removes its path on ``close()`` (if ``delete`` and ``delete_on_close``), on ``cleanup()``
    (if ``delete``), and when the last reference to it goes. Raises the audit event
    ``os.remove`` before removing; a file already gone is no error."""

    def __new__(
        cls, file: Any, name: Any, delete: bool = True, delete_on_close: bool = True
    ) -> _TemporaryFileCloser:
        """A closer for a file made elsewhere: removal is by ``name``."""
    @property
    def file(self) -> Any: ...
    @property
    def name(self) -> Any: ...
    delete: bool
    delete_on_close: bool
    @property
    def close_called(self) -> bool: ...
    @property
    def cleanup_called(self) -> bool: ...
    def close(self) -> None:
        """Close the file, then remove it if ``delete`` and ``delete_on_close``; idempotent."""
    def cleanup(self) -> None:
        """Close the file if not yet closed, then remove it if ``delete``; idempotent."""

@final
class NamedOpener:
    """The opener ``NamedTemporaryFile`` hands to ``io.open``: ``opener(dir, flags)`` creates
    the file as ``mkstemp`` does (audit events ``tempfile.mkstemp`` and ``open``) and returns
    its descriptor, which the ``io`` object owns; the path waits here for ``closer()``."""

    def __new__(cls, prefix: Any, suffix: Any, attempts: int, delete: bool, /) -> NamedOpener: ...
    def __call__(self, dir: Any, flags: int, /) -> int: ...
    @property
    def name(self) -> Any:
        """The absolute path made (``abspath(dir)`` joined with the name), or ``None``."""
    @property
    def guard_notice(self) -> Optional[tuple[bool, Optional[str]]]:
        """``None``, unless the crash guard has something to say about this file:
        ``(kept, warning)``: keep mode keeps it (log its path), and the guard's
        once-per-process message that it is unavailable."""
    def closer(self, file: Any, delete_on_close: bool, /) -> _TemporaryFileCloser:
        """Hand the file made to a new closer for ``file``, the ``io`` object over it."""
    def discard(self) -> None:
        """Remove the file made whatever ``delete`` says (creation failed after it)."""

@final
class UnnamedOpener:
    """The opener ``TemporaryFile`` hands to ``io.open``: ``opener(dir, flags)`` makes an
    unnamed file (``O_TMPFILE``, else create and unlink, with the standard module's audit
    events) and returns its descriptor."""

    def __new__(
        cls, prefix: Any, suffix: Any, attempts: int, o_tmpfile: bool, /
    ) -> UnnamedOpener: ...
    def __call__(self, dir: Any, flags: int, /) -> int:
        """With ``o_tmpfile``: ``O_TMPFILE`` (audit event ``open``), ``OSError`` if it cannot
        be used here; without: create a named file as ``mkstemp`` does and unlink it."""

def o_tmpfile_enabled() -> bool:
    """Whether ``TemporaryFile`` tries ``O_TMPFILE`` first (Linux, kernel support seen)."""

@final
class MemorySpool:
    """The in-memory phase of ``SpooledTemporaryFile``: an ``io.BytesIO`` in Rust.

    Methods behave as ``io.BytesIO``'s (same errors and messages; ``ValueError("I/O
    operation on closed file.")`` once closed). Nothing here rolls over by itself. After
    ``move_to`` every method passes the call on to the file the data moved to.
    """

    def __new__(
        cls, roll_above: Optional[int], owner: Optional[weakref.ref[Any]] = None
    ) -> MemorySpool:
        """``roll_above``: the position past which ``write_checked`` calls
        ``owner().rollover()`` (``None``: never); the owner's rule decides it."""

    def write(self, data: Any, /) -> int:
        """``BytesIO.write``, without the rollover check."""

    def write_checked(self, data: Any, /) -> int:
        """``write``, then ``owner().rollover()`` if the position is past ``roll_above``."""

    def read(self, size: Optional[int] = None, /) -> bytes: ...
    def read1(self, size: Optional[int] = None, /) -> bytes: ...
    def readline(self, size: Optional[int] = None, /) -> bytes: ...
    def readlines(self, hint: Optional[int] = None, /) -> list[bytes]: ...
    def readinto(self, buffer: Any, /) -> int: ...
    def readinto1(self, buffer: Any, /) -> int: ...
    def seek(self, pos: int, whence: int = 0, /) -> int: ...
    def tell(self) -> int: ...
    def truncate(self, size: Optional[int] = None, /) -> int:
        """``BytesIO.truncate``: never extends and never rolls over."""

    def getvalue(self) -> bytes: ...
    def flush(self) -> None: ...
    def readable(self) -> bool: ...
    def writable(self) -> bool: ...
    def seekable(self) -> bool: ...
    def isatty(self) -> bool: ...
    def fileno(self) -> int:
        """Raises ``io.UnsupportedOperation``."""

    def detach(self) -> None:
        """Raises ``io.UnsupportedOperation``."""

    def close(self) -> None: ...
    @property
    def closed(self) -> bool: ...
    def __iter__(self) -> Iterator[bytes]: ...
    def __next__(self) -> bytes: ...
    def move_to(self, owner: Any, newfile: Any, fd: int, pos: Optional[int], /) -> bool:
        """The rollover, in one call: write the data into the open file ``fd`` (``newfile``'s;
        an OS handle on Windows) with the GIL released, seek ``newfile`` to ``pos`` (this
        buffer's position if ``None``), set ``owner._file = newfile`` and
        ``owner._rolled = True``, then free the buffer; its later calls go to ``newfile``.
        Calls from other threads meanwhile wait. False (nothing done) if another thread's
        rollover moved the data first; on error the data stays here and ``owner`` unchanged.
        """

@final
class TempDirGuard:
    """Owns a temporary directory and holds a shared ``flock`` on it while alive.

    Dropping the guard removes the tree (GIL released), or with ``delete`` off only releases
    the lock; nothing is ever reported from a drop.
    """

    @property
    def name(self) -> Any:
        """The absolute path, str or bytes as the arguments were."""
    @property
    def active(self) -> bool:
        """Whether the guard still owns the directory (neither cleaned up nor kept)."""
    @property
    def guard_notice(self) -> Optional[tuple[bool, Optional[str]]]:
        """``None``, or ``(kept, warning)`` as ``NamedOpener.guard_notice``."""
    def cleanup(self, ignore_errors: bool = False) -> None:
        """Remove the tree by descriptor, never following a symlink, with the GIL released.

        Idempotent. Raises the audit event ``shutil.rmtree`` (as the standard module's
        cleanup does). Entries already gone are no error; otherwise the first failure is
        raised as the ``OSError`` subclass its errno selects, with ``filename`` set, unless
        ``ignore_errors``.
        """
    def keep(self) -> None:
        """Give the directory up: it stays and its lock is released. Idempotent."""

def create_tempdir(
    dir: Any, prefix: Any, suffix: Any, attempts: int, delete: bool, /
) -> TempDirGuard:
    """Create a directory as ``mkdtemp`` does (audit event ``tempfile.mkdtemp`` included)
    and return its guard; ``delete`` says whether dropping the guard removes it."""

def remove_tree(path: Union[str, bytes], ignore_errors: bool = False) -> None:
    """Remove the tree at ``path`` as ``TempDirGuard.cleanup`` does; a symlink at ``path``
    itself is refused (``ELOOP``). Releases the GIL."""

# Benchmark floors (ferrotemp._bench), not API: each runs ``n`` rounds of bare syscalls in
# ``dir`` in Rust with the GIL released and returns the seconds taken. POSIX only
# (``NotImplementedError`` elsewhere); OS errors are raised as above.
def _floor_create_unlink(dir: Union[str, bytes], n: int, /) -> float:
    """``open(O_RDWR|O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC, 0600)`` + ``close`` + ``unlink``."""

def _floor_mkdir_rmdir(dir: Union[str, bytes], n: int, /) -> float:
    """``mkdir(0700)`` + ``rmdir``."""

_SweepTuple = tuple[
    bool,
    list[tuple[str, str, int]],
    list[tuple[str, str]],
    list[tuple[str, str]],
    int,
    int,
    bool,
]

def sweep(root: Optional[Any], dry_run: bool, /) -> _SweepTuple:
    """Sweep dead processes' crash-guard records: the registry in temp dir ``root``, or the
    configured one (``FERROTEMP_GUARD_DIR``, else the default temp dir's) when ``None``.

    Returns ``(dry_run, removed [(path, "file"|"dir", bytes)], skipped [(path, reason)],
    errors [(path, message)], records_removed, records_live, complete)``. The GIL is released
    throughout. Raises ``PermissionError`` when the registry is refused (not ours, a symlink,
    writable by others).
    """

def sweep_older_than(dir: Any, prefix: Any, older_than: float, dry_run: bool, /) -> _SweepTuple:
    """Remove the top-level entries of ``dir`` named ``prefix``… whose timestamps are all
    older than ``older_than`` seconds, skipping symlinks, other users' entries, other
    filesystems and ``flock``ed entries. Returns as ``sweep``; GIL released throughout.
    Raises ``OSError`` (``EINVAL``) for an empty prefix."""

def _set_guard_enabled(enabled: bool) -> None:
    """Turn the crash guard on or off for the whole process (benchmarks and tests only; users
    set ``FERROTEMP_GUARD``). Entries recorded before stay recorded."""

def guard_unavailable_reason() -> Optional[str]:
    """Why the crash guard is off, or ``None`` when it is on (or not yet tried)."""

def guard_registry_path() -> str:
    """The registry directory in use (``FERROTEMP_GUARD_DIR``, else the default temp dir's)."""
