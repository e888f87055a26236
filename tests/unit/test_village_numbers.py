"""The API's short cache of village summary numbers (api/village_numbers.py)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from api import village_numbers
from api.village_numbers import HOUR_MS, VillageNumbers
from storage.influx import InfluxDB
from storage.summaries import FieldSpec, FieldSummary

INFLUX = InfluxDB("http://127.0.0.1:9", "x")  # never asked: the query is stood in for
FIELDS = [FieldSpec("sawah", 22.0, (("g1", "soil-1"),))]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int, tuple[FieldSpec, ...]]]:
    calls: list[tuple[str, int, tuple[FieldSpec, ...]]] = []

    def summary(
        _influx: InfluxDB,
        village_id: str,
        start_ms: int,
        _end_ms: int,
        fields: Sequence[FieldSpec],
        *,
        now_ms: int,
    ) -> list[FieldSummary]:
        calls.append((village_id, start_ms, tuple(fields)))
        return [
            FieldSummary(f.field_id, 1.0, None, None, f.dry_threshold, 0, 0, 1, None, None)
            for f in fields
        ]

    monkeypatch.setattr(village_numbers, "village_summary", summary)
    return calls


def test_numbers_are_reused_for_the_same_village_period_and_fields(
    asked: list[tuple[str, int, tuple[FieldSpec, ...]]],
) -> None:
    clock = Clock()
    numbers = VillageNumbers(INFLUX, 60, clock)
    now = 10 * HOUR_MS
    first = numbers.summaries("v1", 0, 30, FIELDS, now_ms=now)
    assert numbers.summaries("v1", 0, 30, FIELDS, now_ms=now + 1000) is first
    numbers.summaries("v2", 0, 30, FIELDS, now_ms=now)  # another village
    numbers.summaries("v1", 7, 30, FIELDS, now_ms=now)  # another period
    stricter = [FieldSpec("sawah", 25.0, FIELDS[0].devices)]  # a changed rule
    numbers.summaries("v1", 0, 30, stricter, now_ms=now)
    numbers.summaries("v1", 0, 30, FIELDS, now_ms=now + HOUR_MS)  # the next hour counts too
    clock.now += 60
    numbers.summaries("v1", 0, 30, FIELDS, now_ms=now + HOUR_MS)  # expired
    assert [(v, s) for v, s, _ in asked] == [
        ("v1", 0),
        ("v2", 0),
        ("v1", 7),
        ("v1", 0),
        ("v1", 0),
        ("v1", 0),
    ]
    assert asked[3][2] == tuple(stricter)


def test_zero_seconds_asks_every_time(
    asked: list[tuple[str, int, tuple[FieldSpec, ...]]],
) -> None:
    numbers = VillageNumbers(INFLUX, 0, Clock())
    numbers.summaries("v1", 0, 30, FIELDS, now_ms=0)
    numbers.summaries("v1", 0, 30, FIELDS, now_ms=0)
    assert len(asked) == 2
