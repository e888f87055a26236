"""The version-1 payload codec: round trips, strict envelope, per-row rejection."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telemetry.codec import MAX_TIME_MS, MIN_TIME_MS, PayloadError, decode_batch, encode_batch
from telemetry.quantities import QUANTITIES
from telemetry.reading import Quality, Reading

ids = st.from_regex(r"^[a-z0-9][a-z0-9_-]{0,20}$", fullmatch=True)


@st.composite
def readings(draw: st.DrawFn, gateway_id: str) -> Reading:
    spec = draw(st.sampled_from(list(QUANTITIES.values())))
    return Reading(
        gateway_id=gateway_id,
        device_id=draw(ids),
        quantity=spec.key,
        value=draw(st.floats(allow_nan=False, allow_infinity=False)),
        unit=spec.unit,
        time_ms=draw(st.integers(MIN_TIME_MS, MAX_TIME_MS)),
        quality=draw(st.sampled_from(list(Quality))),
        seq=draw(st.integers(0, 2**53)),
    )


@st.composite
def batches(draw: st.DrawFn) -> tuple[str, list[Reading]]:
    gateway_id = draw(ids)
    return gateway_id, draw(st.lists(readings(gateway_id), max_size=50))


@given(batches())
def test_round_trip_keeps_every_reading(batch: tuple[str, list[Reading]]) -> None:
    gateway_id, original = batch
    decoded = decode_batch(encode_batch(gateway_id, original))
    assert decoded.gateway_id == gateway_id
    assert decoded.readings == original
    assert decoded.rejected == []


@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_crash_the_decoder(payload: bytes) -> None:
    try:
        decoded = decode_batch(payload)
    except PayloadError:
        return
    assert len(decoded.readings) + len(decoded.rejected) >= 0


def _payload(rows: list[object], gw: object = "gw-1", v: object = 1) -> bytes:
    return json.dumps({"v": v, "gw": gw, "r": rows}).encode()


GOOD_ROW = ["soil-1", "soil_moisture", 31.5, "%", 1_790_000_000_000, "g", 7]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (_payload([GOOD_ROW], v=2), "unsupported payload version 2"),
        (_payload([GOOD_ROW], gw="GW 1"), "invalid gateway id"),
        (json.dumps({"v": 1, "gw": "gw-1"}).encode(), "'r'"),
    ],
)
def test_broken_envelope_is_refused_with_its_reason(payload: bytes, message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        decode_batch(payload)


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (["soil-1", "soil_moisture", 31.5, "%"], "7 items"),
        (["Soil 1", "soil_moisture", 31.5, "%", 1_790_000_000_000, "g", 1], "device id"),
        (["soil-1", "leaf_wetness", 3, "%", 1_790_000_000_000, "g", 1], "unknown quantity"),
        (["soil-1", "soil_moisture", 31.5, "pct", 1_790_000_000_000, "g", 1], "unit 'pct'"),
        (["soil-1", "soil_moisture", "31.5", "%", 1_790_000_000_000, "g", 1], "finite number"),
        (["soil-1", "soil_moisture", True, "%", 1_790_000_000_000, "g", 1], "finite number"),
        (["soil-1", "soil_moisture", 31.5, "%", 1000, "g", 1], "clock was not set"),
        (["soil-1", "soil_moisture", 31.5, "%", 1_790_000_000_000, "x", 1], "quality"),
        (["soil-1", "soil_moisture", 31.5, "%", 1_790_000_000_000, "g", -1], "sequence"),
    ],
)
def test_bad_row_is_rejected_and_good_rows_around_it_kept(row: list[object], reason: str) -> None:
    decoded = decode_batch(_payload([GOOD_ROW, row, GOOD_ROW]))
    assert len(decoded.readings) == 2
    assert [r.index for r in decoded.rejected] == [1]
    assert reason in decoded.rejected[0].reason


def test_encoding_is_compact() -> None:
    reading = Reading(
        "gw-1", "soil-1", "soil_moisture", 31.5, "%", 1_790_000_000_000, Quality.GOOD, 7
    )
    payload = encode_batch("gw-1", [reading] * 100)
    # Positional rows: under 60 bytes a reading, the envelope once per batch.
    assert len(payload) / 100 < 60
