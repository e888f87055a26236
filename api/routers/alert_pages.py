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
from alerts.messages import MessageContext, render
from api.auth import SessionDep, alert_scope, field_scope, now_ms
from api.deps import FieldId
from api.i18n import N_, PageLanguage, page_language
from api.i18n import render as render_page
from api.pages import PAGE_HEADERS, PageUser, page_context
from registry.access import Principal
from registry.alerting import Alert, AlertEvent, AlertState
from registry.models import Field, Village
from registry.people import Role, User

router = APIRouter(tags=["web pages"], include_in_schema=False)

_ACTIVE_LIMIT = 200  # more open alerts than this is an outage: the page says there are more
_RESOLVED_LIMIT = 50
_FIELD_LIMIT = 100
_NOTE_MAX = 500  # NoteIn's limit in the JSON API
_STAFF = frozenset({Role.OFFICER, Role.VILLAGE_OFFICE, Role.ADMIN})
# msgids, translated for each page.
_STATE_NAMES = {
    AlertState.OPEN.value: N_("Not yet acknowledged"),
    AlertState.ACKNOWLEDGED.value: N_("Acknowledged"),
    AlertState.RESOLVED.value: N_("Resolved"),
}
# History event kinds as people read them; other kinds are shown as they are stored.
_EVENT_NAMES = {
    "opened": N_("Opened"),
    "acknowledged": N_("Acknowledged"),
    "escalated": N_("Escalated to the village office"),
    "resolved": N_("Resolved"),
}

_farmer = aliased(User)
_acked_by = aliased(User)
# An alert row: the alert, its field's name, the field's farmer, the village, who acknowledged.
_Row = tuple[Alert, str | None, str | None, str | None, str | None]


@dataclass(frozen=True, slots=True)
class _AlertView:
    """One alert as the templates show it."""

    alert: Alert
    what: str
    field_name: str | None
    farmer_name: str | None
    village_name: str | None
    state: str


@dataclass(frozen=True, slots=True)
class _EventView:
    time_ms: int
    name: str
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


def _view(row: _Row, now: int, language: PageLanguage) -> _AlertView:
    alert, field_name, farmer_name, village_name, acked_by = row
    context = MessageContext(
        ack_url="",  # a title never carries the link
        now_ms=now,
        utc_offset_h=language.utc_offset_h,
        field_name=field_name,
        farmer_name=farmer_name,
        village_name=village_name,
    )
    if alert.state == AlertState.ACKNOWLEDGED.value and acked_by:
        state = language.gettext("Acknowledged by %(name)s") % {"name": acked_by}
    else:
        state = language.gettext(_STATE_NAMES[alert.state])
    # Always the opening's words: what the alert is about; its state is shown beside it.
    return _AlertView(
        alert=alert,
        what=render(alert, "opened", language=language.code, context=context).title,
        field_name=field_name,
        farmer_name=farmer_name,
        village_name=village_name,
        state=state,
    )


def _events(session: Session, alert_id: int, language: PageLanguage) -> list[_EventView]:
    query = (
        select(AlertEvent, User.full_name)
        .outerjoin(User, User.id == AlertEvent.user_id)
        .where(AlertEvent.alert_id == alert_id)
        .order_by(AlertEvent.time_ms, AlertEvent.id)
    )
    views = []
    for event, who in session.execute(query):
        name = _EVENT_NAMES.get(event.kind)
        name = event.kind if name is None else language.gettext(name)
        views.append(_EventView(event.time_ms, name, who, event.detail))
    return views


def _page(
    request: Request,
    name: str,
    context: dict[str, Any],
    status_code: int = 200,
    switch_path: str | None = None,
) -> Response:
    return render_page(request, name, context, status_code, PAGE_HEADERS, switch_path=switch_path)


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
        groups[row[3]].append(_view(row, now, page_language(request)))
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
    message: str | None = None,
    status_code: int = 200,
) -> Response:
    """One alert with its history and the forms its viewer may use (404 page when hidden)."""
    # Answering a form's POST, the language link goes to the alert's page (a GET).
    here = f"/peringatan/{alert_id}"
    row = session.execute(_alerts(principal).where(Alert.id == alert_id)).first()
    if row is None:
        return _page(request, "alert.html", page_context(principal, view=None), 404, here)
    language = page_language(request)
    return _page(
        request,
        "alert.html",
        page_context(
            principal,
            view=_view(row, now_ms(), language),
            events=_events(session, alert_id, language),
            can_resolve=principal.role in _STAFF,
            message=message,
            note_max=_NOTE_MAX,
        ),
        status_code,
        here,
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
            message=page_language(request).gettext(
                "This alert is already resolved; there is nothing to acknowledge."
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
        message = page_language(request).gettext(
            "Only officers, the village office or admins can resolve alerts."
        )
        context = page_context(principal, view=None, alert_id=alert_id, message=message)
        return _page(request, "alert.html", context, 403, f"/peringatan/{alert_id}")
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
            views=[_view(row, now, page_language(request)) for row in session.execute(query)],
            limit=_FIELD_LIMIT,
        ),
    )
