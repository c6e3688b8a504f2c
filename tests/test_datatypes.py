"""agitlog.datatypes behaves as the stdlib dataclasses it stands in for, on the features agitlog uses."""
from __future__ import annotations

import dataclasses

import pytest

from agitlog.datatypes import FrozenError, asdict, datatype, field, field_names, is_datatype, replace


def _pair(**options: bool):
    """The same declaration as a stdlib dataclass and as a datatype."""
    def declare(decorator):
        @decorator(**options)
        class Point:
            x: int
            y: int = 0
            tags: list[str] = decorator.field(default_factory=list)
            note: str | None = decorator.field(default=None, repr=False, compare=False)

            @property
            def total(self) -> int:
                return self.x + self.y
        return Point

    dataclasses.dataclass.field = dataclasses.field  # type: ignore[attr-defined]
    datatype.field = field  # type: ignore[attr-defined]
    return declare(dataclasses.dataclass), declare(datatype)


@pytest.mark.parametrize("options", [{}, {"frozen": True}, {"slots": True}, {"frozen": True, "slots": True}])
def test_a_datatype_acts_as_the_same_dataclass(options: dict[str, bool]) -> None:
    Std, Ours = _pair(**options)
    for args, kwargs in (((1,), {}), ((1, 2), {"tags": ["a"]}), ((), {"x": 3, "note": "n"})):
        std, ours = Std(*args, **kwargs), Ours(*args, **kwargs)
        assert repr(ours) == repr(std)
        assert [getattr(ours, n) for n in field_names(Ours)] == [getattr(std, f.name) for f in dataclasses.fields(Std)]
        assert ours.total == std.total
        assert asdict(ours) == dataclasses.asdict(std) == asdict(std)
    assert Ours(1) == Ours(1, 0, [], note="ignored in ==") and Ours(1) != Ours(2) and Ours(1) != (1, 0, [], None)
    assert Ours(1).tags is not Ours(1).tags  # a fresh default each time
    assert Ours.__match_args__ == Std.__match_args__
    assert hasattr(Ours(1), "__dict__") == hasattr(Std(1), "__dict__")
    assert (Ours.__hash__ is None) == (Std.__hash__ is None)
    if options.get("frozen"):
        assert hash(Ours(1, 2, ())) == hash(Std(1, 2, ()))  # type: ignore[arg-type]
        with pytest.raises(FrozenError):
            Ours(1).x = 2  # type: ignore[misc]
        with pytest.raises(AttributeError):
            del Ours(1).x
    else:
        point = Ours(1)
        point.x = 5
        assert point.x == 5
    with pytest.raises(TypeError):
        Ours()
    with pytest.raises(TypeError):
        Ours(1, 2, [], None, "one too many")
    moved = replace(Ours(1, 2, ["t"]), y=7)
    assert (moved.x, moved.y, moved.tags, type(moved)) == (1, 7, ["t"], Ours)


def test_asdict_goes_through_both_kinds_and_containers() -> None:
    @datatype(frozen=True)
    class Inner:
        name: str

    @dataclasses.dataclass
    class Outer:
        inner: Inner
        many: list[Inner]
        by_name: dict[str, tuple[Inner, ...]]

    value = Outer(Inner("a"), [Inner("b")], {"c": (Inner("c"),)})
    assert asdict(value) == {"inner": {"name": "a"}, "many": [{"name": "b"}], "by_name": {"c": ({"name": "c"},)}}
    assert is_datatype(Inner("a")) and not is_datatype(value) and not is_datatype(Inner)


def test_a_default_before_a_required_field_is_refused() -> None:
    with pytest.raises(TypeError, match="non-default argument 'b'"):
        @datatype
        class Bad:
            a: int = 0
            b: int


def test_methods_the_class_writes_itself_are_kept() -> None:
    @datatype(frozen=True, slots=True)
    class Named:
        name: str

        def __repr__(self) -> str:
            return f"<{self.name}>"

    assert repr(Named("x")) == "<x>" and Named("x") == Named("x")
