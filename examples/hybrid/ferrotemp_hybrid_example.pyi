"""An example Rust+Python hybrid: temporaries made in Rust, returned as ferrotemp's objects."""

import os
from typing import Optional, Union

from ferrotemp import SpooledTemporaryFile, TemporaryDirectory
from ferrotemp._files import _TemporaryFileWrapper

_PathArg = Union[str, bytes, os.PathLike[str], os.PathLike[bytes]]

def render(
    text: str, suffix: str = ".txt", dir: Optional[_PathArg] = None, keep: bool = False
) -> _TemporaryFileWrapper[bytes]:
    """``text`` rendered into a file, as ``NamedTemporaryFile()`` returns it (rewound); with
    ``keep``, as ``NamedTemporaryFile(delete=False)``."""

def render_text(text: str, delete_on_close: bool = True) -> _TemporaryFileWrapper[str]:
    """As ``render``, opened as ``NamedTemporaryFile("w+", encoding="utf-8")``."""

def render_path(text: str) -> _TemporaryFileWrapper[bytes]:
    """As ``render``, handed over as a path and opened again."""

def render_dir(outputs: list[tuple[str, str]], keep: bool = False) -> TemporaryDirectory[str]:
    """A directory holding ``outputs`` (name, text), and a ``subdir`` holding them again."""

def spool(data: bytes, max_size: int) -> SpooledTemporaryFile[bytes]:
    """``data`` in a spool of ``max_size`` bytes (on disk if longer), rewound."""

def read_file(file: object) -> bytes:
    """The whole contents of a ferrotemp file, read in Rust through its descriptor."""

def file_path(file: object) -> Optional[str]:
    """The path Rust sees for a ferrotemp file; ``None`` for an unnamed one."""

def list_dir(dir: TemporaryDirectory[str]) -> list[str]:
    """The sorted names in a ``ferrotemp.TemporaryDirectory``."""
