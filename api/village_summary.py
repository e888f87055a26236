"""A village's agricultural summary for a week or a month: what the JSON API, its CSV and the
village office's page all show, built once here."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Literal

from fastapi import HTTPException
from sqlalchemy import func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from alerts.field_limits import moisture_limits
from alerts.local_time import local_midnight_ms, local_moment
from api.auth import now_ms
from api.config import ApiConfig
from api.schemas_history import (
    FieldSummaryPublic,
    StatsPublic,
    VillageSummaryPublic,
    WeekWaterPublic,
)
from api.village_numbers import VillageNumbers
from registry.access import Principal
from registry.alerting import Alert
from registry.models import Device, Field, Village
from storage.influx import InfluxError
from storage.summaries import FieldSpec, Stats

YEARS = (2000, 2100)  # times asked about: from the first year, before the year after the last
_YEAR_SPAN = f"{YEARS[0]}-{YEARS[1] - 1}"


def not_found_village(village_id: str) -> HTTPException:
    return HTTPException(404, f"Desa {village_id!r} tidak ditemukan / village not found")


def unavailable(exc: InfluxError) -> HTTPException:
    return HTTPException(503, f"Basis data tidak menjawab / database unavailable: {exc}")


def check_year(year: int) -> None:
    # InfluxDB stores 1677-2262 only and datetime ends at 9999: a far-off time is the caller's
    # mistake (422), never a database error or an overflow (5xx).
    if not YEARS[0] <= year < YEARS[1]:
        raise HTTPException(
            422, f"Waktu harus di tahun {_YEAR_SPAN} / times must be in the years {_YEAR_SPAN}"
        )


def period_bounds(period: str, day: date) -> tuple[date, date]:
    """The first day and the day after the last of the week (Mon-Sun) or month holding ``day``."""
    if period == "week":
        first = day - timedelta(days=day.weekday())
        return first, first + timedelta(days=7)
    first = day.replace(day=1)
    return first, (first + timedelta(days=32)).replace(day=1)


def _alert_counts(
    session: Session,
    column: InstrumentedAttribute[int | None],
    field_ids: list[str],
    start_ms: int,
    end_ms: int,
) -> dict[str, int]:
    query = (
        select(Alert.field_id, func.count())
        .where(Alert.field_id.in_(field_ids), column >= start_ms, column < end_ms)
        .group_by(Alert.field_id)
    )
    return {field_id: count for field_id, count in session.execute(query)}


def _stats(stats: Stats | None) -> StatsPublic | None:
    if stats is None:
        return None
    return StatsPublic(mean=stats.mean, min=stats.min, max=stats.max, count=stats.count)


def build_village_summary(
    village_id: str,
    period: Literal["week", "month"],
    start: date | None,
    principal: Principal,
    session: Session,
    config: ApiConfig,
    numbers: VillageNumbers,
) -> VillageSummaryPublic:
    """A village's summary for the week or month holding ``start`` (default: today, local);
    404 unless the principal may see the village. Web pages share it with the JSON API."""
    village = session.get(Village, village_id) if principal.can_see_village(village_id) else None
    if village is None:
        raise not_found_village(village_id)
    offset = config.utc_offset_h
    now = now_ms()
    if start is not None:
        check_year(start.year)
    first, after = period_bounds(period, start or local_moment(now, offset).date())
    start_ms, end_ms = local_midnight_ms(first, offset), local_midnight_ms(after, offset)
    fields = list(
        session.scalars(select(Field).where(Field.village_id == village_id).order_by(Field.id))
    )
    ids = [f.id for f in fields]
    devices: dict[str, list[tuple[str, str]]] = {}
    for gateway_id, device_id, field_id in session.execute(
        select(Device.gateway_id, Device.id, Device.field_id).where(Device.field_id.in_(ids))
    ):
        devices.setdefault(field_id, []).append((gateway_id, device_id))
    limits = moisture_limits(session, fields)
    specs = [FieldSpec(f.id, limits[f.id].dry, tuple(devices.get(f.id, ()))) for f in fields]
    try:
        summaries = numbers.summaries(village_id, start_ms, end_ms, specs, now_ms=now)
    except InfluxError as exc:
        raise unavailable(exc) from None
    try:
        water = numbers.water(village_id, start_ms, end_ms)
    except InfluxError as exc:
        raise unavailable(exc) from None
    raised = _alert_counts(session, Alert.opened_ms, ids, start_ms, end_ms)
    acked = _alert_counts(session, Alert.acknowledged_ms, ids, start_ms, end_ms)
    return VillageSummaryPublic(
        village_id=village.id,
        name=village.name,
        period=period,
        start=first,
        end=after - timedelta(days=1),
        utc_offset_h=offset,
        fields=[
            FieldSummaryPublic(
                field_id=row.id,
                name=row.name,
                crop=row.crop,
                rainfall_mm=s.rainfall_mm,
                soil_moisture=_stats(s.soil_moisture),
                soil_temperature=_stats(s.soil_temperature),
                dry_threshold=s.dry_threshold,
                dry_days=s.dry_days,
                days_with_moisture=s.days_with_moisture,
                completeness=s.completeness,
                uptime=s.uptime,
                alerts_raised=raised.get(row.id, 0),
                alerts_acknowledged=acked.get(row.id, 0),
                **_field_water(water.get(row.id, [])),
            )
            for row, s in zip(fields, summaries, strict=True)
        ],
        weeks=_weeks(water, first, after, offset),
        fields_needing_water=sum(
            1 for days in water.values() if days and days[-1][1].get("needs_water") == 1
        ),
    )


def _field_water(days: list[tuple[int, dict[str, float]]]) -> dict[str, float | bool | None]:
    if not days:
        return {}

    def total(key: str) -> float:
        return round(sum(values.get(key, 0.0) for _, values in days), 1)

    # Paddy days have no effective rain (ponded water takes all of it): their rain counts.
    received = sum(
        values.get("effective_rain_mm", values.get("rain_mm", 0.0)) for _, values in days
    )
    deficit = total("etc_mm") - received - total("irrigation_mm")
    return {
        "et0_mm": total("et0_mm"),
        "etc_mm": total("etc_mm"),
        "irrigation_mm": total("irrigation_mm"),
        "water_deficit_mm": round(max(deficit, 0.0), 1),
        "needs_water": days[-1][1].get("needs_water") == 1,
    }


def _weeks(
    water: dict[str, list[tuple[int, dict[str, float]]]], first: date, after: date, offset: int
) -> list[WeekWaterPublic]:
    """ET0 and rain per Monday-to-Sunday week of the period, each the mean over the fields."""
    weeks = []
    monday = first - timedelta(days=first.weekday())
    while monday < after:
        start_ms = local_midnight_ms(max(monday, first), offset)
        end_ms = local_midnight_ms(min(monday + timedelta(days=7), after), offset)
        per_field = [
            [values for t, values in days if start_ms <= t < end_ms] for days in water.values()
        ]
        per_field = [days for days in per_field if days]
        if per_field:
            weeks.append(
                WeekWaterPublic(
                    start=max(monday, first),
                    et0_mm=round(_mean_total(per_field, "et0_mm"), 1),
                    rain_mm=round(_mean_total(per_field, "rain_mm"), 1),
                )
            )
        monday += timedelta(days=7)
    return weeks


def _mean_total(per_field: list[list[dict[str, float]]], key: str) -> float:
    return sum(sum(v.get(key, 0.0) for v in days) for days in per_field) / len(per_field)
