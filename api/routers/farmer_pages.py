"""Farmer pages: my fields, and one field's conditions in plain words, colours and charts.

"Does my field need water, and what is the weather doing?", asked on a cheap phone over a
prepaid link: server-rendered, no JavaScript, charts as inline SVG (``api.charts``), each page
a few tens of KB. Soil moisture is told as dry / good / wet *for the field's crop*, with the
limits the alerts use (``alerts.field_limits``: the rules covering the field, else its crop's
and soil's), so the page and the alerts never disagree. A field out of the person's scope is
"not found".
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from agronomy.moisture import MoistureLimits, moisture_state
from agronomy.soil_chemistry import CROP_PH_RANGES, ProbeValue, SoilChemistryAdvice, assess_soil
from agronomy.units import display_unit
from alerts.field_limits import SOIL_MOISTURE, moisture_limits
from alerts.field_water import FieldWater, fields_water
from alerts.local_time import local_moment
from alerts.messages import MessageContext
from alerts.messages import render as render_message
from api.auth import SessionDep, alert_scope, field_scope, now_ms
from api.charts import Chart, Threshold, svg_line_chart
from api.deps import FieldId, InfluxDep, LatestDep
from api.field_rows import DAY_MS, STALE_MS, field_rows
from api.i18n import PageLanguage, page_language
from api.pages import PageUser, page, page_context
from registry.access import Principal
from registry.alerting import Alert, AlertState
from registry.models import Device, Field, Village
from registry.people import User
from storage.history import HistoryPoint, field_history
from storage.influx import InfluxDB, InfluxError
from storage.queries import LatestValue
from telemetry.reading import Quality

router = APIRouter(tags=["web pages"], include_in_schema=False)

_SHOWN = (
    "soil_temperature",
    "soil_ph",
    "soil_nitrogen",
    "soil_phosphorus",
    "soil_potassium",
    "air_temperature",
    "air_humidity",
)


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
            unit=display_unit(values[0].unit),
            time_ms=max(v.time_ms for v in values),
        )
        for quantity, values in by_quantity.items()
    }


def _soil_chemistry(
    field: Field, latest: Sequence[LatestValue], now: int
) -> SoilChemistryAdvice | None:
    """pH, lime and N/P/K read against the field's crop, from each quantity's newest reading
    (bad ones too: the page says why it gives no advice on them)."""
    if field.crop not in CROP_PH_RANGES:
        return None
    newest: dict[str, LatestValue] = {}
    for value in latest:
        if value.quantity not in newest or value.time_ms > newest[value.quantity].time_ms:
            newest[value.quantity] = value
    probes = {key: ProbeValue(v.value, Quality(v.quality), v.time_ms) for key, v in newest.items()}
    return assess_soil(field.crop, probes, field.area_m2, now)


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
    influx: InfluxDB, field: Field, limits: MoistureLimits, language: PageLanguage, now: int
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
    limits = moisture_limits(session, [field])[field.id]
    offset = language.utc_offset_h
    water: FieldWater | None = None
    try:
        devices = session.scalars(select(Device.id).where(Device.field_id == field.id)).all()
        newest_values = latest.of_field(field.id, devices)
        conditions = _conditions(newest_values)
        charts, rain_points = _charts(influx, field, limits, language, now)
        water = fields_water(session, influx, [field], local_moment(now, offset).date(), offset)[
            field.id
        ]
        answered = True
    except InfluxError:
        newest_values, conditions, charts, rain_points, answered = [], {}, [], [], False
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
        water=water,
        soil=_soil_chemistry(field, newest_values, now),
        answered=answered,
        csv_url=f"/api/v1/fields/{field.id}/history.csv?quantity={SOIL_MOISTURE}",
    )
    return page(request, "field.html", context, 200 if answered else 503)
