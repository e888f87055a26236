"""The acknowledge link in every notification: ``/a/<token>``, no login, no JavaScript.

Whoever received a message holds its delivery's secret token, so opening the link shows the
alert and one button; the acknowledgement is recorded as the channel's person (a village
channel, a group chat say, has none: the history names the channel instead). GET never
changes anything, because chat apps open links to draw previews; the button POSTs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.lifecycle import acknowledge
from alerts.messages import MessageContext, render
from api.auth import SessionDep, now_ms
from api.i18n import page_language
from api.i18n import render as render_page
from registry.alerting import Alert, AlertState, Delivery
from registry.models import Field, Village
from registry.people import Channel, User

router = APIRouter(tags=["acknowledge link"], include_in_schema=False)

_MAX_TOKEN = 64  # Delivery.ack_token's column width: anything longer cannot match
# The token is the page's only key: keep it out of caches, search engines and Referer headers.
_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


@dataclass(frozen=True, slots=True)
class _Found:
    alert: Alert
    channel: Channel
    user: User | None


def _find(session: Session, token: str, *, lock: bool = False) -> _Found | None:
    """The alert and channel of a link's delivery; None if unknown or no longer valid."""
    if len(token) > _MAX_TOKEN:
        return None
    query = (
        select(Alert, Channel)
        .select_from(Delivery)
        .join(Alert, Alert.id == Delivery.alert_id)
        .join(Channel, Channel.id == Delivery.channel_id)
        .where(Delivery.ack_token == token)
    )
    if lock:
        query = query.with_for_update(of=Alert)
    row = session.execute(query).first()
    if row is None:
        return None
    alert, channel = row
    user = None if channel.user_id is None else session.get(User, channel.user_id)
    if user is not None and not user.active:
        # Deactivating a person ends everything they could do, their links included.
        return None
    return _Found(alert, channel, user)


def _context(session: Session, found: _Found, request: Request) -> dict[str, Any]:
    # Nobody signs in here: the page speaks the channel's language unless the reader chose.
    language = page_language(request, preferred=found.channel.language)
    alert = found.alert
    field = None if alert.field_id is None else session.get(Field, alert.field_id)
    farmer = None if field is None or field.owner_id is None else session.get(User, field.owner_id)
    village = None if alert.village_id is None else session.get(Village, alert.village_id)
    acked_by = None if alert.acknowledged_by is None else session.get(User, alert.acknowledged_by)
    message = MessageContext(
        ack_url="",  # a title never carries the link
        now_ms=now_ms(),
        utc_offset_h=language.utc_offset_h,
        field_name=None if field is None else field.name,
        farmer_name=None if farmer is None else farmer.full_name,
        village_name=None if village is None else village.name,
    )
    purpose = "resolved" if alert.state == AlertState.RESOLVED.value else "opened"
    return {
        "alert": alert,
        "what": render(alert, purpose, language=language.code, context=message).title,
        "field_name": message.field_name,
        "farmer_name": message.farmer_name,
        "village_name": message.village_name,
        "acknowledged_by": None if acked_by is None else acked_by.full_name,
    }


def _unknown(request: Request) -> Response:
    return render_page(request, "ack.html", {"alert": None}, status_code=404, headers=_HEADERS)


@router.get("/a/{token}", response_class=HTMLResponse)
def ack_page(token: str, request: Request, session: SessionDep) -> Response:
    """The alert behind a notification's link, and a button to acknowledge it."""
    found = _find(session, token)
    if found is None:
        return _unknown(request)
    return render_page(request, "ack.html", _context(session, found, request), headers=_HEADERS)


@router.post("/a/{token}", response_class=HTMLResponse)
def ack_submit(token: str, request: Request, session: SessionDep) -> Response:
    """Acknowledge as the channel's person, then show the page again (POST, redirect, GET)."""
    found = _find(session, token, lock=True)
    if found is None:
        return _unknown(request)
    # A resolved alert cannot be acknowledged any more: the page shows it is over.
    if found.alert.state != AlertState.RESOLVED.value:
        acknowledge(
            session,
            found.alert,
            user_id=None if found.user is None else found.user.id,
            now_ms=now_ms(),
            note=f"via link, channel {found.channel.name}",
        )
        session.commit()
    return RedirectResponse(request.url.path, status_code=303, headers=_HEADERS)
