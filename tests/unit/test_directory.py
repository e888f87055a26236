"""registry.directory: every input check, every refusal, and the upserts the CLI and API share."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alerts.rules import RuleIn, delete_rule, list_rules, set_rule_enabled, upsert_rule
from registry.access import (
    AuthenticationError,
    check_password,
    issue_token,
    principal_for_token,
)
from registry.alerting import AlertRule
from registry.directory import (
    ChannelIn,
    DeviceIn,
    FieldIn,
    GatewayIn,
    UserIn,
    VillageIn,
    add_channel,
    create_user,
    deactivate_user,
    delete_channel,
    get_user,
    list_channels,
    list_fields,
    list_gateways,
    list_users,
    list_villages,
    redacted_url,
    set_password,
    update_user,
    upsert_device,
    upsert_field,
    upsert_gateway,
    upsert_village,
)
from registry.models import Device
from registry.people import ApiToken
from registry.store import Registry, RegistryError

PASSWORD = "padi-menguning"


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    """A session on a fresh registry holding one village, an officer and a farmer."""
    registry = Registry.from_path(tmp_path / "registry.db")
    try:
        with Session(registry.engine) as session:
            upsert_village(session, VillageIn(id="bumi-agung", name="Bumi Agung"))
            create_user(session, _farmer(), PASSWORD, now_ms=1)
            yield session
    finally:
        registry.close()


def _farmer(**changes: Any) -> UserIn:
    data = {
        "username": "darto",
        "full_name": "Pak Darto",
        "role": "farmer",
        "village_id": "bumi-agung",
    }
    return UserIn.model_validate(data | changes)


def _rule(**changes: Any) -> RuleIn:
    data = {"name": "kering", "kind": "below", "quantity": "soil_moisture", "threshold": 20}
    return RuleIn.model_validate(data | changes)


# -- input checks --------------------------------------------------------------------------------

TG = "tgram://123456789:AAHsecretBotToken/-100123"

INVALID: list[tuple[type[BaseModel], dict[str, Any], str]] = [
    (VillageIn, {"id": "Bumi Agung", "name": "Bumi Agung"}, "string_pattern_mismatch"),
    (VillageIn, {"id": "x", "name": "X", "kabupaten": "Way Kanan"}, "extra_forbidden"),
    (VillageIn, {"id": "x", "name": "  "}, "at least 1 character"),
    (FieldIn, {"id": "f", "name": "F", "village_id": "v", "latitude": -91}, "greater than"),
    (FieldIn, {"id": "f", "name": "F", "village_id": "v", "longitude": 181}, "less than"),
    (FieldIn, {"id": "f", "name": "F", "village_id": "v", "planted_on": "kemarin"}, "date"),
    (DeviceIn, {"gateway_id": "gw", "id": "Soil 1", "kind": "modbus_soil"}, "pattern"),
    (UserIn, {"username": "a", "full_name": "A", "role": "farmer"}, "needs village_id"),
    (
        UserIn,
        {"username": "a", "full_name": "A", "role": "village_office"},
        "needs village_id",
    ),
    (
        UserIn,
        {"username": "a", "full_name": "A", "role": "farmer", "village_id": "v", "villages": ["w"]},
        "only officers cover several villages",
    ),
    (UserIn, {"username": "a", "full_name": "A", "role": "officer"}, "an officer needs villages"),
    (
        UserIn,
        {
            "username": "a",
            "full_name": "A",
            "role": "officer",
            "villages": ["v"],
            "village_id": "v",
        },
        "officers use villages",
    ),
    (
        UserIn,
        {"username": "a", "full_name": "A", "role": "admin", "village_id": "v"},
        "an admin has no village",
    ),
    (UserIn, {"username": "a", "full_name": "A", "role": "kepala"}, "enum"),
    (RuleIn, {"name": "r", "kind": "below", "quantity": "soil_moisture"}, "needs quantity and"),
    (RuleIn, {"name": "r", "kind": "above", "threshold": 35}, "needs quantity and threshold"),
    (
        RuleIn,
        {
            "name": "r",
            "kind": "below",
            "quantity": "soil_moisture",
            "threshold": 20,
            "clear_threshold": 18,
        },
        "clears at or above its threshold",
    ),
    (
        RuleIn,
        {
            "name": "r",
            "kind": "above",
            "quantity": "air_temperature",
            "threshold": 35,
            "clear_threshold": 36,
        },
        "clears at or below its threshold",
    ),
    (RuleIn, {"name": "r", "kind": "below", "quantity": "lengas", "threshold": 1}, "lengas"),
    (
        RuleIn,
        {"name": "r", "kind": "below", "quantity": "soil_moisture", "threshold": 120},
        "outside soil_moisture's range 0..100 %",
    ),
    (
        RuleIn,
        {
            "name": "r",
            "kind": "below",
            "quantity": "soil_moisture",
            "threshold": 20,
            "window_s": 60,
        },
        "a below rule has no window_s",
    ),
    (
        RuleIn,
        {"name": "r", "kind": "rate", "quantity": "soil_moisture", "threshold": 10},
        "needs quantity, threshold and window_s",
    ),
    (
        RuleIn,
        {
            "name": "r",
            "kind": "rate",
            "quantity": "soil_moisture",
            "threshold": 0,
            "window_s": 3600,
        },
        "not 0",
    ),
    (
        RuleIn,
        {
            "name": "r",
            "kind": "rate",
            "quantity": "soil_moisture",
            "threshold": 10,
            "clear_threshold": 12,
            "window_s": 3600,
        },
        "clears between 0 and its threshold",
    ),
    (
        RuleIn,
        {
            "name": "r",
            "kind": "rate",
            "quantity": "soil_moisture",
            "threshold": -10,
            "clear_threshold": 5,
            "window_s": 3600,
        },
        "with the same sign",
    ),
    (RuleIn, {"name": "r", "kind": "no_data"}, "needs duration_s > 0"),
    (RuleIn, {"name": "r", "kind": "gateway_offline"}, "needs duration_s > 0"),
    (
        RuleIn,
        {"name": "r", "kind": "gateway_offline", "duration_s": 60, "quantity": "rain"},
        "has no quantity",
    ),
    (
        RuleIn,
        {"name": "r", "kind": "no_data", "duration_s": 60, "threshold": 1},
        "has no threshold",
    ),
    (RuleIn, {"name": "r", "kind": "no_data", "duration_s": -1}, "greater than or equal"),
    (
        RuleIn,
        {"name": "r", "kind": "quality_bad", "scope_value": "padi"},
        "scope all takes no scope_value",
    ),
    (RuleIn, {"name": "r", "kind": "quality_bad", "scope": "crop"}, "scope crop needs"),
    (RuleIn, {"name": "Kering Sekali", "kind": "quality_bad"}, "pattern"),
    (ChannelIn, {"name": "c", "url": "whatsapp-ku://x", "user": "a"}, "not a valid apprise"),
    (ChannelIn, {"name": "c", "url": TG}, "either a user or a village"),
    (ChannelIn, {"name": "c", "url": TG, "user": "a", "village_id": "v"}, "either a user"),
    (ChannelIn, {"name": "c", "url": TG, "user": "a", "escalation": True}, "village channels"),
    (ChannelIn, {"name": "c", "url": TG, "user": "a", "max_per_hour": 0}, "greater than"),
]


@pytest.mark.parametrize(("model", "data", "message"), INVALID)
def test_bad_input_is_refused_with_a_message(
    model: type[BaseModel], data: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    assert message in str(caught.value)


def test_bilingual_messages_say_indonesian_first() -> None:
    with pytest.raises(
        ValidationError, match=r"Penyuluh perlu minimal satu desa \(villages\) / an officer"
    ):
        UserIn(username="sri", full_name="Bu Sri", role="officer")


def test_a_refused_channel_url_is_not_echoed() -> None:
    with pytest.raises(ValidationError) as caught:
        ChannelIn(name="c", url="nosuch://user:hunter2@host", user="a")
    assert "hunter2" not in str(caught.value)


def test_threshold_rules_clear_at_the_threshold_unless_told() -> None:
    assert _rule().clear_threshold == 20
    assert _rule(clear_threshold=23).clear_threshold == 23
    rate = RuleIn(name="r", kind="rate", quantity="soil_moisture", threshold=10, window_s=3600)
    assert rate.clear_threshold == 10


def test_rules_that_need_only_a_duration() -> None:
    assert RuleIn(name="r", kind="quality_bad").duration_s == 0
    RuleIn(name="r", kind="no_data", duration_s=7200)
    # Silence is a device's, whatever it measures.
    with pytest.raises(ValidationError, match="a no_data rule has no quantity"):
        RuleIn(name="r", kind="no_data", duration_s=7200, quantity="soil_moisture")
    RuleIn(name="r", kind="gateway_offline", duration_s=1800, scope="village", scope_value="v")
    with pytest.raises(ValidationError, match="covers all gateways or one village"):
        RuleIn(name="r", kind="gateway_offline", duration_s=60, scope="crop", scope_value="padi")


# -- places --------------------------------------------------------------------------------------


def test_upserts_add_then_update(session: Session) -> None:
    upsert_village(session, VillageIn(id="bumi-agung", name="Bumi Agung", district="Way Kanan"))
    upsert_gateway(session, GatewayIn(id="gw-1", name="Pi", village_id="bumi-agung"))
    upsert_gateway(session, GatewayIn(id="gw-1", name="Pi balai desa"))
    assert [(v.id, v.district) for v in list_villages(session)] == [("bumi-agung", "Way Kanan")]
    assert [(g.name, g.village_id) for g in list_gateways(session)] == [("Pi balai desa", None)]


def test_field_with_owner_date_and_place(session: Session) -> None:
    data = FieldIn(
        id="sawah-1",
        name="Sawah Pak Darto",
        village_id="bumi-agung",
        crop="padi",
        owner="darto",
        planted_on=date(2024, 11, 5),
        latitude=-4.52,
        longitude=104.48,
    )
    field = upsert_field(session, data)
    assert field.owner_id == get_user(session, "darto").id
    assert (field.planted_on, field.latitude, field.longitude) == (date(2024, 11, 5), -4.52, 104.48)
    # An upsert replaces: what the input leaves out is cleared.
    upsert_field(session, FieldIn(id="sawah-1", name="Sawah 1", village_id="bumi-agung"))
    assert [(f.name, f.owner_id, f.crop) for f in list_fields(session)] == [("Sawah 1", None, None)]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"village_id": "tiyuh-baru"},
            "Desa 'tiyuh-baru' tidak ada / unknown village 'tiyuh-baru'",
        ),
        ({"owner": "budi"}, "Pengguna 'budi' tidak ada / unknown user 'budi'"),
    ],
)
def test_field_with_unknown_references(
    session: Session, data: dict[str, Any], message: str
) -> None:
    base = {"id": "sawah-2", "name": "Sawah 2", "village_id": "bumi-agung"}
    with pytest.raises(RegistryError, match=message):
        upsert_field(session, FieldIn.model_validate(base | data))


def test_field_of_a_deactivated_owner_is_refused(session: Session) -> None:
    deactivate_user(session, "darto")
    with pytest.raises(RegistryError, match="user 'darto' is deactivated"):
        upsert_field(session, FieldIn(id="f", name="F", village_id="bumi-agung", owner="darto"))


def test_gateway_in_unknown_village(session: Session) -> None:
    with pytest.raises(RegistryError, match="unknown village 'x'"):
        upsert_gateway(session, GatewayIn(id="gw-1", name="Pi", village_id="x"))


def test_devices_are_placed_and_moved(session: Session) -> None:
    upsert_gateway(session, GatewayIn(id="gw-1", name="Pi"))
    for field_id in ("sawah-1", "sawah-2"):
        upsert_field(session, FieldIn(id=field_id, name=field_id, village_id="bumi-agung"))
    upsert_device(session, DeviceIn(gateway_id="gw-1", id="soil-1", kind="modbus_soil"))
    upsert_device(
        session, DeviceIn(gateway_id="gw-1", id="soil-1", kind="modbus_soil", field_id="sawah-2")
    )
    assert session.get(Device, ("gw-1", "soil-1")).field_id == "sawah-2"  # type: ignore[union-attr]


def test_device_with_unknown_references(session: Session) -> None:
    with pytest.raises(RegistryError, match="Gateway 'gw-9' tidak ada / unknown gateway 'gw-9'"):
        upsert_device(session, DeviceIn(gateway_id="gw-9", id="soil-1", kind="modbus_soil"))
    upsert_gateway(session, GatewayIn(id="gw-1", name="Pi"))
    with pytest.raises(RegistryError, match="Lahan 'kebun' tidak ada / unknown field 'kebun'"):
        upsert_device(
            session, DeviceIn(gateway_id="gw-1", id="s", kind="modbus_soil", field_id="kebun")
        )


# -- people --------------------------------------------------------------------------------------


def _officer(villages: list[str]) -> UserIn:
    return UserIn(username="sri", full_name="Bu Sri", role="officer", villages=villages)


def test_officer_covers_the_villages_given(session: Session) -> None:
    upsert_village(session, VillageIn(id="tiyuh-baru", name="Tiyuh Baru"))
    officer = create_user(session, _officer(["tiyuh-baru", "bumi-agung", "tiyuh-baru"]), None, 5)
    assert sorted(v.id for v in officer.villages) == ["bumi-agung", "tiyuh-baru"]
    assert (officer.password_hash, officer.created_ms, officer.active) == (None, 5, True)
    update_user(session, "sri", _officer(["bumi-agung"]))
    assert [v.id for v in get_user(session, "sri").villages] == ["bumi-agung"]


def test_officer_in_an_unknown_village(session: Session) -> None:
    with pytest.raises(RegistryError, match="unknown village 'tiyuh-baru'"):
        create_user(session, _officer(["bumi-agung", "tiyuh-baru"]), None, 1)


def test_usernames_are_unique(session: Session) -> None:
    with pytest.raises(RegistryError, match="username 'darto' is taken"):
        create_user(session, _farmer(), None, 1)
    create_user(session, _farmer(username="tini"), None, 1)
    with pytest.raises(RegistryError, match="username 'tini' is taken"):
        update_user(session, "darto", _farmer(username="tini"))


def test_rename_and_role_change(session: Session) -> None:
    update_user(session, "darto", _farmer(username="darto2", role="village_office"))
    user = get_user(session, "darto2")
    assert (user.role, user.village_id) == ("village_office", "bumi-agung")
    with pytest.raises(RegistryError, match="Pengguna 'darto' tidak ada / unknown user 'darto'"):
        get_user(session, "darto")


def test_passwords_are_hashed_and_checked(session: Session) -> None:
    assert check_password(session, "darto", PASSWORD).username == "darto"
    set_password(session, "darto", "singkong-manis")
    assert get_user(session, "darto").password_hash != "singkong-manis"
    assert check_password(session, "darto", "singkong-manis").username == "darto"
    with pytest.raises(RegistryError, match="at least 8 characters"):
        set_password(session, "darto", "pendek")
    with pytest.raises(RegistryError, match="at least 8 characters"):
        create_user(session, _farmer(username="tini"), "pendek", 1)
    with pytest.raises(RegistryError, match="unknown user 'budi'"):
        set_password(session, "budi", "singkong-manis")


def test_deactivation_deletes_tokens(session: Session) -> None:
    user = get_user(session, "darto")
    token = issue_token(session, user, label="hp", now_ms=10)
    assert principal_for_token(session, token, now_ms=11).username == "darto"
    deactivate_user(session, "darto")
    assert session.scalar(select(func.count()).select_from(ApiToken)) == 0
    with pytest.raises(AuthenticationError):
        principal_for_token(session, token, now_ms=12)
    with pytest.raises(AuthenticationError):
        check_password(session, "darto", PASSWORD)
    assert [(u.username, u.active) for u in list_users(session)] == [("darto", False)]


# -- rules ---------------------------------------------------------------------------------------


def test_rules_are_upserted_by_name(session: Session) -> None:
    first = upsert_rule(session, _rule(scope="crop", scope_value="padi"))
    second = upsert_rule(session, _rule(threshold=18, clear_threshold=21, severity="critical"))
    assert first.id == second.id
    assert (second.threshold, second.clear_threshold, second.scope, second.scope_value) == (
        18,
        21,
        "all",
        None,
    )
    assert second.severity == "critical"
    assert [r.name for r in list_rules(session)] == ["kering"]


def test_rule_scope_must_exist(session: Session) -> None:
    with pytest.raises(RegistryError, match="unknown village 'tiyuh-baru'"):
        upsert_rule(session, _rule(scope="village", scope_value="tiyuh-baru"))
    with pytest.raises(RegistryError, match="unknown field 'sawah-9'"):
        upsert_rule(session, _rule(scope="field", scope_value="sawah-9"))
    upsert_rule(session, _rule(scope="village", scope_value="bumi-agung"))


def test_rules_are_enabled_disabled_and_deleted(session: Session) -> None:
    upsert_rule(session, _rule())
    assert set_rule_enabled(session, "kering", False).enabled is False
    assert set_rule_enabled(session, "kering", True).enabled is True
    delete_rule(session, "kering")
    assert session.scalar(select(func.count()).select_from(AlertRule)) == 0
    with pytest.raises(RegistryError, match="Aturan 'kering' tidak ada / unknown rule 'kering'"):
        delete_rule(session, "kering")
    with pytest.raises(RegistryError, match="unknown rule 'basah'"):
        set_rule_enabled(session, "basah", True)


# -- channels ------------------------------------------------------------------------------------


def test_channels_of_people_and_villages(session: Session) -> None:
    person = add_channel(session, ChannelIn(name="tg", url=TG, user="darto"))
    office = add_channel(
        session,
        ChannelIn(
            name="kantor",
            url="mailto://kantor:rahasia@desa.example",
            village_id="bumi-agung",
            escalation=True,
            language="en",
            max_per_hour=5,
        ),
    )
    assert person.user_id == get_user(session, "darto").id
    assert (office.village_id, office.escalation, office.language, office.max_per_hour) == (
        "bumi-agung",
        True,
        "en",
        5,
    )
    delete_channel(session, person.id)
    assert [c.id for c in list_channels(session)] == [office.id]
    with pytest.raises(RegistryError, match=f"unknown channel '{person.id}'"):
        delete_channel(session, person.id)


def test_channel_with_unknown_or_inactive_owner(session: Session) -> None:
    with pytest.raises(RegistryError, match="unknown user 'budi'"):
        add_channel(session, ChannelIn(name="tg", url=TG, user="budi"))
    with pytest.raises(RegistryError, match="unknown village 'x'"):
        add_channel(session, ChannelIn(name="tg", url=TG, village_id="x"))
    deactivate_user(session, "darto")
    with pytest.raises(RegistryError, match="is deactivated"):
        add_channel(session, ChannelIn(name="tg", url=TG, user="darto"))


@pytest.mark.parametrize(
    ("url", "shown", "secret"),
    [
        (TG, "tgram://", "AAHsecretBotToken"),
        (
            "mailto://ppl:hunter22@mail.example.com",
            "mailto://ppl:****@mail.example.com",
            "hunter22",
        ),
        (
            "json://hooks.example:8080/in/s3cr3t?+X-Token=abc",
            "json://hooks.example:8080/...",
            "s3cr3t",
        ),
        ("jsons://hooks.example/?+Authorization=Bearer%20zzz", "jsons://hooks.example", "zzz"),
        ("nosuch://user:hunter22@host", "nosuch://***", "hunter22"),
    ],
)
def test_redacted_url_hides_secrets(url: str, shown: str, secret: str) -> None:
    redacted = redacted_url(url)
    assert redacted.startswith(shown)
    assert secret not in redacted
