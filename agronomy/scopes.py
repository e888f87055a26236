"""Which rules cover a field, and which of them speaks for it: the one answer that alerts,
pages, the JSON API and the dashboards share.

A rule covers every field (``all``), one village's, one crop's, or one field. When several
rules of a kind cover a field, the most specific scope wins (field, then crop, then village,
then all), and among rules of the same scope the one on the safe side: the highest "too dry"
limit, the lowest "too wet" one, so a field is never reported fine by one rule while another
rule of the same standing would call it dry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum


class Scope(StrEnum):
    """Which fields a rule covers (the registry stores these values)."""

    ALL = "all"
    VILLAGE = "village"
    CROP = "crop"
    FIELD = "field"


# Most specific first.
SPECIFICITY: dict[Scope, int] = {Scope.FIELD: 0, Scope.CROP: 1, Scope.VILLAGE: 2, Scope.ALL: 3}


@dataclass(frozen=True, slots=True)
class Place:
    """Where a device or a field belongs: what a rule's scope is matched against.

    A device not placed in a field has no field, crop or village: only ``all`` rules cover it.
    """

    field_id: str | None = None
    crop: str | None = None
    village_id: str | None = None


@dataclass(frozen=True, slots=True)
class ScopedLimit:
    """One rule's limit as scope resolution needs it."""

    scope: Scope
    scope_value: str | None
    threshold: float


def covers(scope: Scope | str, scope_value: str | None, place: Place) -> bool:
    """Whether a rule with this scope covers ``place``."""
    match Scope(scope):
        case Scope.ALL:
            return True
        case Scope.VILLAGE:
            return place.village_id is not None and place.village_id == scope_value
        case Scope.CROP:
            return place.crop is not None and place.crop == scope_value
        case Scope.FIELD:
            return place.field_id is not None and place.field_id == scope_value


def lower_limit(limits: Iterable[ScopedLimit], place: Place) -> float | None:
    """The "too low" limit for ``place``: the most specific covering rule's, the highest of
    equally specific ones; None when no rule covers it."""
    return _pick(limits, place, safe_side=max)


def upper_limit(limits: Iterable[ScopedLimit], place: Place) -> float | None:
    """The "too high" limit for ``place``: the most specific covering rule's, the lowest of
    equally specific ones; None when no rule covers it."""
    return _pick(limits, place, safe_side=min)


def _pick(
    limits: Iterable[ScopedLimit], place: Place, safe_side: Callable[[Iterable[float]], float]
) -> float | None:
    covering = [limit for limit in limits if covers(limit.scope, limit.scope_value, place)]
    if not covering:
        return None
    best = min(SPECIFICITY[limit.scope] for limit in covering)
    return safe_side(limit.threshold for limit in covering if SPECIFICITY[limit.scope] == best)
