"""A village's summary numbers from the rollups, and the summary built from them, kept a minute
so an office's refreshes and prints, and many offices at once, cost InfluxDB a couple of
queries; and the whole summary kept a few seconds, so they cost the API no query at all.

The rollups and field rows the numbers come from are recomputed by ingest every
``rollup_every_s`` (15 minutes by default), so numbers ``summary_cache_s`` old (60 s by default
in the API config; 0 turns every cache here off) are as current as the rollups allow. Their
entries are per village, period, hour and field list (with each field's dry threshold and
devices; for a built summary, the registry rows it was built from), so a changed rule or
placement is a new entry once the registry is read again. The whole summary (registry rows and
alert counts included) is per village, period and hour and lives ``RESPONSE_TTL_S``: a rule,
placement or alert shows within those seconds, as a changed user does through the auth cache.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from api.schemas_history import VillageSummaryPublic
from api.ttl_cache import TtlCache
from storage.influx import InfluxDB
from storage.summaries import FieldSpec, FieldSummary, village_summary
from storage.water_days import VillageWaterDays, village_water_days

HOUR_MS = 3_600_000
# How long a whole summary, alert counts and registry rows included, is served as it was: the
# auth cache's default, the staleness the API already allows for who may see what.
RESPONSE_TTL_S = 5.0


@dataclass(frozen=True, slots=True)
class KeptSummary:
    """A whole summary and its JSON, serialized once for every request that reuses it."""

    summary: VillageSummaryPublic
    json: bytes

    @classmethod
    def of(cls, summary: VillageSummaryPublic) -> KeptSummary:
        """``summary`` with its JSON."""
        return cls(summary, summary.model_dump_json().encode())


class VillageNumbers:
    """``storage.summaries.village_summary``, the water days and the summaries built from them,
    through caches of ``ttl_s`` seconds."""

    def __init__(
        self, influx: InfluxDB, ttl_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._influx = influx
        self._kept: TtlCache[tuple[object, ...], list[FieldSummary]] = TtlCache(
            ttl_s, clock, name="summary_numbers"
        )
        self._water: TtlCache[tuple[object, ...], VillageWaterDays] = TtlCache(
            ttl_s, clock, name="water"
        )
        self._built: TtlCache[tuple[object, ...], VillageSummaryPublic] = TtlCache(
            ttl_s, clock, name="summary_built"
        )
        self._responses: TtlCache[tuple[object, ...], KeptSummary] = TtlCache(
            min(ttl_s, RESPONSE_TTL_S), clock, name="summary"
        )

    @property
    def cache(self) -> TtlCache[tuple[object, ...], KeptSummary]:
        """The whole summaries' cache, which every summary request asks first (for metrics)."""
        return self._responses

    def response(self, key: tuple[object, ...]) -> KeptSummary | None:
        """The whole summary (alert counts included) kept for ``key``, if any: at most
        ``RESPONSE_TTL_S`` old, and never older than ``ttl_s``."""
        return self._responses.get(key)

    def keep_response(self, key: tuple[object, ...], kept: KeptSummary) -> None:
        """Keep a whole summary for :meth:`response`."""
        self._responses.put(key, kept)

    def built(
        self, key: tuple[object, ...], build: Callable[[], VillageSummaryPublic]
    ) -> VillageSummaryPublic:
        """The summary kept for ``key``, else ``build()``'s (kept unless it raises). The key
        must hold everything the summary is made from, but what InfluxDB holds."""
        found = self._built.get(key)
        if found is None:
            found = build()
            self._built.put(key, found)
        return found

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
