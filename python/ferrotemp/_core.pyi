"""The native module: thin bindings over ferrotemp's Rust core.

Every function that touches the filesystem releases the GIL around its syscalls. OS errors
are raised as the ``OSError`` subclass their ``errno`` selects (``FileNotFoundError``,
``PermissionError``, ``FileExistsError`` …) with ``errno``, ``strerror`` and ``filename``
set; an embedded NUL byte raises ``ValueError``.
"""

import os
import weakref
from collections.abc import Iterator
from typing import Any, Callable, Optional, Union, final, overload

__all__ = [
    "_floor_create_unlink",
    "_floor_mkdir_rmdir",
    "Discovery",
    "FailedEntry",
    "FilesystemInfo",
    "GuardEntry",
    "GuardNotice",
    "GuardRecord",
    "GuardSwitches",
    "MemorySpool",
    "NamedOpener",
    "RejectedDir",
    "RemovedEntry",
    "SkippedEntry",
    "Stats",
    "SweepOutcome",
    "SwitchReading",
    "TempDirOwner",
    "UnnamedOpener",
    "RunCommandLine",
    "RunJob",
    "WorkspaceCore",
    "WorkspaceEnding",
    "WorkspaceUsage",
    "WorkspaceInfo",
    "_TemporaryFileCloser",
    "__version__",
    "_set_guard_enabled",
    "_spool_write_method",
    "candidate_dirs",
    "create_tempdir",
    "discover_tempdir",
    "discovery_report",
    "filesystem_info",
    "guard_registry_path",
    "guard_switches",
    "guard_unavailable_reason",
    "list_records",
    "measure_tree",
    "note_quota_refusal",
    "mkdtemp",
    "mkstemp",
    "o_tmpfile_enabled",
    "open_linkable_unnamed",
    "publish_unnamed",
    "parse_size",
    "human_size",
    "parse_run_plain",
    "run_command_line",
    "shell_command_line",
    "QuotaExceeded",
    "random_name",
    "read_switch",
    "remove_tree",
    "stats",
    "sweep",
    "sweep_older_than",
    "switch_warnings",
]
__version__: str

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

@final
class SwitchReading:
    """A ``FERROTEMP_*`` switch as the core reads it (``read_switch``)."""

    @property
    def value(self) -> bool:
        """The switch's value; the default when the text is not understood."""
    @property
    def warning(self) -> Optional[str]:
        """``None``, unless the text is not understood: then the warning to show."""

def switch_warnings() -> list[str]:
    """A warning for each ``FERROTEMP_*`` on/off switch set to a value not understood."""

def read_switch(name: str, default: bool, /) -> SwitchReading:
    """The boolean ``FERROTEMP_*`` switch ``name`` from the environment: ``1/true/yes/on`` on,
    ``0/false/no/off``/empty off (any case). For a value not understood, ``default`` and the
    warning to show; the core prints nothing."""

@final
class GuardSwitches:
    """The crash guard's boolean switches in force (``guard_switches``)."""

    @property
    def enabled(self) -> bool:
        """Entries are recorded (``FERROTEMP_GUARD``)."""
    @property
    def record_all(self) -> bool:
        """The callers' own entries are recorded too (``FERROTEMP_GUARD=all``)."""
    @property
    def keep(self) -> bool:
        """Every guarded entry is kept (``FERROTEMP_KEEP``)."""
    @property
    def auto_sweep(self) -> bool:
        """The registry is swept automatically (``FERROTEMP_GUARD_SWEEP``)."""
    @property
    def use_flock(self) -> bool:
        """Records are locked with ``flock`` (``FERROTEMP_GUARD_FLOCK``)."""
    @property
    def registry_dir(self) -> Optional[str]:
        """The registry directory set (``FERROTEMP_GUARD_DIR``, absolute); ``None``: the
        default temp dir's. A Rust+Python hybrid's copy of the core takes the configuration
        in force from here."""

def guard_switches() -> GuardSwitches:
    """The crash guard's boolean switches as the configuration in force has them."""

def random_name() -> str:
    """Eight characters of ``a-z0-9_`` from the OS CSPRNG."""

def candidate_dirs() -> list[str]:
    """The directories discovery tries, in order: $TMPDIR, $TEMP, $TMP, the platform's, cwd."""

def discover_tempdir() -> str:
    """Find the default temporary directory as the standard module does, without caching.

    Raises ``FileNotFoundError`` when no candidate is usable.
    """

@final
class RejectedDir:
    """A directory discovery tried and passed over."""

    @property
    def dir(self) -> str: ...
    @property
    def error(self) -> str:
        """Why it was passed over, as text."""

@final
class Discovery:
    """The default temporary directory, why it was chosen, and what was tried before it."""

    @property
    def dir(self) -> str:
        """The directory chosen."""
    @property
    def source(self) -> str:
        """Where it came from (``$TMPDIR``, the platform's default, …), as text."""
    @property
    def rejected(self) -> tuple[RejectedDir, ...]:
        """The directories passed over, in the order they were tried."""

def discovery_report() -> Discovery:
    """Discovery afresh, with its reasons: the directory, why it was chosen, what was rejected.
    Raises ``FileNotFoundError`` when no candidate is usable."""

@final
class FilesystemInfo:
    """The filesystem holding a directory (``filesystem_info``)."""

    @property
    def fs_type(self) -> str:
        """The filesystem's type (``ext4``, ``tmpfs``, …)."""
    @property
    def free_bytes(self) -> int:
        """Bytes available to this user."""
    @property
    def total_bytes(self) -> int:
        """The filesystem's size in bytes."""
    @property
    def o_tmpfile(self) -> bool:
        """Whether an ``O_TMPFILE`` file can be made there."""

def filesystem_info(dir: Union[str, bytes], /) -> FilesystemInfo:
    """Type, free and total bytes of the filesystem holding dir, and whether O_TMPFILE works."""

@final
class GuardNotice:
    """What the crash guard asks the owner of a new entry to tell the user (most creations
    have none: the owner's ``guard_notice`` is then ``None``)."""

    @property
    def kept(self) -> bool:
        """Keep mode (``FERROTEMP_KEEP=1``) keeps the entry: its path is to be logged."""
    @property
    def warning(self) -> Optional[str]:
        """The guard's once-per-process message that it is unavailable, or ``None``."""

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
    @staticmethod
    def _adopt(file: Any, name: Any, owner: Any, delete_on_close: bool, /) -> _TemporaryFileCloser:
        """A closer for a file a Rust+Python hybrid's copy of the core made: ``owner`` (its
        ``remove``, ``release``, ``persist``, ``will_delete``) removes or keeps it."""
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
    def persist(self, dest: Any, overwrite: bool = True, fsync: bool = False) -> None:
        """Publish the file at ``dest`` (rename; ``overwrite=False``: ``FileExistsError`` if
        it exists; ``fsync``: sync the file before and the directory after). Once published
        nothing removes it; on failure (``OSError`` with errno and ``filename``) the closer
        still owns it. ``ValueError`` if it was already cleaned up or kept."""

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
    def guard_notice(self) -> Optional[GuardNotice]:
        """``None``, unless the crash guard has something to say about the file made (keep
        mode keeps it, or the guard is unavailable)."""
    def closer(self, file: Any, delete_on_close: bool, /) -> _TemporaryFileCloser:
        """Hand the file made to a new closer for ``file``, the ``io`` object over it."""
    def finish(
        self, file: Any, raw: Any, delete_on_close: bool, /
    ) -> tuple[_TemporaryFileCloser, Any]:
        """Set ``raw.name`` to the path, report the guard's notice if any, then ``closer()``:
        ``(closer, name)`` in one call."""
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

def _spool_write_method(cls: type, /) -> Any:
    """A native ``write`` for ``cls`` (a method descriptor): writes to the in-memory buffer
    that ``_native_write`` is bound to, else calls ``cls._write_py`` with the same arguments."""

@final
class MemorySpool:
    """The in-memory phase of ``SpooledTemporaryFile``: an ``io.BytesIO`` in Rust.

    Methods behave as ``io.BytesIO``'s (same errors and messages; ``ValueError("I/O
    operation on closed file.")`` once closed). Nothing here rolls over by itself. After
    ``move_to`` every method passes the call on to the file the data moved to.
    """

    def __new__(
        cls,
        roll_above: Optional[int],
        owner: Optional[weakref.ref[Any]] = None,
        defer_crossing: bool = False,
    ) -> MemorySpool:
        """``roll_above``: the position past which ``write_checked`` calls
        ``owner().rollover()`` (``None``: never); the owner's rule decides it.
        ``defer_crossing``: the owner's ``rollover()`` only moves the data (``move_to``), so a
        ``bytes`` write that crosses ``roll_above`` is handed to it, not copied into memory."""

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
class TempDirOwner:
    """Owns a temporary directory and holds a shared ``flock`` on it while alive.

    Dropping the owner removes the tree (GIL released), or with ``delete`` off only releases
    the lock; nothing is ever reported from a drop.
    """

    @property
    def name(self) -> Any:
        """The absolute path, str or bytes as the arguments were."""
    @property
    def active(self) -> bool:
        """Whether this still owns the directory (neither cleaned up nor kept)."""
    @property
    def guard_notice(self) -> Optional[GuardNotice]:
        """``None``, or a ``GuardNotice`` as ``NamedOpener.guard_notice``."""
    def cleanup(self, ignore_errors: bool = False, threads: int = 0) -> None:
        """Remove the tree by descriptor, never following a symlink, with the GIL released,
        with at most ``threads`` threads (0: one per core).

        Idempotent. Raises the audit event ``shutil.rmtree`` (as the standard module's
        cleanup does). Entries already gone are no error; otherwise the first failure is
        raised as the ``OSError`` subclass its errno selects, with ``filename`` set, unless
        ``ignore_errors``.
        """
    def keep(self) -> None:
        """Give the directory up: it stays and its lock is released. Idempotent."""

def create_tempdir(
    dir: Any, prefix: Any, suffix: Any, attempts: int, delete: bool, /
) -> TempDirOwner:
    """Create a directory as ``mkdtemp`` does (audit event ``tempfile.mkdtemp`` included)
    and return its owner; ``delete`` says whether dropping the owner removes it."""

def remove_tree(path: Union[str, bytes], ignore_errors: bool = False) -> None:
    """Remove the tree at ``path`` as ``TempDirOwner.cleanup`` does; a symlink at ``path``
    itself is refused (``ELOOP``). Releases the GIL."""

def measure_tree(
    path: Union[str, bytes, os.PathLike[str], os.PathLike[bytes]],
) -> tuple[int, int, int]:
    """``(bytes, files, dirs)`` of the tree at ``path``: bytes allocated on disk as
    ``du -B1 -s`` counts them (the root directory included, hard links once), files =
    non-directories and dirs = directories below the root (not the root). Walks by
    descriptor without following symlinks and stays on the root's mount (stricter than
    ``du -x``: it stops at a bind mount of the same filesystem too);
    entries vanishing meanwhile are skipped. Releases the GIL. Raises ``OSError`` naming the
    entry it could not examine."""

@final
class Stats:
    """A snapshot of the core's process-wide counters (they only grow, from zero at start)."""

    @property
    def created(self) -> int:
        """Named files and directories created (``mkstemp``/``mkdtemp`` included)."""
    @property
    def removed(self) -> int:
        """Owned entries their owner removed (close, cleanup, garbage collection)."""
    @property
    def entries_reclaimed(self) -> int:
        """Entries removed by sweeps (dead processes' records, age sweeps)."""
    @property
    def bytes_reclaimed(self) -> int:
        """Bytes the entries removed by sweeps held."""
    @property
    def cleanup_errors(self) -> int:
        """Removals by an owner that failed."""
    @property
    def quota_refusals(self) -> int:
        """Creations or writes refused by a workspace's limits."""
    def as_dict(self) -> dict[str, int]:
        """The counters by name."""
    def __repr__(self) -> str: ...

def stats() -> Stats:
    """A snapshot of the process-wide counters."""

def note_quota_refusal() -> None:
    """Count one creation or write refused by a quota (limits checked in Python)."""

@final
class WorkspaceInfo:
    """A workspace's name and limits, as its crash-guard record entry keeps them."""

    @property
    def name(self) -> str:
        """The job's name (its first 255 bytes, cut at a character boundary)."""
    @property
    def max_bytes(self) -> Optional[int]: ...
    @property
    def max_files(self) -> Optional[int]: ...
    @property
    def command(self) -> Optional[str]:
        """The command line its job runs (``ferrotemp run``; its first 1,024 bytes)."""
    def __repr__(self) -> str: ...

@final
class GuardEntry:
    """One guarded entry of a process's record."""

    @property
    def path(self) -> str: ...
    @property
    def kind(self) -> str:
        """``"file"`` or ``"dir"``."""
    @property
    def state(self) -> str:
        """``"live"``, or ``"pending"`` (recorded before its creation, not yet confirmed)."""
    @property
    def recorded_ns(self) -> int:
        """When it was recorded, ns since the epoch (0 when unknown)."""
    @property
    def presence(self) -> str:
        """What is at its path now: ``"present"`` (the entry recorded, by device, inode,
        birth time and generation), ``"gone"``, ``"replaced"`` or ``"unknown"``."""
    @property
    def workspace(self) -> Optional[WorkspaceInfo]:
        """The workspace this directory is, or ``None``."""
    @property
    def usage(self) -> Optional[tuple[int, int, int]]:
        """``(bytes, files, dirs)`` as ``measure_tree`` counts them, measured through the
        descriptor the presence check opened (``list_records(..., measure=True)``, a present
        entry), or ``None``."""
    @property
    def measure_error(self) -> Optional[OSError]:
        """The ``OSError`` measuring it met (naming the path inside), or ``None``."""
    def __repr__(self) -> str: ...

@final
class GuardRecord:
    """One process's crash-guard record."""

    @property
    def name(self) -> str:
        """The record's file name in the registry."""
    @property
    def pid(self) -> int: ...
    @property
    def start_ns(self) -> int:
        """The owner's start, ns since the epoch (0 when unknown)."""
    @property
    def status(self) -> str:
        """``"alive"``, ``"dead"`` (its entries await a sweep) or ``"other_host"``."""
    @property
    def entries(self) -> tuple[GuardEntry, ...]: ...
    @property
    def truncated(self) -> bool:
        """Whether the record ended in something unreadable (the entries before it are
        listed)."""
    def __repr__(self) -> str: ...

def list_records(
    root: Union[str, bytes, os.PathLike[str], os.PathLike[bytes], None],
    /,
    *,
    measure: bool = False,
) -> list[GuardRecord]:
    """Every record of the registry in the temp dir ``root`` (``None``: the registry in
    use), in name order, with its owner's status as a sweep would judge it now; a missing
    registry lists nothing, unreadable records are left out. Each entry's ``presence`` is
    checked as a sweep checks it; with ``measure``, each present entry is measured through
    the descriptor that check opened (``GuardEntry.usage``), never by its path again.
    Nothing is changed. Releases the GIL. Raises ``PermissionError`` if the registry is
    refused. Empty off POSIX."""

# Benchmark floors (ferrotemp._bench), not API: each runs ``n`` rounds of bare syscalls in
# ``dir`` in Rust with the GIL released and returns the seconds taken. POSIX only
# (``NotImplementedError`` elsewhere); OS errors are raised as above.
def _floor_create_unlink(dir: Union[str, bytes], n: int, /) -> float:
    """``open(O_RDWR|O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC, 0600)`` + ``close`` + ``unlink``."""

def _floor_mkdir_rmdir(dir: Union[str, bytes], n: int, /) -> float:
    """``mkdir(0700)`` + ``rmdir``."""

@final
class RemovedEntry:
    """An entry a sweep removed (or, dry, would remove)."""

    @property
    def path(self) -> str: ...
    @property
    def kind(self) -> str:
        """``"file"`` or ``"dir"``."""
    @property
    def bytes(self) -> int:
        """The bytes it held (a directory counts the files inside)."""

@final
class SkippedEntry:
    """An entry a sweep examined and left alone."""

    @property
    def path(self) -> str: ...
    @property
    def reason(self) -> str:
        """Why: ``"gone"``, ``"replaced"``, ``"symlink"``, ``"other_filesystem"``,
        ``"other_owner"``, ``"in_use"``, ``"recent"``, ``"not_file_or_dir"``, ``"too_large"``,
        ``"born_before_owner"`` or ``"unconfirmed"``."""

@final
class FailedEntry:
    """An entry (or record) a sweep failed on."""

    @property
    def path(self) -> str: ...
    @property
    def message(self) -> str:
        """The error, as text."""

@final
class SweepOutcome:
    """What a sweep removed (or, dry, would remove), left alone and failed on. The package's
    ``SweepReport`` is its summary."""

    @property
    def dry_run(self) -> bool:
        """Whether nothing was removed (``removed`` lists what would have been)."""
    @property
    def removed(self) -> tuple[RemovedEntry, ...]: ...
    @property
    def skipped(self) -> tuple[SkippedEntry, ...]: ...
    @property
    def errors(self) -> tuple[FailedEntry, ...]: ...
    @property
    def records_removed(self) -> int:
        """Dead processes' records removed (registry sweeps only)."""
    @property
    def records_live(self) -> int:
        """Live processes' records left alone (registry sweeps only)."""
    @property
    def complete(self) -> bool:
        """False when a limit stopped the sweep before the end."""

def sweep(root: Optional[Any], dry_run: bool, /) -> SweepOutcome:
    """Sweep dead processes' crash-guard records: the registry in temp dir ``root``, or the
    configured one (``FERROTEMP_GUARD_DIR``, else the default temp dir's) when ``None``.

    The GIL is released throughout. Raises ``PermissionError`` when the registry is refused
    (not ours, a symlink, writable by others).
    """

def sweep_older_than(dir: Any, prefix: Any, older_than: float, dry_run: bool, /) -> SweepOutcome:
    """Remove the top-level entries of ``dir`` named ``prefix``… whose timestamps are all
    older than ``older_than`` seconds, skipping symlinks, other users' entries, other
    filesystems and ``flock``ed entries. Returns as ``sweep``; GIL released throughout.
    Raises ``OSError`` (``EINVAL``) for an empty prefix."""

def _set_guard_enabled(enabled: bool) -> None:
    """Turn the crash guard on or off for the whole process (tests only; users
    set ``FERROTEMP_GUARD``). Entries recorded before stay recorded."""

def guard_unavailable_reason() -> Optional[str]:
    """Why the crash guard is off, or ``None`` when it is on (or not yet tried)."""

def guard_registry_path() -> str:
    """The registry directory in use (``FERROTEMP_GUARD_DIR``, else the default temp dir's)."""

def open_linkable_unnamed(dir: Any) -> Optional[int]:
    """An unnamed (``O_TMPFILE``) file in ``dir`` that ``publish_unnamed`` can name, mode
    0600 (audit event ``open`` first): its descriptor, which the caller owns; ``None`` where
    the kernel or the filesystem cannot."""

def publish_unnamed(fd: int, dest: Any, overwrite: bool, fsync: bool, /) -> None:
    """Name the unnamed file at ``fd`` ``dest`` by ``linkat`` (``overwrite``: through a fresh
    name renamed over ``dest``); ``FileExistsError`` if ``dest`` exists and not
    ``overwrite``, ``OSError`` ``EXDEV`` across filesystems. ``fsync``: sync the file first
    and the directory after. The descriptor stays the caller's."""

# Workspaces (ferrotemp.Workspace is the Python class built on WorkspaceCore).

class QuotaExceeded(OSError):
    """A workspace's limit refused a creation or a write: ``errno.EDQUOT``, ``filename`` the
    workspace's path."""

@final
class WorkspaceUsage:
    """What a workspace holds (measured: ``bytes``, ``files``, ``dirs``) and has done."""

    @property
    def bytes(self) -> int: ...
    @property
    def files(self) -> int: ...
    @property
    def dirs(self) -> int: ...
    @property
    def peak_bytes(self) -> int: ...
    @property
    def created(self) -> int: ...
    @property
    def removed(self) -> int: ...
    @property
    def cleanup_errors(self) -> int: ...
    @property
    def elapsed(self) -> float:
        """Seconds since the workspace was made (to its end, once ended)."""

@final
class WorkspaceEnding:
    """How a workspace ended."""

    @property
    def kept(self) -> bool: ...
    @property
    def usage(self) -> WorkspaceUsage: ...
    @property
    def error(self) -> Optional[str]:
        """The removal's first failure, if it failed (the rest is left for a sweep)."""

@final
class WorkspaceCore:
    """A workspace's directory (made at construction, GIL released), counters, limits and
    end. ``keep``: ``"never"``, ``"always"``, ``"on-error"`` or ``None`` (``FERROTEMP_KEEP``'s
    default); ``ValueError`` for anything else. Refusals raise ``QuotaExceeded``."""

    def __new__(
        cls,
        name: str,
        max_bytes: Optional[int],
        max_files: Optional[int],
        keep: Optional[str],
        dir: Optional[Any],
        command: Optional[str] = None,
    ) -> WorkspaceCore: ...
    @property
    def path(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def max_bytes(self) -> Optional[int]: ...
    @property
    def max_files(self) -> Optional[int]: ...
    @property
    def keep(self) -> str:
        """The policy in force: ``"always"`` in keep mode whatever was asked."""
    @property
    def finished(self) -> bool: ...
    @property
    def written_bytes(self) -> int:
        """Bytes written through the workspace's objects and not given back."""
    def check_create(self) -> None:
        """Raise ``QuotaExceeded`` if a creation now would be refused."""
    def reserve_create(self) -> None:
        """Count one entry about to be made, or raise ``QuotaExceeded``."""
    def cancel_create(self) -> None:
        """Take back a ``reserve_create`` whose creation failed."""
    def note_removed(self, bytes: int) -> None: ...
    def note_cleanup_errors(self, count: int) -> None: ...
    def reserve_write(self, n: int) -> None:
        """Reserve ``n`` bytes about to be written, or raise ``QuotaExceeded``."""
    def release_bytes(self, n: int) -> None: ...
    def usage(self) -> WorkspaceUsage:
        """Measure the tree (GIL released) and add the counters."""
    def finish(self, ok: bool) -> WorkspaceEnding:
        """Remove the tree, or keep it as the policy says for a job that ended ``ok``
        (GIL released). A failed removal is in the ending, not raised."""

@final
class RunCommandLine:
    """``ferrotemp run``'s options and command. ``ValueError`` for an empty ``cmd`` or a
    ``keep`` other than ``"never"``, ``"always"``, ``"on-error"``."""

    def __new__(
        cls,
        cmd: list[str],
        *,
        dir: Optional[str] = None,
        max_bytes: Optional[int] = None,
        keep: Optional[str] = None,
        name: Optional[str] = None,
        kill_on_quota: bool = False,
    ) -> RunCommandLine: ...
    @property
    def dir(self) -> Optional[str]: ...
    @property
    def max_bytes(self) -> Optional[int]: ...
    @property
    def keep(self) -> Optional[str]: ...
    @property
    def name(self) -> Optional[str]: ...
    @property
    def kill_on_quota(self) -> bool: ...
    @property
    def cmd(self) -> list[str]:
        """The command and its arguments, without a ``--`` before them."""

def parse_run_plain(words: list[str]) -> Optional[RunCommandLine]:
    """``ferrotemp run``'s words after ``run`` in their common forms (options spelled out in
    full, valid values, ``--`` or the first non-option word, a command), as the native
    ``ferrotemp`` command reads them; ``None`` for anything else (argparse's to read)."""

def run_command_line(line: RunCommandLine) -> int:
    """Runs ``line`` as ``ferrotemp run`` does (GIL released): signals passed on (Linux),
    messages on file descriptor 2; the status to exit with. The signals passed on stay
    blocked in the calling thread: the caller exits."""

def shell_command_line(args: list[Any]) -> str:
    """``args`` quoted for a POSIX shell, as ``shlex.join`` (the record's command line)."""

@final
class RunJob:
    """One command in a workspace of its own, for ``ferrotemp.run`` (the workspace made at
    construction, GIL released)."""

    def __new__(
        cls,
        cmd: list[str],
        *,
        dir: Any,
        max_bytes: Optional[int],
        keep: Optional[str],
        name: Optional[str],
        kill_on_quota: bool,
        env: Optional[list[tuple[str, str]]],
        check_interval: float,
        grace: float,
    ) -> RunJob: ...
    @property
    def path(self) -> str: ...
    @property
    def status(self) -> Optional[int]:
        """The status once reaped (``-N`` for a signal ``N``)."""
    @property
    def over_quota(self) -> bool: ...
    def spawn(self) -> int:
        """Start the command (its pid); ``OSError`` naming the program if it cannot."""
    def wait(self, on_notice: Callable[[str], object]) -> int:
        """Wait for the command (GIL released; signal handlers run every 50 ms); its status.
        ``on_notice`` gets each quota overrun's line. A handler's exception kills and reaps
        the command before it goes on."""
    def finish(self, ok: bool) -> WorkspaceEnding:
        """Kill and reap the command if it still runs, then end the workspace."""

def human_size(size: int) -> str:
    """``512 B``, ``1.5 KiB``, … ``2.0 TiB``: a size as the command line shows it."""

def parse_size(text: str) -> int:
    """``"2 GiB"``, ``"500MB"``, ``"1.5K"``, ``"4096"`` as bytes; ``ValueError`` otherwise."""
