"""Typed, checked configuration sections for the gateway, in the standard library.

The servers' settings are pydantic models; the gateway's are not, because of the Pi's memory:
measured on the gateway process, pydantic, pydantic-settings and the gateway's models took about
12 MB, a third of the 35 MB the gateway may use, where everything else it imports (paho with
OpenSSL, pymodbus with asyncio, pyserial, SQLite) takes 20 MB above a bare interpreter. So a
section is a dataclass whose annotations are checked here, with pydantic's rules and wording:

- every key is checked against its annotation (``int``, ``float``, ``bool``, ``str``, ``Path``,
  ``date``, ``Literal[...]``, ``X | None``, ``list[...]``, a nested section) and the constraints
  in ``Annotated[...]`` (:class:`Range`, :class:`Pattern`, :class:`MinLength`); numbers, booleans,
  lists and sections also come as text (environment variables; lists and sections as JSON);
- a key without a default is required; an unknown key is an error;
- a section's own rules across its keys go in ``_check`` (raise ``ValueError``);
- every problem is reported at once, each with its key (``modbus.0.probes.1.unit``), in one
  :class:`ConfigError`; ``fields_set`` says which keys were given, as pydantic's
  ``model_fields_set`` does.
"""

from __future__ import annotations

import dataclasses
import json
import re
import types
import typing
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal, Union


class ConfigError(ValueError):
    """A refused configuration: each problem with the key it is about."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{key}: {text}" if key else text for key, text in problems))
        self.problems = problems

    def prefixed(self, prefix: str) -> ConfigError:
        """The same problems, under the key of the section they were found in."""
        return ConfigError(
            [(f"{prefix}.{key}" if key else prefix, message) for key, message in self.problems]
        )


@dataclasses.dataclass(frozen=True, slots=True)
class Range:
    """Bounds of a number: ``ge`` (>=), ``gt`` (>), ``le`` (<=)."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None

    def check(self, value: float) -> str | None:
        """Why ``value`` is out of bounds, or None."""
        if self.ge is not None and not value >= self.ge:
            return f"Input should be greater than or equal to {self.ge}"
        if self.gt is not None and not value > self.gt:
            return f"Input should be greater than {self.gt}"
        if self.le is not None and not value <= self.le:
            return f"Input should be less than or equal to {self.le}"
        return None


@dataclasses.dataclass(frozen=True, slots=True)
class Pattern:
    """A regular expression a string must match (searched, as pydantic does: anchor it)."""

    regex: str

    def check(self, value: str) -> str | None:
        """Why ``value`` does not match, or None."""
        if re.search(self.regex, value):
            return None
        return f"String should match pattern {self.regex!r}"


@dataclasses.dataclass(frozen=True, slots=True)
class MinLength:
    """The fewest characters of a string or items of a list."""

    n: int

    def check(self, value: str | list[Any]) -> str | None:
        """Why ``value`` is too short, or None."""
        if len(value) >= self.n:
            return None
        if isinstance(value, str):
            return f"String should have at least {self.n} character{'s' * (self.n != 1)}"
        return f"List should have at least {self.n} item{'s' * (self.n != 1)}, not {len(value)}"


_Constraint = Range | Pattern | MinLength
_TRUE = {"1", "true", "yes", "on", "t", "y"}
_FALSE = {"0", "false", "no", "off", "f", "n"}


class Section:
    """Base of a configuration section: subclasses are dataclasses built from keyword values.

    ``class Foo(Section, frozen=True)`` makes an immutable section; without it, a subclass is
    as frozen as its parent.
    """

    fields_set: frozenset[str]

    def __init_subclass__(cls, frozen: bool | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        params = getattr(cls, "__dataclass_params__", None)
        inherited = params.frozen if params is not None else False
        dataclasses.dataclass(init=False, frozen=inherited if frozen is None else frozen)(cls)

    def __init__(self, **values: Any) -> None:
        problems: list[tuple[str, str]] = []
        fields = _fields(type(self))
        problems += [(key, "Extra inputs are not permitted") for key in values if key not in fields]
        for name, (annotation, field) in fields.items():
            if name in values:
                try:
                    value = _convert(values[name], annotation)
                except ConfigError as exc:
                    problems += exc.prefixed(name).problems
                    continue
            elif field.default is not dataclasses.MISSING:
                value = field.default
            elif field.default_factory is not dataclasses.MISSING:
                value = field.default_factory()
            else:
                problems.append((name, "Field required"))
                continue
            object.__setattr__(self, name, value)
        if problems:
            raise ConfigError(problems)
        object.__setattr__(self, "fields_set", frozenset(values))
        try:
            self._check()
        except ConfigError:
            raise
        except ValueError as exc:
            raise ConfigError([("", str(exc))]) from None

    def _check(self) -> None:
        """Rules across this section's keys (raise ValueError); none by default."""


_FIELDS: dict[type, dict[str, tuple[Any, dataclasses.Field[Any]]]] = {}


def _fields(cls: type[Section]) -> dict[str, tuple[Any, dataclasses.Field[Any]]]:
    """Each field's resolved annotation and its dataclass field, once per class."""
    known = _FIELDS.get(cls)
    if known is None:
        hints = typing.get_type_hints(cls, include_extras=True)
        known = {f.name: (hints[f.name], f) for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        _FIELDS[cls] = known
    return known


def _convert(value: Any, annotation: Any) -> Any:
    """``value`` as ``annotation`` says, or ConfigError (key "" = this value itself)."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        inner, *constraints = typing.get_args(annotation)
        value = _convert(value, inner)
        for constraint in constraints:
            if isinstance(constraint, _Constraint) and value is not None:
                problem = constraint.check(value)
                if problem:
                    raise ConfigError([("", problem)])
        return value
    if origin is Union or origin is types.UnionType:
        arms = typing.get_args(annotation)
        if value is None and type(None) in arms:
            return None
        errors: list[ConfigError] = []
        for arm in arms:
            if arm is type(None):
                continue
            try:
                return _convert(value, arm)
            except ConfigError as exc:
                errors.append(exc)
        raise errors[0]
    if origin is Literal:
        choices = typing.get_args(annotation)
        if value in choices:
            return value
        names = [repr(c) for c in choices]
        expected = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
        raise ConfigError([("", f"Input should be {expected}")])
    if origin is list:
        (item,) = typing.get_args(annotation)
        value = _from_json(value)
        if not isinstance(value, list | tuple):
            raise ConfigError([("", "Input should be a valid list")])
        items, problems = [], []
        for index, element in enumerate(value):
            try:
                items.append(_convert(element, item))
            except ConfigError as exc:
                problems += exc.prefixed(str(index)).problems
        if problems:
            raise ConfigError(problems)
        return items
    if isinstance(annotation, type) and issubclass(annotation, Section):
        if isinstance(value, annotation):
            return value
        value = _from_json(value)
        if not isinstance(value, Mapping):
            raise ConfigError([("", f"Input should be a table of {annotation.__name__} keys")])
        return annotation(**value)
    return _scalar(value, annotation)


def _from_json(value: Any) -> Any:
    """Lists and sections given as text (an environment variable) are JSON."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        raise ConfigError([("", "Input should be valid JSON")]) from None


def _scalar(value: Any, annotation: Any) -> Any:
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise ConfigError([("", "Input should be a valid boolean")])
    if annotation is int:
        if isinstance(value, str):
            try:
                value = int(value.strip())
            except ValueError:
                raise ConfigError([("", "Input should be a valid integer")]) from None
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError([("", "Input should be a valid integer")])
    if annotation is float:
        if isinstance(value, str):
            try:
                value = float(value.strip())
            except ValueError:
                raise ConfigError([("", "Input should be a valid number")]) from None
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise ConfigError([("", "Input should be a valid number")])
    if annotation is str:
        if isinstance(value, str):
            return value
        raise ConfigError([("", "Input should be a valid string")])
    if annotation is Path:
        if isinstance(value, str | Path):
            return Path(value)
        raise ConfigError([("", "Input should be a valid path")])
    if annotation is date:
        if isinstance(value, date):
            return value
        if isinstance(value, str):
            try:
                return date.fromisoformat(value.strip())
            except ValueError:
                pass
        raise ConfigError([("", "Input should be a valid date (YYYY-MM-DD)")])
    raise TypeError(f"settings cannot check a value of type {annotation!r}")


def with_environment(
    data: dict[str, Any], prefix: str, environ: Mapping[str, str]
) -> dict[str, Any]:
    """``data`` with every ``<prefix><KEY>`` variable of ``environ`` laid over it.

    Nested keys are joined by ``__`` (``TANI_GATEWAY_MQTT__PASSWORD`` is ``[mqtt] password``);
    names are case-insensitive. A variable whose key is unknown is refused by the section, as
    a key in the file would be, rather than silently ignored.
    """
    merged = _copy(data)
    for name, value in environ.items():
        if not name.upper().startswith(prefix.upper()):
            continue
        *parents, key = name[len(prefix) :].lower().split("__")
        table = merged
        for parent in parents:
            nested = table.get(parent)
            if not isinstance(nested, dict):
                nested = table[parent] = {}
            table = nested
        table[key] = value
    return merged


def _copy(data: dict[str, Any]) -> dict[str, Any]:
    """A copy of nested tables (lists and values are replaced, never changed in place)."""
    return {k: _copy(v) if isinstance(v, dict) else v for k, v in data.items()}
