"""Each field's soil-moisture limits: the enabled alert rules that cover it, else its crop's and
soil's (``agronomy.moisture``). Pages, summaries and the JSON API read them from here, so "dry"
means on a page what it means to the alerts."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from agronomy.moisture import MoistureLimits, field_limits
from agronomy.scopes import Place, Scope, ScopedLimit
from agronomy.soils import field_soil
from registry.alerting import AlertRule, RuleKind
from registry.models import Field

SOIL_MOISTURE = "soil_moisture"


def place_of(field: Field) -> Place:
    """What rule scopes are matched against for ``field``."""
    return Place(field_id=field.id, crop=field.crop, village_id=field.village_id)


def moisture_limits(session: Session, fields: Sequence[Field]) -> dict[str, MoistureLimits]:
    """{field id: its soil-moisture limits}, from one read of the rules."""
    too_dry: list[ScopedLimit] = []
    too_wet: list[ScopedLimit] = []
    rules = session.execute(
        select(AlertRule.kind, AlertRule.scope, AlertRule.scope_value, AlertRule.threshold).where(
            AlertRule.enabled.is_(True),
            AlertRule.kind.in_([RuleKind.BELOW.value, RuleKind.ABOVE.value]),
            AlertRule.quantity == SOIL_MOISTURE,
            AlertRule.threshold.is_not(None),
        )
    )
    for kind, scope, scope_value, threshold in rules:
        limit = ScopedLimit(Scope(scope), scope_value, threshold)
        (too_dry if kind == RuleKind.BELOW.value else too_wet).append(limit)
    return {
        field.id: field_limits(
            place_of(field),
            too_dry,
            too_wet,
            field_soil(field.soil_texture, field.sand_pct, field.clay_pct),
        )
        for field in fields
    }
