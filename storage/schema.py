"""The InfluxDB schema of Tani Hub readings, and their line protocol.

One measurement, ``reading``:

- tags: ``gateway_id``, ``device_id``, ``quantity`` and, when the registry places the device,
  ``field_id`` and ``village_id``. All are registry identifiers (bounded cardinality); sequence
  numbers and free text never become tags.
- fields: ``value`` (float, in the catalogue unit of the quantity), ``quality`` (string:
  good/suspect/bad), ``seq`` (integer, the gateway's sequence number).
- time: the reading's own time, millisecond precision.

A replayed reading has the same series and time, so it overwrites itself: writes are idempotent.
"""

from __future__ import annotations

from typing import Protocol

from telemetry.reading import Reading

MEASUREMENT = "reading"
PRECISION = "ms"


class Placement(Protocol):
    """Where the registry says a device is (``registry.store.DevicePlacement`` fits)."""

    @property
    def field_id(self) -> str: ...

    @property
    def village_id(self) -> str: ...


def _escape_tag(text: str) -> str:
    return text.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def _escape_string_field(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def reading_line(reading: Reading, placement: Placement | None) -> str:
    """One reading as a line of InfluxDB line protocol (tags sorted, as InfluxDB prefers)."""
    tags = {
        "device_id": reading.device_id,
        "gateway_id": reading.gateway_id,
        "quantity": reading.quantity,
    }
    if placement is not None:
        tags["field_id"] = placement.field_id
        tags["village_id"] = placement.village_id
    tag_text = ",".join(f"{k}={_escape_tag(v)}" for k, v in sorted(tags.items()))
    fields = (
        f"value={reading.value!r},"
        f'quality="{_escape_string_field(str(reading.quality))}",'
        f"seq={reading.seq}i"
    )
    return f"{MEASUREMENT},{tag_text} {fields} {reading.time_ms}"
