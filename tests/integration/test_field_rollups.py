"""Field rows (``field_1d``) on the real influxd 1.6 of the ``stack``: the rollup job writes them
after ``reading_1d``, late readings change them, and the village summary gives the numbers of the
readings whether it reads the field rows or computes a day from ``reading_1d``.

Each test uses a database of its own. Every expected number is computed here from the readings
written, by the definitions of ``storage/summaries.py``.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator

import pytest

from storage.field_rollups import FIELD_MEASUREMENT, PROGRESS_MEASUREMENT
from storage.rollups import Rollup, StorageLayout, continuous_queries
from storage.schema import ROLLUP_RETENTION_POLICY
from storage.summaries import FieldSpec, FieldSummary, Stats, village_summary
from storage.writers import InfluxWriter
from tani.stack import Stack

pytestmark = pytest.mark.integration

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
WIB_MS = 7 * HOUR_MS
DRY = 22.0
_run = itertools.count()
# (gateway, device, field, quantity)
PROBES = (
    ("gw-1", "soil-1", "sawah-1", "soil_moisture"),
    ("gw-1", "soil-1", "sawah-1", "soil_temperature"),
    ("gw-1", "soil-2", "sawah-1", "soil_moisture"),
    ("gw-1", "wx-1", "sawah-1", "rain"),
    ("gw-1", "soil-3", "sawah-2", "soil_moisture"),
)
SPECS = [
    FieldSpec("sawah-1", DRY, (("gw-1", "soil-1"), ("gw-1", "soil-2"), ("gw-1", "wx-1"))),
    # soil-9 is placed there and never sent anything: it counts 0 uptime.
    FieldSpec("sawah-2", DRY, (("gw-1", "soil-3"), ("gw-1", "soil-9"))),
]
Reading = tuple[str, str, str, str, int, float]  # gateway, device, field, quantity, time, value


@pytest.fixture
def writer(stack: Stack) -> Iterator[InfluxWriter]:
    influx = InfluxWriter(
        stack.influx_url, f"tani_field_rows_{next(_run)}", layout=StorageLayout(utc_offset_h=7)
    )
    influx.ensure_database()
    yield influx
    influx.execute(f'DROP DATABASE "{influx.database}"')
    influx.close()


def _midnight(time_ms: int) -> int:
    return time_ms - (time_ms + WIB_MS) % DAY_MS


def _value(quantity: str, device: str, day: int, k: int) -> float:
    if quantity == "rain":
        return 0.5 if k % 3 == 0 else 0.0
    if quantity == "soil_temperature":
        return 26.0 + k % 2
    # sawah-1's probes disagree; soil-2 is dry the first day.
    base = {"soil-1": 30.0, "soil-2": 12.0 + 8 * day, "soil-3": 25.0}[device]
    return base + (k % 4) * 0.5


def _readings(first_day_ms: int, days: int, hours: range) -> list[Reading]:
    found = []
    for day in range(days):
        for k, hour in enumerate(hours):
            for gateway, device, field, quantity in PROBES:
                if device == "soil-3" and hour % 5 == 0:
                    continue  # a probe that misses some polls
                at = first_day_ms + day * DAY_MS + hour * HOUR_MS + 60_000
                found.append(
                    (gateway, device, field, quantity, at, _value(quantity, device, day, k))
                )
    return found


def _write(writer: InfluxWriter, readings: list[Reading]) -> None:
    writer.write_lines(
        [
            f"reading,crop=padi,device_id={d},field_id={f},gateway_id={g},quantity={q},"
            f'village_id=desa-1 value={v!r},quality="good",seq=1i {t}'
            for g, d, f, q, t, v in readings
        ]
    )


def _expected(
    readings: list[Reading], spec: FieldSpec, start_ms: int, end_ms: int, now_ms: int
) -> FieldSummary:
    mine = [r for r in readings if r[2] == spec.field_id and start_ms <= r[4] < end_ms]
    hours = -(-(min(end_ms, now_ms) - start_ms) // HOUR_MS)

    def values(quantity: str) -> list[float]:
        return [r[5] for r in mine if r[3] == quantity]

    moisture_days: dict[int, list[float]] = {}
    for r in mine:
        if r[3] == "soil_moisture":
            moisture_days.setdefault(_midnight(r[4]), []).append(r[5])
    series_hours: dict[tuple[str, str, str], set[int]] = {}
    for g, d, _, q, t, _ in mine:
        series_hours.setdefault((g, d, q), set()).add(t - t % HOUR_MS)
    device_hours: dict[tuple[str, str], int] = {}
    for (g, d, _), found in series_hours.items():
        device_hours[(g, d)] = max(len(found), device_hours.get((g, d), 0))
    devices = set(spec.devices) | set(device_hours)
    moisture, temperature, rain = (values(q) for q in ("soil_moisture", "soil_temperature", "rain"))
    return FieldSummary(
        field_id=spec.field_id,
        rainfall_mm=sum(rain) if rain else None,
        soil_moisture=_stats(moisture),
        soil_temperature=_stats(temperature),
        dry_threshold=spec.dry_threshold,
        dry_days=sum(sum(v) / len(v) < spec.dry_threshold for v in moisture_days.values()),
        days_with_moisture=len(moisture_days),
        hours_expected=hours,
        completeness=sum(len(h) for h in series_hours.values()) / (len(series_hours) * hours),
        uptime=sum(device_hours.get(d, 0) for d in devices) / (len(devices) * hours),
    )


def _stats(values: list[float]) -> Stats | None:
    if not values:
        return None
    return Stats(sum(values) / len(values), min(values), max(values), len(values))


def _assert_same(got: list[FieldSummary], want: list[FieldSummary]) -> None:
    for mine, theirs in zip(got, want, strict=True):
        for name in ("field_id", "dry_days", "days_with_moisture", "hours_expected"):
            assert getattr(mine, name) == getattr(theirs, name), name
        for name in ("rainfall_mm", "completeness", "uptime"):
            assert getattr(mine, name) == pytest.approx(getattr(theirs, name)), name
        for name in ("soil_moisture", "soil_temperature"):
            a, b = getattr(mine, name), getattr(theirs, name)
            if b is None:
                assert a is None
            else:
                assert (a.min, a.max, a.count) == (b.min, b.max, b.count)
                assert a.mean == pytest.approx(b.mean)


def _field_rows(writer: InfluxWriter, field_id: str) -> dict[int, dict[str, object]]:
    series = writer.query(
        f'SELECT * FROM "{ROLLUP_RETENTION_POLICY}"."{FIELD_MEASUREMENT}"'
        f" WHERE \"field_id\" = '{field_id}'"
    )
    return {int(row["time"]): row for s in series for row in s.rows()}


def test_the_job_writes_field_rows_and_the_summary_reads_them_or_reading_1d_alike(
    writer: InfluxWriter,
) -> None:
    now_ms = int(time.time() * 1000)
    today = _midnight(now_ms)
    first = today - 3 * DAY_MS
    readings = _readings(first, 3, range(0, 24, 2))
    _write(writer, readings)
    Rollup(writer, writer.layout).run_once(now_ms, since_ms=first)

    rows = _field_rows(writer, "sawah-1")
    assert sorted(rows) == [first, first + DAY_MS, first + 2 * DAY_MS]
    assert rows[first]["soil_moisture_count"] == 24 and rows[first]["rain_mm"] == 2.0
    progress = writer.query(f'SELECT * FROM "{ROLLUP_RETENTION_POLICY}"."{PROGRESS_MEASUREMENT}"')
    assert {int(r["time"]) for s in progress for r in s.rows()} >= {first, today}

    want = [_expected(readings, spec, first, today + DAY_MS, now_ms) for spec in SPECS]
    from_rows = village_summary(writer, "desa-1", first, today + DAY_MS, SPECS, now_ms=now_ms)
    _assert_same(from_rows, want)
    assert from_rows[0].dry_days == 1  # soil-2 pulls the first day's mean under 22

    # Without the job's progress no field row is trusted: every day comes from reading_1d.
    writer.execute(f'DROP MEASUREMENT "{PROGRESS_MEASUREMENT}"')
    computed = village_summary(writer, "desa-1", first, today + DAY_MS, SPECS, now_ms=now_ms)
    assert computed == from_rows


def test_a_late_reading_changes_the_field_row_once_the_job_has_run(writer: InfluxWriter) -> None:
    now_ms = int(time.time() * 1000)
    today = _midnight(now_ms)
    first = today - 3 * DAY_MS
    readings = _readings(first, 3, range(0, 24, 2))
    _write(writer, readings)
    rollup = Rollup(writer, writer.layout)
    rollup.run_once(now_ms, since_ms=first)
    day = first + DAY_MS
    before = _field_rows(writer, "sawah-2")[day]

    # sawah-2's gateway replays a reading of two days ago: 5 %, its driest.
    late = ("gw-1", "soil-3", "sawah-2", "soil_moisture", day + 10 * HOUR_MS + 30_000, 5.0)
    _write(writer, [late])
    rollup.run_once(now_ms)  # the usual look-back does not reach it
    assert _field_rows(writer, "sawah-2")[day] == before

    rollup.run_once(now_ms, since_ms=late[4])
    after = _field_rows(writer, "sawah-2")[day]
    assert after["soil_moisture_count"] == before["soil_moisture_count"] + 1  # type: ignore[operator]
    assert after["soil_moisture_min"] == 5.0
    everything = [*readings, late]
    summary = village_summary(writer, "desa-1", first, today + DAY_MS, SPECS, now_ms=now_ms)
    want = [_expected(everything, spec, first, today + DAY_MS, now_ms) for spec in SPECS]
    _assert_same(summary, want)
    assert summary[1].soil_moisture is not None and summary[1].soil_moisture.min == 5.0


def test_a_day_the_job_last_saw_before_it_ended_is_read_from_reading_1d(
    writer: InfluxWriter,
) -> None:
    """The job ran at noon; the daily CQ rewrote the day's rollups at midnight: the summary
    shows the whole day, not the field rows of noon."""
    now_ms = int(time.time() * 1000)
    today = _midnight(now_ms)
    yesterday = today - DAY_MS
    readings = _readings(yesterday, 1, range(0, 24, 1))
    _write(writer, readings)
    Rollup(writer, writer.layout).run_once(yesterday + 12 * HOUR_MS, since_ms=yesterday)
    assert _field_rows(writer, "sawah-1")[yesterday]["soil_moisture_count"] == 24  # 12 h x 2

    # The CQs' SELECT ... INTO over yesterday, hourly first, run by hand (the daily ones run
    # only at midnight).
    window = f"time >= {yesterday}ms AND time < {today}ms"
    for grain in ("reading_1h", "reading_1d"):
        for name, statement in continuous_queries(writer.database, writer.layout):
            if name.startswith(grain):
                body = statement[statement.index(" BEGIN ") + 7 : statement.rindex(" END")]
                select, group_by = body.split(" GROUP BY ")
                where = f" AND {window}" if " WHERE " in select else f" WHERE {window}"
                writer.execute(f"{select}{where} GROUP BY {group_by}")

    summary = village_summary(writer, "desa-1", yesterday, today, SPECS, now_ms=now_ms)
    want = [_expected(readings, spec, yesterday, today, now_ms) for spec in SPECS]
    _assert_same(summary, want)
    assert summary[0].soil_moisture is not None and summary[0].soil_moisture.count == 48


def test_the_first_run_fills_field_rows_of_days_rolled_up_before(writer: InfluxWriter) -> None:
    """A site whose daily rollups predate field rows gets them for its whole history once."""
    now_ms = int(time.time() * 1000)
    old = _midnight(now_ms) - 20 * DAY_MS
    readings = _readings(old, 2, range(0, 24, 6))
    _write(writer, readings)
    Rollup(writer, writer.layout, lookback_ms=30 * DAY_MS).run_once(now_ms)
    writer.execute(f'DROP MEASUREMENT "{FIELD_MEASUREMENT}"')
    writer.execute(f'DROP MEASUREMENT "{PROGRESS_MEASUREMENT}"')

    Rollup(writer, writer.layout).run_once(now_ms)  # a new process: three hours' look-back
    assert sorted(_field_rows(writer, "sawah-1")) == [old, old + DAY_MS]
    summary = village_summary(writer, "desa-1", old, old + 2 * DAY_MS, SPECS, now_ms=now_ms)
    want = [_expected(readings, spec, old, old + 2 * DAY_MS, now_ms) for spec in SPECS]
    _assert_same(summary, want)
