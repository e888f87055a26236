"""Retention, continuous queries and the rollup job on the real influxd 1.6 of the ``stack``.

Each test uses a database of its own on the session's influxd. The values are chosen so that
mean, min, max, count and the rain sum are known exactly; one ``bad`` reading must be left out.
"""

from __future__ import annotations

import itertools
import time
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest

from storage.influx import InfluxMisconfigured
from storage.rollups import Rollup, StorageLayout, continuous_queries
from storage.schema import DAILY_MEASUREMENT, HOURLY_MEASUREMENT, ROLLUP_RETENTION_POLICY
from storage.version import Generation
from storage.writers import InfluxWriter
from tani.stack import Stack

pytestmark = pytest.mark.integration

HOUR_MS = 3_600_000
WIB_MS = 7 * HOUR_MS
TAGS = "crop=padi,device_id=soil-1,field_id=sawah-1,gateway_id=gw-r,village_id=desa-1"
_run = itertools.count()


@pytest.fixture
def writer(stack: Stack) -> Iterator[InfluxWriter]:
    influx = InfluxWriter(
        stack.influx_url,
        f"tani_rollup_{next(_run)}",
        layout=StorageLayout(raw_retention="400d", utc_offset_h=7),
    )
    yield influx
    influx.execute(f'DROP DATABASE "{influx.database}"')
    influx.close()


def _line(tags: str, quantity: str, value: float, time_ms: int, quality: str = "good") -> str:
    return (
        f'reading,{tags},quantity={quantity} value={value!r},quality="{quality}",seq=1i {time_ms}'
    )


def _rollups(influx: InfluxWriter, measurement: str) -> dict[tuple[str, int], dict[str, Any]]:
    """Every rollup point, keyed by (quantity, time)."""
    series = influx.query(f'SELECT * FROM "{ROLLUP_RETENTION_POLICY}"."{measurement}" GROUP BY *')
    return {
        (s.tags["quantity"], row["time"]): {
            k: v for k, v in row.items() if k != "time" and v is not None
        }
        for s in series
        for row in s.rows()
    }


def _expected(points: list[tuple[str, float, int]], step_ms: int, offset_ms: int) -> dict:
    """Rollup fields of good readings; days also count their hours with readings."""
    groups: dict[tuple[str, int], list[tuple[float, int]]] = defaultdict(list)
    for quantity, value, time_ms in points:
        groups[(quantity, time_ms - (time_ms - offset_ms) % step_ms)].append((value, time_ms))
    expected = {}
    for (quantity, start), found in groups.items():
        values = [v for v, _ in found]
        fields: dict[str, Any] = {
            "mean": sum(values) / len(values),
            "min": min(values),
            "max": max(values),
            "count": len(values),
        }
        if quantity == "rain":
            fields["sum"] = sum(values)
        if step_ms > HOUR_MS:
            fields["hours"] = len({t - t % HOUR_MS for _, t in found})
        expected[(quantity, start)] = fields
    return expected


def _assert_matches(actual: dict, expected: dict) -> None:
    assert actual.keys() == expected.keys()
    for key, fields in expected.items():
        assert actual[key] == pytest.approx(fields), key


def test_ensure_creates_database_retention_and_continuous_queries_idempotently(
    writer: InfluxWriter,
) -> None:
    server = writer.server()
    assert server is not None and server.generation is Generation.V1
    assert not server.speaks_v2_write
    with pytest.raises(InfluxMisconfigured, match="404"):
        writer.write_lines([_line(TAGS, "soil_ph", 6.5, int(time.time() * 1000))])  # no database

    writer.ensure_database()
    writer.ensure_database()  # a restart: nothing changes, nothing fails

    policies = {
        row["name"]: row
        for s in writer.query(f'SHOW RETENTION POLICIES ON "{writer.database}"')
        for row in s.rows()
    }
    assert policies["autogen"]["duration"] == "9600h0m0s" and policies["autogen"]["default"]
    assert policies[ROLLUP_RETENTION_POLICY]["duration"] == "0s"  # forever
    assert not policies[ROLLUP_RETENTION_POLICY]["default"]

    def cqs() -> dict[str, str]:
        return {
            row["name"]: row["query"]
            for s in writer.query("SHOW CONTINUOUS QUERIES")
            if s.name == writer.database
            for row in s.rows()
        }

    assert set(cqs()) == {
        "reading_1h",
        "reading_1h_rain",
        "reading_1d",
        "reading_1d_rain",
        "reading_1d_hours",
    }
    assert "GROUP BY time(1d, 17h), *" in cqs()["reading_1d"]  # local midnight, WIB

    # The site moves to WITA: the daily CQs are replaced, not duplicated.
    moved = InfluxWriter(
        writer.url, writer.database, layout=StorageLayout(raw_retention="400d", utc_offset_h=8)
    )
    try:
        moved.ensure_database()
    finally:
        moved.close()
    assert len(cqs()) == 5
    assert "GROUP BY time(1d, 16h), *" in cqs()["reading_1d"]


def test_rollup_job_fills_hourly_and_daily_rollups_including_late_readings(
    writer: InfluxWriter,
) -> None:
    writer.ensure_database()
    now_ms = int(time.time() * 1000)
    hour = now_ms - now_ms % HOUR_MS
    recent = [
        ("soil_moisture", 10.0, hour - 2 * HOUR_MS + 60_000),
        ("soil_moisture", 20.0, hour - 2 * HOUR_MS + 120_000),
        ("soil_moisture", 30.0, hour - 2 * HOUR_MS + 180_000),
        ("soil_moisture", 40.0, hour - HOUR_MS + 60_000),
        ("soil_moisture", 50.0, hour - HOUR_MS + 1_800_000),
        ("rain", 0.2, hour - 2 * HOUR_MS + 60_000),
        ("rain", 0.4, hour - 2 * HOUR_MS + 120_000),
        ("rain", 1.0, hour - HOUR_MS + 60_000),
    ]
    lines = [_line(TAGS, q, v, t) for q, v, t in recent]
    # A probe reporting 6553.5 % is broken: kept raw, left out of every summary.
    lines.append(_line(TAGS, "soil_moisture", 6553.5, hour - 2 * HOUR_MS + 240_000, "bad"))
    writer.write_lines(lines)

    rollup = Rollup(writer, writer.layout)
    first = rollup.run_once(now_ms)
    assert first.points_written > 0
    _assert_matches(_rollups(writer, HOURLY_MEASUREMENT), _expected(recent, HOUR_MS, 0))
    day = 24 * HOUR_MS
    _assert_matches(_rollups(writer, DAILY_MEASUREMENT), _expected(recent, day, 17 * HOUR_MS))

    # A gateway back from two days offline replays its outbox: readings 30 and 50 hours old.
    late = [
        ("soil_moisture", 5.0, hour - 30 * HOUR_MS + 60_000),
        ("soil_moisture", 7.0, hour - 30 * HOUR_MS + 90_000),
        ("rain", 3.5, hour - 50 * HOUR_MS + 60_000),
    ]
    writer.write_lines([_line(TAGS, q, v, t) for q, v, t in late])
    rollup.run_once(now_ms)  # the usual look-back does not reach them
    assert _rollups(writer, HOURLY_MEASUREMENT).keys() == _expected(recent, HOUR_MS, 0).keys()

    rollup.run_once(now_ms, since_ms=min(t for _, _, t in late))
    everything = recent + late
    hourly = _expected(everything, HOUR_MS, 0)
    daily = _expected(everything, day, 17 * HOUR_MS)
    _assert_matches(_rollups(writer, HOURLY_MEASUREMENT), hourly)
    _assert_matches(_rollups(writer, DAILY_MEASUREMENT), daily)

    # Running again rewrites the same points: nothing is added or changed.
    rollup.run_once(now_ms, since_ms=min(t for _, _, t in late))
    _assert_matches(_rollups(writer, HOURLY_MEASUREMENT), hourly)
    _assert_matches(_rollups(writer, DAILY_MEASUREMENT), daily)


def test_rollups_keep_every_tag_and_skip_missing_ones(writer: InfluxWriter) -> None:
    writer.ensure_database()
    now_ms = int(time.time() * 1000)
    at = now_ms - now_ms % HOUR_MS - HOUR_MS + 1000
    writer.write_lines(
        [
            _line(TAGS, "air_temperature", 27.5, at),
            # Not yet placed in a field by the registry: no field, village or crop tags.
            _line("device_id=wx-9,gateway_id=gw-r", "air_temperature", 30.0, at),
        ]
    )
    Rollup(writer, writer.layout).run_once(now_ms)
    series = writer.query(
        f'SELECT "mean", "count" FROM "{ROLLUP_RETENTION_POLICY}"."{HOURLY_MEASUREMENT}"'
        ' GROUP BY "device_id", "field_id", "crop"'
    )
    found = {(s.tags["device_id"], s.tags["field_id"], s.tags["crop"]): s.rows() for s in series}
    assert found[("soil-1", "sawah-1", "padi")][0]["mean"] == 27.5
    assert found[("wx-9", "", "")][0]["mean"] == 30.0
    assert all(rows[0]["count"] == 1 for rows in found.values())


def test_continuous_queries_compute_what_the_rollup_job_computes(writer: InfluxWriter) -> None:
    """A CQ runs only at interval boundaries; its SELECT is run here by hand, for a range."""
    writer.ensure_database()
    now_ms = int(time.time() * 1000)
    hour = now_ms - now_ms % HOUR_MS
    points = [
        ("soil_ph", 6.1, hour - 3 * HOUR_MS + 10_000),
        ("soil_ph", 6.4, hour - 3 * HOUR_MS + 20_000),
        ("rain", 0.8, hour - 3 * HOUR_MS + 30_000),
        ("rain", 0.6, hour - 26 * HOUR_MS),
    ]
    writer.write_lines([_line(TAGS, q, v, t) for q, v, t in points])
    start = f"{hour - 27 * HOUR_MS}ms"
    for _, statement in continuous_queries(writer.database, writer.layout):
        body = statement[statement.index(" BEGIN ") + 7 : statement.rindex(" END")]
        select, group_by = body.split(" GROUP BY ")
        window = f"time >= {start} AND time < {now_ms}ms"
        where = f"{select} AND {window}" if " WHERE " in select else f"{select} WHERE {window}"
        writer.execute(f"{where} GROUP BY {group_by}")
    by_cq = (_rollups(writer, HOURLY_MEASUREMENT), _rollups(writer, DAILY_MEASUREMENT))
    _assert_matches(by_cq[0], _expected(points, HOUR_MS, 0))
    _assert_matches(by_cq[1], _expected(points, 24 * HOUR_MS, 17 * HOUR_MS))

    Rollup(writer, writer.layout).run_once(now_ms, since_ms=hour - 27 * HOUR_MS)
    assert (_rollups(writer, HOURLY_MEASUREMENT), _rollups(writer, DAILY_MEASUREMENT)) == by_cq
