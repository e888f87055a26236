"""Fields as lists show them: the ones a person may see, each with its soil moisture now, its
state for the crop and soil (dry, good, wet) and its open alerts. The farmer's and the
village's pages both list fields this way."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from agronomy.moisture import Moisture, moisture_state
from alerts.field_limits import SOIL_MOISTURE, moisture_limits
from api.auth import alert_scope, field_scope, now_ms
from registry.access import Principal
from registry.alerting import Alert, AlertState
from registry.models import Field, Village
from registry.people import User
from storage.influx import InfluxDB, InfluxError
from storage.queries import recent_readings

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
STALE_MS = 2 * HOUR_MS  # no reading for longer than this: the page warns (as the no-data rule)


@dataclass(frozen=True, slots=True)
class FieldRow:
    """A field as lists show it."""

    field: Field
    village_name: str
    farmer_name: str | None
    moisture: float | None
    state: Moisture
    open_alerts: int


def visible_fields(
    session: Session, principal: Principal, village_id: str | None = None
) -> list[tuple[Field, str, str | None]]:
    """(field, village name, farmer name) the principal may see, by village and name."""
    query = (
        select(Field, Village.name, User.full_name)
        .join(Village, Village.id == Field.village_id)
        .outerjoin(User, User.id == Field.owner_id)
        .where(field_scope(principal))
        .order_by(Village.name, Field.name)
    )
    if village_id is not None:
        query = query.where(Field.village_id == village_id)
    return list(session.execute(query))


def open_alert_counts(session: Session, principal: Principal) -> dict[str | None, int]:
    """{field id: open or acknowledged alerts} the principal may see."""
    query = (
        select(Alert.field_id, func.count())
        .where(alert_scope(principal), Alert.state != AlertState.RESOLVED.value)
        .group_by(Alert.field_id)
    )
    return {field_id: count for field_id, count in session.execute(query)}


def current_moisture(influx: InfluxDB, fields: Sequence[Field], now: int) -> dict[str, float]:
    """{field id: mean of its probes' newest soil moisture} over the last STALE_MS.

    One query per village; a farmer's one or two fields are asked for one by one instead
    (fewer than three visible fields per village), rather than reading the whole village.
    """
    villages = {field.village_id for field in fields}
    per_field = len(fields) < len(villages) * 3
    scopes = (
        [("field", field.id) for field in fields]
        if per_field
        else [("village", village) for village in sorted(villages)]
    )
    wanted = {field.id for field in fields}
    newest: dict[str, list[float]] = defaultdict(list)
    for scope, value in scopes:
        for series in recent_readings(
            influx,
            since_ms=now - STALE_MS,
            quantity=SOIL_MOISTURE,
            scope=scope,
            scope_value=value,
        ):
            good = [p for p in series.points if p.quality != "bad"]
            if series.field_id in wanted and good:
                newest[series.field_id].append(good[-1].value)
    return {field_id: sum(values) / len(values) for field_id, values in newest.items()}


def field_rows(
    session: Session,
    influx: InfluxDB,
    principal: Principal,
    village_id: str | None = None,
) -> tuple[list[FieldRow], bool]:
    """The visible fields with their moisture state and open alerts; and whether InfluxDB
    answered (when it did not, every state is unknown)."""
    found = visible_fields(session, principal, village_id)
    limits = moisture_limits(session, [field for field, _, _ in found])
    counts = open_alert_counts(session, principal)
    try:
        moisture = current_moisture(influx, [field for field, _, _ in found], now_ms())
        answered = True
    except InfluxError:
        moisture, answered = {}, False
    rows = [
        FieldRow(
            field=field,
            village_name=village_name,
            farmer_name=farmer_name,
            moisture=moisture.get(field.id),
            state=moisture_state(moisture.get(field.id), limits[field.id]),
            open_alerts=counts.get(field.id, 0),
        )
        for field, village_name, farmer_name in found
    ]
    return rows, answered
