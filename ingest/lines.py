"""Decoded rows straight into line protocol: the hot path of ingest, without a Reading per row.

``LineMaker`` is handed to the binary decoder (``telemetry.codec_binary.decode_rows``) as its
row maker, so every check the decoder makes stays; for each valid row it applies what ingest
checks itself (a physically impossible value is stored as bad, see ``ingest.validation``), adds
the device's field, village and crop from the registry (``storage.schema.series_prefix``, built
once per series), and keeps what the message's handling needs afterwards: the sequence numbers,
the oldest trusted time, the count of impossible values, the newest reading of each placed
series (for the last-value store, ``storage.last_values``), and whether a device the registry does
not know sent anything (then ingest decodes the message again the general way, to hold those
readings in the quarantine).

The lines are the same, byte for byte, as ``storage.schema.reading_line`` writes for the same
readings (tests/unit/test_ingest_lines.py checks it on random batches).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

from storage.last_values import Key, Newest, keep_newest
from storage.schema import QUALITY_FIELDS, Placement, series_prefix
from telemetry.quantities import QUANTITIES
from telemetry.reading import Quality, Reading

_LIMITS = {key: (q.physical_min, q.physical_max) for key, q in QUANTITIES.items()}
_BAD = Quality.BAD


class LineMaker:
    """Makes one line per valid row of one message (see the module docstring)."""

    __slots__ = ("_known", "_placements", "impossible", "newest", "oldest_ms", "seqs", "unknown")

    def __init__(
        self,
        placements: Mapping[tuple[str, str], Placement],
        known: Collection[tuple[str, str]] | None,
    ) -> None:
        self._placements = placements
        self._known = known  # None: every device's readings are stored
        self.seqs: list[int] = []
        self.oldest_ms: int | None = None
        self.impossible = 0
        self.unknown = False
        self.newest: dict[Key, Newest] = {}

    def __call__(
        self,
        gateway_id: str,
        device_id: str,
        quantity: str,
        value: float,
        unit: str,
        time_ms: int,
        quality: Quality,
        seq: int,
        trusted: bool,
    ) -> str:
        low, high = _LIMITS[quantity]
        if quality is not _BAD and not low <= value <= high:
            quality = _BAD
            self.impossible += 1
        device = (gateway_id, device_id)
        if self._known is not None and device not in self._known:
            self.unknown = True
        placed = self._placements.get(device)
        if placed is None:
            prefix = series_prefix(trusted, gateway_id, device_id, quantity, None, None, None)
        else:
            key = (placed.field_id, device_id, quantity)
            held = self.newest.get(key)
            if held is None or time_ms >= held[0]:
                self.newest[key] = (time_ms, value, quality.value)
            prefix = series_prefix(
                trusted,
                gateway_id,
                device_id,
                quantity,
                placed.field_id,
                placed.village_id,
                placed.crop,
            )
        self.seqs.append(seq)
        if trusted and (self.oldest_ms is None or time_ms < self.oldest_ms):
            self.oldest_ms = time_ms
        return f"{prefix}value={value!r},quality={QUALITY_FIELDS[quality]},seq={seq}i {time_ms}"


def newest_of(
    readings: Iterable[Reading], placements: Mapping[tuple[str, str], Placement]
) -> dict[Key, Newest]:
    """The newest reading of each placed series among ``readings``, for the last-value store."""
    newest: dict[Key, Newest] = {}
    for r in readings:
        placed = placements.get((r.gateway_id, r.device_id))
        if placed is not None:
            key = (placed.field_id, r.device_id, r.quantity)
            keep_newest(newest, key, r.time_ms, r.value, r.quality.value)
    return newest
