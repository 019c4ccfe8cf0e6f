"""Typed records from plain data, and back: one checker shared by the config, the manifest and the
evaluation results, so that a file written by one version and read by another fails with a line that
names the file and the key instead of a ``KeyError`` deep inside a report.

``build(cls, data, source)`` checks every key of a (nested) dataclass against its type hints: unknown
keys, missing keys, wrong types and non-finite floats are an :class:`InputError`. ``to_data`` is the
inverse (tuples become lists), ready for ``json.dumps``.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any, Literal, TypeVar, get_args, get_origin

from karabakh_tagger.errors import InputError

T = TypeVar("T")


def matches(value: Any, hint: Any) -> bool:
    """True when plain data ``value`` fits the type hint (enough of typing for this package)."""
    origin = get_origin(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(matches(value, h) for h in get_args(hint))
    if origin is Literal:
        return any(value == a and type(value) is type(a) for a in get_args(hint))
    if hint is type(None):
        return value is None
    if hint is float:
        return (isinstance(value, int | float) and not isinstance(value, bool)
                and math.isfinite(value))
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin is tuple:
        args = get_args(hint)
        if not isinstance(value, list | tuple):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(matches(v, args[0]) for v in value)
        return len(value) == len(args) and all(matches(v, h) for v, h in zip(value, args, strict=True))
    if origin is dict:
        key_hint, value_hint = get_args(hint)
        return isinstance(value, dict) and all(
            matches(k, key_hint) and matches(v, value_hint) for k, v in value.items())
    if origin is list:
        return isinstance(value, list | tuple) and all(matches(v, get_args(hint)[0]) for v in value)
    if dataclasses.is_dataclass(hint):
        return isinstance(value, dict)
    return isinstance(value, hint)


def describe(hint: Any) -> str:
    """A type hint as a reader would write it: "float", "int | null", "Literal['word', 'char']"."""
    if dataclasses.is_dataclass(hint):
        return "a mapping of keys"
    if isinstance(hint, type):
        return hint.__name__
    return str(hint).replace("typing.", "").replace("NoneType", "null")


def convert(value: Any, hint: Any, source: str, key: str) -> Any:
    """The value in its typed form: nested dataclasses built, tuples made tuples, ints made floats."""
    origin = get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return build(hint, value, source, f"{key}.")
    if origin in (typing.Union, types.UnionType):
        for option in get_args(hint):
            if matches(value, option):
                return convert(value, option, source, key)
    if hint is float:
        return float(value)
    if origin is tuple:
        args = get_args(hint)
        inner = [args[0]] * len(value) if len(args) == 2 and args[1] is Ellipsis else list(args)
        return tuple(convert(v, h, source, key) for v, h in zip(value, inner, strict=True))
    if origin is list:
        return [convert(v, get_args(hint)[0], source, key) for v in value]
    if origin is dict:
        return {k: convert(v, get_args(hint)[1], source, f"{key}.{k}") for k, v in value.items()}
    return value


def build(cls: type[T], data: Any, source: str, prefix: str = "") -> T:
    """Instantiate dataclass ``cls`` from a mapping, checking every key and type.

    Fields with a default may be left out; every other field is required.
    """
    where = prefix.rstrip(".") or "the file"
    if not isinstance(data, dict):
        raise InputError(f"{source}: {where} must be a mapping of keys")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = [k for k in data if k not in fields]
    if unknown:
        raise InputError(f"{source}: unknown key {prefix + str(unknown[0])!r} (known keys: "
                         f"{', '.join(fields)})")
    required = [n for n, f in fields.items() if f.default is dataclasses.MISSING
                and f.default_factory is dataclasses.MISSING]
    missing = [n for n in required if n not in data]
    if missing:
        raise InputError(f"{source}: missing key {prefix + missing[0]!r} "
                         f"({describe(hints[missing[0]])})")
    values = {}
    for key, value in data.items():
        hint = hints[key]
        if dataclasses.is_dataclass(hint) and not isinstance(value, dict):
            raise InputError(f"{source}: {prefix + key} must be a mapping of keys, got {value!r}"[:200])
        if not matches(value, hint):
            shown = repr(value) if len(repr(value)) < 80 else repr(value)[:77] + "..."
            raise InputError(f"{source}: key {prefix + key!r} must be {describe(hint)}, got {shown}")
        values[key] = convert(value, hint, source, prefix + key)
    return cls(**values)


def to_data(record: Any) -> Any:
    """Plain JSON-ready data from a dataclass (tuples become lists)."""
    if dataclasses.is_dataclass(record) and not isinstance(record, type):
        return {f.name: to_data(getattr(record, f.name)) for f in dataclasses.fields(record)}
    if isinstance(record, dict):
        return {k: to_data(v) for k, v in record.items()}
    if isinstance(record, list | tuple):
        return [to_data(v) for v in record]
    return record
