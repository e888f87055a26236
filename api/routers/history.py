"""A field's history of one quantity, a village's weekly or monthly summary; both also as CSV.

Fields follow ``Principal.can_see_field``; summaries ``Principal.can_see_village`` (officers of
the village, its office, admins). Anything out of scope answers 404 like something that does
not exist. Times without a zone are the site's local time (``utc_offset_h``); answers are UTC.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.auth import CurrentUser, SessionDep
from api.config import ApiConfig
from api.deps import ConfigDep, FieldId, InfluxDep, VillageId, VillageNumbersDep
from api.schemas_history import (
    HistoryPointPublic,
    HistoryPublic,
    VillageSummaryPublic,
)
from api.village_numbers import KeptSummary, VillageNumbers
from api.village_summary import (
    check_year,
    keep_village_summary,
    kept_village_summary,
    not_found_village,
    unavailable,
)
from registry.access import Principal
from registry.models import Field
from storage.history import DEFAULT_POINTS, MAX_POINTS, MIN_POINTS, RangeError, field_history
from storage.influx import InfluxDB, InfluxError
from telemetry.quantities import QUANTITIES

router = APIRouter(prefix="/api/v1", tags=["history"])

QuantityKey = Annotated[str, Query(max_length=63, description="A quantity of the catalogue")]
Moment = Annotated[
    datetime | None, Query(description="ISO 8601; without a zone: the site's local time")
]
Points = Annotated[int, Query(ge=MIN_POINTS, le=MAX_POINTS, description="At most this many points")]
Period = Annotated[Literal["week", "month"], Query(description="A week (Mon-Sun) or a month")]
PeriodStart = Annotated[
    date | None, Query(description="A day in the period (default: today, local time)")
]

DEFAULT_RANGE = timedelta(hours=24)
MAX_RANGE = timedelta(days=731)  # two years, one of them leap
_CSV_RESPONSE = {200: {"description": "CSV (UTF-8, header row)", "content": {"text/csv": {}}}}


def _not_found_field(field_id: str) -> HTTPException:
    return HTTPException(404, f"Lahan {field_id!r} tidak ditemukan / field not found")


def _to_utc(moment: datetime, utc_offset_h: int) -> datetime:
    check_year(moment.year)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone(timedelta(hours=utc_offset_h)))
    return moment.astimezone(UTC)


# Scope is a dependency so it is judged before the query parameters are: a field or village
# out of scope is 404 whatever was asked of it, never a 422 that tells it exists.
def _visible_field(field_id: FieldId, principal: CurrentUser, session: SessionDep) -> Field:
    row = session.get(Field, field_id)
    if row is None or not principal.can_see_field(row.id, row.village_id):
        raise _not_found_field(field_id)
    return row


# Scope only, without a query: a village in scope that does not exist is 404 from the summary.
async def _visible_village(village_id: VillageId, principal: CurrentUser) -> str:
    if not principal.can_see_village(village_id):
        raise not_found_village(village_id)
    return village_id


VisibleField = Annotated[Field, Depends(_visible_field)]
VisibleVillage = Annotated[str, Depends(_visible_village)]


def _history(
    row: Field,
    quantity: str,
    start: datetime | None,
    end: datetime | None,
    points: int,
    config: ApiConfig,
    influx: InfluxDB,
) -> HistoryPublic:
    spec = QUANTITIES.get(quantity)
    if spec is None:
        raise HTTPException(422, "Besaran tidak dikenal / unknown quantity")
    offset = config.utc_offset_h
    end_utc = _to_utc(end, offset) if end else datetime.now(UTC)
    start_utc = _to_utc(start, offset) if start else end_utc - DEFAULT_RANGE
    if end_utc <= start_utc:
        raise HTTPException(422, "Akhir harus setelah awal / end must be after start")
    if end_utc - start_utc > MAX_RANGE:
        raise HTTPException(422, "Rentang paling lama 2 tahun / the range may be 2 years at most")
    start_ms, end_ms = int(start_utc.timestamp() * 1000), int(end_utc.timestamp() * 1000)
    try:
        history = field_history(
            influx, row.id, quantity, start_ms, end_ms, points=points, utc_offset_h=offset
        )
    except RangeError as exc:
        raise HTTPException(422, str(exc)) from None
    except InfluxError as exc:
        raise unavailable(exc) from None
    return HistoryPublic(
        field_id=row.id,
        quantity=quantity,
        label_id=spec.label_id,
        label_en=spec.label_en,
        unit=spec.unit,
        start=start_utc,
        end=end_utc,
        source=history.plan.source,
        step_s=history.plan.step_ms // 1000,
        points=[
            HistoryPointPublic(
                time=datetime.fromtimestamp(p.time_ms / 1000, tz=UTC),
                mean=p.mean,
                min=p.min,
                max=p.max,
                count=p.count,
                sum=p.sum,
            )
            for p in history.points
        ],
    )


@router.get("/fields/{field_id}/history", response_model=HistoryPublic)
def get_history(
    row: VisibleField,
    config: ConfigDep,
    influx: InfluxDep,
    quantity: QuantityKey,
    start: Moment = None,
    end: Moment = None,
    points: Points = DEFAULT_POINTS,
) -> HistoryPublic:
    """One quantity over [start, end) (default: the last 24 hours) in at most ``points`` points,
    from raw readings, hourly or daily rollups as the range's length calls for."""
    return _history(row, quantity, start, end, points, config, influx)


@router.get("/fields/{field_id}/history.csv", response_class=Response, responses=_CSV_RESPONSE)
def get_history_csv(
    row: VisibleField,
    config: ConfigDep,
    influx: InfluxDep,
    quantity: QuantityKey,
    start: Moment = None,
    end: Moment = None,
    points: Points = DEFAULT_POINTS,
) -> Response:
    """The same history as a CSV download (times in UTC, ISO 8601)."""
    history = _history(row, quantity, start, end, points, config, influx)
    rows = [
        [p.time.isoformat(), history.quantity, history.unit, p.mean, p.min, p.max, p.count, p.sum]
        for p in history.points
    ]
    header = ["time", "quantity", "unit", "mean", "min", "max", "count", "sum"]
    name = f"riwayat_{row.id}_{quantity}_{history.start:%Y%m%dT%H%M}_{history.end:%Y%m%dT%H%M}.csv"
    return _csv(header, rows, name)


def _csv(header: list[str], rows: list[list[object]], filename: str) -> Response:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows([["" if v is None else v for v in row] for row in rows])
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


async def _village_summary(
    village_id: str,
    period: Literal["week", "month"],
    start: date | None,
    principal: Principal,
    session: Session,
    config: ApiConfig,
    numbers: VillageNumbers,
) -> KeptSummary:
    # A summary built seconds ago is served from memory, on the event loop; building one reads
    # the registry and InfluxDB, on the thread pool.
    kept = kept_village_summary(village_id, period, start, config, numbers)
    if kept is not None:
        return kept
    return await run_in_threadpool(
        keep_village_summary, village_id, period, start, principal, session, config, numbers
    )


@router.get("/villages/{village_id}/summary", response_model=VillageSummaryPublic)
async def get_village_summary(
    village_id: VisibleVillage,
    principal: CurrentUser,
    session: SessionDep,
    config: ConfigDep,
    numbers: VillageNumbersDep,
    period: Period = "week",
    start: PeriodStart = None,
) -> Response:
    """Rainfall, soil moisture and temperature, dry days, alerts, data completeness, sensor
    uptime and the crop water balance (ET0, ETc, irrigation, deficit, needs water now) of every
    field of a village over the week or month holding ``start``, with ET0 and rain per week."""
    kept = await _village_summary(village_id, period, start, principal, session, config, numbers)
    # Serialized once when built: FastAPI would validate the model again, then serialize it.
    return Response(kept.json, media_type="application/json")


@router.get("/villages/{village_id}/summary.csv", response_class=Response, responses=_CSV_RESPONSE)
async def get_village_summary_csv(
    village_id: VisibleVillage,
    principal: CurrentUser,
    session: SessionDep,
    config: ConfigDep,
    numbers: VillageNumbersDep,
    period: Period = "week",
    start: PeriodStart = None,
) -> Response:
    """The same summary as a CSV download, one row per field."""
    summary = (
        await _village_summary(village_id, period, start, principal, session, config, numbers)
    ).summary
    stats = ("mean", "min", "max")
    header = [
        *["field_id", "name", "crop", "rainfall_mm"],
        *(f"soil_moisture_{k}" for k in stats),
        *(f"soil_temperature_{k}" for k in stats),
        *["dry_threshold", "dry_days", "days_with_moisture", "completeness", "uptime"],
        *["alerts_raised", "alerts_acknowledged"],
        *["et0_mm", "etc_mm", "irrigation_mm", "water_deficit_mm", "needs_water"],
    ]
    rows: list[list[object]] = [
        [
            f.field_id,
            f.name,
            f.crop,
            _round(f.rainfall_mm),
            *(_round(getattr(f.soil_moisture, k, None)) for k in stats),
            *(_round(getattr(f.soil_temperature, k, None)) for k in stats),
            f.dry_threshold,
            f.dry_days,
            f.days_with_moisture,
            _round(f.completeness, 3),
            _round(f.uptime, 3),
            f.alerts_raised,
            f.alerts_acknowledged,
            f.et0_mm,
            f.etc_mm,
            f.irrigation_mm,
            f.water_deficit_mm,
            None if f.needs_water is None else int(f.needs_water),
        ]
        for f in summary.fields
    ]
    name = f"ringkasan_{village_id}_{period}_{summary.start.isoformat()}.csv"
    return _csv(header, rows, name)


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)
