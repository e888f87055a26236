"""The InfluxDB line protocol of readings and the quality flags the gateway sets."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.validation import classify
from storage.schema import reading_line
from telemetry.reading import Quality, Reading


@dataclass(frozen=True)
class _Place:
    field_id: str
    village_id: str


READING = Reading("gw-1", "soil-1", "soil_moisture", 31.5, "%", 1_790_000_000_123, Quality.GOOD, 42)


def test_line_has_sorted_tags_typed_fields_and_millisecond_time() -> None:
    assert reading_line(READING, _Place("sawah-1", "bumi-agung")) == (
        "reading,device_id=soil-1,field_id=sawah-1,gateway_id=gw-1,quantity=soil_moisture,"
        'village_id=bumi-agung value=31.5,quality="good",seq=42i 1790000000123'
    )


def test_unplaced_device_has_no_field_or_village_tag() -> None:
    line = reading_line(READING, None)
    assert "field_id" not in line
    assert "village_id" not in line


def test_tag_values_are_escaped() -> None:
    line = reading_line(READING, _Place("a b,c=d", "v"))
    assert "field_id=a\\ b\\,c\\=d," in line


def test_quality_flags() -> None:
    assert classify("soil_moisture", 31.5) is Quality.GOOD
    assert classify("soil_moisture", 95.0) is Quality.SUSPECT  # sensor can, a field hardly does
    assert classify("soil_moisture", 120.0) is Quality.BAD  # no probe reports this
    assert classify("soil_ph", 2.0) is Quality.BAD
