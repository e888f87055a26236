"""Ingest's straight-to-line-protocol path writes exactly what the general path writes.

For random batches (any quantity, value, time, quality and sequence, placed devices and
unplaced ones), the lines ``ingest.lines.LineMaker`` makes while the binary decoder reads the
payload are, byte for byte, the ``storage.schema.reading_line`` of the decoded Readings after
``ingest.validation.enforce_physical_limits``; so are the sequence numbers, the count of
impossible values, the oldest trusted time and the newest reading of each placed series. A
device the registry does not know is noticed, so ingest can hold its readings in the
quarantine the general way.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ingest.lines import LineMaker, newest_of
from ingest.validation import enforce_physical_limits
from registry.store import DevicePlacement
from storage.schema import reading_line
from telemetry.codec import decode_batch, decode_rows, encode_batch
from telemetry.reading import Reading
from tests.unit.test_codec import batches


def _placements(readings: list[Reading], data: st.DataObject) -> dict:
    devices = sorted({(r.gateway_id, r.device_id) for r in readings})
    placed = data.draw(st.lists(st.sampled_from(devices), unique=True)) if devices else []
    return {
        device: DevicePlacement(f"lahan-{n}", "desa", data.draw(st.sampled_from([None, "padi"])))
        for n, device in enumerate(placed)
    }


@given(batches(), st.data())
def test_the_lines_are_those_of_the_general_path(
    batch: tuple[str, list[Reading]], data: st.DataObject
) -> None:
    gateway_id, readings = batch
    payload = encode_batch(gateway_id, readings)
    placements = _placements(readings, data)

    maker = LineMaker(placements, known=None)
    lines, rejected = decode_rows(payload, gateway_id, maker)

    general = decode_batch(payload, gateway_id)
    checked, impossible = enforce_physical_limits(general.readings)
    expected = [reading_line(r, placements.get((r.gateway_id, r.device_id))) for r in checked]
    assert lines == expected
    assert rejected == general.rejected
    assert maker.seqs == [r.seq for r in checked]
    assert maker.impossible == impossible
    trusted = [r.time_ms for r in checked if r.time_trusted]
    assert maker.oldest_ms == (min(trusted) if trusted else None)
    assert maker.unknown is False
    # What goes to the last-value store: the newest reading of each placed series.
    assert maker.newest == newest_of(checked, placements)


@given(batches(), st.data())
def test_a_device_the_registry_does_not_know_is_noticed(
    batch: tuple[str, list[Reading]], data: st.DataObject
) -> None:
    gateway_id, readings = batch
    payload = encode_batch(gateway_id, readings)
    general = decode_batch(payload, gateway_id).readings
    devices = sorted({(r.gateway_id, r.device_id) for r in general})
    known = set(data.draw(st.lists(st.sampled_from(devices), unique=True))) if devices else set()
    maker = LineMaker({}, known=known)
    decode_rows(payload, gateway_id, maker)
    assert maker.unknown == any((r.gateway_id, r.device_id) not in known for r in general)
