"""``tani villages|fields|gateways|devices|users|rules|channels`` against a temporary registry."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from alerts.default_rules import DEFAULT_RULES
from registry.access import AuthenticationError, check_password, principal_for_token
from registry.store import Registry
from tani.cli import app

PASSWORD = "padi-menguning"
TG = "tgram://123456789:AAHsecretBotToken/-100123"


@pytest.fixture
def url(tmp_path: Path) -> str:
    """A registry URL in a directory that does not exist yet (the CLI creates it)."""
    return f"sqlite:///{tmp_path / 'state' / 'registry.sqlite3'}"


def tani(url: str, *args: str, stdin: str | None = None) -> Result:
    """Run ``tani`` with the registry at ``url``."""
    return CliRunner().invoke(app, list(args), input=stdin, env={"TANI_REGISTRY_URL": url})


def ok(url: str, *args: str, stdin: str | None = None) -> Result:
    """Run ``tani`` and insist it succeeded."""
    result = tani(url, *args, stdin=stdin)
    assert result.exit_code == 0, result.output
    return result


def as_json(url: str, *args: str) -> Any:
    """Run a ``--json`` command and parse what it printed."""
    return json.loads(ok(url, *args, "--json").stdout)


def _site(url: str) -> None:
    ok(url, "villages", "add", "bumi-agung", "--name", "Bumi Agung", "--district", "Way Kanan")
    ok(url, "villages", "add", "tiyuh-baru", "--name", "Tiyuh Baru")
    ok(
        url,
        "users",
        "add",
        "darto",
        "--full-name",
        "Pak Darto",
        "--role",
        "farmer",
        "--village",
        "bumi-agung",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )


def _with_session(url: str, use: Any) -> Any:
    registry = Registry(url)
    try:
        with Session(registry.engine) as session, session.begin():
            return use(session)
    finally:
        registry.close()


def test_importing_the_cli_does_not_import_the_registry() -> None:
    # A Pi with only the gateway extra has no SQLAlchemy.
    code = "import sys, tani.cli; sys.exit('sqlalchemy' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_places_are_added_and_listed(url: str) -> None:
    _site(url)
    ok(
        url,
        "fields",
        "add",
        "sawah-1",
        "--name",
        "Sawah Pak Darto",
        "--village",
        "bumi-agung",
        "--crop",
        "padi",
        "--owner",
        "darto",
        "--planted-on",
        "2024-11-05",
        "--lat",
        "-4.52",
        "--lon",
        "104.48",
    )
    ok(
        url,
        *("gateways", "add", "gw-1", "--name", "Pi balai desa", "--village", "bumi-agung"),
        "--no-mqtt",
    )
    ok(url, "devices", "add", "gw-1", "soil-1", "--kind", "modbus_soil")
    ok(url, "devices", "add", "gw-1", "soil-1", "--kind", "modbus_soil", "--field", "sawah-1")

    assert as_json(url, "villages", "list") == [
        {"id": "bumi-agung", "name": "Bumi Agung", "district": "Way Kanan"},
        {"id": "tiyuh-baru", "name": "Tiyuh Baru", "district": None},
    ]
    assert as_json(url, "fields", "list") == [
        {
            "id": "sawah-1",
            "name": "Sawah Pak Darto",
            "village_id": "bumi-agung",
            "crop": "padi",
            "owner": "darto",
            "planted_on": "2024-11-05",
            "latitude": -4.52,
            "longitude": 104.48,
        }
    ]
    assert as_json(url, "gateways", "list")[0]["devices"] == 1
    assert as_json(url, "devices", "list") == [
        {"gateway_id": "gw-1", "id": "soil-1", "kind": "modbus_soil", "field_id": "sawah-1"}
    ]
    table = ok(url, "fields", "list").stdout.splitlines()
    assert table[0].split() == [
        "id",
        "name",
        "village_id",
        "crop",
        "owner",
        "planted_on",
        "latitude",
        "longitude",
    ]
    assert "Sawah Pak Darto" in table[1]


def test_users_passwords_and_officer_villages(url: str) -> None:
    _site(url)
    # Without --password-stdin the password is asked for twice.
    ok(
        url,
        "users",
        "add",
        "sri",
        "--full-name",
        "Bu Sri",
        "--role",
        "officer",
        "--village",
        "bumi-agung",
        "--village",
        "tiyuh-baru",
        "--language",
        "en",
        stdin="rahasia-sri\nrahasia-sri\n",
    )
    ok(url, "users", "add", "admin", "--full-name", "Admin", "--role", "admin", "--no-password")
    users = {u["username"]: u for u in as_json(url, "users", "list")}
    assert users["sri"]["villages"] == ["bumi-agung", "tiyuh-baru"]
    assert (users["sri"]["role"], users["sri"]["language"]) == ("officer", "en")
    assert users["admin"]["has_password"] is False

    ok(url, "users", "set-password", "darto", stdin="singkong-manis\nsingkong-manis\n")

    def login(session: Session) -> str:
        check_password(session, "sri", "rahasia-sri")
        return check_password(session, "darto", "singkong-manis").username

    assert _with_session(url, login) == "darto"


def test_a_printed_token_signs_in_until_deactivation(url: str) -> None:
    _site(url)
    result = ok(url, "users", "token", "darto", "--label", "hp", "--ttl-days", "30")
    token = result.stdout.strip()
    assert "not shown again" in result.stderr

    def whose(session: Session) -> str:
        return principal_for_token(session, token, now_ms=int(time.time() * 1000)).username

    assert _with_session(url, whose) == "darto"
    ok(url, "users", "deactivate", "darto")
    with pytest.raises(AuthenticationError):
        _with_session(url, whose)
    refused = tani(url, "users", "token", "darto")
    assert refused.exit_code == 2
    assert "user 'darto' is deactivated" in refused.stderr


def test_rules_add_list_switch_delete_and_defaults(url: str) -> None:
    _site(url)
    ok(
        url,
        "rules",
        "add",
        "kering-bumi-agung",
        "--kind",
        "below",
        "--quantity",
        "soil_moisture",
        "--threshold",
        "19",
        "--clear-threshold",
        "22",
        "--duration-s",
        "3600",
        "--scope",
        "village",
        "--scope-value",
        "bumi-agung",
        "--severity",
        "critical",
        "--note",
        "kantor desa, Mei 2025",
    )
    [rule] = as_json(url, "rules", "list")
    assert rule | {"note": None} == {
        "name": "kering-bumi-agung",
        "kind": "below",
        "quantity": "soil_moisture",
        "threshold": 19.0,
        "clear_threshold": 22.0,
        "duration_s": 3600,
        "window_s": None,
        "scope": "village",
        "scope_value": "bumi-agung",
        "severity": "critical",
        "enabled": True,
        "note": None,
    }
    assert "tidak" in ok(url, "rules", "disable", "kering-bumi-agung").stdout
    assert "ya" in ok(url, "rules", "enable", "kering-bumi-agung").stdout
    ok(url, "rules", "delete", "kering-bumi-agung")
    assert as_json(url, "rules", "list") == []

    assert as_json(url, "rules", "defaults") == [r.name for r in DEFAULT_RULES]
    assert as_json(url, "rules", "defaults") == []
    assert len(as_json(url, "rules", "defaults", "--replace")) == len(DEFAULT_RULES)


def test_channels_show_no_secrets(url: str) -> None:
    _site(url)
    ok(url, "channels", "add", "Telegram Pak Darto", "--url", TG, "--user", "darto")
    ok(
        url,
        "channels",
        "add",
        "Kantor desa",
        "--url",
        "mailto://kantor:hunter22@desa.example",
        "--village",
        "bumi-agung",
        "--escalation",
        "--max-per-hour",
        "5",
    )
    listed = ok(url, "channels", "list").stdout + ok(url, "channels", "list", "--json").stdout
    assert "AAHsecretBotToken" not in listed
    assert "hunter22" not in listed
    channels = as_json(url, "channels", "list")
    assert [(c["name"], c["user"], c["village_id"]) for c in channels] == [
        ("Telegram Pak Darto", "darto", None),
        ("Kantor desa", None, "bumi-agung"),
    ]
    ok(url, "channels", "delete", str(channels[0]["id"]))
    assert [c["name"] for c in as_json(url, "channels", "list")] == ["Kantor desa"]


BAD: list[tuple[tuple[str, ...], str | None, str]] = [
    (("fields", "add", "f", "--name", "F", "--village", "nope"), None, "unknown village 'nope'"),
    (
        ("fields", "add", "f", "--name", "F", "--village", "bumi-agung", "--planted-on", "besok"),
        None,
        "planted_on:",
    ),
    (
        ("users", "add", "x", "--full-name", "X", "--role", "kepala", "--no-password"),
        None,
        "role:",
    ),
    (
        ("users", "add", "x", "--full-name", "X", "--role", "farmer", "--no-password"),
        None,
        "a farmer or village office needs village_id",
    ),
    (
        ("users", "add", "darto", "--full-name", "D", "--role", "admin", "--no-password"),
        None,
        "username 'darto' is taken",
    ),
    (
        ("users", "add", "x", "--full-name", "X", "--role", "admin", "--password-stdin"),
        "pendek\n",
        "at least 8 characters",
    ),
    (("users", "set-password", "budi", "--password-stdin"), PASSWORD, "unknown user 'budi'"),
    (
        (
            "rules",
            "add",
            "r",
            "--kind",
            "above",
            "--quantity",
            "air_temperature",
            "--threshold",
            "35",
            "--clear-threshold",
            "37",
        ),
        None,
        "clears at or below its threshold",
    ),
    (("rules", "add", "r", "--kind", "no_data"), None, "needs duration_s > 0"),
    (("rules", "delete", "r"), None, "Aturan 'r' tidak ada / unknown rule 'r'"),
    (
        ("channels", "add", "c", "--url", "nosuch://u:hunter22@host", "--user", "darto"),
        None,
        "not a valid apprise URL",
    ),
    (("channels", "delete", "7"), None, "unknown channel '7'"),
]


@pytest.mark.parametrize(("args", "stdin", "message"), BAD)
def test_refusals_exit_2_with_one_line(
    url: str, args: tuple[str, ...], stdin: str | None, message: str
) -> None:
    _site(url)
    result = tani(url, *args, stdin=stdin)
    assert result.exit_code == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output
    assert "hunter22" not in result.output
