"""Latest readings per field: from the last-value store ingest keeps, InfluxDB only as a fallback.

Ingest puts the newest reading of every series into the last-value store right after InfluxDB
took it (``storage.last_values``), so a field's latest conditions are one key lookup, shared by
every API process. An answer is reused for at most ``STORE_CACHE_S`` (and never longer than
``latest_cache_s``): never more than a second behind the newest stored reading. When the store
lacks a device placed in the field (a new store, a device that sent nothing since), the field is
read from InfluxDB with the look-back query as before, and that answer is kept ``latest_cache_s``
(10 s by default; 0 turns every cache here off). A stale device shows with its last reading's
time, so pages still call it stale. The field's registry entry (village, devices) is kept
``latest_cache_s`` too; an admin change through this API forgets it at once. Who may see a field
is checked on every request, before its readings are asked for.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from api.kept_answer import KeptAnswer
from api.ttl_cache import TtlCache
from registry.store import FieldInfo, Registry
from storage.influx import InfluxDB
from storage.last_values import LastValues, LastValuesError
from storage.queries import LatestValue, latest_for_field

log = logging.getLogger(__name__)

# Ingest updates the store within milliseconds of a write; this keeps a burst of phones asking
# for one field to one lookup while staying well inside the one second the API promises.
STORE_CACHE_S = 0.5


class LatestReadings:
    """A field's latest readings from the last-value store, else InfluxDB (see the module)."""

    def __init__(
        self,
        influx: InfluxDB,
        registry: Registry,
        ttl_s: float,
        clock: Callable[[], float] = time.monotonic,
        store: LastValues | None = None,
    ) -> None:
        self._influx = influx
        self._registry = registry
        self._store = store
        self._kept: TtlCache[str, list[LatestValue]] = TtlCache(
            min(ttl_s, STORE_CACHE_S), clock, name="latest"
        )
        self._looked_back: TtlCache[str, list[LatestValue]] = TtlCache(
            ttl_s, clock, name="latest_influx"
        )
        self._fields: TtlCache[str, FieldInfo] = TtlCache(ttl_s, clock, name="fields")
        # The JSON answer of a field, as long as its values are kept: a request that finds it
        # costs neither a query nor a serialization.
        self._answers: TtlCache[str, KeptAnswer] = TtlCache(
            min(ttl_s, STORE_CACHE_S), clock, name="latest_json"
        )

    @property
    def caches(self) -> tuple[TtlCache[str, Any], ...]:
        """The readings caches and the fields cache (for metrics)."""
        return self._kept, self._looked_back, self._fields, self._answers

    def field(self, field_id: str) -> FieldInfo | None:
        """The registry's entry of a field, or None if there is no such field."""
        return self._fields.get(field_id) or self.field_from_registry(field_id)

    def field_kept(self, field_id: str, *, count: bool = True) -> FieldInfo | None:
        """The field's entry if it is kept; None means ask ``field_from_registry`` (no I/O)."""
        return self._fields.get(field_id, count=count)

    def field_from_registry(self, field_id: str) -> FieldInfo | None:
        """The registry's entry of a field, kept for the next requests; None if none."""
        info = self._registry.field(field_id)
        if info is not None:
            self._fields.put(field_id, info)
        return info

    def answer_kept(self, field_id: str, *, count: bool = True) -> KeptAnswer | None:
        """The JSON answer made for this field a moment ago, if any (no I/O)."""
        return self._answers.get(field_id, count=count)

    def count_field_hit(self) -> None:
        """Count a hit of a field's entry looked up with ``count=False`` and used."""
        self._fields.count_hit()

    def keep_answer(self, field_id: str, answer: KeptAnswer) -> None:
        """Keep a field's JSON answer as long as its values are kept."""
        self._answers.put(field_id, answer)

    def forget_fields(self) -> None:
        """Read fields from the registry again (an admin changed one)."""
        self._fields.clear()
        self._answers.clear()

    def of_field(self, field_id: str, devices: Sequence[str] = ()) -> list[LatestValue]:
        """The latest value of every quantity of a field; raises ``InfluxError`` like the query.

        ``devices``: ids of the devices placed in the field (see ``latest_for_field``).
        """
        values = self._kept.get(field_id)
        if values is None:
            values = self._stored(field_id)
            if values:
                self._kept.put(field_id, values)
        if values and set(devices) <= {v.device_id for v in values}:
            return values
        values = self._looked_back.get(field_id)
        if values is None:
            values = latest_for_field(self._influx, field_id, devices)
            self._looked_back.put(field_id, values)
        return values

    def _stored(self, field_id: str) -> list[LatestValue]:
        if self._store is None:
            return []
        try:
            return self._store.of_field(field_id)
        except LastValuesError as exc:
            log.warning(f"{exc}; asking InfluxDB instead", extra={"field_id": field_id})
            return []
