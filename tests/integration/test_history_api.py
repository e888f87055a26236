"""History and village summaries through the API, on the real influxd of the ``stack``.

Ten local days of readings (every 15 minutes, up to now) are written as ingest writes them,
rolled up by the rollup job, then read back through the endpoints; every expected number is
computed here from the readings written.
"""

from __future__ import annotations

import csv
import io
import itertools
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from agronomy.moisture import crop_limits
from alerts.default_rules import install_defaults
from alerts.field_limits import moisture_limits
from alerts.rules import RuleIn, set_rule_enabled, upsert_rule
from api.app import create_app
from api.config import ApiConfig, InfluxSettings
from registry.access import issue_token
from registry.alerting import Alert
from registry.directory import (
    DeviceIn,
    FieldIn,
    GatewayIn,
    UserIn,
    VillageIn,
    create_user,
    upsert_device,
    upsert_field,
    upsert_gateway,
    upsert_village,
)
from registry.models import Field
from registry.store import DevicePlacement, Registry
from storage.rollups import Rollup, StorageLayout
from storage.schema import reading_line
from storage.writers import InfluxWriter
from tani.stack import Stack
from telemetry.quantities import QUANTITIES
from telemetry.reading import Quality, Reading

pytestmark = pytest.mark.integration

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
WIB = timezone(timedelta(hours=7))
PADI_DRY = 22.0  # the default padi rule: FAO-56 p = 0.20 on loam
_run = itertools.count()

# (gateway, device, field, quantity): what each probe of the site measures.
PROBES = (
    ("g1", "soil-1", "sawah-budi", "soil_moisture"),
    ("g1", "soil-1", "sawah-budi", "soil_temperature"),
    ("g1", "wx-1", "sawah-budi", "rain"),
    ("g1", "soil-2", "ladang-desa", "soil_moisture"),
    ("g2", "soil-3", "sawah-siti", "soil_moisture"),
)
FIELDS = {
    "sawah-budi": ("v1", "padi"),
    "ladang-desa": ("v1", "jagung"),
    "sawah-siti": ("v2", "padi"),
}
USERS = {
    "admin": {"role": "admin"},
    "desa1": {"role": "village_office", "village_id": "v1"},
    "ppl": {"role": "officer", "villages": ["v1"]},
    "budi": {"role": "farmer", "village_id": "v1"},
    "siti": {"role": "farmer", "village_id": "v2"},
}


def _value(quantity: str, field: str, day: int, k: int) -> float:
    """Known values: sawah-budi's moisture is 18 + day +-1 (dry below 22 the first 4 days)."""
    if quantity == "soil_moisture":
        return (18.0 + day if field == "sawah-budi" else 30.0) + (1 if k % 2 else -1)
    if quantity == "soil_temperature":
        return 25.0 + k % 2
    return 0.25 if day % 2 == 0 else 0.0  # rain: 24 mm on even days


@dataclass(frozen=True)
class Site:
    """The API on the stack's influxd, and the readings written."""

    client: TestClient
    tokens: dict[str, str]
    now_ms: int
    first_ms: int  # local midnight ten days ago
    readings: list[tuple[str, str, str, str, int, float]]  # gateway, device, field, q, t, v

    def get(self, user: str, url: str, **params: str | int) -> httpx.Response:
        """GET as ``user``."""
        # httpx would drop a query already in ``url`` for an empty ``params``.
        return self.client.get(
            url, params=params or None, headers={"Authorization": f"Bearer {self.tokens[user]}"}
        )

    def values(
        self, field: str, quantity: str, start_ms: int, end_ms: int
    ) -> list[tuple[int, float]]:
        """(time, value) of the readings of a quantity in a field written in [start, end)."""
        return [
            (t, v)
            for _, _, f, q, t, v in self.readings
            if f == field and q == quantity and start_ms <= t < end_ms
        ]


def _seed(session: Session, now_ms: int) -> dict[str, str]:
    for vid in ("v1", "v2"):
        upsert_village(session, VillageIn(id=vid, name=vid.upper()))
    users = {
        name: create_user(
            session, UserIn.model_validate({"username": name, "full_name": name} | extra), None, 0
        )
        for name, extra in USERS.items()
    }
    owners = {"sawah-budi": "budi", "sawah-siti": "siti"}
    for fid, (village, crop) in FIELDS.items():
        upsert_field(
            session,
            FieldIn(id=fid, name=fid.title(), village_id=village, crop=crop, owner=owners.get(fid)),
        )
    for gid, village in (("g1", "v1"), ("g2", "v2")):
        upsert_gateway(session, GatewayIn(id=gid, name=gid, village_id=village))
    # soil-9 is placed in sawah-budi but never sends: it costs the field uptime.
    placed = {(g, d, f) for g, d, f, _ in PROBES} | {("g1", "soil-9", "sawah-budi")}
    for g, d, f in sorted(placed):
        upsert_device(session, DeviceIn(gateway_id=g, id=d, kind="probe", field_id=f))
    install_defaults(session)
    session.flush()
    # Raised three days ago and acknowledged; raised long before the period: not counted.
    for opened, acked in ((now_ms - 3 * DAY_MS, now_ms - 3 * DAY_MS + HOUR_MS), (1000, None)):
        session.add(
            Alert(
                rule_name="padi-tanah-kering",
                kind="below",
                severity="warning",
                subject=f"alert-{opened}",
                gateway_id="g1",
                field_id="sawah-budi",
                village_id="v1",
                state="acknowledged" if acked else "open",
                since_ms=opened,
                opened_ms=opened,
                acknowledged_ms=acked,
            )
        )
    tokens = {n: issue_token(session, u, label="test", now_ms=now_ms) for n, u in users.items()}
    session.commit()
    return tokens


@pytest.fixture(scope="module")
def site(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    now_ms = int(time.time() * 1000)
    today = datetime.fromtimestamp(now_ms / 1000, WIB).date()
    first_ms = int(
        datetime.combine(today - timedelta(days=10), datetime.min.time(), WIB).timestamp() * 1000
    )
    writer = InfluxWriter(
        stack.influx_url, f"tani_history_{next(_run)}", layout=StorageLayout(utc_offset_h=7)
    )
    registry = Registry(f"sqlite:///{tmp_path_factory.mktemp('history') / 'registry.sqlite3'}")
    try:
        writer.ensure_database()
        readings = []
        for k, t in enumerate(range(first_ms, now_ms, 15 * MINUTE_MS)):
            day = (t - first_ms) // DAY_MS
            for g, d, f, q in PROBES:
                readings.append((g, d, f, q, t, _value(q, f, day, k)))
        lines = [
            reading_line(
                Reading(g, d, q, v, QUANTITIES[q].unit, t, Quality.GOOD, i),
                DevicePlacement(f, *FIELDS[f]),
            )
            for i, (g, d, f, q, t, v) in enumerate(readings)
        ]
        for i in range(0, len(lines), 5000):
            writer.write_lines(lines[i : i + 5000])
        Rollup(writer, writer.layout).run_once(now_ms, since_ms=first_ms)
        with Session(registry.engine) as session:
            tokens = _seed(session, now_ms)
        config = ApiConfig(
            registry_url=str(registry.engine.url),
            influx=InfluxSettings(url=stack.influx_url, database=writer.database),
            utc_offset_h=7,
        )
        with TestClient(create_app(config)) as client:
            yield Site(client, tokens, now_ms, first_ms, readings)
    finally:
        registry.close()
        writer.execute(f'DROP DATABASE "{writer.database}"')
        writer.close()


def _iso(time_ms: int) -> str:
    return datetime.fromtimestamp(time_ms / 1000, UTC).isoformat()


def _by_step(
    values: list[tuple[int, float]], step_ms: int, offset_ms: int
) -> dict[int, list[float]]:
    steps: dict[int, list[float]] = defaultdict(list)
    for t, v in values:
        steps[t - (t - offset_ms) % step_ms].append(v)
    return steps


@pytest.mark.parametrize(
    ("days", "points", "source", "step_h", "offset_h"),
    [
        (1, 500, "raw", 5 / 60, 0),
        (7, 500, "raw", 0.5, 0),
        (90, 500, "hourly", 6, 5),  # 6-hour steps from local midnight (17 h UTC)
        (90, 50, "daily", 48, 17),
    ],
)
def test_history_downsamples_by_range(
    site: Site, days: int, points: int, source: str, step_h: float, offset_h: int
) -> None:
    end = site.now_ms - site.now_ms % MINUTE_MS
    start = end - days * DAY_MS
    answer = site.get(
        "budi",
        "/api/v1/fields/sawah-budi/history",
        quantity="soil_moisture",
        start=_iso(start),
        end=_iso(end),
        points=points,
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    step_ms = int(step_h * HOUR_MS)
    assert (body["source"], body["step_s"], body["unit"]) == (source, step_ms // 1000, "%")
    # Rollup intervals overlapping the range count whole (the first hour or day may start
    # before it, the last may hold readings after its end); raw steps hold only readings
    # inside it.
    grain = {"raw": 1, "hourly": HOUR_MS, "daily": DAY_MS}[source]
    first, last = start, end
    if grain > 1:
        first = start - (start - 17 * HOUR_MS % grain) % grain
        last = end + (17 * HOUR_MS % grain - end) % grain
    expected = _by_step(
        site.values("sawah-budi", "soil_moisture", first, last), step_ms, offset_h * HOUR_MS
    )
    assert len(body["points"]) == len(expected) <= points
    for point in body["points"]:
        values = expected[int(datetime.fromisoformat(point["time"]).timestamp() * 1000)]
        assert point["count"] == len(values)
        assert point["mean"] == pytest.approx(sum(values) / len(values))
        assert (point["min"], point["max"]) == (min(values), max(values))
        assert point["sum"] is None


def test_rain_history_carries_the_millimetres_of_each_step(site: Site) -> None:
    answer = site.get(
        "desa1",
        "/api/v1/fields/sawah-budi/history",
        quantity="rain",
        start=_iso(site.first_ms),
        end=_iso(site.now_ms + 1),
        points=20,
    )
    body = answer.json()
    assert body["source"] == "daily"
    total = sum(v for _, v in site.values("sawah-budi", "rain", 0, site.now_ms + 1))
    assert sum(p["sum"] for p in body["points"]) == pytest.approx(total)


def test_default_history_is_the_last_24_hours_and_csv_matches(site: Site) -> None:
    body = site.get("admin", "/api/v1/fields/sawah-budi/history", quantity="soil_moisture").json()
    start, end = (datetime.fromisoformat(body[k]) for k in ("start", "end"))
    assert end - start == timedelta(hours=24)
    assert abs(end.timestamp() - time.time()) < 60
    assert 95 <= len(body["points"]) <= 97  # one reading every 15 minutes

    params = {"quantity": "soil_moisture", "start": body["start"], "end": body["end"]}
    answer = site.get("admin", "/api/v1/fields/sawah-budi/history.csv", **params)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    disposition = answer.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="riwayat_sawah-budi_soil_moisture_')
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert [float(r["mean"]) for r in rows] == [p["mean"] for p in body["points"]]
    assert {r["unit"] for r in rows} == {"%"}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {
                "quantity": "soil_moisture",
                "start": "2026-01-02T00:00:00",
                "end": "2026-01-01T00:00:00",
            },
            "end must be after start",
        ),
        (
            {
                "quantity": "soil_moisture",
                "start": "2020-01-01T00:00:00Z",
                "end": "2026-01-01T00:00:00Z",
            },
            "2 years",
        ),
        ({"quantity": "kelembapan"}, "unknown quantity"),
        (
            {"quantity": "rain", "start": "0001-01-01T00:00:00"},
            "times must be in the years 2000-2099",
        ),
        (
            {"quantity": "rain", "end": "9999-12-31T23:59:59Z"},
            "times must be in the years 2000-2099",
        ),
    ],
)
def test_bad_history_parameters_are_422(site: Site, params: dict, message: str) -> None:
    answer = site.get("budi", "/api/v1/fields/sawah-budi/history", **params)
    assert answer.status_code == 422
    assert message in answer.json()["detail"]


def _expected_summary(site: Site, field: str, start_ms: int, end_ms: int) -> dict[str, object]:
    moisture = site.values(field, "soil_moisture", start_ms, end_ms)
    days = _by_step(moisture, DAY_MS, 17 * HOUR_MS)
    hours = -(-(min(end_ms, site.now_ms) - start_ms) // HOUR_MS)
    with_data = {
        t - t % HOUR_MS
        for _, _, f, _, t, _ in site.readings
        if f == field and start_ms <= t < end_ms
    }
    return {
        "rainfall_mm": sum(v for _, v in site.values(field, "rain", start_ms, end_ms))
        if field == "sawah-budi"
        else None,
        "mean": sum(v for _, v in moisture) / len(moisture),
        "min": min(v for _, v in moisture),
        "max": max(v for _, v in moisture),
        "dry_days": sum(sum(v) / len(v) < PADI_DRY for v in days.values())
        if field == "sawah-budi"
        else 0,
        "days_with_moisture": len(days),
        "completeness": len(with_data) / hours,
    }


def test_village_summary_of_a_week(site: Site) -> None:
    day = datetime.fromtimestamp((site.first_ms + 2 * DAY_MS) / 1000, WIB).date()
    answer = site.get("desa1", "/api/v1/villages/v1/summary", period="week", start=day.isoformat())
    assert answer.status_code == 200, answer.text
    body = answer.json()
    monday = day - timedelta(days=day.weekday())
    assert (body["start"], body["end"]) == (
        monday.isoformat(),
        (monday + timedelta(days=6)).isoformat(),
    )
    start_ms = int(datetime.combine(monday, datetime.min.time(), WIB).timestamp() * 1000)
    end_ms = start_ms + 7 * DAY_MS
    fields = {f["field_id"]: f for f in body["fields"]}
    assert set(fields) == {"sawah-budi", "ladang-desa"}
    for field_id, f in fields.items():
        expected = _expected_summary(site, field_id, start_ms, end_ms)
        assert f["rainfall_mm"] == pytest.approx(expected["rainfall_mm"])
        assert f["soil_moisture"]["mean"] == pytest.approx(expected["mean"])
        assert (f["soil_moisture"]["min"], f["soil_moisture"]["max"]) == (
            expected["min"],
            expected["max"],
        )
        assert (f["dry_days"], f["days_with_moisture"]) == (
            expected["dry_days"],
            expected["days_with_moisture"],
        )
        assert f["completeness"] == pytest.approx(expected["completeness"])
    budi = fields["sawah-budi"]
    assert budi["dry_threshold"] == PADI_DRY and fields["ladang-desa"]["dry_threshold"] == 18.0
    assert budi["dry_days"] >= 1  # the first days of the data are dry ones
    # soil-1 and wx-1 reported whenever the field did; soil-9 never did.
    assert budi["uptime"] == pytest.approx(budi["completeness"] * 2 / 3)
    assert budi["soil_temperature"]["mean"] == pytest.approx(25.5, abs=0.01)
    assert fields["ladang-desa"]["soil_temperature"] is None


@pytest.mark.parametrize("start", ["0001-01-01", "9999-12-31"])
def test_a_summary_far_off_is_422(site: Site, start: str) -> None:
    answer = site.get("admin", "/api/v1/villages/v1/summary", period="week", start=start)
    assert answer.status_code == 422
    assert "times must be in the years 2000-2099" in answer.json()["detail"]


def test_village_summary_of_this_month_counts_alerts(site: Site) -> None:
    body = site.get("ppl", "/api/v1/villages/v1/summary", period="month").json()
    today = datetime.fromtimestamp(site.now_ms / 1000, WIB).date()
    assert body["start"] == today.replace(day=1).isoformat()
    budi = next(f for f in body["fields"] if f["field_id"] == "sawah-budi")
    raised_ms = site.now_ms - 3 * DAY_MS
    in_month = datetime.fromtimestamp(raised_ms / 1000, WIB).date() >= today.replace(day=1)
    assert (budi["alerts_raised"], budi["alerts_acknowledged"]) == (int(in_month), int(in_month))

    answer = site.get("desa1", "/api/v1/villages/v1/summary.csv", period="month")
    assert answer.status_code == 200
    assert answer.headers["content-disposition"] == (
        f'attachment; filename="ringkasan_v1_month_{body["start"]}.csv"'
    )
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert [r["field_id"] for r in rows] == ["ladang-desa", "sawah-budi"]
    assert float(rows[1]["rainfall_mm"]) == pytest.approx(round(budi["rainfall_mm"], 2))


@pytest.mark.parametrize(
    ("user", "url", "status"),
    [
        ("siti", "/api/v1/fields/sawah-budi/history?quantity=rain", 404),
        ("siti", "/api/v1/fields/sawah-budi/history.csv?quantity=rain", 404),
        # Out of scope is 404 before any parameter is judged: a 422 would say the field exists.
        ("siti", "/api/v1/fields/sawah-budi/history", 404),
        ("siti", "/api/v1/fields/sawah-budi/history?quantity=rain&points=1", 404),
        ("budi", "/api/v1/fields/sawah-budi/history", 422),
        ("budi", "/api/v1/villages/v1/summary?period=year", 404),
        ("desa1", "/api/v1/villages/v1/summary?period=year", 422),
        ("siti", "/api/v1/villages/v1/summary", 404),
        ("budi", "/api/v1/villages/v1/summary", 404),  # farmers see fields, not villages
        ("budi", "/api/v1/villages/v1/summary.csv", 404),
        ("desa1", "/api/v1/villages/v2/summary", 404),
        ("desa1", "/api/v1/fields/sawah-siti/history?quantity=rain", 404),
        ("ppl", "/api/v1/fields/ladang-desa/history?quantity=soil_moisture", 200),
        ("admin", "/api/v1/villages/v2/summary.csv", 200),
        ("admin", "/api/v1/villages/nowhere/summary", 404),
        ("admin", "/api/v1/fields/nowhere/history?quantity=rain", 404),
    ],
)
def test_scope(site: Site, user: str, url: str, status: int) -> None:
    assert site.get(user, url).status_code == status


def test_dry_limit_comes_from_the_most_specific_enabled_rule_else_the_crop(tmp_path: Path) -> None:
    registry = Registry(f"sqlite:///{tmp_path / 'rules.sqlite3'}")
    try:
        with Session(registry.engine) as session:
            upsert_village(session, VillageIn(id="v1", name="V1"))
            for fid, crop in (("a", "padi"), ("b", "padi"), ("c", "kopi"), ("d", None)):
                upsert_field(session, FieldIn(id=fid, name=fid, village_id="v1", crop=crop))

            def rule(name: str, threshold: float, scope: str, value: str | None) -> RuleIn:
                return RuleIn(
                    name=name,
                    kind="below",
                    quantity="soil_moisture",
                    threshold=threshold,
                    duration_s=3600,
                    scope=scope,
                    scope_value=value,
                )

            for data in (
                rule("padi-1", 20, "crop", "padi"),
                rule("padi-2", 24, "crop", "padi"),  # two for one crop: the higher wins
                rule("lahan-b", 15, "field", "b"),  # a field's own rule beats its crop's
                rule("desa", 17, "village", "v1"),
                rule("mati", 40, "crop", "kopi"),
            ):
                upsert_rule(session, data)
            set_rule_enabled(session, "mati", False)
            fields = list(session.scalars(select(Field).order_by(Field.id)))
            found = {k: v.dry for k, v in moisture_limits(session, fields).items()}
            assert found == {"a": 24, "b": 15, "c": 17, "d": 17}
            set_rule_enabled(session, "desa", False)
            # No rule covers them: their crop's and soil's limit (FAO-56 p on loam).
            found = {k: v.dry for k, v in moisture_limits(session, fields).items()}
            assert found["c"] == crop_limits("kopi").dry == 20  # p = 0.40
            assert found["d"] == crop_limits(None).dry == 18  # p = 0.5, no crop
    finally:
        registry.close()
