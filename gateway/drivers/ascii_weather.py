"""ASCII weather stations that send one line per sample in auto-send mode.

The line format is data (:mod:`gateway.drivers.weather_lines`): the ``$WXSTA`` NMEA-style line
by default, a Vaisala WXT composite message, or a format described in the configuration. This
module owns the serial port, cuts the byte stream into lines and turns the rain item into
millimetres since the previous line.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import serial

from gateway.drivers.base import DeviceReadError, DeviceResult, Measurement, PortLostError, Stamp
from gateway.drivers.weather_lines import (
    MAX_LINE,
    WXSTA,
    LineFormat,
    RainField,
    WeatherLineError,
    parse_line,
)

log = logging.getLogger(__name__)


@dataclass(slots=True)
class RainGauge:
    """Turns the station's rain item into millimetres since the previous line.

    For cumulative items (tip counter, total mm) the first line after start only sets the
    reference: rain that fell while the gateway was down cannot be dated, so it is not reported
    as if it fell now.
    """

    rain: RainField
    last: float | None = field(default=None)

    def millimetres(self, raw: float) -> float | None:
        """Rain since the previous line, or None for the first line of a cumulative item."""
        if self.rain.mode == "interval_mm":
            return round(raw, 3)
        previous, self.last = self.last, raw
        if previous is None:
            return None
        if self.rain.mode == "tip_counter":
            tips = (int(raw) - int(previous)) % self.rain.modulus
            return round(tips * self.rain.mm_per_tip, 3)
        # total_mm: a total that dropped was reset by the station; what it shows fell since.
        return round(raw - previous if raw >= previous else raw, 3)


class AsciiWeatherStation:
    """Owns the serial port of one station and turns its lines into measurements.

    :param line_format: how the station's lines look.
    :param max_silence_s: after this long without a complete line, a poll reports the station
        as failing (reason ``no_data``), once per such period, so a mute station shows offline.
    :param read_timeout_s: the longest one poll waits for bytes.
    """

    def __init__(
        self,
        device_id: str,
        port: str,
        *,
        baudrate: int = 9600,
        line_format: LineFormat = WXSTA,
        max_silence_s: float = 120.0,
        read_timeout_s: float = 1.0,
    ) -> None:
        self.device_id = device_id
        self.port = port
        self.baudrate = baudrate
        self.line_format = line_format
        self._max_silence_s = max_silence_s
        self._read_timeout_s = read_timeout_s
        self._serial: serial.Serial | None = None
        self._gauge = RainGauge(line_format.rain) if line_format.rain is not None else None
        self._buffer = b""
        self._last_line_at = time.monotonic()
        self._invalid: tuple[str, ...] = ()

    @property
    def device_ids(self) -> tuple[str, ...]:
        """The station is one device."""
        return (self.device_id,)

    def open(self) -> None:
        """Open the serial port; raise PortLostError if it is not there."""
        try:
            self._serial = serial.Serial(self.port, self.baudrate, timeout=self._read_timeout_s)
        except (serial.SerialException, OSError) as exc:
            raise PortLostError(f"cannot open {self.port}: {exc}", "port_unavailable") from None
        self._buffer = b""
        self._last_line_at = time.monotonic()

    def close(self) -> None:
        """Release the serial port."""
        if self._serial is not None:
            self._serial.close()
            self._serial = None

    def poll(self, stamp: Stamp) -> list[DeviceResult]:
        """Wait up to the read timeout for the next complete line."""
        try:
            measurements = self.read(stamp)
        except PortLostError:
            raise
        except DeviceReadError as exc:
            return [DeviceResult(self.device_id, error=exc)]
        if measurements is not None:
            return [DeviceResult(self.device_id, measurements)]
        silent_s = time.monotonic() - self._last_line_at
        if silent_s < self._max_silence_s:
            return []
        self._last_line_at = time.monotonic()  # report once per silent period
        error = DeviceReadError("no_data", f"no line from {self.port} for {silent_s:.0f} s")
        return [DeviceResult(self.device_id, error=error)]

    def read(self, stamp: Stamp) -> list[Measurement] | None:
        """The measurements of the next complete line; None if none came within the timeout.

        Bytes are buffered across calls, so a line that arrives while a read times out is not
        cut in two.
        """
        line = self._next_line()
        if line is None:
            return None
        self._last_line_at = time.monotonic()
        sample = parse_line(line, self.line_format)
        wall_ms, mono_ns = stamp()
        if sample.skipped:
            log.debug(
                "skipped noise before a line",
                extra={"device_id": self.device_id, "noise": line[: sample.skipped][:64].hex(" ")},
            )
        if sample.invalid != self._invalid:
            self._invalid = sample.invalid
            log.warning(
                "station flags values invalid" if sample.invalid else "station values valid again",
                extra={"device_id": self.device_id, "invalid": list(sample.invalid)},
            )
        readings = [
            Measurement(self.device_id, q, v, wall_ms, mono_ns) for q, v in sample.values.items()
        ]
        if self._gauge is not None and sample.rain_raw is not None:
            rain = self._gauge.millimetres(sample.rain_raw)
            if rain is not None:
                readings.append(Measurement(self.device_id, "rain", rain, wall_ms, mono_ns))
        return readings

    def _next_line(self) -> bytes | None:
        if self._serial is None:
            raise PortLostError(f"{self.port} is not open")
        while b"\n" not in self._buffer:
            try:
                chunk = self._serial.read(self._serial.in_waiting or 1)
            except (serial.SerialException, OSError) as exc:
                # A vanished tty: in_waiting fails with EIO, read with "returned no data".
                raise PortLostError(f"{self.port}: {exc}") from None
            if not chunk:
                return None
            self._buffer += chunk
            if len(self._buffer) > MAX_LINE and b"\n" not in self._buffer:
                self._buffer = b""
                raise WeatherLineError(f"no line end within {MAX_LINE} bytes")
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line
