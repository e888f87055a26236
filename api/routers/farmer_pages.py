"""Farmer pages: my fields, and one field's conditions in plain words, colours and charts.

"Does my field need water, and what is the weather doing?", asked on a cheap phone over a
prepaid link: server-rendered, no JavaScript, charts as inline SVG (``api.charts``), each page
a few tens of KB. Soil moisture is told as dry / good / wet *for the field's crop*, with the
limits the alerts use (the crop's rules in the registry, else ``alerts.default_rules``), so the
page and the alerts never disagree. A field out of the person's scope is "not found".
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alerts.default_rules import WATERLOGGED
from alerts.messages import MessageContext
from alerts.messages import render as render_message
from api.auth import SessionDep, alert_scope, field_scope, now_ms
from api.charts import Chart, Threshold, svg_line_chart
from api.deps import InfluxDep, LatestDep
from api.i18n import N_, PageLanguage, page_language, render
from api.routers.alerts import FieldId
from api.routers.history import dry_thresholds
from api.routers.web_login import PAGE_HEADERS, PageUser, page_context
from registry.access import Principal
from registry.alerting import Alert, AlertRule, AlertState, RuleKind, Scope
from registry.models import Device, Field, Village
from registry.people import User
from storage.history import HistoryPoint, field_history
from storage.influx import InfluxDB, InfluxError
from storage.queries import LatestValue, recent_readings
from telemetry.quantities import QUANTITIES

router = APIRouter(tags=["web pages"], include_in_schema=False)

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
STALE_MS = 2 * HOUR_MS  # no reading for longer than this: the page warns (as the no-data rule)
SOIL_MOISTURE = "soil_moisture"
_SHOWN = (
    "soil_temperature",
    "soil_ph",
    "soil_nitrogen",
    "soil_phosphorus",
    "soil_potassium",
    "air_temperature",
    "air_humidity",
)
_UNITS = {"degC": "°C", "pH": "", "%": "%", "mg/kg": "mg/kg"}
# Crop ids are Indonesian words; pages name them through these English msgids.
CROP_NAMES = {
    "padi": N_("rice"),
    "jagung": N_("maize"),
    "singkong": N_("cassava"),
    "kopi": N_("coffee"),
    "lada": N_("black pepper"),
}
LABELS = {key: spec.label_en for key, spec in QUANTITIES.items()}  # msgids


class Moisture(StrEnum):
    """Soil moisture as a farmer reads it, for the field's crop."""

    DRY = "dry"
    GOOD = "good"
    WET = "wet"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class CropLimits:
    """Soil moisture (%) under which a field's crop is dry, and over which it is waterlogged."""

    dry: float
    wet: float | None  # None: no limit (rice is flooded on purpose)


def field_limits(session: Session, fields: Sequence[Field]) -> dict[str, CropLimits]:
    """{field id: its limits} from the enabled soil-moisture rules (the alerts' own numbers).

    The dry limit is the summaries' (``dry_thresholds``: the most specific ``below`` rule);
    the wet limit the most specific ``above`` rule (field, then crop), else WATERLOGGED, except
    for rice, which is flooded on purpose (its defaults have no waterlogging rule).
    """
    dry = dry_thresholds(session, list(fields))
    rules = session.scalars(
        select(AlertRule).where(
            AlertRule.enabled.is_(True),
            AlertRule.kind == RuleKind.ABOVE.value,
            AlertRule.quantity == SOIL_MOISTURE,
            AlertRule.threshold.is_not(None),
            AlertRule.scope.in_([Scope.FIELD.value, Scope.CROP.value]),
        )
    ).all()
    limits = {}
    for field in fields:
        wet: float | None = None if field.crop == "padi" else WATERLOGGED
        for scope, subject in ((Scope.CROP, field.crop), (Scope.FIELD, field.id)):
            covering = [
                r.threshold
                for r in rules
                if r.scope == scope.value and r.scope_value == subject and r.threshold is not None
            ]
            if covering:
                wet = min(covering)
        limits[field.id] = CropLimits(dry=dry[field.id], wet=wet)
    return limits


def moisture_state(value: float | None, limits: CropLimits) -> Moisture:
    """Dry, good or wet for the crop; unknown without a recent value."""
    if value is None:
        return Moisture.UNKNOWN
    if value < limits.dry:
        return Moisture.DRY
    if limits.wet is not None and value > limits.wet:
        return Moisture.WET
    return Moisture.GOOD


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
    limits = field_limits(session, [field for field, _, _ in found])
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


def page(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> Response:
    """A signed-in page: never cached, in the request's language."""
    context = {"crops": CROP_NAMES, "labels": LABELS, **context}
    return render(request, name, context, status_code=status_code, headers=PAGE_HEADERS)


def site_offset(request: Request) -> int:
    """The site's UTC offset (WIB 7), for local times."""
    return request.app.state.config.utc_offset_h


@router.get("/lahan", response_class=HTMLResponse)
def my_fields(
    request: Request, principal: PageUser, session: SessionDep, influx: InfluxDep
) -> Response:
    """A farmer's own fields (staff: every field they may see), each with its moisture state."""
    rows, answered = field_rows(session, influx, principal)
    return page(request, "fields.html", page_context(principal, rows=rows, answered=answered))


@dataclass(frozen=True, slots=True)
class Condition:
    """One quantity's newest value in a field."""

    quantity: str
    value: float
    unit: str
    time_ms: int


def _conditions(latest: Sequence[LatestValue]) -> dict[str, Condition]:
    """Newest value per quantity; several probes of one quantity are averaged."""
    by_quantity: dict[str, list[LatestValue]] = defaultdict(list)
    for value in latest:
        if value.quality != "bad":
            by_quantity[value.quantity].append(value)
    return {
        quantity: Condition(
            quantity=quantity,
            value=sum(v.value for v in values) / len(values),
            unit=_UNITS.get(values[0].unit, values[0].unit),
            time_ms=max(v.time_ms for v in values),
        )
        for quantity, values in by_quantity.items()
    }


@dataclass(frozen=True, slots=True)
class Rain:
    """When it last rained in the field (within the week) and how much fell in the last day."""

    last_ms: int | None
    last_day_mm: float


def _rain(points: Sequence[HistoryPoint], now: int) -> Rain | None:
    if not points:
        return None
    wet = [p for p in points if (p.sum or 0) > 0]
    return Rain(
        last_ms=wet[-1].time_ms if wet else None,
        last_day_mm=sum(p.sum or 0 for p in points if p.time_ms >= now - DAY_MS),
    )


def _field_alerts(
    session: Session, principal: Principal, field: Field, language: PageLanguage, now: int
) -> list[tuple[Alert, str]]:
    query = (
        select(Alert)
        .where(
            Alert.field_id == field.id,
            Alert.state != AlertState.RESOLVED.value,
            alert_scope(principal),
        )
        .order_by(Alert.opened_ms.desc())
        .limit(20)
    )
    context = MessageContext(
        ack_url="", now_ms=now, utc_offset_h=language.utc_offset_h, field_name=field.name
    )
    return [
        (alert, render_message(alert, "opened", language=language.code, context=context).title)
        for alert in session.scalars(query)
    ]


@dataclass(frozen=True, slots=True)
class ShownChart:
    """A chart with the words shown above it."""

    heading: str
    span: str
    svg: str


def _charts(
    influx: InfluxDB, field: Field, limits: CropLimits, language: PageLanguage, now: int
) -> tuple[list[ShownChart], list[HistoryPoint]]:
    """Soil moisture and air temperature over 24 hours and 7 days, and the week's rain."""
    _ = language.gettext
    offset = language.utc_offset_h
    dry = Threshold(limits.dry, _("dry below %(limit)s %%") % {"limit": f"{limits.dry:g}"})
    shown = []
    for quantity, heading, unit, threshold in (
        (SOIL_MOISTURE, _("Soil moisture"), "%", dry),
        ("air_temperature", _("Air temperature"), "°C", None),
    ):
        for span_ms, points, span in (
            (DAY_MS, 150, _("last 24 hours")),
            (7 * DAY_MS, 170, _("last 7 days")),
        ):
            history = field_history(
                influx, field.id, quantity, now - span_ms, now, points=points, utc_offset_h=offset
            )
            description = _(
                "Mean per %(minutes)d minutes with the lowest and highest reading (shaded)."
            ) % {"minutes": history.plan.step_ms // 60_000}
            chart = Chart(
                title=f"{heading}, {span}",
                description=description,
                points=[(p.time_ms, p.mean) for p in history.points],
                band=[(p.time_ms, p.min, p.max) for p in history.points],
                threshold=threshold,
                unit=unit,
                no_data=_("No readings in this period"),
                start_ms=now - span_ms,
                end_ms=now,
                y_floor=0 if quantity == SOIL_MOISTURE else None,
            )
            svg = svg_line_chart(
                chart, utc_offset_h=offset, chart_id=f"{quantity}-{span_ms // DAY_MS}"
            )
            shown.append(ShownChart(heading, span, svg))
    rain = field_history(
        influx, field.id, "rain", now - 7 * DAY_MS, now, points=170, utc_offset_h=offset
    )
    return shown, rain.points


@router.get("/lahan/{field_id}", response_class=HTMLResponse)
def field_page(
    field_id: FieldId,
    request: Request,
    principal: PageUser,
    session: SessionDep,
    influx: InfluxDep,
    latest: LatestDep,
) -> Response:
    """One field now: moisture for its crop, soil, weather, alerts, charts, CSV download."""
    found = session.execute(
        select(Field, Village.name, User.full_name)
        .join(Village, Village.id == Field.village_id)
        .outerjoin(User, User.id == Field.owner_id)
        .where(Field.id == field_id, field_scope(principal))
    ).first()
    if found is None:
        return page(request, "field.html", page_context(principal, field=None), 404)
    field, village_name, farmer_name = found
    language = page_language(request)
    now = now_ms()
    limits = field_limits(session, [field])[field.id]
    try:
        devices = session.scalars(select(Device.id).where(Device.field_id == field.id)).all()
        conditions = _conditions(latest.of_field(field.id, devices))
        charts, rain_points = _charts(influx, field, limits, language, now)
        answered = True
    except InfluxError:
        conditions, charts, rain_points, answered = {}, [], [], False
    moisture = conditions.get(SOIL_MOISTURE)
    newest = max((c.time_ms for c in conditions.values()), default=None)
    context = page_context(
        principal,
        field=field,
        village_name=village_name,
        farmer_name=farmer_name,
        limits=limits,
        moisture=moisture,
        state=moisture_state(moisture.value if moisture else None, limits),
        shown=[conditions[q] for q in _SHOWN if q in conditions],
        rain=_rain(rain_points, now),
        newest=newest,
        stale=newest is not None and now - newest > STALE_MS,
        alerts=_field_alerts(session, principal, field, language, now),
        charts=charts,
        answered=answered,
        csv_url=f"/api/v1/fields/{field.id}/history.csv?quantity={SOIL_MOISTURE}",
    )
    return page(request, "field.html", context, 200 if answered else 503)
