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
# Later than any reading: the first trusted row of a series is its oldest so far.
_NEVER = 2**63


class _Series:
    """What every row of one series in one message shares, and what its rows leave behind."""

    __slots__ = ("high", "key", "low", "newest", "oldest_ms", "prefix", "untrusted_prefix")

    def __init__(
        self, low: float, high: float, prefix: str, untrusted_prefix: str, key: Key | None
    ) -> None:
        self.low = low
        self.high = high
        self.prefix = prefix
        self.untrusted_prefix = untrusted_prefix
        self.key = key  # (field, device, quantity) of a placed device, else None
        self.newest: tuple[int, float, Quality] | None = None
        self.oldest_ms = _NEVER


class LineMaker:
    """Makes one line per valid row of one message (see the module docstring)."""

    __slots__ = ("_known", "_placements", "_series", "impossible", "seqs", "unknown")

    def __init__(
        self,
        placements: Mapping[tuple[str, str], Placement],
        known: Collection[tuple[str, str]] | None,
    ) -> None:
        self._placements = placements
        self._known = known  # None: every device's readings are stored
        self._series: list[_Series] = []
        self.seqs: list[int] = []
        self.impossible = 0
        self.unknown = False

    def series(self, gateway_id: str, device_id: str, quantity: str, unit: str) -> _Series:
        """Look up a series' placement and build its line prefixes, once per message."""
        device = (gateway_id, device_id)
        if self._known is not None and device not in self._known:
            self.unknown = True
        placed = self._placements.get(device)
        if placed is None:
            tags: tuple[str | None, str | None, str | None] = (None, None, None)
            key = None
        else:
            tags = (placed.field_id, placed.village_id, placed.crop)
            key = (placed.field_id, device_id, quantity)
        low, high = _LIMITS[quantity]
        made = _Series(
            low,
            high,
            series_prefix(True, gateway_id, device_id, quantity, *tags),
            series_prefix(False, gateway_id, device_id, quantity, *tags),
            key,
        )
        self._series.append(made)
        return made

    def row(
        self, series: _Series, value: float, time_ms: int, quality: Quality, seq: int, trusted: bool
    ) -> str:
        """One valid row's line; a physically impossible value is stored as bad."""
        if not series.low <= value <= series.high and quality is not _BAD:
            quality = _BAD
            self.impossible += 1
        newest = series.newest
        if newest is None or time_ms >= newest[0]:
            series.newest = (time_ms, value, quality)
        self.seqs.append(seq)
        if trusted:
            if time_ms < series.oldest_ms:
                series.oldest_ms = time_ms
            prefix = series.prefix
        else:
            prefix = series.untrusted_prefix
        return f"{prefix}value={value!r},quality={QUALITY_FIELDS[quality]},seq={seq}i {time_ms}"

    @property
    def oldest_ms(self) -> int | None:
        """The oldest trusted time among the rows made, None if none was trusted."""
        oldest = min((s.oldest_ms for s in self._series), default=_NEVER)
        return None if oldest == _NEVER else oldest

    @property
    def newest(self) -> dict[Key, Newest]:
        """The newest reading of each placed series among the rows made."""
        newest: dict[Key, Newest] = {}
        for s in self._series:
            if s.key is not None and s.newest is not None:
                time_ms, value, quality = s.newest
                keep_newest(newest, s.key, time_ms, value, quality.value)
        return newest


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
