"""The demo's village: Pak Darto's maize field, rice paddy and coffee garden in Way Kanan,
Lampung, with their gateway and devices, the people who use them, the default alert rules, and
each person's notification channel on the demo inbox.

The fields carry what the water advice needs (crop, planting day, soil, area, latitude,
elevation, the paddy's water regime); what the farmers did is in ``DEMO_FIELDS``' acts, which
``tani.demo_season`` turns into the fields' records along with the season's readings. One
gateway at the edge of the fields reads a soil probe in the maize field, one in the coffee
garden (on one RS485 bus) and the weather station by the maize field. The paddy is watched with
a field water tube, not a probe: its advice comes from the station and its records.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from alerts.default_rules import install_defaults
from alerts.local_time import local_moment
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
from registry.records import RecordKind
from registry.store import DeviceEntry, FieldEntry, GatewayEntry, Registry, SiteFile, VillageEntry
from tani.demo_inbox import DemoInbox
from tani.demo_season_model import Act, SeasonField

GATEWAY_ID = "gw-bumi-agung-01"
VILLAGE_ID = "bumi-agung"
FIELD_ID = "ladang-jagung-darto"  # the maize field: a soil probe and the weather station
RICE_FIELD_ID = "sawah-pak-darto"
COFFEE_FIELD_ID = "kebun-kopi-darto"
WEATHER_ID = "weather-1"
UTC_OFFSET_H = 7  # WIB
LATITUDE, LONGITUDE = -4.5, 104.5  # Way Kanan, Lampung
DEMO_FIELDS: tuple[SeasonField, ...] = (
    SeasonField(
        FIELD_ID,
        "Ladang jagung Pak Darto",
        crop="jagung",
        soil_texture="loam",
        area_m2=2500.0,
        planted_days_ago=62,
        elevation_m=95.0,
        probe="soil-1",
        acts=(
            # Ultisols are acid: the officer's soil test advised 2 t/ha of dolomite.
            Act(RecordKind.LIME, 72, 500.0, "dolomit", "2 t/ha, pH tanah 4,8", "ppl-sari"),
            Act(RecordKind.PLANTING, 62, None, "jagung", "Jagung hibrida, 70 x 20 cm"),
            Act(RecordKind.FERTILISER, 62, 75.0, "npk-15-15-15", "Pupuk dasar / at sowing"),
            Act(RecordKind.FERTILISER, 35, 50.0, "urea", "Pupuk susulan / top dressing"),
            # An earlier break in the rains (tani.demo_season_weather.GAP_DAYS_AGO).
            Act(RecordKind.IRRIGATION, 31, 30.0, None, "Pompa dari embung / pumped"),
            Act(RecordKind.IRRIGATION, 28, 30.0, None, "Pompa dari embung / pumped"),
        ),
    ),
    SeasonField(
        RICE_FIELD_ID,
        "Sawah Pak Darto",
        crop="padi",
        soil_texture="clay",
        area_m2=5000.0,
        planted_days_ago=40,
        elevation_m=90.0,
        water_regime="awd",
        acts=(Act(RecordKind.PLANTING, 40, None, "padi", "Tanam pindah / transplanted"),),
    ),
    SeasonField(
        COFFEE_FIELD_ID,
        "Kebun kopi Pak Darto",
        crop="kopi",
        soil_texture="loam",
        area_m2=10000.0,
        planted_days_ago=7 * 365,
        elevation_m=140.0,
        probe="soil-2",
        ph=5.0,
        npk=(85.0, 27.0, 175.0),
        acts=(
            Act(RecordKind.PLANTING, 7 * 365, None, "kopi", "Robusta"),
            Act(RecordKind.FERTILISER, 50, 100.0, "npk-15-15-15", "Setelah panen / after harvest"),
        ),
    ),
)
DEMO_SITE = SiteFile(
    villages=[VillageEntry(id=VILLAGE_ID, name="Kampung Bumi Agung")],
    fields=[
        FieldEntry(id=f.field_id, name=f.name, village=VILLAGE_ID, crop=f.crop) for f in DEMO_FIELDS
    ],
    gateways=[
        GatewayEntry(
            id=GATEWAY_ID,
            name="Gateway ladang Pak Darto",
            devices=[
                *(
                    DeviceEntry(id=f.probe, kind="modbus_soil", field=f.field_id)
                    for f in DEMO_FIELDS
                    if f.probe is not None
                ),
                DeviceEntry(id=WEATHER_ID, kind="ascii_weather", field=FIELD_ID),
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
        _fields(session, now_ms)
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


def _fields(session: Session, now_ms: int) -> None:
    """Pak Darto's fields as ``DEMO_FIELDS`` describe them, planted relative to today."""
    today = local_moment(now_ms, UTC_OFFSET_H).date()
    for plot in DEMO_FIELDS:
        row = upsert_field(
            session,
            FieldIn(
                id=plot.field_id,
                name=plot.name,
                village_id=VILLAGE_ID,
                crop=plot.crop,
                owner="darto",
                planted_on=today - timedelta(days=plot.planted_days_ago),
                latitude=LATITUDE,
                longitude=LONGITUDE,
            ),
        )
        row.soil_texture, row.area_m2 = plot.soil_texture, plot.area_m2
        row.elevation_m, row.water_regime = plot.elevation_m, plot.water_regime
