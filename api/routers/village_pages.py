"""Village pages: the office's and officers' view of a village, its weekly and monthly summary,
an officer's overview of their villages, and ``/`` sending each person to their home page.

A village is visible to its village office, to the officers assigned to it and to admins
(``Principal.can_see_village``); to anyone else, farmers included, it is "not found". The
summary's numbers are ``storage.summaries.village_summary``'s (rollups only, so a month is as
fast as a week); its CSV is the JSON API's export, which the session cookie also opens.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alerts.field_limits import moisture_limits
from alerts.local_time import local_midnight_ms
from api.auth import SessionDep, alert_scope, now_ms
from api.deps import ConfigDep, InfluxDep, VillageId, VillageNumbersDep
from api.field_rows import DAY_MS, FieldRow, current_moisture, field_rows, visible_fields
from api.pages import PAGE_HEADERS, PageUser, page, page_context, site_offset
from api.schemas_history import VillageSummaryPublic
from api.village_summary import build_village_summary, period_bounds
from registry.access import Principal
from registry.alerting import Alert, AlertState
from registry.models import Device, Field, Village
from registry.people import Role
from storage.influx import InfluxDB, InfluxError
from storage.summaries import FieldSpec, village_summary

router = APIRouter(tags=["web pages"], include_in_schema=False)

COMPLETENESS_DAYS = 7  # the village table's completeness: the last week, today included


def _redirect(target: str) -> Response:
    return RedirectResponse(target, status_code=303, headers=PAGE_HEADERS)


@router.get("/", response_class=HTMLResponse)
def home(principal: PageUser) -> Response:
    """Each person's home: farmers their fields, the village office its village, others /desa.

    Signed out, ``PageUser`` sends the browser to the sign-in form first.
    """
    if principal.role is Role.FARMER:
        return _redirect("/lahan")
    if principal.role is Role.VILLAGE_OFFICE and principal.villages:
        return _redirect(f"/desa/{sorted(principal.villages)[0]}")
    if principal.role is Role.VILLAGE_OFFICE:
        return _redirect("/peringatan")  # an office not yet tied to a village
    return _redirect("/desa")


@dataclass(frozen=True, slots=True)
class VillageOverview:
    """One village in an officer's overview."""

    village: Village
    fields: int
    open_alerts: int
    dry_now: int | None  # None: InfluxDB did not answer


def _villages(session: Session, principal: Principal) -> list[Village]:
    query = select(Village).order_by(Village.name)
    if principal.villages is not None:
        query = query.where(Village.id.in_(sorted(principal.villages)))
    return list(session.scalars(query))


def _overview(
    session: Session, influx: InfluxDB, principal: Principal
) -> tuple[list[VillageOverview], bool]:
    villages = _villages(session, principal)
    fields = [field for field, _, _ in visible_fields(session, principal)]
    limits = moisture_limits(session, fields)
    alerts: dict[str | None, int] = {
        village_id: count
        for village_id, count in session.execute(
            select(Alert.village_id, func.count())
            .where(alert_scope(principal), Alert.state != AlertState.RESOLVED.value)
            .group_by(Alert.village_id)
        )
    }
    try:
        moisture: dict[str, float] | None = current_moisture(influx, fields, now_ms())
    except InfluxError:
        moisture = None
    by_village: dict[str, list[Field]] = defaultdict(list)
    for field in fields:
        by_village[field.village_id].append(field)
    rows = []
    for village in villages:
        mine = by_village[village.id]
        dry = None
        if moisture is not None:
            dry = sum(1 for f in mine if f.id in moisture and moisture[f.id] < limits[f.id].dry)
        rows.append(VillageOverview(village, len(mine), alerts.get(village.id, 0), dry))
    return rows, moisture is not None


@router.get("/desa", response_class=HTMLResponse)
def villages_page(
    request: Request, principal: PageUser, session: SessionDep, influx: InfluxDep
) -> Response:
    """An officer's (or admin's) villages: fields, open alerts and fields dry right now."""
    if principal.role is Role.VILLAGE_OFFICE and principal.villages:
        return _redirect(f"/desa/{sorted(principal.villages)[0]}")
    if principal.role is Role.FARMER:
        return page(request, "villages.html", page_context(principal, rows=None), 404)
    rows, answered = _overview(session, influx, principal)
    return page(request, "villages.html", page_context(principal, rows=rows, answered=answered))


def _village(session: Session, principal: Principal, village_id: str) -> Village | None:
    if not principal.can_see_village(village_id):
        return None
    return session.get(Village, village_id)


def _local_today(utc_offset_h: int) -> date:
    zone = timezone(timedelta(hours=utc_offset_h))
    return datetime.fromtimestamp(now_ms() / 1000, tz=zone).date()


def _specs(session: Session, rows: list[FieldRow]) -> list[FieldSpec]:
    """What the summary needs of each field: its crop's dry limit and its placed devices."""
    ids = [row.field.id for row in rows]
    devices: dict[str, list[tuple[str, str]]] = defaultdict(list)
    query = select(Device.field_id, Device.gateway_id, Device.id).where(Device.field_id.in_(ids))
    for field_id, gateway_id, device_id in session.execute(query):
        if field_id is not None:
            devices[field_id].append((gateway_id, device_id))
    limits = moisture_limits(session, [row.field for row in rows])
    return [
        FieldSpec(row.field.id, limits[row.field.id].dry, tuple(sorted(devices[row.field.id])))
        for row in rows
    ]


@router.get("/desa/{village_id}", response_class=HTMLResponse)
def village_page(
    village_id: VillageId,
    request: Request,
    principal: PageUser,
    session: SessionDep,
    influx: InfluxDep,
) -> Response:
    """The village's fields: crop, moisture state, open alerts, data completeness this week."""
    village = _village(session, principal, village_id)
    if village is None:
        return page(request, "village.html", page_context(principal, village=None), 404)
    rows, answered = field_rows(session, influx, principal, village_id)
    completeness: dict[str, float | None] = {}
    if answered:
        offset = site_offset(request)
        end = local_midnight_ms(_local_today(offset), offset) + DAY_MS
        try:
            summaries = village_summary(
                influx,
                village_id,
                end - COMPLETENESS_DAYS * DAY_MS,
                end,
                _specs(session, rows),
                now_ms=now_ms(),
            )
            completeness = {s.field_id: s.completeness for s in summaries}
        except InfluxError:
            answered = False
    context = page_context(
        principal,
        village=village,
        rows=rows,
        completeness=completeness,
        completeness_days=COMPLETENESS_DAYS,
        answered=answered,
    )
    return page(request, "village.html", context, 200 if answered else 503)


_PERIODS = {"minggu": "week", "bulan": "month"}


def _gateway_alerts(
    session: Session, village_id: str, start_ms: int, end_ms: int
) -> tuple[int, int]:
    """Alerts of the village's gateways (no field): raised, and acknowledged, in the period.

    Counted as the summary counts a field's (``opened_ms`` / ``acknowledged_ms`` in range).
    """
    counts = []
    for column in (Alert.opened_ms, Alert.acknowledged_ms):
        query = select(func.count()).where(
            Alert.village_id == village_id,
            Alert.field_id.is_(None),
            column >= start_ms,
            column < end_ms,
        )
        counts.append(session.scalar(query) or 0)
    return counts[0], counts[1]


@router.get("/desa/{village_id}/ringkasan", response_class=HTMLResponse)
def summary_page(
    village_id: VillageId,
    request: Request,
    principal: PageUser,
    session: SessionDep,
    config: ConfigDep,
    numbers: VillageNumbersDep,
    periode: Annotated[str, Query(pattern="^(minggu|bulan)$")] = "minggu",
    mulai: Annotated[date | None, Query()] = None,
) -> Response:
    """The week (Monday to Sunday) or month holding ``mulai`` (default today), per field: the
    JSON API's summary, so the page, its print and its CSV show the same numbers."""
    village = _village(session, principal, village_id)
    if village is None:
        return page(request, "village_summary.html", page_context(principal, village=None), 404)
    offset = config.utc_offset_h
    kind = _PERIODS[periode]
    day = mulai or _local_today(offset)
    first, after = period_bounds(kind, day)
    try:
        summary: VillageSummaryPublic | None = build_village_summary(
            village_id, kind, day, principal, session, config, numbers
        )
    except HTTPException as exc:
        if exc.status_code != 503:
            raise
        summary = None
    start_ms = local_midnight_ms(first, offset)
    gateway_alerts = _gateway_alerts(
        session, village_id, start_ms, local_midnight_ms(after, offset)
    )
    fields = summary.fields if summary else []
    totals = (
        sum(f.alerts_raised for f in fields) + gateway_alerts[0],
        sum(f.alerts_acknowledged for f in fields) + gateway_alerts[1],
    )

    def link(periode: str, day: date | None) -> str:
        query = {"periode": periode} | ({"mulai": day.isoformat()} if day else {})
        return f"/desa/{village_id}/ringkasan?{urlencode(query)}"

    previous = period_bounds(kind, first - timedelta(days=1))[0]
    context = page_context(
        principal,
        village=village,
        periode=periode,
        first_ms=start_ms,
        last_ms=local_midnight_ms(after - timedelta(days=1), offset),
        fields=fields,
        weeks=[(local_midnight_ms(w.start, offset), w) for w in summary.weeks] if summary else [],
        fields_needing_water=summary.fields_needing_water if summary else 0,
        gateway_alerts=gateway_alerts,
        totals=totals,
        answered=summary is not None,
        previous_url=link(periode, previous),
        next_url=link(periode, after),
        other_url=link("bulan" if periode == "minggu" else "minggu", first),
        csv_url=f"/api/v1/villages/{village_id}/summary.csv?"
        + urlencode({"period": kind, "start": first.isoformat()}),
    )
    return page(request, "village_summary.html", context, 200 if summary else 503)
