"""A small site for the API tests: three villages, one person of each role, alerts and links.

Bumi Agung (v1): officer ``ppl`` (also Sri Rejeki), office ``desa1``, farmers ``budi`` (field
``sawah-budi``) and ``tono`` (no field). Gunung Labuhan (v2): farmer ``siti`` (``sawah-siti``).
Sri Rejeki (v3): ``kebun-v3``, nobody's.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from alerts.lifecycle import acknowledge
from alerts.rules import RuleIn, upsert_rule
from api.app import create_app
from api.config import ApiConfig, InfluxSettings
from registry.access import issue_token
from registry.alerting import Alert, AlertRule, Delivery
from registry.directory import (
    ChannelIn,
    FieldIn,
    GatewayIn,
    UserIn,
    VillageIn,
    add_channel,
    create_user,
    upsert_field,
    upsert_gateway,
    upsert_village,
)
from registry.store import Registry

PASSWORD = "padi-menguning"
NOW_MS = 1_760_000_000_000  # a fixed past moment: ages in the responses are deterministic

USERS: dict[str, dict[str, object]] = {
    "admin": {"role": "admin"},
    "ppl": {"role": "officer", "villages": ["v1", "v3"]},
    "desa1": {"role": "village_office", "village_id": "v1"},
    "budi": {"role": "farmer", "village_id": "v1"},
    "tono": {"role": "farmer", "village_id": "v1"},
    "siti": {"role": "farmer", "village_id": "v2"},
}


@dataclass(frozen=True)
class Site:
    """The running API, the registry behind it, and what the tests refer to."""

    client: TestClient
    registry: Registry
    tokens: dict[str, str]  # username -> bearer token
    alerts: dict[str, int]  # name -> alert id
    links: dict[str, str]  # channel name -> ack token of its delivery of alert "budi_open"

    def auth(self, username: str) -> dict[str, str]:
        """The Authorization header of a user."""
        return {"Authorization": f"Bearer {self.tokens[username]}"}


def _alert(session: Session, rule: AlertRule, name: str, **where: str | None) -> Alert:
    alert = Alert(
        rule_id=rule.id,
        rule_name=rule.name,
        kind=rule.kind,
        severity=rule.severity,
        subject=name,
        gateway_id="g1",
        state="open",
        since_ms=NOW_MS - 3_600_000,
        opened_ms=NOW_MS,
        value=12.5,
        threshold=rule.threshold,
        quantity=rule.quantity,
        **where,
    )
    session.add(alert)
    session.flush()
    return alert


def _seed(session: Session) -> tuple[dict[str, str], dict[str, int], dict[str, str]]:
    for vid, name in (("v1", "Bumi Agung"), ("v2", "Gunung Labuhan"), ("v3", "Sri Rejeki")):
        upsert_village(session, VillageIn(id=vid, name=name))
    users = {}
    for username, extra in USERS.items():
        data = UserIn.model_validate({"username": username, "full_name": username.title()} | extra)
        # Only budi signs in with a password (argon2 is slow on purpose); the rest use tokens.
        password = PASSWORD if username == "budi" else None
        users[username] = create_user(session, data, password, NOW_MS)
    for fid, village, owner in (
        ("sawah-budi", "v1", "budi"),
        ("sawah-siti", "v2", "siti"),
        ("ladang-desa", "v1", None),
        ("kebun-v3", "v3", None),
    ):
        upsert_field(session, FieldIn(id=fid, name=fid.title(), village_id=village, owner=owner))
    upsert_gateway(session, GatewayIn(id="g1", name="Gateway 1", village_id="v1"))
    rule = upsert_rule(
        session,
        RuleIn(name="kering", kind="below", quantity="soil_moisture", threshold=20, duration_s=1),
    )
    alerts = {
        "budi_open": _alert(session, rule, "budi_open", field_id="sawah-budi", village_id="v1"),
        "siti_open": _alert(session, rule, "siti_open", field_id="sawah-siti", village_id="v2"),
        "v1_field": _alert(session, rule, "v1_field", field_id="ladang-desa", village_id="v1"),
        "v1_gateway": _alert(session, rule, "v1_gateway", field_id=None, village_id="v1"),
        "v3_field": _alert(session, rule, "v3_field", field_id="kebun-v3", village_id="v3"),
    }
    acknowledge(session, alerts["v1_field"], user_id=users["ppl"].id, now_ms=NOW_MS + 1000)
    links = {}
    for channel in (
        ChannelIn(name="wa-ppl", url="json://127.0.0.1:9/ppl", user="ppl"),
        ChannelIn(name="grup-v1", url="json://127.0.0.1:9/v1", village_id="v1"),
    ):
        row = add_channel(session, channel)
        token = f"link-{channel.name}-0123456789abcdef"
        session.add(
            Delivery(
                alert_id=alerts["budi_open"].id,
                channel_id=row.id,
                purpose="opened",
                status="sent",
                created_ms=NOW_MS,
                next_attempt_ms=NOW_MS,
                ack_token=token,
            )
        )
        links[channel.name] = token
    tokens = {
        name: issue_token(session, user, label="test", now_ms=NOW_MS)
        for name, user in users.items()
    }
    session.commit()
    return tokens, {name: alert.id for name, alert in alerts.items()}, links


@contextmanager
def running_site(
    tmp_path: Path, *, metrics_port: int | None = None, latest_cache_s: float = 0
) -> Iterator[Site]:
    """The API on a fresh registry with the site above; everything closed afterwards."""
    url = f"sqlite:///{tmp_path / 'registry.sqlite3'}"
    registry = Registry(url)
    try:
        with Session(registry.engine) as session:
            tokens, alerts, links = _seed(session)
        # No InfluxDB: the app's client connects only when a route queries it, and then finds
        # nothing listening (port 9, discard), which the API reports as 503.
        # No caches unless asked: each request asks the test's fake readings and summaries.
        config = ApiConfig(
            registry_url=url,
            influx=InfluxSettings(url="http://127.0.0.1:9"),
            latest_cache_s=latest_cache_s,
            summary_cache_s=0,
            metrics_port=metrics_port,
        )
        app = create_app(config)
        with TestClient(app) as client:
            yield Site(client, registry, tokens, alerts, links)
    finally:
        registry.close()
