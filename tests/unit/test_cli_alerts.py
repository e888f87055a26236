"""``tani alerts list|ack`` against a temporary registry holding one open alert."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy.orm import Session
from typer.testing import CliRunner

from alerts.lifecycle import Subject, open_alert
from registry.alerting import Alert, AlertRule
from registry.models import Village
from registry.people import User
from registry.store import Registry
from tani.cli import app


def _registry_with_alert(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    registry = Registry(url)
    try:
        with Session(registry.engine) as session, session.begin():
            session.add(Village(id="bumi-agung", name="Bumi Agung"))
            session.add(User(username="sari", full_name="Sari", role="officer", created_ms=0))
            rule = AlertRule(name="kering", kind="below", quantity="soil_moisture", threshold=18)
            session.add(rule)
            session.flush()
            subject = Subject(
                "gw/soil-1/soil_moisture", "gw", "soil-1", "soil_moisture", "sawah-1", "bumi-agung"
            )
            open_alert(session, rule, subject, since_ms=1_000, value=14.2, now_ms=2_000)
    finally:
        registry.close()
    return url


def tani(url: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env={"TANI_REGISTRY_URL": url})
    return result.exit_code, result.output


def test_list_shows_open_alerts_and_ack_records_who(tmp_path: Path) -> None:
    url = _registry_with_alert(tmp_path)
    code, output = tani(url, "alerts", "list", "--json")
    assert code == 0
    [row] = json.loads(output)
    assert (row["state"], row["rule"], row["value"]) == ("open", "kering", 14.2)

    assert tani(url, "alerts", "ack", str(row["id"]), "--user", "sari")[0] == 0
    registry = Registry(url)
    try:
        with Session(registry.engine) as session:
            alert = session.get(Alert, row["id"])
            assert alert is not None and alert.state == "acknowledged"
            user = session.get(User, alert.acknowledged_by)
            assert user is not None and user.username == "sari"
    finally:
        registry.close()
    assert json.loads(tani(url, "alerts", "list", "--state", "open", "--json")[1]) == []


def test_bad_requests_exit_2_with_a_message(tmp_path: Path) -> None:
    url = _registry_with_alert(tmp_path)
    code, output = tani(url, "alerts", "list", "--state", "closed")
    assert code == 2 and "unknown state 'closed'" in output
    code, output = tani(url, "alerts", "ack", "99", "--user", "sari")
    assert code == 2 and "no alert 99" in output
    code, output = tani(url, "alerts", "ack", "1", "--user", "nobody")
    assert code == 2
