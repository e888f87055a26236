"""The demo's village: one rice field with its gateway and devices, the people who use it, the
default alert rules, and each person's notification channel on the demo inbox."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from alerts.default_rules import install_defaults
from registry.access import issue_token
from registry.directory import (
    ChannelIn,
    FieldIn,
    UserIn,
    add_channel,
    create_user,
    get_user,
    set_password,
    upsert_field,
)
from registry.people import ApiToken, Channel, Role, User
from registry.store import DeviceEntry, FieldEntry, GatewayEntry, Registry, SiteFile, VillageEntry
from tani.demo_inbox import DemoInbox

GATEWAY_ID = "gw-bumi-agung-01"
FIELD_ID = "sawah-pak-darto"
VILLAGE_ID = "bumi-agung"
DEMO_SITE = SiteFile(
    villages=[VillageEntry(id=VILLAGE_ID, name="Kampung Bumi Agung")],
    fields=[
        FieldEntry(id=FIELD_ID, name="Sawah Pak Darto", village=VILLAGE_ID, crop="padi"),
    ],
    gateways=[
        GatewayEntry(
            id=GATEWAY_ID,
            name="Gateway sawah Pak Darto",
            devices=[
                DeviceEntry(id="soil-1", kind="modbus_soil", field=FIELD_ID),
                DeviceEntry(id="weather-1", kind="ascii_weather", field=FIELD_ID),
            ],
        )
    ],
)
DEMO_PEOPLE = (
    UserIn(username="darto", full_name="Pak Darto", role=Role.FARMER, village_id=VILLAGE_ID),
    UserIn(
        username="ppl-sari", full_name="Sari Wulandari", role=Role.OFFICER, villages=[VILLAGE_ID]
    ),
    UserIn(
        username="kantor-bumi-agung",
        full_name="Kantor Kampung Bumi Agung",
        role=Role.VILLAGE_OFFICE,
        village_id=VILLAGE_ID,
    ),
)
TOKEN_LABEL = "demo"


@dataclass(frozen=True, slots=True)
class DemoPeople:
    """How to act as the demo's people this run: an API token each, one web password."""

    tokens: dict[str, str]
    password: str


def seed(registry: Registry, inbox: DemoInbox, now_ms: int) -> DemoPeople:
    """Put the demo village in the registry, with fresh credentials for its people.

    Each run gives every demo person a new random password (the same for all, to type on the
    sign-in page) and a new API token, and replaces the demo's inbox channels (the inbox
    listens on a new port each run).
    """
    password = secrets.token_urlsafe(9)
    registry.apply(DEMO_SITE)
    tokens = {}
    with Session(registry.engine) as session, session.begin():
        for person in DEMO_PEOPLE:
            if session.scalar(select(User.id).where(User.username == person.username)) is None:
                create_user(session, person, None, now_ms)
        farmer = get_user(session, "darto")
        upsert_field(
            session,
            FieldIn(
                id=FIELD_ID,
                name="Sawah Pak Darto",
                village_id=VILLAGE_ID,
                crop="padi",
                owner=farmer.username,
            ),
        )
        install_defaults(session)
        session.execute(delete(Channel).where(Channel.url.like("json://127.0.0.1:%")))
        session.execute(delete(ApiToken).where(ApiToken.label == TOKEN_LABEL))
        # The village office's own channel gets escalations (lifecycle.escalation_recipients).
        for person in DEMO_PEOPLE:
            url = inbox.url(person.username)
            add_channel(
                session, ChannelIn(name=f"Demo {person.username}", url=url, user=person.username)
            )
            user = get_user(session, person.username)
            tokens[person.username] = issue_token(session, user, label=TOKEN_LABEL, now_ms=now_ms)
            set_password(session, person.username, password)
    return DemoPeople(tokens, password)
