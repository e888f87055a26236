"""Fuzzing every parser of untrusted bytes, and the fixes for what the fuzzer found."""

from __future__ import annotations

import json

import pytest

from gateway.config_devices import LineFormatSettings
from gateway.drivers.register_map import BUILTIN_MAPS
from gateway.drivers.weather_lines import (
    BUILTIN_FORMATS,
    LineField,
    LineFormat,
    Slot,
    WeatherLineError,
    checksum,
    parse_line,
)
from gateway.settings import ConfigError
from storage.schema import HealthError, health_lines
from tani.chaos.fuzz import NMEA_MDA, PARSERS, fuzz_parsers
from telemetry.codec import PayloadError, decode_batch


@pytest.fixture(scope="module", params=[0, 7])
def results(request: pytest.FixtureRequest) -> dict[str, dict]:
    return fuzz_parsers(inputs_per_parser=2_000, seed=request.param)  # type: ignore[return-value]


def test_fuzzed_driver_payload_and_health_parsers_raise_only_declared_errors(
    results: dict[str, dict],
) -> None:
    for name, r in results.items():
        unexpected = set(r["undeclared_types"])
        assert not unexpected, f"{name}: {r['examples']}"
        assert r["bad_output"] == 0, f"{name}: {r['bad_output_examples']}"
        # A fuzzer that only makes garbage proves nothing: each parser must take some inputs.
        assert r["accepted"] > 0 and r["refused"] > 0, name
        assert r["accepted"] + r["refused"] + r["undeclared"] == r["inputs"] == 2_000
    json.dumps(results)


def test_every_builtin_driver_map_and_weather_format_is_fuzzed() -> None:
    names = {entry.name for entry in PARSERS}
    assert {f"modbus.{name}" for name in BUILTIN_MAPS} <= names
    assert {f"weather.{name}" for name in BUILTIN_FORMATS} <= names
    assert {"sdi12.measure", "sdi12.concurrent", "sdi12.identification"} <= names
    assert {"sdi12.data", "sdi12.data_crc", "payload.binary", "payload.json", "health"} <= names
    assert "ack" in names


def test_driver_fuzz_is_reproducible_from_its_seed() -> None:
    def run(seed: int) -> dict[str, object]:
        results = fuzz_parsers(inputs_per_parser=300, seed=seed, parsers=PARSERS[:3])
        return {name: {**r, "seconds": None} for name, r in results.items()}  # type: ignore[dict-item]

    assert run(3) == run(3)
    assert run(3) != run(4)


# -- health reports (storage.schema.health_lines) -------------------------------------------


def _report(**changes: object) -> bytes:
    report = {"uptime_s": 5, "clock": {"trusted": True}, "devices": {}, **changes}
    return json.dumps(report).encode()


@pytest.mark.parametrize(
    "payload",
    [
        b"[" * 100_000,
        b'{"clock": {}, "devices": {}, "link": ' + b"[" * 5_000 + b"]" * 5_000 + b"}",
    ],
    ids=["top", "inside"],
)
def test_health_report_nested_too_deeply_is_refused(payload: bytes) -> None:
    # Was: RecursionError out of json.loads, which ingest's handler does not catch.
    with pytest.raises(HealthError, match="nested too deeply"):
        health_lines("gw-1", payload)


@pytest.mark.parametrize(
    "payload",
    [
        _report(uptime_s=2**63),
        _report(time_ms=2**63),
        _report(time_ms=4_200_000_000_000),  # year 2103: beyond what InfluxDB 1.x stores well
        _report(devices={"soil-1": {"errors": {"bad_crc": 2**63}}}),
        _report(devices={"soil-1": {"errors": {"bad_crc": 2**62, "no_reply": 2**62}}}),
        _report(devices={"soil-1": {"errors": {"bad_crc": -1}}}),
    ],
    ids=["uptime", "time", "time-2103", "errors", "errors-sum", "errors-negative"],
)
def test_health_counts_influxdb_cannot_store_are_refused(payload: bytes) -> None:
    # Was: accepted, and the integer beyond 64 bits made InfluxDB refuse the whole write.
    with pytest.raises(HealthError):
        health_lines("gw-1", payload)


@pytest.mark.parametrize(
    "device_id", ["soil-1\n", "a\nreading,gateway_id=gw-9 value=1", "Soil 1", "x" * 64]
)
def test_health_device_id_that_is_not_an_id_is_refused(device_id: str) -> None:
    # Was: accepted; a line break in a tag cannot be escaped and splits the line-protocol line.
    with pytest.raises(HealthError, match="not a valid device id"):
        health_lines("gw-1", _report(devices={device_id: {"online": True}}))


def test_health_report_of_a_gateway_is_still_stored() -> None:
    payload = _report(
        time_ms=1_790_000_000_000, devices={"soil-1": {"online": True, "errors": {"a": 2}}}
    )
    assert health_lines("gw-1", payload)[0] == (
        "device_health,device_id=soil-1,gateway_id=gw-1 online=true,errors=2i 1790000000000"
    )


# -- weather lines (gateway.drivers.weather_lines) --------------------------------------------


def test_weather_value_that_overflows_its_scale_is_refused() -> None:
    # Was: accepted as inf (1e306 bar x 1000), which the JSON payload encoder cannot send.
    body = "WIMDA,29.9,I,1e306,B,24.5,C,,,78.0,,20.4,C,135.0,T,134.1,M,3.5,N,1.8,M"
    crc = 0
    for byte in body.encode():
        crc ^= byte
    with pytest.raises(WeatherLineError, match="position 2 1e\\+306 times 1000 is too large"):
        parse_line(f"${body}*{crc:02X}\r\n".encode(), NMEA_MDA)


@pytest.mark.parametrize(
    "changes",
    [
        {"sentence": "$WX\u00b0"},
        {"separator": "\u00a6"},
        {"invalid_marker": "\u2013"},
        {"fields": (LineField("air_temperature", Slot(key="TA", unit="\u00b0C")),)},
    ],
)
def test_weather_format_with_non_ascii_text_is_refused(changes: dict[str, object]) -> None:
    # Was: accepted; a non-ASCII sentence then raised UnicodeEncodeError on every line (ending
    # the port's poller thread), non-ASCII units or keys refused every line.
    fields = (LineField("air_temperature", Slot(key="TA")),)
    with pytest.raises(ValueError, match="must be ASCII"):
        LineFormat(**{"name": "x", "sentence": "$WX", "fields": fields, **changes})  # type: ignore[arg-type]


def test_weather_line_config_with_non_ascii_sentence_names_the_problem() -> None:
    line = {"sentence": "WX\u00b0", "fields": [{"quantity": "air_temperature", "key": "T"}]}
    with pytest.raises(ConfigError, match="must be ASCII"):
        LineFormatSettings(**line)


def test_deeply_nested_json_is_refused_by_payload_decoder_as_by_health_parser() -> None:
    # Was: RecursionError out of json.loads, past ingest's PayloadError handler.
    with pytest.raises(PayloadError, match="nested too deeply"):
        decode_batch(b'{"v": 1, "gw": "gw-1", "r": ' + b"[" * 5_000 + b"}", "gw-1")


@pytest.mark.parametrize("text", ["1_35", "13_5.0", "1_3_5"])
def test_weather_number_with_digit_separator_is_refused(text: str) -> None:
    # Was: read as 135 (float() skips "_" between digits): line noise that turned a digit into
    # "_" gave a wrong wind direction on a line without checksum.
    line = f"0R0,Dm={text}D,Sm=1.8M,Ta=27.4C,Ua=81.2P,Pa=1008.6H,Rc=12.40M\r\n".encode()
    with pytest.raises(WeatherLineError, match="is not a number"):
        parse_line(line, BUILTIN_FORMATS["vaisala_wxt"])


def test_weather_sample_counter_with_digit_separator_is_refused() -> None:
    body = b"WXSTA,1_7,TA=27.4,RH=81.2,PA=1008.6,WS=1.8,WD=135,RC=12,SR=512"
    line = b"$" + body + b"*%02X\r\n" % checksum(body)
    with pytest.raises(WeatherLineError, match="is not an integer"):
        parse_line(line, BUILTIN_FORMATS["wxsta"])
