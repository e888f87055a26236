"""The InfluxDB line protocol of readings and the quality flags the gateway sets."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from gateway.validation import Validator
from storage.schema import HealthError, health_lines, reading_line
from telemetry.reading import Quality, Reading


@dataclass(frozen=True)
class _Place:
    field_id: str
    village_id: str
    crop: str | None = None


READING = Reading("gw-1", "soil-1", "soil_moisture", 31.5, "%", 1_790_000_000_123, Quality.GOOD, 42)


def test_line_has_sorted_tags_typed_fields_and_millisecond_time() -> None:
    assert reading_line(READING, _Place("sawah-1", "bumi-agung", "padi")) == (
        "reading,crop=padi,device_id=soil-1,field_id=sawah-1,gateway_id=gw-1,"
        'quantity=soil_moisture,village_id=bumi-agung value=31.5,quality="good",seq=42i '
        "1790000000123"
    )


def test_unplaced_device_has_no_field_or_village_tag() -> None:
    line = reading_line(READING, None)
    assert "field_id" not in line
    assert "village_id" not in line


def test_tag_values_are_escaped() -> None:
    line = reading_line(READING, _Place("a b,c=d", "v"))
    assert "field_id=a\\ b\\,c\\=d," in line


def classify(quantity: str, value: float) -> Quality:
    return Validator().classify("soil-1", quantity, value, 0)


def test_quality_flags() -> None:
    assert classify("soil_moisture", 31.5) is Quality.GOOD
    assert classify("soil_moisture", 95.0) is Quality.SUSPECT  # sensor can, a field hardly does
    assert classify("soil_moisture", 120.0) is Quality.BAD  # no probe reports this
    assert classify("soil_ph", 2.0) is Quality.BAD


def test_untrusted_time_goes_to_its_own_measurement() -> None:
    untrusted = Reading(
        "gw-1", "soil-1", "soil_moisture", 31.5, "%", 12_345, Quality.GOOD, 42, time_trusted=False
    )
    assert reading_line(untrusted, None).startswith("reading_untrusted_time,")


def test_health_report_becomes_gateway_and_device_lines() -> None:
    report = {
        "time_ms": 1_790_000_000_000,
        "uptime_s": 3600,
        "outbox_depth": 12,
        "waiting_for_clock": 0,
        "readings_sent": 5000,
        "readings_thinned": 0,
        "clock": {"trusted": True, "source": "ntp"},
        "devices": {
            "soil-1": {"online": True, "last_ok_ms": 1, "errors": {"bad_crc": 2}},
            "weather-1": {"online": False, "last_ok_ms": None, "errors": {"no_reply": 7}},
        },
        "link": None,
    }
    lines = health_lines("gw-1", json.dumps(report).encode())
    assert lines == [
        "device_health,device_id=soil-1,gateway_id=gw-1 online=true,errors=2i 1790000000000",
        "device_health,device_id=weather-1,gateway_id=gw-1 online=false,errors=7i 1790000000000",
        "gateway_health,gateway_id=gw-1 uptime_s=3600i,outbox_depth=12i,waiting_for_clock=0i,"
        "readings_sent=5000i,readings_thinned=0i,clock_trusted=true,devices_online=1i,"
        "devices_offline=1i 1790000000000",
    ]


@pytest.mark.parametrize(
    "payload",
    [b"{", b"[]", b'{"time_ms": -1, "clock": {}, "devices": {}}', b'{"time_ms": 1, "clock": 3}'],
)
def test_malformed_health_is_refused(payload: bytes) -> None:
    with pytest.raises(HealthError):
        health_lines("gw-1", payload)


def test_health_report_without_a_trusted_time_is_stamped_on_arrival() -> None:
    report = {"uptime_s": 5, "clock": {"trusted": False, "source": "none"}, "devices": {}}
    (line,) = health_lines("gw-1", json.dumps(report).encode())
    assert line.endswith("devices_offline=0i")


def test_a_jump_faster_than_the_quantity_can_change_is_suspect() -> None:
    validator = Validator()
    minute = 60_000_000_000
    assert validator.classify("soil-1", "soil_temperature", 25.0, 0) is Quality.GOOD
    assert validator.classify("soil-1", "soil_temperature", 25.5, minute) is Quality.GOOD
    assert validator.classify("soil-1", "soil_temperature", 35.5, 2 * minute) is Quality.SUSPECT


def test_a_value_stuck_longer_than_plausible_is_suspect() -> None:
    validator = Validator()
    hour = 3_600_000_000_000
    qualities = [
        validator.classify("weather-1", "air_temperature", 27.4, n * hour) for n in range(5)
    ]
    # Still for three hours is possible; four hours on the same tenth of a degree is not.
    assert qualities == [Quality.GOOD] * 4 + [Quality.SUSPECT]
    assert validator.classify("weather-1", "air_temperature", 27.5, 5 * hour) is Quality.GOOD
