"""A village's agricultural summary for a week or a month: what the JSON API, its CSV and the
village office's page all show, built once here.

A summary is built from the village's registry rows (fields, devices, soil-moisture rules: a
few small prebuilt queries), its alert counts and the numbers from InfluxDB. The numbers, and
the summary built from them, are kept in :class:`api.village_numbers.VillageNumbers` under a
key of those registry rows, the period and the hour (completeness divides by the hours up to
now): reused only while the registry says the same and for at most ``summary_cache_s``, which
bounds how far they may lag the rollups. The whole summary, alert counts included, is then kept
``RESPONSE_TTL_S`` (5 s) per village, period and hour, so most requests need no query at all
(:func:`kept_village_summary`): a changed rule, placement or alert shows within those seconds.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Literal

from fastapi import HTTPException
from sqlalchemy import and_, bindparam, func, or_, select
from sqlalchemy.orm import Session

from alerts.field_limits import SOIL_MOISTURE, moisture_limits
from alerts.local_time import local_midnight_ms, local_moment
from api.auth import now_ms
from api.config import ApiConfig
from api.schemas_history import (
    FieldSummaryPublic,
    StatsPublic,
    VillageSummaryPublic,
    WeekWaterPublic,
)
from api.village_numbers import HOUR_MS, KeptSummary, VillageNumbers
from registry.access import Principal
from registry.alerting import Alert, AlertRule
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


# Core statements on the tables, built once: the ORM's per-query overhead was most of a
# cached summary's cost (py-spy under tani bench api).
_VILLAGES, _FIELDS, _DEVICES = Village.__table__, Field.__table__, Device.__table__
_RULES, _ALERTS = AlertRule.__table__, Alert.__table__
_VILLAGE_NAME = select(_VILLAGES.c.name).where(_VILLAGES.c.id == bindparam("village_id"))
_VILLAGE_FIELDS = select(_FIELDS.c.id).where(_FIELDS.c.village_id == bindparam("village_id"))
# What the summary takes from the registry: the fields (and what their limits depend on), the
# devices placed in them, and every soil-moisture rule (moisture_limits reads some of them).
_LAYOUT = (
    select(
        _FIELDS.c.id,
        _FIELDS.c.name,
        _FIELDS.c.crop,
        _FIELDS.c.soil_texture,
        _FIELDS.c.sand_pct,
        _FIELDS.c.clay_pct,
    )
    .where(_FIELDS.c.village_id == bindparam("village_id"))
    .order_by(_FIELDS.c.id),
    select(_DEVICES.c.field_id, _DEVICES.c.gateway_id, _DEVICES.c.id)
    .where(_DEVICES.c.field_id.in_(_VILLAGE_FIELDS))
    .order_by(_DEVICES.c.field_id, _DEVICES.c.gateway_id, _DEVICES.c.id),
    select(
        _RULES.c.id,
        _RULES.c.kind,
        _RULES.c.enabled,
        _RULES.c.scope,
        _RULES.c.scope_value,
        _RULES.c.threshold,
    )
    .where(_RULES.c.quantity == SOIL_MOISTURE)
    .order_by(_RULES.c.id),
)
_OPENED = and_(
    _ALERTS.c.opened_ms >= bindparam("start_ms"), _ALERTS.c.opened_ms < bindparam("end_ms")
)
_ACKED = and_(
    _ALERTS.c.acknowledged_ms >= bindparam("start_ms"),
    _ALERTS.c.acknowledged_ms < bindparam("end_ms"),
)
# Per field: alerts raised (opened) and acknowledged in the period.
_ALERT_COUNTS = (
    select(
        _ALERTS.c.field_id,
        func.count(_ALERTS.c.id).filter(_OPENED),
        func.count(_ALERTS.c.id).filter(_ACKED),
    )
    .where(_ALERTS.c.field_id.in_(_VILLAGE_FIELDS), or_(_OPENED, _ACKED))
    .group_by(_ALERTS.c.field_id)
)


def _alert_counts(
    session: Session, village_id: str, start_ms: int, end_ms: int
) -> dict[str, tuple[int, int]]:
    """{field id: (alerts raised, alerts acknowledged) in [start, end)} of the village's fields."""
    params = {"village_id": village_id, "start_ms": start_ms, "end_ms": end_ms}
    return {
        field_id: (raised, acked)
        for field_id, raised, acked in session.execute(_ALERT_COUNTS, params)
    }


def _stats(stats: Stats | None) -> StatsPublic | None:
    if stats is None:
        return None
    return StatsPublic(mean=stats.mean, min=stats.min, max=stats.max, count=stats.count)


def _period(
    period: Literal["week", "month"], start: date | None, offset: int, now: int
) -> tuple[date, date, tuple[object, ...]]:
    """The period's first day, the day after its last, and the key of its whole summary."""
    if start is not None:
        check_year(start.year)
    first, after = period_bounds(period, start or local_moment(now, offset).date())
    # The hour: completeness divides by the hours up to now, and whether a day's field rows
    # are trusted or computed again depends on whether it has ended.
    return first, after, (period, first, offset, now // HOUR_MS)


def kept_village_summary(
    village_id: str,
    period: Literal["week", "month"],
    start: date | None,
    config: ApiConfig,
    numbers: VillageNumbers,
) -> KeptSummary | None:
    """The village's whole summary if one was built in the last few seconds, without any query
    (the caller has judged the principal's scope); 422 for a far-off ``start``."""
    *_, key = _period(period, start, config.utc_offset_h, now_ms())
    return numbers.response((village_id, *key))


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
    return keep_village_summary(
        village_id, period, start, principal, session, config, numbers
    ).summary


def keep_village_summary(
    village_id: str,
    period: Literal["week", "month"],
    start: date | None,
    principal: Principal,
    session: Session,
    config: ApiConfig,
    numbers: VillageNumbers,
) -> KeptSummary:
    """:func:`build_village_summary`, with its JSON, kept for :func:`kept_village_summary`."""
    name = None
    if principal.can_see_village(village_id):
        name = session.execute(_VILLAGE_NAME, {"village_id": village_id}).scalar()
    if name is None:
        raise not_found_village(village_id)
    offset = config.utc_offset_h
    now = now_ms()
    first, after, key = _period(period, start, offset, now)
    start_ms, end_ms = local_midnight_ms(first, offset), local_midnight_ms(after, offset)
    params = {"village_id": village_id}
    layout = tuple(tuple(session.execute(query, params)) for query in _LAYOUT)
    summary = numbers.built(
        (village_id, name, layout, *key),
        lambda: _summary(village_id, name, period, first, after, session, config, numbers, now),
    )
    kept = KeptSummary.of(
        _with_alerts(summary, _alert_counts(session, village_id, start_ms, end_ms))
    )
    numbers.keep_response((village_id, *key), kept)
    return kept


def _with_alerts(
    summary: VillageSummaryPublic, counts: dict[str, tuple[int, int]]
) -> VillageSummaryPublic:
    """The kept summary with this request's alert counts (copies: the kept one is shared)."""
    if not counts:
        return summary
    fields = []
    for f in summary.fields:
        raised, acked = counts.get(f.field_id, (0, 0))
        update = {"alerts_raised": raised, "alerts_acknowledged": acked}
        fields.append(f.model_copy(update=update) if raised or acked else f)
    return summary.model_copy(update={"fields": fields})


def _summary(
    village_id: str,
    name: str,
    period: Literal["week", "month"],
    first: date,
    after: date,
    session: Session,
    config: ApiConfig,
    numbers: VillageNumbers,
    now: int,
) -> VillageSummaryPublic:
    """The summary without alert counts (those are read on every request)."""
    offset = config.utc_offset_h
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
        water = numbers.water(village_id, start_ms, end_ms)
    except InfluxError as exc:
        raise unavailable(exc) from None
    return VillageSummaryPublic(
        village_id=village_id,
        name=name,
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
                alerts_raised=0,
                alerts_acknowledged=0,
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
