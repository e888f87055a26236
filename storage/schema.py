"""The InfluxDB schema of Tani Hub readings, and their line protocol.

One measurement, ``reading``:

- tags: ``gateway_id``, ``device_id``, ``quantity`` and, when the registry places the device,
  ``field_id``, ``village_id`` and the field's ``crop``. All come from the registry (bounded
  cardinality); sequence numbers and free text never become tags.
- fields: ``value`` (float, in the catalogue unit of the quantity), ``quality`` (string:
  good/suspect/bad), ``seq`` (integer, the gateway's sequence number).
- time: the reading's own time, millisecond precision.

A replayed reading has the same series and time, so it overwrites itself: writes are idempotent.

A reading whose gateway could not establish its time (``time_trusted`` false: no RTC, rebooted
before NTP) goes to ``reading_untrusted_time`` instead, same tags and fields, stamped with the
gateway's guess: kept for inspection, out of every chart and summary.

Gateway health (``gateway_health``, tag ``gateway_id``; fields ``uptime_s``, ``outbox_depth``,
``waiting_for_clock``, ``readings_sent``, ``readings_thinned``, ``clock_trusted``,
``devices_online``, ``devices_offline``) and device health (``device_health``, tags
``gateway_id``, ``device_id``; fields ``online``, ``errors``) come from the gateways' periodic
health reports.

Rollups keep summaries over months fast (see ``storage/rollups.py``): ``reading_1h`` and
``reading_1d``, in retention policy ``rollup`` (on 2.x the bucket ``<bucket>_rollup``, mapped to
it; on 3.x, which has no retention policies, the same database). Same tags as ``reading``;
fields ``mean``, ``min``, ``max`` (float), ``count`` (integer) and, for quantity ``rain``,
``sum`` (mm in the interval). Time: the start of the hour, or of the day in the site's time zone
(WIB by default). Raw readings may expire (``[influx] retention``); rollups stay.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Protocol

from telemetry.codec import MAX_TIME_MS
from telemetry.reading import ID_PATTERN, Quality, Reading

MEASUREMENT = "reading"
UNTRUSTED_TIME_MEASUREMENT = "reading_untrusted_time"
GATEWAY_HEALTH = "gateway_health"
DEVICE_HEALTH = "device_health"
PRECISION = "ms"
HOURLY_MEASUREMENT = "reading_1h"
DAILY_MEASUREMENT = "reading_1d"
ROLLUP_RETENTION_POLICY = "rollup"


class Placement(Protocol):
    """Where the registry says a device is (``registry.store.DevicePlacement`` fits)."""

    @property
    def field_id(self) -> str: ...

    @property
    def village_id(self) -> str: ...

    @property
    def crop(self) -> str | None: ...


def _escape_tag(text: str) -> str:
    return text.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def _escape_string_field(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def reading_line(reading: Reading, placement: Placement | None) -> str:
    """One reading as a line of InfluxDB line protocol (tags sorted, as InfluxDB prefers)."""
    if placement is None:
        prefix = series_prefix(
            reading.time_trusted,
            reading.gateway_id,
            reading.device_id,
            reading.quantity,
            None,
            None,
            None,
        )
    else:
        prefix = series_prefix(
            reading.time_trusted,
            reading.gateway_id,
            reading.device_id,
            reading.quantity,
            placement.field_id,
            placement.village_id,
            placement.crop,
        )
    return (
        f"{prefix}value={reading.value!r},quality={QUALITY_FIELDS[reading.quality]},"
        f"seq={reading.seq}i {reading.time_ms}"
    )


# The quality field's text per quality (a line is prefix + value, quality, seq and time).
QUALITY_FIELDS = {q: f'"{_escape_string_field(str(q))}"' for q in Quality}


# A series' measurement and tag text is the same for every reading of it: built once, it is a
# third of ingest's work less (measured with py-spy under tani bench ingest).
@lru_cache(maxsize=65_536)
def series_prefix(
    time_trusted: bool,
    gateway_id: str,
    device_id: str,
    quantity: str,
    field_id: str | None,
    village_id: str | None,
    crop: str | None,
) -> str:
    """The measurement and tag text of a series, with the space before the fields."""
    tags = {"device_id": device_id, "gateway_id": gateway_id, "quantity": quantity}
    if field_id is not None and village_id is not None:
        tags["field_id"] = field_id
        tags["village_id"] = village_id
        if crop:
            tags["crop"] = crop
    tag_text = ",".join(f"{k}={_escape_tag(v)}" for k, v in sorted(tags.items()))
    measurement = MEASUREMENT if time_trusted else UNTRUSTED_TIME_MEASUREMENT
    return f"{measurement},{tag_text} "


class HealthError(ValueError):
    """A health report that cannot be stored."""


# InfluxDB integers are signed 64-bit: one larger makes InfluxDB refuse the whole write.
_MAX_INT = 2**63 - 1


def _shown(value: object) -> str:
    """A value for an error message, cut so a hostile report cannot flood the log."""
    if isinstance(value, int) and value.bit_length() > 200:
        return "(a number of more than 60 digits)"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _as_count(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise HealthError(f"{what} = {_shown(value)} is not a count")
    if value > _MAX_INT:
        raise HealthError(f"{what} = {_shown(value)} is too large to store")
    return value


def _count(report: dict[str, object], key: str) -> int:
    return _as_count(report.get(key, 0), key)


def _time_ms(report: dict[str, object]) -> int:
    time_ms = _count(report, "time_ms")
    if time_ms > MAX_TIME_MS:
        raise HealthError(f"time_ms = {time_ms} is after the year 2100: the gateway clock is wrong")
    return time_ms


def health_lines(gateway_id: str, payload: bytes) -> list[str]:
    """Line protocol for one gateway health report."""
    try:
        report = json.loads(payload)
    except RecursionError:
        raise HealthError("not JSON from a gateway: lists or objects nested too deeply") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise HealthError(f"not JSON: {exc}") from None
    if not isinstance(report, dict):
        raise HealthError("health report is not a JSON object")
    # No time: the gateway's clock was not trusted, InfluxDB stamps the report on arrival.
    stamp = f" {_time_ms(report)}" if "time_ms" in report else ""
    clock = report.get("clock")
    devices = report.get("devices", {})
    if not isinstance(clock, dict) or not isinstance(devices, dict):
        raise HealthError("'clock' or 'devices' is not an object")
    gateway_tag = _escape_tag(gateway_id)
    lines = []
    online = 0
    for device_id, state in devices.items():
        if not isinstance(state, dict) or not isinstance(device_id, str) or not device_id:
            raise HealthError(f"device entry {_shown(device_id)} is not an object")
        # fullmatch: a line break (which "$" lets through) would end the line-protocol line.
        if not ID_PATTERN.fullmatch(device_id):
            raise HealthError(f"device id {_shown(device_id)} is not a valid device id")
        is_online = state.get("online") is True
        online += is_online
        errors = state.get("errors", {})
        if not isinstance(errors, dict):
            raise HealthError(f"errors of device {device_id!r} are not counts")
        total = sum(_as_count(n, f"errors of device {device_id!r}") for n in errors.values())
        lines.append(
            f"{DEVICE_HEALTH},device_id={_escape_tag(device_id)},gateway_id={gateway_tag}"
            f" online={str(is_online).lower()},errors={_as_count(total, 'errors in all')}i{stamp}"
        )
    fields = ",".join(
        f"{key}={_count(report, key)}i"
        for key in (
            "uptime_s",
            "outbox_depth",
            "waiting_for_clock",
            "readings_sent",
            "readings_thinned",
        )
    )
    lines.append(
        f"{GATEWAY_HEALTH},gateway_id={gateway_tag} {fields},"
        f"clock_trusted={str(clock.get('trusted') is True).lower()},"
        f"devices_online={online}i,devices_offline={len(devices) - online}i{stamp}"
    )
    return lines
