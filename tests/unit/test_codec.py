"""Payload codecs: both formats round-trip exactly; bad input is refused with its reason."""

from __future__ import annotations

import contextlib
import json
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telemetry.codec import (
    MAX_TIME_MS,
    MIN_TIME_MS,
    ForgedPayloadError,
    PayloadError,
    decode_batch,
    encode_batch,
)
from telemetry.quantities import QUANTITIES
from telemetry.reading import Quality, Reading

ids = st.from_regex(r"^[a-z0-9][a-z0-9_-]{0,20}$", fullmatch=True)
FORMATS = ["binary", "json"]


@st.composite
def readings(draw: st.DrawFn, gateway_id: str) -> Reading:
    spec = draw(st.sampled_from(list(QUANTITIES.values())))
    trusted = draw(st.booleans())
    return Reading(
        gateway_id=gateway_id,
        device_id=draw(ids),
        quantity=spec.key,
        value=draw(
            st.one_of(
                st.floats(allow_nan=False, allow_infinity=False),
                st.integers(-20000, 20000).map(lambda n: n / 10),
            )
        ),
        unit=spec.unit,
        time_ms=draw(st.integers(MIN_TIME_MS, MAX_TIME_MS) if trusted else st.integers(0, 2**40)),
        quality=draw(st.sampled_from(list(Quality))),
        seq=draw(st.integers(0, 2**53)),
        time_trusted=trusted,
    )


@st.composite
def batches(draw: st.DrawFn) -> tuple[str, list[Reading]]:
    gateway_id = draw(ids)
    return gateway_id, draw(st.lists(readings(gateway_id), max_size=60))


@pytest.mark.parametrize("payload_format", FORMATS)
@given(batch=batches())
def test_round_trip_keeps_every_reading_exactly(
    payload_format: str, batch: tuple[str, list[Reading]]
) -> None:
    gateway_id, original = batch
    decoded = decode_batch(encode_batch(gateway_id, original, payload_format), gateway_id)
    assert decoded.rejected == []
    assert decoded.readings == original
    # Equal floats are not enough: the sign of zero and every bit must survive too.
    assert [r.value.hex() for r in decoded.readings] == [
        float(r.value).hex() if r.value != 0 else r.value.hex() for r in decoded.readings
    ]


@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_crash_the_decoder(payload: bytes) -> None:
    with contextlib.suppress(PayloadError):
        decode_batch(payload, "gw-1")


@given(batches(), st.data())
def test_corrupted_binary_payload_is_refused_or_read_never_crashes(
    batch: tuple[str, list[Reading]], data: st.DataObject
) -> None:
    gateway_id, original = batch
    payload = bytearray(encode_batch(gateway_id, original))
    if len(payload) > 2:
        index = data.draw(st.integers(2, len(payload) - 1))
        payload[index] ^= data.draw(st.integers(1, 255))
    with contextlib.suppress(PayloadError):
        decode_batch(bytes(payload), gateway_id)


def _json(rows: list[object], gw: object = "gw-1", v: object = 1) -> bytes:
    return json.dumps({"v": v, "gw": gw, "r": rows}).encode()


GOOD_ROW = ["soil-1", "soil_moisture", 31.5, "%", 1_790_000_000_000, "g", 7]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"", "empty"),
        (b"\xff\xfe", "unknown payload format"),
        (b"{not json", "not JSON"),
        (b"[1, 2]", "unknown payload format"),
        (_json([GOOD_ROW], v=2), "unsupported payload version 2"),
        (_json([GOOD_ROW], gw="GW 1"), "invalid gateway id"),
        (json.dumps({"v": 1, "gw": "gw-1"}).encode(), "'r'"),
        (b"\x02\x00\x05", "ends early"),
        (b"\x02\x04", "unknown flags"),
        (b"\x02\x01not zlib", "corrupt"),
        (b"\x02\x01" + zlib.compress(b"\x00" * (5 * 1024 * 1024)), "inflates to more"),
    ],
)
def test_unreadable_payload_is_refused_with_its_reason(payload: bytes, message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        decode_batch(payload, "gw-1")


def test_json_payload_claiming_another_gateway_is_forged() -> None:
    with pytest.raises(ForgedPayloadError):
        decode_batch(_json([GOOD_ROW], gw="gw-2"), "gw-1")


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (["soil-1", "soil_moisture", 31.5, "%"], "7 or 8 items"),
        (["Soil 1", "soil_moisture", 31.5, "%", 1_790_000_000_000, "g", 1], "device id"),
        (["soil-1", "leaf_wetness", 3, "%", 1_790_000_000_000, "g", 1], "unknown quantity"),
        (["soil-1", "soil_moisture", 31.5, "pct", 1_790_000_000_000, "g", 1], "unit 'pct'"),
        (["soil-1", "soil_moisture", "31.5", "%", 1_790_000_000_000, "g", 1], "finite number"),
        (["soil-1", "soil_moisture", True, "%", 1_790_000_000_000, "g", 1], "finite number"),
        (["soil-1", "soil_moisture", 31.5, "%", 1000, "g", 1], "clock was not set"),
        (["soil-1", "soil_moisture", 31.5, "%", 1_790_000_000_000, "x", 1], "quality"),
        (["soil-1", "soil_moisture", 31.5, "%", 1_790_000_000_000, "g", -1], "sequence"),
        (["soil-1", "soil_moisture", 31.5, "%", 1_790_000_000_000, "g", 2**63], "sequence"),
        # An integer too large for a float once raised OverflowError and killed ingest's decoder.
        (["soil-1", "soil_moisture", 10**308 * 10, "%", 1_790_000_000_000, "g", 1], "finite"),
        (["soil-1", "soil_moisture", 31.5, "%", -(10**300), "g", 1, 0], "beyond the year 2100"),
    ],
)
def test_bad_json_row_is_rejected_and_good_rows_around_it_kept(
    row: list[object], reason: str
) -> None:
    decoded = decode_batch(_json([GOOD_ROW, row, GOOD_ROW]), "gw-1")
    assert len(decoded.readings) == 2
    assert [r.index for r in decoded.rejected] == [1]
    assert reason in decoded.rejected[0].reason
    assert len(decoded.rejected[0].reason) < 200  # a hostile value cannot flood the log


def test_refused_row_keeps_its_sequence_number_so_it_can_be_acknowledged() -> None:
    bad = ["soil-1", "soil_moisture", 10**309, "%", 1_790_000_000_000, "g", 8]
    decoded = decode_batch(_json([GOOD_ROW, bad, ["x"]]), "gw-1")
    assert [(r.index, r.seq) for r in decoded.rejected] == [(1, 8), (2, None)]


def test_bad_binary_row_is_rejected_and_good_rows_around_it_kept() -> None:
    rows = [
        Reading("gw-1", "soil-1", "soil_moisture", 31.5, "%", 1_790_000_000_000, Quality.GOOD, s)
        for s in (7, 8, 9)
    ]
    payload = bytearray(encode_batch("gw-1", rows))
    assert payload[1] == 0  # three rows do not compress: the body is plain
    # All rows have the same size, so the last three row-sizes of the body are the rows.
    row_size = len(payload) - len(encode_batch("gw-1", rows[:2]))
    second_row = len(payload) - 2 * row_size
    payload[second_row] |= 0x03  # quality code 3 does not exist
    decoded = decode_batch(bytes(payload), "gw-1")
    assert [r.index for r in decoded.rejected] == [1]
    assert "quality" in decoded.rejected[0].reason
    assert decoded.rejected[0].seq == 8
    assert [r.seq for r in decoded.readings] == [7, 9]


def test_binary_is_far_smaller_than_json() -> None:
    readings = [
        Reading(
            "gw-1",
            f"soil-{d}",
            q,
            20.0 + i / 10,
            QUANTITIES[q].unit,
            1_790_000_000_000 + 60_000 * i,
            Quality.GOOD,
            7 * i + d,
        )
        for i in range(60)
        for d, q in enumerate(["soil_moisture", "soil_temperature", "soil_ec", "soil_ph"])
    ]
    binary = encode_batch("gw-1", readings, "binary")
    assert len(binary) / len(readings) < 4
    assert len(binary) * 5 < len(encode_batch("gw-1", readings, "json"))


def test_ids_with_a_trailing_newline_are_refused() -> None:
    # "$" in a regular expression matches before a final newline: "soil-1\n" once passed, and
    # its newline split the InfluxDB line it became a tag of.
    row = ["soil-1\n", "soil_moisture", 30.5, "%", 1_790_000_000_000, "g", 1]
    decoded = decode_batch(_json([row]), "gw-1")
    assert decoded.readings == []
    assert "device id" in decoded.rejected[0].reason


@pytest.mark.parametrize("version", [True, 1.0, "1"])
def test_only_the_integer_1_is_version_1(version: object) -> None:
    with pytest.raises(PayloadError, match="unsupported payload version"):
        decode_batch(_json([GOOD_ROW], v=version), "gw-1")


def test_a_huge_gateway_id_does_not_flood_the_error_message() -> None:
    with pytest.raises(PayloadError) as refused:
        decode_batch(_json([GOOD_ROW], gw="x" * 100_000), "gw-1")
    assert len(str(refused.value)) < 200


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        if n < 0x80:
            return bytes(out + bytes([n]))
        out.append(n & 0x7F | 0x80)
        n >>= 7


def _zigzag(n: int) -> bytes:
    return _varint(n << 1 if n >= 0 else (-n << 1) - 1)


def test_binary_rows_of_a_bad_series_are_refused_by_name_and_varints_of_any_length_read() -> None:
    # Built by hand: one good series, one with a wire code no quantity has; rows use one-,
    # two- and three-byte varints for time deltas and values, and a series index past the table.
    base = 1_790_000_000_000
    body = bytearray(b"\x01" + _varint(6) + b"soil-1")
    body += _varint(2) + _varint(0) + _varint(0) + _varint(0) + _varint(200)
    body += _zigzag(base) + _varint(7) + _varint(6)
    one_decimal = 1 << 2  # value * 10 follows
    rows = [
        (0, 0, 315),  # one-byte time delta, two-byte value
        (1, 1000, 100),  # the bad series
        (0, 1000, 5),  # two-byte time delta, one-byte value
        (5, 0, 1),  # no series 5
        (0, 200_000, 12_345),  # three-byte time delta and value
        (0, -3, 0),  # negative delta
    ]
    for series, delta, tenths in rows:
        body += bytes([one_decimal]) + _varint(series) + _zigzag(delta) + _zigzag(tenths)
    decoded = decode_batch(bytes([2, 0]) + bytes(body), "gw-1")
    assert [(r.index, r.seq) for r in decoded.rejected] == [(1, 8), (3, 10)]
    assert "code 200" in decoded.rejected[0].reason
    assert decoded.rejected[1].reason == "series 5 is not in the series table"
    assert [(r.time_ms - base, r.value, r.seq) for r in decoded.readings] == [
        (0, 31.5, 7),
        (2000, 0.5, 9),
        (202_000, 1234.5, 11),
        (201_997, 0.0, 12),
    ]
    assert {r.device_id for r in decoded.readings} == {"soil-1"}
