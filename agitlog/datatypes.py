"""``@datatype``: the dataclasses of the layers the read commands load (git/, store/, query/), built
cheaply.

Every read command must start in 60 ms. The stdlib ``dataclasses`` module imports ``inspect`` (and
with it ``ast``, ``dis``, ``tokenize``), and ``@dataclass`` compiles four to six methods per class
when the module is imported: with some thirty classes on a read command's path that was a third of
its start-up. ``@datatype`` keeps the same declarations (annotated fields, defaults,
``field(default_factory=..., repr=..., compare=...)``, ``frozen``, ``slots``) and the same
behaviour for what agitlog uses (``__init__``, ``__repr__``, ``__eq__``, ``__hash__`` when
frozen, ``__match_args__``), but compiles nothing up front: ``__repr__``, ``__eq__`` and
``__hash__`` are shared functions, and ``__init__`` is compiled the first time the class is
instantiated (so classes a command never builds cost nothing). ``asdict``, ``replace`` and
``field_names`` take the place of their ``dataclasses`` namesakes, for both kinds of class."""
from __future__ import annotations

TYPE_CHECKING = False  # typing costs start-up; only checkers need it
if TYPE_CHECKING:
    from typing import Any, Callable, TypeVar, dataclass_transform

    T = TypeVar("T")
else:
    def dataclass_transform(**_options: object) -> object:  # what checkers read; nothing at run time
        return lambda function: function

_MISSING = object()       # no default
_FACTORY = object()       # the default comes from a default_factory


class FrozenError(AttributeError):
    """Assignment to a field of a frozen datatype (as dataclasses.FrozenInstanceError)."""


class Field:
    """One field's declaration, as ``field(...)`` gives it."""

    __slots__ = ("default", "default_factory", "repr", "compare")

    def __init__(self, default: Any, default_factory: Any, repr: bool, compare: bool) -> None:
        self.default, self.default_factory, self.repr, self.compare = default, default_factory, repr, compare


def field(*, default: Any = _MISSING, default_factory: Callable[[], Any] | Any = _MISSING, repr: bool = True,
          compare: bool = True) -> Any:
    """A field with a default, a default factory, or left out of ``repr``/``==``."""
    if default is not _MISSING and default_factory is not _MISSING:
        raise ValueError("cannot specify both default and default_factory")
    return Field(default, default_factory, repr, compare)


@dataclass_transform(field_specifiers=(field,))  # checkers treat @datatype classes as dataclasses
def datatype(cls: type[T] | None = None, /, *, frozen: bool = False, slots: bool = False) -> Any:
    """Make ``cls`` a dataclass-like type from its annotated fields (see the module docstring)."""
    def wrap(klass: type[T]) -> type[T]:
        return _build(klass, frozen=frozen, slots=slots)

    return wrap if cls is None else wrap(cls)


def _build(cls: type[T], *, frozen: bool, slots: bool) -> type[T]:
    namespace = cls.__dict__
    fields: list[tuple[str, Any, Any, bool, bool]] = []  # name, default, factory, repr, compare
    for name in namespace.get("__annotations__", {}):
        declared = namespace.get(name, _MISSING)
        if isinstance(declared, Field):
            fields.append((name, declared.default, declared.default_factory, declared.repr, declared.compare))
        else:
            fields.append((name, declared, _MISSING, True, True))
    _check_order(cls, fields)
    added: dict[str, Any] = {"__datatype_fields__": tuple(fields), "__datatype_frozen__": frozen,
                             "__match_args__": tuple(name for name, *_ in fields)}
    for key, method in (("__init__", _lazy_init), ("__repr__", _repr), ("__eq__", _eq)):
        if key not in namespace:  # a method the class writes itself wins, as with dataclasses
            added[key] = method
    if frozen:
        added.update(__setattr__=_frozen_setattr, __delattr__=_frozen_delattr)
        if namespace.get("__hash__") is None:
            added["__hash__"] = _hash
    elif namespace.get("__hash__", None) is None:
        added["__hash__"] = None  # mutable and compared by value: unhashable, as dataclasses makes it
    if not slots:
        for name, default, *_ in fields:
            if default is _MISSING:
                if name in namespace:
                    delattr(cls, name)  # a field(default_factory=...) or field() marker
            else:
                setattr(cls, name, default)  # as dataclasses does: the default stays readable on the class
        for key, value in added.items():
            setattr(cls, key, value)
        return cls
    body = {key: value for key, value in namespace.items() if key not in ("__dict__", "__weakref__")}
    for name, *_ in fields:
        body.pop(name, None)
    body.update(added, __slots__=tuple(name for name, *_ in fields))
    slotted = type(cls)(cls.__name__, cls.__bases__, body)
    slotted.__qualname__ = cls.__qualname__
    return slotted  # type: ignore[return-value]


def _check_order(cls: type, fields: list[tuple[str, Any, Any, bool, bool]]) -> None:
    seen_default = False
    for name, default, factory, _repr, _compare in fields:
        if default is not _MISSING or factory is not _MISSING:
            seen_default = True
        elif seen_default:
            raise TypeError(f"{cls.__name__}: non-default argument {name!r} follows default argument")


def _lazy_init(self: Any, *args: Any, **kwargs: Any) -> None:
    """Compile the class's real ``__init__`` on its first instance, install it, and run it."""
    cls = _owner(type(self))
    cls.__init__ = _compile_init(cls)
    cls.__init__(self, *args, **kwargs)


def _owner(cls: type) -> type:
    """The datatype itself (not a subclass of it) whose ``__init__`` is still the lazy one."""
    for klass in cls.__mro__:
        if klass.__dict__.get("__init__") is _lazy_init:
            return klass
    raise TypeError(f"{cls.__name__} is not a datatype")


def _compile_init(cls: type) -> Callable[..., None]:
    fields = cls.__datatype_fields__  # type: ignore[attr-defined]
    frozen = cls.__datatype_frozen__  # type: ignore[attr-defined]
    scope: dict[str, Any] = {"_FACTORY": _FACTORY, "_set": object.__setattr__}
    params, lines = [], []
    for index, (name, default, factory, _repr, _compare) in enumerate(fields):
        value = name
        if factory is not _MISSING:
            scope[f"_f{index}"] = factory
            params.append(f"{name}=_FACTORY")
            value = f"_f{index}() if {name} is _FACTORY else {name}"
        elif default is not _MISSING:
            scope[f"_d{index}"] = default
            params.append(f"{name}=_d{index}")
        else:
            params.append(name)
        lines.append(f"    _set(self, {name!r}, {value})" if frozen else f"    self.{name} = {value}")
    source = f"def __init__(self, {', '.join(params)}):\n" + ("\n".join(lines) or "    pass") + "\n"
    exec(source, scope)  # noqa: S102 - built from the class's own field names, as dataclasses does
    init = scope["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    return init


def _repr(self: Any) -> str:
    shown = ", ".join(f"{name}={getattr(self, name)!r}" for name, _d, _f, show, _c in self.__datatype_fields__ if show)
    return f"{type(self).__qualname__}({shown})"


def _eq(self: Any, other: Any) -> Any:
    if other.__class__ is not self.__class__:
        return NotImplemented
    return _compared(self) == _compared(other)


def _hash(self: Any) -> int:
    return hash(_compared(self))


def _compared(obj: Any) -> tuple[Any, ...]:
    return tuple(getattr(obj, name) for name, _d, _f, _r, compare in obj.__datatype_fields__ if compare)


def _frozen_setattr(self: Any, name: str, value: Any) -> None:
    raise FrozenError(f"cannot assign to field {name!r}")


def _frozen_delattr(self: Any, name: str) -> None:
    raise FrozenError(f"cannot delete field {name!r}")


def is_datatype(obj: Any) -> bool:
    """Whether ``obj`` is an instance of a ``@datatype`` class."""
    return hasattr(type(obj), "__datatype_fields__")


def field_names(cls: type) -> tuple[str, ...]:
    """The field names of a datatype (or a stdlib dataclass), in declaration order."""
    if hasattr(cls, "__datatype_fields__"):
        return tuple(name for name, *_ in cls.__datatype_fields__)  # type: ignore[attr-defined]
    import dataclasses

    return tuple(f.name for f in dataclasses.fields(cls))


def replace(obj: T, **changes: Any) -> T:
    """A copy of ``obj`` with ``changes`` (as dataclasses.replace)."""
    values = {name: getattr(obj, name) for name in field_names(type(obj))}
    values.update(changes)
    return type(obj)(**values)


def asdict(obj: Any) -> Any:
    """``obj`` as plain dicts, lists and tuples, recursively (as dataclasses.asdict), for datatypes and
    stdlib dataclasses alike (a result of one may hold the other)."""
    cls = type(obj)
    if hasattr(cls, "__datatype_fields__") or hasattr(cls, "__dataclass_fields__"):
        return {name: asdict(getattr(obj, name)) for name in field_names(cls)}
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return cls(*[asdict(item) for item in obj])
    if isinstance(obj, (list, tuple)):
        return cls(asdict(item) for item in obj)
    if isinstance(obj, dict):
        return cls((asdict(key), asdict(value)) for key, value in obj.items())
    return obj
