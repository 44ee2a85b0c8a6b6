"""Run-time stand-ins for the few ``typing`` names ferrotemp uses outside annotations.

``import typing`` costs more than the rest of ``import ferrotemp``. Annotations are strings
(``from __future__ import annotations``), so at run time the modules need only ``overload``
and the ``AnyStr`` of their generic base lists; they import these under
``if not TYPE_CHECKING:``, and type checkers get ``typing``'s own in the ``else``.
``GenericAlias`` (what a class's ``__class_getitem__`` makes) is here too, so that ``types``
need not be imported either.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TypeVar

    _F = TypeVar("_F")

__all__ = ["AnyStr", "GenericAlias", "overload"]


def overload(function: _F) -> _F:
    """``typing.overload`` without its registry: the implementation defined next replaces the
    variant anyway, and nothing reads ``typing.get_overloads`` on these functions."""
    return function


#: The type variable of ``Base[AnyStr]`` in a class statement; the stand-in bases ignore it.
AnyStr = None

if not TYPE_CHECKING:
    GenericAlias = type(list[int])
else:
    from types import GenericAlias as GenericAlias
