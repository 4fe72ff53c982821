"""``@frozen``: minipod's immutable value class, a dataclass that costs a
fifth as much to define.

``@dataclass(frozen=True)`` has Python 3.11 compile six methods for every
class (__init__, __repr__, __eq__, __hash__, __setattr__, __delattr__): 0.5 ms
a class on our machines, 140 classes, so about 70 ms of a supervisor's start
and 7 ms of every `minipod get` (the record classes alone). ``@frozen`` lets
dataclasses make __init__ only (0.1 ms), and gives every class the same
__repr__, __eq__ and __hash__, written once below, with the semantics of the
generated ones (fields with ``compare=False`` or ``repr=False`` are left out
as there).

Immutability is the type checker's: to mypy (``--strict``, `make lint`) a
``@frozen`` class is a frozen dataclass, and an assignment to its fields is an
error. At run time nothing refuses one: that check was the two generated
methods that cost the most, and a frozen instance was also slower to make
(0.39 µs against 0.14 µs for four fields).

Imports nothing of minipod.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar, dataclass_transform

T = TypeVar("T")


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def frozen(cls: type[T]) -> type[T]:
    """The class as a dataclass with the shared comparison and repr: see
    the module's docstring."""
    made: Any = dataclass(repr=False, eq=False)(cls)
    own = vars(made)
    made.__compared__ = _getter(tuple(f.name for f in fields(made) if f.compare))
    made.__shown__ = tuple(f.name for f in fields(made) if f.repr)
    if "__repr__" not in own:
        made.__repr__ = _repr
    if "__eq__" not in own:  # a class's own __eq__ keeps its own __hash__ too
        made.__eq__ = _eq
        made.__hash__ = _hash
    return cls


def _getter(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """The compared fields' values as a tuple, by attrgetter (C) where it
    gives one: a restart compares its launch ops, so __eq__ is on a hot path."""
    if len(names) > 1:
        return operator.attrgetter(*names)
    return lambda value: tuple(getattr(value, name) for name in names)


def _compared(value: Any) -> tuple[Any, ...]:
    compared: tuple[Any, ...] = type(value).__compared__(value)
    return compared


def _repr(self: Any) -> str:
    shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in type(self).__shown__)
    return f"{type(self).__qualname__}({shown})"


def _eq(self: Any, other: object) -> bool:
    if other.__class__ is not self.__class__:
        return NotImplemented  # type: ignore[no-any-return]  # as a dataclass: the other side decides
    same: bool = _compared(self) == _compared(other)
    return same


def _hash(self: Any) -> int:
    return hash(_compared(self))
