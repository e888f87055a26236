"""Latest readings per field, kept for a few seconds so many phones asking at once cost one query.

Devices report every few minutes at most, so an answer ``latest_cache_s`` old (10 s by
default in the API config; 0 turns it off) shows the same conditions a fresh query would, at
most one reading late. The field's registry entry (village, devices) is kept as long; an admin
change through this API forgets it at once. Who may see a field is checked on every request,
before its readings are asked for. Each API process keeps its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from api.ttl_cache import TtlCache
from registry.store import FieldInfo, Registry
from storage.influx import InfluxDB
from storage.queries import LatestValue, latest_for_field


class LatestReadings:
    """``latest_for_field`` through a per-field cache of ``ttl_s`` seconds."""

    def __init__(
        self,
        influx: InfluxDB,
        registry: Registry,
        ttl_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._influx = influx
        self._registry = registry
        self._kept: TtlCache[str, list[LatestValue]] = TtlCache(ttl_s, clock, name="latest")
        self._fields: TtlCache[str, FieldInfo] = TtlCache(ttl_s, clock, name="fields")

    @property
    def caches(self) -> tuple[TtlCache[str, list[LatestValue]], TtlCache[str, FieldInfo]]:
        """The readings cache and the fields cache (for metrics)."""
        return self._kept, self._fields

    def field(self, field_id: str) -> FieldInfo | None:
        """The registry's entry of a field, or None if there is no such field."""
        info = self._fields.get(field_id)
        if info is None:
            info = self._registry.field(field_id)
            if info is not None:
                self._fields.put(field_id, info)
        return info

    def forget_fields(self) -> None:
        """Read fields from the registry again (an admin changed one)."""
        self._fields.clear()

    def of_field(self, field_id: str, devices: Sequence[str] = ()) -> list[LatestValue]:
        """The latest value of every quantity of a field; raises ``InfluxError`` like the query.

        ``devices``: ids of the devices placed in the field (see ``latest_for_field``).
        """
        values = self._kept.get(field_id)
        if values is None:
            values = latest_for_field(self._influx, field_id, devices)
            self._kept.put(field_id, values)
        return values
