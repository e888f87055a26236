"""ASCII weather stations that send one NMEA-style line per sample.

Line format (auto-send mode)::

    $WXSTA,<seq>,TA=27.4,RH=81.2,PA=1008.6,WS=1.8,WD=135,RC=12,SR=512*4F\\r\\n

The two hex digits after ``*`` are the XOR of every byte between ``$`` and ``*``. ``RC`` is the
cumulative tipping-bucket count (0.2 mm a tip, wrapping at 65536), turned into millimetres of
rain since the previous line by ``RainGauge``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import serial

from gateway.drivers.base import DeviceReadError, DeviceResult, Measurement, PortLostError, Stamp

log = logging.getLogger(__name__)

SENTENCE = "WXSTA"
MAX_LINE = 256
MM_PER_TIP = 0.2
COUNTER_MODULO = 65536

# Key on the line -> catalogue quantity. RC is handled by RainGauge.
_FIELDS: dict[str, str] = {
    "TA": "air_temperature",
    "RH": "air_humidity",
    "PA": "air_pressure",
    "WS": "wind_speed",
    "WD": "wind_direction",
    "SR": "solar_radiation",
}
_REQUIRED = frozenset(_FIELDS) | {"RC"}


class WeatherLineError(DeviceReadError):
    """A line that is not a valid station sentence."""

    def __init__(self, message: str) -> None:
        super().__init__("garbled_line", message)


@dataclass(frozen=True, slots=True)
class WeatherSample:
    """One parsed line: its sample counter, quantity values and the raw rain counter."""

    seq: int
    values: dict[str, float]
    rain_count: int


def checksum(body: bytes) -> int:
    """NMEA checksum: XOR of all bytes."""
    value = 0
    for byte in body:
        value ^= byte
    return value


def parse_line(line: bytes) -> WeatherSample:
    """Parse one line (with or without CR/LF); raise WeatherLineError with the reason."""
    text = line.strip(b"\r\n")
    if len(text) > MAX_LINE:
        raise WeatherLineError(f"line of {len(text)} bytes is too long")
    start = text.rfind(b"$")
    if start < 0:
        raise WeatherLineError("no '$' start of sentence")
    # Noise before the '$' (a half line after a reconnect) is ignored, like NMEA readers do.
    text = text[start:]
    star = text.find(b"*")
    if star < 0 or len(text) != star + 3:
        raise WeatherLineError("no '*hh' checksum at the end of the line")
    body, given = text[1:star], text[star + 1 :]
    try:
        expected = int(given, 16)
    except ValueError:
        raise WeatherLineError(f"checksum {given!r} is not hex") from None
    if checksum(body) != expected:
        raise WeatherLineError(f"checksum mismatch: line says {given.decode('ascii', 'replace')}")
    try:
        parts = body.decode("ascii").split(",")
    except UnicodeDecodeError:
        raise WeatherLineError("line has non-ASCII bytes") from None
    if len(parts) < 2 or parts[0] != SENTENCE:
        raise WeatherLineError(f"not a {SENTENCE} sentence")
    seq = _int(parts[1], "sample counter")
    pairs: dict[str, str] = {}
    for part in parts[2:]:
        key, sep, value = part.partition("=")
        if not sep or not key:
            raise WeatherLineError(f"item {part!r} is not KEY=VALUE")
        pairs[key] = value
    missing = _REQUIRED - pairs.keys()
    if missing:
        raise WeatherLineError(f"missing {', '.join(sorted(missing))}")
    values = {quantity: _float(pairs[key], key) for key, quantity in _FIELDS.items()}
    rain_count = _int(pairs["RC"], "RC")
    if not 0 <= rain_count < COUNTER_MODULO:
        raise WeatherLineError(f"rain counter {rain_count} outside 0..{COUNTER_MODULO - 1}")
    return WeatherSample(seq=seq, values=values, rain_count=rain_count)


def _int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise WeatherLineError(f"{what} {text!r} is not an integer") from None


def _float(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise WeatherLineError(f"{what} {text!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise WeatherLineError(f"{what} {text!r} is not a finite number")
    return value


@dataclass(slots=True)
class RainGauge:
    """Turns the station's cumulative tip counter into millimetres since the previous line.

    The first line after start only sets the reference: rain that fell while the gateway was
    down cannot be dated, so it is not reported as if it fell now.
    """

    last_count: int | None = field(default=None)

    def millimetres(self, count: int) -> float | None:
        """Rain since the previous count, or None for the first line."""
        previous, self.last_count = self.last_count, count
        if previous is None:
            return None
        tips = (count - previous) % COUNTER_MODULO
        return round(tips * MM_PER_TIP, 3)


class AsciiWeatherStation:
    """Owns the serial port of one station and turns its lines into measurements."""

    def __init__(self, device_id: str, port: str, *, baudrate: int = 9600) -> None:
        self.device_id = device_id
        self.port = port
        self.baudrate = baudrate
        self._serial: serial.Serial | None = None
        self._gauge = RainGauge()
        self._buffer = b""

    @property
    def device_ids(self) -> tuple[str, ...]:
        """The station is one device."""
        return (self.device_id,)

    def open(self) -> None:
        """Open the serial port; raise PortLostError if it is not there."""
        try:
            self._serial = serial.Serial(self.port, self.baudrate, timeout=1.0)
        except (serial.SerialException, OSError) as exc:
            raise PortLostError(f"cannot open {self.port}: {exc}", "port_unavailable") from None
        self._buffer = b""

    def close(self) -> None:
        """Release the serial port."""
        if self._serial is not None:
            self._serial.close()
            self._serial = None

    def poll(self, stamp: Stamp) -> list[DeviceResult]:
        """Wait up to the port timeout for the next complete line."""
        try:
            measurements = self.read(stamp)
        except PortLostError:
            raise
        except DeviceReadError as exc:
            return [DeviceResult(self.device_id, error=exc)]
        return [DeviceResult(self.device_id, measurements)] if measurements else []

    def read(self, stamp: Stamp) -> list[Measurement]:
        """Return the measurements of the next complete line; [] if none came within the timeout.

        Bytes are buffered across calls, so a line that arrives while a read times out is not
        cut in two.
        """
        if self._serial is None:
            raise PortLostError(f"{self.port} is not open")
        while b"\n" not in self._buffer:
            try:
                chunk = self._serial.read(self._serial.in_waiting or 1)
            except (serial.SerialException, OSError) as exc:
                raise PortLostError(f"{self.port}: {exc}") from None
            if not chunk:
                return []
            self._buffer += chunk
            if len(self._buffer) > MAX_LINE and b"\n" not in self._buffer:
                self._buffer = b""
                raise WeatherLineError(f"no line end within {MAX_LINE} bytes")
        line, _, self._buffer = self._buffer.partition(b"\n")
        sample = parse_line(line)
        wall_ms, mono_ns = stamp()
        readings = [
            Measurement(self.device_id, q, v, wall_ms, mono_ns) for q, v in sample.values.items()
        ]
        rain = self._gauge.millimetres(sample.rain_count)
        if rain is not None:
            readings.append(Measurement(self.device_id, "rain", rain, wall_ms, mono_ns))
        return readings
