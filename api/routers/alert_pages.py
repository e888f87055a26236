"""Alert pages for signed-in people: what is open in my villages, one alert, a field's history.

Server-rendered, no JavaScript, a few kilobytes each: they are read on cheap phones over slow
prepaid links. Scope is the API's (``alert_scope`` and ``field_scope`` in SQL): an alert or
field a person may not see is "not found" exactly like one that does not exist.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import Select, select
from sqlalchemy.orm import Session, aliased

from alerts.lifecycle import AlertTransitionError, acknowledge, resolve
from alerts.local_time import ShownTime, shown_time
from alerts.messages import MessageContext, render
from api.auth import SessionDep, alert_scope, field_scope, now_ms
from api.routers.alerts import FieldId
from api.routers.web_login import PAGE_HEADERS, PageUser, page_context, templates
from registry.access import Principal
from registry.alerting import Alert, AlertEvent, AlertState
from registry.models import Field, Village
from registry.people import Language, Role, User

router = APIRouter(tags=["web pages"], include_in_schema=False)

_ACTIVE_LIMIT = 200  # more open alerts than this is an outage: the page says there are more
_RESOLVED_LIMIT = 50
_FIELD_LIMIT = 100
_NOTE_MAX = 500  # NoteIn's limit in the JSON API
_STAFF = frozenset({Role.OFFICER, Role.VILLAGE_OFFICE, Role.ADMIN})
_STATE_NAMES = {
    AlertState.OPEN.value: ("Belum ditangani", "open"),
    AlertState.ACKNOWLEDGED.value: ("Ditangani", "acknowledged"),
    AlertState.RESOLVED.value: ("Selesai", "resolved"),
}
# History event kinds as people read them (id, en); other kinds are shown as they are stored.
_EVENT_NAMES = {
    "opened": ("Muncul", "Opened"),
    "acknowledged": ("Ditangani", "Acknowledged"),
    "escalated": ("Diteruskan ke kantor desa", "Escalated to the village office"),
    "resolved": ("Selesai", "Resolved"),
}

_farmer = aliased(User)
_acked_by = aliased(User)
# An alert row: the alert, its field's name, the field's farmer, the village, who acknowledged.
_Row = tuple[Alert, str | None, str | None, str | None, str | None]


@dataclass(frozen=True, slots=True)
class _AlertView:
    """One alert as the templates show it."""

    alert: Alert
    what_id: str
    what_en: str
    field_name: str | None
    farmer_name: str | None
    village_name: str | None
    state_id: str
    state_en: str
    since: ShownTime
    resolved: ShownTime | None


@dataclass(frozen=True, slots=True)
class _EventView:
    time: ShownTime
    name_id: str
    name_en: str
    who: str | None
    detail: str | None


def _alerts(principal: Principal) -> Select[_Row]:
    """Alerts the principal may see, with the names a page shows, newest first."""
    return (
        select(Alert, Field.name, _farmer.full_name, Village.name, _acked_by.full_name)
        .outerjoin(Field, Field.id == Alert.field_id)
        .outerjoin(_farmer, _farmer.id == Field.owner_id)
        .outerjoin(Village, Village.id == Alert.village_id)
        .outerjoin(_acked_by, _acked_by.id == Alert.acknowledged_by)
        .where(alert_scope(principal))
        .order_by(Alert.opened_ms.desc(), Alert.id.desc())
    )


def _view(row: _Row, now: int, utc_offset_h: int) -> _AlertView:
    alert, field_name, farmer_name, village_name, acked_by = row
    context = MessageContext(
        ack_url="",  # a title never carries the link
        now_ms=now,
        utc_offset_h=utc_offset_h,
        field_name=field_name,
        farmer_name=farmer_name,
        village_name=village_name,
    )
    state_id, state_en = _STATE_NAMES[alert.state]
    if alert.state == AlertState.ACKNOWLEDGED.value and acked_by:
        state_id, state_en = f"{state_id} oleh {acked_by}", f"{state_en} by {acked_by}"
    # Always the opening's words: what the alert is about; its state is shown beside it.
    return _AlertView(
        alert=alert,
        what_id=render(alert, "opened", language=Language.ID.value, context=context).title,
        what_en=render(alert, "opened", language=Language.EN.value, context=context).title,
        field_name=field_name,
        farmer_name=farmer_name,
        village_name=village_name,
        state_id=state_id,
        state_en=state_en,
        since=shown_time(alert.since_ms, utc_offset_h),
        resolved=(
            None if alert.resolved_ms is None else shown_time(alert.resolved_ms, utc_offset_h)
        ),
    )


def _events(session: Session, alert_id: int, utc_offset_h: int) -> list[_EventView]:
    query = (
        select(AlertEvent, User.full_name)
        .outerjoin(User, User.id == AlertEvent.user_id)
        .where(AlertEvent.alert_id == alert_id)
        .order_by(AlertEvent.time_ms, AlertEvent.id)
    )
    views = []
    for event, who in session.execute(query):
        name_id, name_en = _EVENT_NAMES.get(event.kind, (event.kind, event.kind))
        views.append(
            _EventView(shown_time(event.time_ms, utc_offset_h), name_id, name_en, who, event.detail)
        )
    return views


def _offset(request: Request) -> int:
    """The site's UTC offset, for local times on pages."""
    return request.app.state.config.utc_offset_h


def _page(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> Response:
    return templates.TemplateResponse(
        request, name, context, status_code=status_code, headers=PAGE_HEADERS
    )


@router.get("/peringatan", response_class=HTMLResponse)
def alert_list(
    request: Request, principal: PageUser, session: SessionDep, status: str | None = None
) -> Response:
    """Open and acknowledged alerts by village; ``?status=selesai``: the latest resolved ones."""
    resolved = status == "selesai"
    query = _alerts(principal)
    if resolved:
        query = (
            query.where(Alert.state == AlertState.RESOLVED.value)
            .order_by(None)
            .order_by(Alert.resolved_ms.desc(), Alert.id.desc())
        )
        limit = _RESOLVED_LIMIT
    else:
        query = query.where(Alert.state != AlertState.RESOLVED.value)
        limit = _ACTIVE_LIMIT
    # One more than shown, to know whether there are more.
    rows = list(session.execute(query.limit(limit + 1)))
    now = now_ms()
    # Villages in the order of their newest alert, each one's alerts newest first.
    groups: dict[str | None, list[_AlertView]] = defaultdict(list)
    for row in rows[:limit]:
        groups[row[3]].append(_view(row, now, _offset(request)))
    return _page(
        request,
        "alerts.html",
        page_context(principal, resolved=resolved, groups=groups, more=len(rows) > limit),
    )


def _alert_page(
    request: Request,
    session: Session,
    principal: Principal,
    alert_id: int,
    *,
    message: tuple[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    """One alert with its history and the forms its viewer may use (404 page when hidden)."""
    row = session.execute(_alerts(principal).where(Alert.id == alert_id)).first()
    if row is None:
        return _page(request, "alert.html", page_context(principal, view=None), 404)
    return _page(
        request,
        "alert.html",
        page_context(
            principal,
            view=_view(row, now_ms(), _offset(request)),
            events=_events(session, alert_id, _offset(request)),
            can_resolve=principal.role in _STAFF,
            message=message,
            note_max=_NOTE_MAX,
        ),
        status_code,
    )


def _locked_alert(session: Session, principal: Principal, alert_id: int) -> Alert | None:
    """The visible alert to change, locked where the database can against the evaluator."""
    query = select(Alert).where(Alert.id == alert_id, alert_scope(principal)).with_for_update()
    return session.scalar(query)


def _back(alert_id: int) -> Response:
    # POST, redirect, GET: reloading the page does not post the form again.
    return RedirectResponse(f"/peringatan/{alert_id}", status_code=303, headers=PAGE_HEADERS)


def _note(note: str) -> str | None:
    return note.strip() or None


Note = Annotated[str, Form(max_length=_NOTE_MAX)]


@router.get("/peringatan/{alert_id:int}", response_class=HTMLResponse)
def alert_page(
    alert_id: int, request: Request, principal: PageUser, session: SessionDep
) -> Response:
    """One alert, its history, and "I am on it" / "Resolve" buttons."""
    return _alert_page(request, session, principal, alert_id)


@router.post("/peringatan/{alert_id:int}/tangani", response_class=HTMLResponse)
def acknowledge_form(
    alert_id: int, request: Request, principal: PageUser, session: SessionDep, note: Note = ""
) -> Response:
    """ "Saya tangani": acknowledge as the signed-in person, then back to the alert."""
    alert = _locked_alert(session, principal, alert_id)
    if alert is None:
        return _alert_page(request, session, principal, alert_id)
    try:
        acknowledge(session, alert, user_id=principal.user_id, now_ms=now_ms(), note=_note(note))
    except AlertTransitionError:
        session.rollback()
        return _alert_page(
            request,
            session,
            principal,
            alert_id,
            message=(
                "Peringatan ini sudah selesai, tidak perlu ditangani lagi.",
                "This alert is already resolved; there is nothing to acknowledge.",
            ),
            status_code=409,
        )
    session.commit()
    return _back(alert_id)


@router.post("/peringatan/{alert_id:int}/selesai", response_class=HTMLResponse)
def resolve_form(
    alert_id: int, request: Request, principal: PageUser, session: SessionDep, note: Note = ""
) -> Response:
    """ "Selesai": close the alert by hand (officers, village office, admins only)."""
    # Refused before the alert is looked up, with no alert shown: the same answer for every
    # id, so a farmer's 403 says nothing about whether an alert exists.
    if principal.role not in _STAFF:
        message = (
            "Hanya penyuluh, kantor desa atau admin yang dapat menyelesaikan peringatan.",
            "Only officers, the village office or admins can resolve alerts.",
        )
        context = page_context(principal, view=None, alert_id=alert_id, message=message)
        return _page(request, "alert.html", context, 403)
    alert = _locked_alert(session, principal, alert_id)
    if alert is None:
        return _alert_page(request, session, principal, alert_id)
    resolve(session, alert, now_ms=now_ms(), user_id=principal.user_id, note=_note(note))
    session.commit()
    return _back(alert_id)


@router.get("/lahan/{field_id}/peringatan", response_class=HTMLResponse)
def field_alert_history(
    field_id: FieldId, request: Request, principal: PageUser, session: SessionDep
) -> Response:
    """A field's alerts in every state, newest first."""
    found = session.execute(
        select(Field, Village.name, User.full_name)
        .outerjoin(Village, Village.id == Field.village_id)
        .outerjoin(User, User.id == Field.owner_id)
        .where(Field.id == field_id, field_scope(principal))
    ).first()
    if found is None:
        return _page(request, "field_alerts.html", page_context(principal, field=None), 404)
    field, village_name, farmer_name = found
    query = _alerts(principal).where(Alert.field_id == field_id).limit(_FIELD_LIMIT)
    now = now_ms()
    return _page(
        request,
        "field_alerts.html",
        page_context(
            principal,
            field=field,
            village_name=village_name,
            farmer_name=farmer_name,
            views=[_view(row, now, _offset(request)) for row in session.execute(query)],
            limit=_FIELD_LIMIT,
        ),
    )
