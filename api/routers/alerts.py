"""Alerts: list what my role covers, look at one, acknowledge it, resolve it; a field's history.

An alert the caller may not see answers 404 exactly like one that does not exist, so alert ids
tell nothing about other villages.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated

from fastapi import APIRouter, Body, HTTPException, Path, Query
from sqlalchemy import Select, select
from sqlalchemy.orm import Session, aliased

from alerts.lifecycle import AlertTransitionError, acknowledge, resolve
from api.auth import CurrentUser, SessionDep, StaffUser, alert_scope, field_scope, now_ms
from api.deps import MAX_ROW_ID, FieldId
from api.schemas import AlertDetailPublic, AlertEventPublic, AlertPublic, NoteIn, utc_time
from registry.access import Principal
from registry.alerting import Alert, AlertEvent, AlertState
from registry.models import Field
from registry.people import User
from registry.store import Identifier

router = APIRouter(prefix="/api/v1", tags=["alerts"])

AlertId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="Alert id")]
Limit = Annotated[int, Query(ge=1, le=500, description="At most this many, newest first")]
OptionalNote = Annotated[NoteIn | None, Body()]

# An alert row: the alert, its field's name, who acknowledged it, who resolved it.
_Row = tuple[Alert, str | None, str | None, str | None]

_acked_by = aliased(User)
_resolved_by = aliased(User)


def _alerts(principal: Principal) -> Select[_Row]:
    """Alerts the principal may see, with the field's name and who acknowledged and resolved."""
    return (
        select(Alert, Field.name, _acked_by.username, _resolved_by.username)
        .outerjoin(Field, Field.id == Alert.field_id)
        .outerjoin(_acked_by, _acked_by.id == Alert.acknowledged_by)
        .outerjoin(_resolved_by, _resolved_by.id == Alert.resolved_by)
        .where(alert_scope(principal))
        .order_by(Alert.opened_ms.desc(), Alert.id.desc())
    )


def _public(row: _Row) -> AlertPublic:
    alert, field, acked, resolved = row
    return AlertPublic(
        id=alert.id,
        rule_name=alert.rule_name,
        kind=alert.kind,
        severity=alert.severity,
        state=alert.state,
        subject=alert.subject,
        gateway_id=alert.gateway_id,
        device_id=alert.device_id,
        quantity=alert.quantity,
        field_id=alert.field_id,
        field_name=field,
        village_id=alert.village_id,
        since=utc_time(alert.since_ms),
        opened_at=utc_time(alert.opened_ms),
        value=alert.value,
        threshold=alert.threshold,
        last_value=alert.last_value,
        acknowledged_at=None if alert.acknowledged_ms is None else utc_time(alert.acknowledged_ms),
        acknowledged_by=acked,
        resolved_at=None if alert.resolved_ms is None else utc_time(alert.resolved_ms),
        resolved_by=resolved,
        escalated_at=None if alert.escalated_ms is None else utc_time(alert.escalated_ms),
    )


def _with_events(session: Session, rows: list[_Row]) -> list[AlertDetailPublic]:
    """Alerts with their histories, read in one query."""
    events: dict[int, list[AlertEventPublic]] = defaultdict(list)
    query = (
        select(AlertEvent, User.username)
        .outerjoin(User, User.id == AlertEvent.user_id)
        .where(AlertEvent.alert_id.in_([row[0].id for row in rows]))
        .order_by(AlertEvent.time_ms, AlertEvent.id)
    )
    for event, username in session.execute(query):
        events[event.alert_id].append(
            AlertEventPublic(
                time=utc_time(event.time_ms), kind=event.kind, user=username, detail=event.detail
            )
        )
    return [
        AlertDetailPublic(**_public(row).model_dump(), events=events[row[0].id]) for row in rows
    ]


def _detail(session: Session, principal: Principal, alert_id: int) -> AlertDetailPublic:
    row = session.execute(_alerts(principal).where(Alert.id == alert_id)).first()
    if row is None:
        raise _not_found(alert_id)
    return _with_events(session, [row])[0]


def _visible_alert(session: Session, principal: Principal, alert_id: int) -> Alert:
    """The alert to change, locked where the database can (PostgreSQL) against the evaluator."""
    query = select(Alert).where(Alert.id == alert_id, alert_scope(principal)).with_for_update()
    alert = session.scalar(query)
    if alert is None:
        raise _not_found(alert_id)
    return alert


def _not_found(alert_id: int) -> HTTPException:
    return HTTPException(404, f"Peringatan {alert_id} tidak ditemukan / alert not found")


@router.get("/alerts", response_model=list[AlertPublic])
def list_alerts(
    principal: CurrentUser,
    session: SessionDep,
    state: AlertState | None = None,
    village_id: Annotated[Identifier | None, Query()] = None,
    field_id: Annotated[Identifier | None, Query()] = None,
    limit: Limit = 100,
) -> list[AlertPublic]:
    """Alerts of the villages or fields the caller's role covers, newest first."""
    query = _alerts(principal)
    if state is not None:
        query = query.where(Alert.state == state.value)
    if village_id is not None:
        query = query.where(Alert.village_id == village_id)
    if field_id is not None:
        query = query.where(Alert.field_id == field_id)
    return [_public(row) for row in session.execute(query.limit(limit))]


@router.get("/alerts/{alert_id}", response_model=AlertDetailPublic)
def get_alert(alert_id: AlertId, principal: CurrentUser, session: SessionDep) -> AlertDetailPublic:
    """One alert and its history."""
    return _detail(session, principal, alert_id)


@router.post("/alerts/{alert_id}/acknowledge", response_model=AlertDetailPublic)
def acknowledge_alert(
    alert_id: AlertId, principal: CurrentUser, session: SessionDep, body: OptionalNote = None
) -> AlertDetailPublic:
    """ "I am on it": stops escalation. A farmer may acknowledge alerts of their own fields."""
    alert = _visible_alert(session, principal, alert_id)
    try:
        acknowledge(
            session,
            alert,
            user_id=principal.user_id,
            now_ms=now_ms(),
            note=None if body is None else body.note,
        )
    except AlertTransitionError as exc:
        raise HTTPException(409, str(exc)) from None
    session.commit()
    return _detail(session, principal, alert_id)


@router.post("/alerts/{alert_id}/resolve", response_model=AlertDetailPublic)
def resolve_alert(
    alert_id: AlertId, principal: StaffUser, session: SessionDep, body: OptionalNote = None
) -> AlertDetailPublic:
    """Close an alert by hand (officers, village office, admins); already resolved is a no-op."""
    alert = _visible_alert(session, principal, alert_id)
    resolve(
        session,
        alert,
        now_ms=now_ms(),
        user_id=principal.user_id,
        note=None if body is None else body.note,
    )
    session.commit()
    return _detail(session, principal, alert_id)


@router.get("/fields/{field_id}/alerts", response_model=list[AlertDetailPublic])
def field_alerts(
    field_id: FieldId, principal: CurrentUser, session: SessionDep, limit: Limit = 100
) -> list[AlertDetailPublic]:
    """A field's alerts, newest first, each with its history."""
    visible = session.scalar(select(Field.id).where(Field.id == field_id, field_scope(principal)))
    if visible is None:
        raise HTTPException(404, f"Lahan {field_id!r} tidak ditemukan / field not found")
    query = _alerts(principal).where(Alert.field_id == field_id).limit(limit)
    return _with_events(session, list(session.execute(query)))
