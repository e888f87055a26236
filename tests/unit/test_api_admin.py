"""Registry management over the API: who may call what, and refusals as HTTP answers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.unit.api_support import PASSWORD, Site, running_site


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    """The API over the test site (see api_support)."""
    with running_site(tmp_path) as site:
        yield site


def _call(site: Site, username: str, method: str, path: str, body: Any = None) -> Any:
    return site.client.request(method, f"/api/v1{path}", headers=site.auth(username), json=body)


def _ids(site: Site, username: str, path: str, key: str = "id") -> list[str]:
    response = _call(site, username, "GET", path)
    assert response.status_code == 200, response.text
    return [row[key] for row in response.json()]


# -- places --------------------------------------------------------------------------------------


def test_everyone_lists_the_villages_and_fields_their_role_covers(site: Site) -> None:
    assert _ids(site, "admin", "/villages") == ["v1", "v2", "v3"]
    assert _ids(site, "ppl", "/villages") == ["v1", "v3"]
    assert _ids(site, "desa1", "/villages") == ["v1"]
    all_fields = ["kebun-v3", "ladang-desa", "sawah-budi", "sawah-siti"]
    assert _ids(site, "admin", "/fields") == all_fields
    assert _ids(site, "ppl", "/fields") == ["kebun-v3", "ladang-desa", "sawah-budi"]
    assert _ids(site, "desa1", "/fields") == ["ladang-desa", "sawah-budi"]
    assert _ids(site, "budi", "/fields") == ["sawah-budi"]
    assert _ids(site, "tono", "/fields") == []
    [field] = _call(site, "budi", "GET", "/fields").json()
    assert (field["owner"], field["village_id"]) == ("budi", "v1")


def test_an_admin_adds_a_village_field_gateway_and_moves_a_device(site: Site) -> None:
    village = {"id": "v4", "name": "Way Tuba", "district": "Way Kanan"}
    assert _call(site, "admin", "POST", "/villages", village).json() == village
    field = {"id": "sawah-baru", "name": "Sawah Baru", "village_id": "v4", "owner": "tono"}
    created = _call(site, "admin", "POST", "/fields", field).json()
    assert created["owner"] == "tono" and created["crop"] is None
    gateway = {"id": "g4", "name": "Gateway 4", "village_id": "v4"}
    assert _call(site, "admin", "POST", "/gateways", gateway).json()["devices"] == []
    device = {"gateway_id": "g4", "id": "soil1", "kind": "modbus_soil", "field_id": "sawah-baru"}
    assert _call(site, "admin", "POST", "/devices", device).json() == device
    moved = _call(site, "admin", "POST", "/devices", device | {"field_id": None}).json()
    assert moved["field_id"] is None
    [g4] = [g for g in _call(site, "admin", "GET", "/gateways").json() if g["id"] == "g4"]
    assert g4["devices"] == [device | {"field_id": None}]
    # Tono now sees his new field.
    assert _ids(site, "tono", "/fields") == ["sawah-baru"]


def test_only_admins_change_places(site: Site) -> None:
    for username in ("budi", "ppl", "desa1"):
        for path, body in (
            ("/villages", {"id": "v9", "name": "X"}),
            ("/fields", {"id": "f9", "name": "X", "village_id": "v1"}),
            ("/gateways", {"id": "g9", "name": "X"}),
            ("/devices", {"gateway_id": "g1", "id": "d9", "kind": "k"}),
        ):
            assert _call(site, username, "POST", path, body).status_code == 403, (username, path)
        assert _call(site, username, "GET", "/gateways").status_code == 403


def test_registry_refusals_are_400_with_the_message_and_bad_input_422(site: Site) -> None:
    response = _call(site, "admin", "POST", "/fields", {"id": "f", "name": "F", "village_id": "v9"})
    assert response.status_code == 400
    assert response.json()["detail"] == "Desa 'v9' tidak ada / unknown village 'v9'"
    device = {"gateway_id": "g9", "id": "d", "kind": "k"}
    assert _call(site, "admin", "POST", "/devices", device).status_code == 400
    bad = {"id": "Bumi Agung", "name": "Bumi Agung"}
    assert _call(site, "admin", "POST", "/villages", bad).status_code == 422


# -- people --------------------------------------------------------------------------------------


def test_an_admin_manages_people_and_their_tokens(site: Site) -> None:
    new = {
        "username": "rina",
        "full_name": "Bu Rina",
        "role": "officer",
        "villages": ["v2"],
        "password": PASSWORD,
    }
    response = _call(site, "admin", "POST", "/users", new)
    assert response.status_code == 201
    assert response.json() == {
        "username": "rina",
        "full_name": "Bu Rina",
        "role": "officer",
        "village_id": None,
        "villages": ["v2"],
        "language": "id",
        "active": True,
    }
    login = {"username": "rina", "password": PASSWORD}
    assert site.client.post("/api/v1/auth/token", data=login).status_code == 200
    update = {k: v for k, v in new.items() if k != "password"} | {"villages": ["v2", "v3"]}
    assert _call(site, "admin", "PUT", "/users/rina", update).json()["villages"] == ["v2", "v3"]
    assert _call(site, "admin", "PUT", "/users/rina/password", {"password": "x"}).status_code == 400
    new_password = {"password": "kopi-robusta"}
    assert _call(site, "admin", "PUT", "/users/rina/password", new_password).status_code == 204
    assert site.client.post("/api/v1/auth/token", data=login).status_code == 401

    issued = _call(site, "admin", "POST", "/users/rina/tokens", {"label": "script", "ttl_days": 7})
    assert issued.status_code == 201 and issued.json()["expires_at"] is not None
    headers = {"Authorization": f"Bearer {issued.json()['access_token']}"}
    assert site.client.get("/api/v1/me", headers=headers).json()["username"] == "rina"

    assert _call(site, "admin", "DELETE", "/users/rina").status_code == 204
    assert site.client.get("/api/v1/me", headers=headers).status_code == 401
    assert _call(site, "admin", "GET", "/users").json()[-1]["active"] is False
    again = _call(site, "admin", "POST", "/users/rina/tokens", {"label": "script"})
    assert again.status_code == 409


def test_people_refusals_are_404_409_or_400(site: Site) -> None:
    farmer = {"username": "budi", "full_name": "B", "role": "farmer", "village_id": "v1"}
    taken = _call(site, "admin", "POST", "/users", farmer)
    assert taken.status_code == 409 and "is taken" in taken.json()["detail"]
    renamed = _call(site, "admin", "PUT", "/users/tono", farmer)
    assert renamed.status_code == 409
    elsewhere = farmer | {"username": "ani", "village_id": "v9"}
    assert _call(site, "admin", "POST", "/users", elsewhere).status_code == 400
    for method, path, body in (
        ("PUT", "/users/nobody", farmer | {"username": "nobody"}),
        ("PUT", "/users/nobody/password", {"password": PASSWORD}),
        ("DELETE", "/users/nobody", None),
        ("POST", "/users/nobody/tokens", {"label": "x"}),
    ):
        assert _call(site, "admin", method, path, body).status_code == 404, (method, path)
    no_village = {"username": "ani", "full_name": "A", "role": "farmer"}
    response = _call(site, "admin", "POST", "/users", no_village | {"password": "rahasia-sekali"})
    assert response.status_code == 422
    assert "rahasia-sekali" not in response.text  # passwords stay out of error messages


# -- rules ---------------------------------------------------------------------------------------


def _rule(name: str, village: str | None) -> dict[str, Any]:
    scope = {"scope": "village", "scope_value": village} if village else {}
    return {"name": name, "kind": "below", "quantity": "soil_moisture", "threshold": 15} | scope


def test_the_village_office_manages_rules_of_its_own_village_only(site: Site) -> None:
    assert _call(site, "desa1", "POST", "/rules", _rule("kering-v1", "v1")).status_code == 200
    assert _call(site, "admin", "POST", "/rules", _rule("kering-v2", "v2")).status_code == 200
    assert _ids(site, "desa1", "/rules", key="name") == ["kering-v1"]
    assert _ids(site, "admin", "/rules", key="name") == ["kering", "kering-v1", "kering-v2"]
    for rule in (_rule("kering-v2b", "v2"), _rule("semua", None)):
        assert _call(site, "desa1", "POST", "/rules", rule).status_code == 403
    # Not by reusing the name of a global or another village's rule either.
    for name in ("kering", "kering-v2"):
        assert _call(site, "desa1", "POST", "/rules", _rule(name, "v1")).status_code == 409
    for name in ("kering", "kering-v2", "nope"):
        patch = _call(site, "desa1", "PATCH", f"/rules/{name}", {"enabled": False})
        assert patch.status_code == 404, name
        assert _call(site, "desa1", "DELETE", f"/rules/{name}").status_code == 404
    patched = _call(site, "desa1", "PATCH", "/rules/kering-v1", {"enabled": False}).json()
    assert patched["enabled"] is False and patched["clear_threshold"] == 15
    assert _call(site, "desa1", "DELETE", "/rules/kering-v1").status_code == 204
    assert _ids(site, "admin", "/rules", key="name") == ["kering", "kering-v2"]
    for username in ("ppl", "budi"):
        assert _call(site, username, "GET", "/rules").status_code == 403


def test_rule_input_errors_are_422_and_registry_refusals_400(site: Site) -> None:
    bad = _rule("naik", "v1") | {"kind": "above", "clear_threshold": 30}
    assert _call(site, "admin", "POST", "/rules", bad).status_code == 422
    assert _call(site, "admin", "POST", "/rules", _rule("x", "v9")).status_code == 400


# -- channels ------------------------------------------------------------------------------------


def test_channels_are_admin_only_and_never_show_their_secrets(site: Site) -> None:
    secret = "tgram://123456789:AAHsecretBotToken/-100123"
    body = {"name": "grup-v2", "url": secret, "village_id": "v2"}
    for username in ("ppl", "desa1", "budi"):
        assert _call(site, username, "POST", "/channels", body).status_code == 403
        assert _call(site, username, "GET", "/channels").status_code == 403
    created = _call(site, "admin", "POST", "/channels", body)
    assert created.status_code == 201
    listed = _call(site, "admin", "GET", "/channels")
    for text in (created.text, listed.text):
        assert "AAHsecretBotToken" not in text and "-100123" not in text
    users = [c["user"] for c in listed.json()]
    assert users == ["ppl", None, None]
    bad = _call(site, "admin", "POST", "/channels", body | {"url": "nope://AAHsecretBotToken"})
    assert bad.status_code == 422 and "AAHsecretBotToken" not in bad.text
    channel_id = created.json()["id"]
    assert _call(site, "admin", "DELETE", f"/channels/{channel_id}").status_code == 204
    assert _call(site, "admin", "DELETE", f"/channels/{channel_id}").status_code == 404
