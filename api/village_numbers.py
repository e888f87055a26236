"""A village's summary numbers from the rollups, kept a minute so an office's refreshes and
prints, and many offices at once, cost InfluxDB one pair of queries.

The rollups they come from are recomputed by ingest every ``rollup_every_s`` (15 minutes by
default), so numbers ``summary_cache_s`` old (60 s by default in the API config; 0 turns it
off) are as current as the rollups allow. Entries are per village, period and field list
(with each field's dry threshold and devices), so a changed rule or placement is a new entry.
Alert counts come from the registry on every request, not from here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from api.ttl_cache import TtlCache
from storage.influx import InfluxDB
from storage.summaries import FieldSpec, FieldSummary, village_summary
from storage.water_days import VillageWaterDays, village_water_days

HOUR_MS = 3_600_000


class VillageNumbers:
    """``storage.summaries.village_summary`` through a cache of ``ttl_s`` seconds."""

    def __init__(
        self, influx: InfluxDB, ttl_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._influx = influx
        self._kept: TtlCache[tuple[object, ...], list[FieldSummary]] = TtlCache(
            ttl_s, clock, name="summary"
        )
        self._water: TtlCache[tuple[object, ...], VillageWaterDays] = TtlCache(
            ttl_s, clock, name="water"
        )

    @property
    def cache(self) -> TtlCache[tuple[object, ...], list[FieldSummary]]:
        """The summaries cache (for metrics)."""
        return self._kept

    def summaries(
        self,
        village_id: str,
        start_ms: int,
        end_ms: int,
        fields: Sequence[FieldSpec],
        *,
        now_ms: int,
    ) -> list[FieldSummary]:
        """Summaries of ``fields`` over [start, end); raises ``InfluxError`` like the query."""
        # The hour is in the key: completeness divides by the hours up to now.
        key = (village_id, start_ms, end_ms, tuple(fields), now_ms // HOUR_MS)
        found = self._kept.get(key)
        if found is None:
            found = village_summary(
                self._influx, village_id, start_ms, end_ms, fields, now_ms=now_ms
            )
            self._kept.put(key, found)
        return found

    def water(self, village_id: str, start_ms: int, end_ms: int) -> VillageWaterDays:
        """The village's stored daily water balances over [start, end) (``water_1d``, written
        every 10 minutes by the alerts service); raises ``InfluxError`` like the query."""
        key = (village_id, start_ms, end_ms)
        found = self._water.get(key)
        if found is None:
            found = village_water_days(self._influx, village_id, start_ms, end_ms)
            self._water.put(key, found)
        return found
