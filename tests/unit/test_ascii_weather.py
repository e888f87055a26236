"""AsciiWeatherStation against the emulated station on a pty, in both built-in formats."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from firmware_sim import quantities as q
from firmware_sim.history import Served
from firmware_sim.site import SimulatedSite, SiteConfig
from gateway.drivers.ascii_weather import AsciiWeatherStation
from gateway.drivers.base import DeviceResult, system_stamp
from gateway.drivers.weather_lines import BUILTIN_FORMATS

INTERVAL_S = 0.2


def _site(line_format: str) -> SimulatedSite:
    # A simulated day every second with many showers: values change and rain falls between lines.
    return SimulatedSite(
        SiteConfig(
            seed=7,
            time_scale=86400.0,
            rain_events_per_day=12.0,
            weather_interval_s=INTERVAL_S,
            weather_format=line_format,
        )
    )


@pytest.fixture(params=sorted(BUILTIN_FORMATS))
def line_format(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def site(line_format: str) -> Iterator[SimulatedSite]:
    with _site(line_format) as running:
        yield running


@pytest.fixture
def station(site: SimulatedSite, line_format: str) -> Iterator[AsciiWeatherStation]:
    reader = AsciiWeatherStation(
        "weather-1",
        site.ports["weather"],
        baudrate=4800,
        line_format=BUILTIN_FORMATS[line_format],
        read_timeout_s=INTERVAL_S,
        max_silence_s=3 * INTERVAL_S,
    )
    reader.open()
    yield reader
    reader.close()


def _collect(
    station: AsciiWeatherStation,
    until: Callable[[list[DeviceResult]], bool],
    timeout_s: float = 10.0,
) -> list[DeviceResult]:
    results: list[DeviceResult] = []
    deadline = time.monotonic() + timeout_s
    while not until(results):
        assert time.monotonic() < deadline, f"gave up waiting; got {results}"
        results.extend(station.poll(system_stamp))
    return results


def _good(results: list[DeviceResult]) -> list[dict[str, float]]:
    return [{m.quantity: m.value for m in r.measurements} for r in results if r.error is None]


def _assert_served_in_order(good: list[dict[str, float]], history: list[Served]) -> None:
    """Each good result is a line the station sent intact, in order; rain from the second on."""
    cursor = 0
    for index, values in enumerate(good):
        measured = {k: v for k, v in values.items() if k != q.RAIN}
        while cursor < len(history) and not _same(history[cursor].values, measured):
            cursor += 1
        assert cursor < len(history), f"{measured} was never sent intact"
        if index > 0:
            assert values[q.RAIN] == pytest.approx(history[cursor].values[q.RAIN], abs=1e-6)
        cursor += 1


def _same(served: dict[str, float], measured: dict[str, float]) -> bool:
    return all(served.get(k) == pytest.approx(v, abs=1e-9) for k, v in measured.items())


def test_lines_arrive_as_the_station_sent_them(
    site: SimulatedSite, station: AsciiWeatherStation
) -> None:
    results = _collect(station, lambda r: len(_good(r)) >= 6)
    assert all(r.error is None for r in results)
    good = _good(results)
    expected = {f.quantity for f in station.line_format.fields}
    assert all(set(v) - {q.RAIN} == expected for v in good)
    assert q.RAIN not in good[0] and all(q.RAIN in v for v in good[1:])
    assert sum(v[q.RAIN] for v in good[1:]) > 0  # it rained
    _assert_served_in_order(good, site.weather_history())


def test_garbled_line_is_refused_and_the_next_is_read(
    site: SimulatedSite, station: AsciiWeatherStation
) -> None:
    _collect(station, lambda r: len(_good(r)) >= 1)
    site.inject("weather", "garble", count=2)
    results = _collect(station, lambda r: len(_good(r)) >= 2)
    errors = [r.error.reason for r in results if r.error is not None]
    assert errors == ["garbled_line", "garbled_line"]
    _assert_served_in_order(_good(results), site.weather_history())


def test_noise_before_a_line_is_skipped(site: SimulatedSite, station: AsciiWeatherStation) -> None:
    _collect(station, lambda r: len(_good(r)) >= 1)
    site.inject("weather", "garbage", count=3)
    results = _collect(station, lambda r: len(_good(r)) >= 4)
    assert all(r.error is None for r in results)
    _assert_served_in_order(_good(results), site.weather_history())


def test_a_line_cut_short_is_lost_but_the_next_line_is_read(
    site: SimulatedSite, station: AsciiWeatherStation
) -> None:
    _collect(station, lambda r: len(_good(r)) >= 1)
    site.inject("weather", "partial")
    # The cut line and the one after it arrive as one line, of which the good part is read;
    # the cut sample is not in the history, and rain after it still adds up.
    results = _collect(station, lambda r: len(_good(r)) >= 3)
    assert all(r.error is None for r in results)
    _assert_served_in_order(_good(results), site.weather_history())


def test_silent_station_is_reported_after_max_silence(
    site: SimulatedSite, station: AsciiWeatherStation
) -> None:
    _collect(station, lambda r: len(_good(r)) >= 1)
    site.inject("weather", "silent")
    started = time.monotonic()
    results = _collect(station, lambda r: any(x.error is not None for x in r))
    [error] = [r.error for r in results if r.error is not None]
    assert error.reason == "no_data"
    assert time.monotonic() - started >= 3 * INTERVAL_S * 0.9
    site.clear("weather")
    _collect(station, lambda r: len(_good(r)) >= 1)
