"""minipod.api.frozen: a @frozen class compares, hashes, prints and is
replaced as the frozen dataclass it stands for, side by side with one."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import pytest

from minipod.api.frozen import frozen


@frozen
class Port:
    name: str
    number: int = 0
    tags: tuple[str, ...] = ()
    note: str = field(default="", compare=False)
    secret: bytes = field(default=b"", repr=False)
    extra: dict[str, int] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class StdPort:  # the same fields, made by dataclasses alone
    name: str
    number: int = 0
    tags: tuple[str, ...] = ()
    note: str = field(default="", compare=False)
    secret: bytes = field(default=b"", repr=False)
    extra: dict[str, int] = field(default_factory=dict, compare=False, repr=False)


@frozen
class NamedPort(Port):
    protocol: str = "TCP"


@frozen
class Opinionated:  # noqa: PLW1641 (no __hash__: that is what it tests)
    value: int

    def __eq__(self, other: object) -> bool:  # its own: kept, and so is its hash's absence
        return isinstance(other, Opinionated) and self.value % 2 == other.value % 2


EXAMPLES: list[dict[str, Any]] = [
    {"name": "a"}, {"name": "a", "number": 80, "tags": ("x",)},
    {"name": "a", "note": "n", "secret": b"s", "extra": {"k": 1}},
]


@pytest.mark.parametrize("left", EXAMPLES)
@pytest.mark.parametrize("right", EXAMPLES)
def test_compares_and_hashes_as_a_frozen_dataclass(left: dict[str, Any],
                                                   right: dict[str, Any]) -> None:
    ours = Port(**left) == Port(**right)
    assert ours == (StdPort(**left) == StdPort(**right))
    if ours:
        assert hash(Port(**left)) == hash(Port(**right))


@pytest.mark.parametrize("kwargs", EXAMPLES)
def test_prints_as_a_frozen_dataclass(kwargs: dict[str, Any]) -> None:
    assert repr(Port(**kwargs)) == repr(StdPort(**kwargs)).replace("StdPort", "Port")


def test_is_a_dataclass_for_fields_replace_and_asdict() -> None:
    port = Port("a", 1, extra={"k": 1})
    assert [f.name for f in dataclasses.fields(port)] == [
        f.name for f in dataclasses.fields(StdPort)]
    assert dataclasses.replace(port, number=2) == Port("a", 2)
    assert dataclasses.asdict(port)["extra"] == {"k": 1}
    assert Port("a").extra is not Port("a").extra  # a default_factory per instance


def test_a_subclass_compares_its_own_fields_and_not_with_its_base() -> None:
    assert NamedPort("a", protocol="UDP") != NamedPort("a")
    assert NamedPort("a") == NamedPort("a")
    assert NamedPort("a") != Port("a")
    assert repr(NamedPort("a", 1)) == ("NamedPort(name='a', number=1, tags=(), note='', "
                                       "protocol='TCP')")
    assert {NamedPort("a"), NamedPort("a")} == {NamedPort("a")}


def test_a_class_that_defines_its_own_eq_keeps_it() -> None:
    assert Opinionated(1) == Opinionated(3)
    with pytest.raises(TypeError, match="unhashable"):
        hash(Opinionated(1))


def test_a_field_of_unhashable_type_makes_the_value_unhashable_as_there() -> None:
    @frozen
    class Holder:
        items: list[int]

    @dataclass(frozen=True)
    class StdHolder:
        items: list[int]

    for holder in (Holder([1]), StdHolder([1])):
        with pytest.raises(TypeError, match="unhashable"):
            hash(holder)
