"""What the rollup layout allows, and the continuous queries it becomes on 1.x."""

from __future__ import annotations

import pytest

from storage.provision import duration_hours
from storage.rollups import StorageLayout, continuous_queries


@pytest.mark.parametrize(
    ("offset_h", "group_by"),
    [(7, "time(24h, 17h)"), (9, "time(24h, 15h)"), (0, "time(24h)"), (-3, "time(24h, 3h)")],
)
def test_daily_rollups_start_at_local_midnight(offset_h: int, group_by: str) -> None:
    queries = dict(continuous_queries("tani", StorageLayout(utc_offset_h=offset_h)))
    assert f"GROUP BY {group_by}, * fill(none)" in queries["reading_1d"]
    assert "GROUP BY time(1h), * fill(none)" in queries["reading_1h"]


def test_continuous_queries_write_into_the_rollup_policy_and_sum_only_rain() -> None:
    queries = dict(continuous_queries("tani", StorageLayout()))
    assert set(queries) == {
        "reading_1h",
        "reading_1h_rain",
        "reading_1d",
        "reading_1d_rain",
        "reading_1d_hours",
    }
    hourly, rain = queries["reading_1h"], queries["reading_1h_rain"]
    assert hourly.startswith('CREATE CONTINUOUS QUERY "reading_1h" ON "tani" RESAMPLE FOR 2h ')
    assert 'INTO "tani"."rollup"."reading_1h" FROM "reading"' in hourly
    assert "sum(" not in hourly and "\"quality\" != 'bad'" in hourly
    assert 'sum("value") AS "sum"' in rain and "\"quantity\" = 'rain'" in rain
    assert "RESAMPLE FOR 2d" in queries["reading_1d"]
    # A day's hours with readings: its hourly rollup rows, counted.
    hours = queries["reading_1d_hours"]
    assert 'SELECT count("count") AS "hours" INTO "tani"."rollup"."reading_1d"' in hours
    assert 'FROM "rollup"."reading_1h" GROUP BY time(24h, 17h), *' in hours


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("raw_retention", "400"),
        ("raw_retention", "30m"),
        ("raw_retention", "1d; DROP DATABASE tani"),
        ("rollup_retention", "forever"),
        ("rollup_retention", "0d"),
    ],
)
def test_a_retention_that_is_not_an_influxql_duration_is_refused(key: str, value: str) -> None:
    with pytest.raises(ValueError, match=key):
        StorageLayout(**{key: value})


def test_a_utc_offset_outside_the_world_is_refused() -> None:
    with pytest.raises(ValueError, match="utc_offset_h"):
        StorageLayout(utc_offset_h=15)


@pytest.mark.parametrize(
    ("duration", "hours"), [("INF", None), ("36h", 36), ("400d", 9600), ("52w", 8736)]
)
def test_durations_in_hours(duration: str, hours: int | None) -> None:
    assert duration_hours(duration) == hours
