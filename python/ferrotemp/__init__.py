"""Python's ``tempfile`` on a Rust core.

ferrotemp has the standard module's API and behaviour (Python 3.13 semantics on every
supported Python); the work is done by the native module ``ferrotemp._core``. Replace
``import tempfile`` with ``import ferrotemp as tempfile``.

The low-level functions live here rather than in a submodule because, as in the standard
module, they read the module globals ``tempdir`` and ``template`` at every call, and code
that assigns ``ferrotemp.tempdir = ...`` must be heard.
"""

from __future__ import annotations

import errno as _errno
import os as _os
import sys as _sys
from _thread import allocate_lock as _allocate_lock

from . import _core

# `typing` is not imported at run time (it costs more than the rest of the package): the
# interpreter takes the first branch, type checkers the second. In this order, because linters
# take the last binding of a name (`overload`) as the one in force.
TYPE_CHECKING = False
if not TYPE_CHECKING:
    from ._typing_standins import overload as _overload

    # A marker for type checkers only, as typeshed's: mktemp() warns nothing at run time.
    def _deprecated(message: str) -> _Callable[[_Any], _Any]:
        return lambda function: function
else:
    from typing import Any as _Any
    from typing import Callable as _Callable
    from typing import Optional as _Optional
    from typing import Tuple as _Tuple
    from typing import Type as _Type
    from typing import Union as _Union
    from typing import overload as _overload

    from typing_extensions import deprecated as _deprecated

    from ._guard import SweepReport as SweepReport
    from ._guard import sweep as sweep
    from ._run import RunResult as RunResult
    from ._run import run as run
    from ._workspace import QuotaExceeded as QuotaExceeded
    from ._workspace import Usage as Usage
    from ._workspace import Workspace as Workspace

    _StrPath = _Union[str, _os.PathLike[str]]
    _BytesPath = _Union[bytes, _os.PathLike[bytes]]


__version__: str = _core.__version__

__all__ = [
    "NamedTemporaryFile",
    "TemporaryFile",
    "mkstemp",
    "mkdtemp",
    "mktemp",
    "TMP_MAX",
    "gettempprefix",
    "tempdir",
    "gettempdir",
    "gettempprefixb",
    "gettempdirb",
    "SpooledTemporaryFile",
    "TemporaryDirectory",
    # Beyond the standard module: the crash guard's sweep.
    "sweep",
    "SweepReport",
    # Beyond the standard module: atomic publish.
    "atomic_write",
    "temp_path",
    # Beyond the standard module: jobs.
    "Workspace",
    "QuotaExceeded",
    "Usage",
    # Beyond the standard module: process-wide counters (ferrotemp.metrics exports them).
    "stats",
    "Stats",
]

# The standard module's open flags, kept for code that reads them.
_text_openflags: int = _os.O_RDWR | _os.O_CREAT | _os.O_EXCL
if hasattr(_os, "O_NOFOLLOW"):
    _text_openflags |= _os.O_NOFOLLOW
_bin_openflags: int = _text_openflags
if hasattr(_os, "O_BINARY"):
    _bin_openflags |= _os.O_BINARY

TMP_MAX: int = getattr(_os, "TMP_MAX", 10000)

# The default prefix of every name; read at each call.
template: str = "tmp"

# The directory used when none is given; found on first use, then kept here. Assigning to it
# (or to None, to run discovery again) is honoured by every later call.
# Typed str | None as in typeshed; a bytes value assigned to it works as in the standard module.
tempdir: _Optional[str] = None

_once_lock = _allocate_lock()


def _infer_return_type(*args: _Any) -> _Union[_Type[str], _Type[bytes]]:
    """The path type (str or bytes) the arguments call for; mixing them is a TypeError."""
    return_type: _Union[_Type[str], _Type[bytes], None] = None
    for arg in args:
        if arg is None:
            continue
        if isinstance(arg, _os.PathLike):
            arg = _os.fspath(arg)
        if isinstance(arg, bytes):
            if return_type is str:
                raise TypeError("Can't mix bytes and non-bytes in path components.")
            return_type = bytes
        else:
            if return_type is bytes:
                raise TypeError("Can't mix bytes and non-bytes in path components.")
            return_type = str
    if return_type is None:
        # The standard module gives bytes for a tempdir that is neither None nor str (a
        # PathLike too).
        if tempdir is None or isinstance(tempdir, str):
            return str
        return bytes
    return return_type


def _sanitize_params(prefix: _Any, suffix: _Any, dir: _Any) -> _Tuple[_Any, _Any, _Any, type]:
    """Fills in defaults of the type the arguments call for."""
    output_type = _infer_return_type(prefix, suffix, dir)
    if suffix is None:
        suffix = output_type()
    if prefix is None:
        prefix = template if output_type is str else _os.fsencode(template)
    if dir is None:
        dir = gettempdir() if output_type is str else gettempdirb()
    return prefix, suffix, dir, output_type


def _gettempdir() -> _Union[str, bytes]:
    global tempdir
    if tempdir is None:
        with _once_lock:
            if tempdir is None:
                tempdir = _core.discover_tempdir()
    return tempdir


class _RandomNameSequence:
    """An endless iterator of random names (8 characters of ``a-z0-9_``, OS CSPRNG).

    Kept for code that uses the standard module's private name generator; ferrotemp's own
    functions draw names in Rust.
    """

    characters = "abcdefghijklmnopqrstuvwxyz0123456789_"

    def __iter__(self) -> _RandomNameSequence:
        return self

    def __next__(self) -> str:
        return _core.random_name()


_name_sequence: _Optional[_RandomNameSequence] = None


def _get_candidate_names() -> _RandomNameSequence:
    """The process-wide ``_RandomNameSequence``."""
    global _name_sequence
    if _name_sequence is None:
        with _once_lock:
            if _name_sequence is None:
                _name_sequence = _RandomNameSequence()
    return _name_sequence


def _candidate_tempdir_list() -> list[str]:
    """The directories ``gettempdir`` tries, in order."""
    return _core.candidate_dirs()


def gettempprefix() -> str:
    """The default prefix of temporary names, as str."""
    return _os.fsdecode(template)


def gettempprefixb() -> bytes:
    """The default prefix of temporary names, as bytes."""
    return _os.fsencode(template)


def gettempdir() -> str:
    """The default directory for temporary files, as str."""
    return _os.fsdecode(_gettempdir())


def gettempdirb() -> bytes:
    """The default directory for temporary files, as bytes."""
    return _os.fsencode(_gettempdir())


# The common case, no prefix or suffix and a str (or default) dir, gives a str path with the
# default prefix whatever else holds, so _sanitize_params can be skipped.
def _resolve_params(prefix: _Any, suffix: _Any, dir: _Any) -> _Tuple[_Any, _Any, _Any]:
    """(prefix, suffix, dir) with defaults filled in, as _sanitize_params gives them."""
    if prefix is None and suffix is None:
        if type(dir) is str:
            return template, "", dir
        if dir is None:
            if type(tempdir) is str:
                return template, "", tempdir
            if tempdir is None:
                return template, "", gettempdir()
    prefix, suffix, dir, _ = _sanitize_params(prefix, suffix, dir)
    return prefix, suffix, dir


if _os.name == "nt":
    import msvcrt as _msvcrt

    def _descriptor(handle: int, text: bool) -> int:
        flags = _os.O_TEXT if text else _os.O_BINARY  # type: ignore[attr-defined]
        return _msvcrt.open_osfhandle(handle, flags)  # type: ignore[attr-defined,no-any-return]

else:

    def _descriptor(handle: int, text: bool) -> int:
        return handle


@_overload
def mkstemp(
    suffix: _Optional[str] = None,
    prefix: _Optional[str] = None,
    dir: _Optional[_StrPath] = None,
    text: bool = False,
) -> _Tuple[int, str]: ...
@_overload
def mkstemp(
    suffix: _Optional[bytes] = None,
    prefix: _Optional[bytes] = None,
    dir: _Optional[_BytesPath] = None,
    text: bool = False,
) -> _Tuple[int, bytes]: ...
def mkstemp(
    suffix: _Any = None, prefix: _Any = None, dir: _Any = None, text: bool = False
) -> _Tuple[int, _Any]:
    """Create a file only its creator can open, and return ``(fd, absolute_path)``.

    The file is opened for reading and writing (binary unless ``text``), mode 0600, with a
    name no other process chose; the caller removes it. The path is bytes when the arguments
    are bytes.
    """
    prefix, suffix, dir = _resolve_params(prefix, suffix, dir)
    fd, name = _core.mkstemp(dir, prefix, suffix, text, TMP_MAX)
    return _descriptor(fd, text), name


@_overload
def mkdtemp(
    suffix: _Optional[str] = None, prefix: _Optional[str] = None, dir: _Optional[_StrPath] = None
) -> str: ...
@_overload
def mkdtemp(
    suffix: _Optional[bytes] = None,
    prefix: _Optional[bytes] = None,
    dir: _Optional[_BytesPath] = None,
) -> bytes: ...
def mkdtemp(suffix: _Any = None, prefix: _Any = None, dir: _Any = None) -> _Any:
    """Create a directory only its creator can use (mode 0700) and return its absolute path.

    The caller removes it. The path is bytes when the arguments are bytes.
    """
    prefix, suffix, dir = _resolve_params(prefix, suffix, dir)
    return _core.mkdtemp(dir, prefix, suffix, TMP_MAX)


@_deprecated("mktemp() is unsafe: use mkstemp() or NamedTemporaryFile(delete=False)")
def mktemp(suffix: str = "", prefix: str = template, dir: _Optional[_StrPath] = None) -> str:
    """Return a path that did not exist when checked (deprecated in the standard module).

    Unsafe: another process may create the path before the caller does. Use ``mkstemp``.
    """
    if dir is None:
        dir = gettempdir()
    for _ in range(TMP_MAX):
        file = _os.path.join(dir, prefix + _core.random_name() + suffix)
        try:
            _os.lstat(file)
        except OSError:
            return file
    raise FileExistsError(_errno.EEXIST, "No usable temporary filename found")


from ._core import Stats, stats  # noqa: E402
from ._files import NamedTemporaryFile, TemporaryFile  # noqa: E402
from ._files import _TemporaryFileCloser as _TemporaryFileCloser  # noqa: E402
from ._files import _TemporaryFileWrapper as _TemporaryFileWrapper  # noqa: E402
from ._publish import atomic_write, temp_path  # noqa: E402
from ._spooled import SpooledTemporaryFile  # noqa: E402
from ._tempdir import TemporaryDirectory  # noqa: E402

_original_tempfile: _Any = None


# The boolean FERROTEMP_* switches (the core's list, `ferrotemp::env::SWITCHES`) are read by
# one parser (FERROTEMP_AS_TEMPFILE in _startup below, the others in the crash guard); a value
# it does not understand means the default, and gets one warning on stderr when ferrotemp is
# imported (and when the native ferrotemp command runs a job).
def _warn_unrecognised_switches() -> None:
    if _sys.stderr is not None:
        for warning in _core.switch_warnings():
            _sys.stderr.write(f"ferrotemp: {warning}\n")


_warn_unrecognised_switches()


def _startup() -> None:
    """The .pth hook's entry, called when FERROTEMP_AS_TEMPFILE is set to something other
    than empty or ``0``: installs when the core reads the switch as on."""
    if _core.read_switch("FERROTEMP_AS_TEMPFILE", False).value:
        install()


def install() -> None:
    """Serve ``import tempfile`` from ferrotemp for the rest of this process.

    Every later ``import tempfile`` and ``from tempfile import ...`` gets this module. Modules
    that imported the standard ``tempfile`` before this call keep the object they hold; set
    ``FERROTEMP_AS_TEMPFILE=1`` in the environment to install at interpreter startup, before
    any other code runs.
    """
    global _original_tempfile
    current = _sys.modules.get("tempfile")
    if current is not _sys.modules[__name__] and _original_tempfile is None:
        _original_tempfile = current
    _sys.modules["tempfile"] = _sys.modules[__name__]


def uninstall() -> None:
    """Undo ``install()``: later imports of ``tempfile`` get the standard module again."""
    global _original_tempfile
    if _sys.modules.get("tempfile") is _sys.modules[__name__]:
        if _original_tempfile is not None:
            _sys.modules["tempfile"] = _original_tempfile
        else:
            del _sys.modules["tempfile"]
    _original_tempfile = None


# The crash guard's sweeps (and their dataclass report) are seldom called: loaded on first use.
_LAZY_NAMES = frozenset({"sweep", "SweepReport", "_guard"})
# Workspaces (and the logging they import) load on first use too.
_WORKSPACE_NAMES = frozenset({"Workspace", "QuotaExceeded", "Usage"})
# `ferrotemp.run` (a command in a workspace of its own) too.
_RUN_NAMES = frozenset({"run", "RunResult"})

if not TYPE_CHECKING:
    # Hidden from type checkers, which would otherwise accept any attribute of the module.

    def __getattr__(name: str) -> _Any:
        if name in _RUN_NAMES:
            import ferrotemp._run as run_module

            value = getattr(run_module, name)
            globals()[name] = value
            return value
        if name in _WORKSPACE_NAMES:
            import ferrotemp._workspace as workspace

            value = getattr(workspace, name)
            globals()[name] = value
            return value
        if name not in _LAZY_NAMES:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        # Not `from . import _guard`: its fromlist check would call this function again.
        import ferrotemp._guard as guard

        if name == "_guard":
            return guard
        value = getattr(guard, name)
        globals()[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(globals().keys() | _LAZY_NAMES | _WORKSPACE_NAMES | _RUN_NAMES)


# Names the module binds only to use them above; they are not part of its namespace. The
# __future__ import's compiler flag stays in force without its name.
del annotations, TYPE_CHECKING
