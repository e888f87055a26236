"""SDI-12 sensors behind a USB SDI-12 adapter, read as TEROS 12 soil probes.

The adapter appears as a serial port (9600 8N1). The host writes a command as ASCII, the adapter
wakes the 1200-baud SDI-12 bus with a break, sends the command and relays the sensor's reply line
``...\\r\\n``. Commands used (SDI-12 v1.4; ``a`` is the sensor's address, 0-9, a-z or A-Z):

- ``aI!`` -> ``a13VENDOR__MODEL_VVVserial``: identification, logged at open;
- ``aMC!`` -> ``atttn``: measure, n values ready within ttt s, then the service request ``a``;
- ``aCC!`` -> ``atttnn``: concurrent measurement (no service request), for several sensors;
- ``aDx!`` -> ``a+2165.31+22.3+125<CRC>``: data part x = 0..9, asked until n values came.

With ``crc=False`` the plain ``aM!``/``aC!`` are sent and data replies carry no CRC. The CRC
(spec section 4.4.12) is the CRC-16/ARC of the reply from the address to the last value, sent as
three characters ``0x40 | 6 bits``.
"""

from __future__ import annotations

import logging
import os
import re
import string
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NamedTuple

import serial

from gateway.drivers.base import DeviceReadError, DeviceResult, Measurement, PortLostError, Stamp

log = logging.getLogger(__name__)

ADDRESSES = string.digits + string.ascii_lowercase + string.ascii_uppercase
MAX_REPLY = 96  # address, 75 value characters (the aC! limit), CRC, CR LF, and spare
_READ_SLICE_S = 0.05  # port timeout of one read: how often a wait checks its deadline

BAD_CRC = "bad_crc"
WRONG_ADDRESS = "wrong_address"
SHORT_DATA = "short_data"
NO_REPLY = "no_reply"
GARBLED_REPLY = "garbled_reply"
# Data stays in the sensor until the next measurement: asking again costs one reply.
_RETRYABLE = frozenset({BAD_CRC, GARBLED_REPLY, NO_REPLY})

# A sign and up to 7 digits with an optional decimal point, then the next value or the end.
_VALUE = re.compile(r"[+-](?:\d{1,7}(?:\.\d*)?|\.\d{1,7})")
_VALUES = re.compile(rf"(?:{_VALUE.pattern})*")


class MeasureStart(NamedTuple):
    """A sensor's answer to aM!/aC!: values ready after ``seconds``, ``count`` of them."""

    seconds: int
    count: int


class Identification(NamedTuple):
    """A sensor's answer to aI!."""

    sdi12_version: str
    vendor: str
    model: str
    version: str
    serial_number: str


@dataclass(frozen=True, slots=True)
class SdiValue:
    """The value at ``index`` of a measurement and how it becomes a catalogue quantity."""

    index: int
    quantity: str
    convert: Callable[[float], float]


def teros12_vwc_percent(raw: float) -> float:
    """TEROS 12 calibrated counts (RAW, about 1000-3600) to volumetric water content in %."""
    # METER Group, TEROS 11/12 User Manual, "mineral soil calibration":
    # theta [m3/m3] = 3.879e-4 * RAW - 0.6956; x100 for the catalogue's %.
    return round((3.879e-4 * raw - 0.6956) * 100, 4)


# TEROS 12 data: calibrated counts, temperature degC, bulk EC uS/cm (the catalogue's unit).
TEROS12: tuple[SdiValue, ...] = (
    SdiValue(0, "soil_moisture", teros12_vwc_percent),
    SdiValue(1, "soil_temperature", float),
    SdiValue(2, "soil_ec", float),
)


def crc16(data: bytes) -> int:
    """SDI-12 CRC-16: CRC-16/ARC (reflected polynomial 0xA001, initial value 0)."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def encode_crc(crc: int) -> bytes:
    """The three printable characters that carry a CRC: 4, 6 and 6 bits, each ORed with 0x40."""
    return bytes((0x40 | (crc >> 12), 0x40 | ((crc >> 6) & 0x3F), 0x40 | (crc & 0x3F)))


def split_line(buffer: bytes) -> tuple[int, bytes | None]:
    """The first reply line in ``buffer``: (bytes used, line without CR LF), or (0, None).

    Bytes after the line are left for the caller; noise before it stays part of the line, so
    the reply's parser refuses it instead of guessing where the reply starts.
    """
    end = buffer.find(b"\n")
    if end < 0:
        return 0, None
    return end + 1, buffer[:end].removesuffix(b"\r")


def _error(reason: str, message: str, line: bytes) -> DeviceReadError:
    return DeviceReadError(reason, f"{message}: {line!r}")


def _text(line: bytes) -> str:
    """The line as text if every byte is printable ASCII or DEL (a CRC character can be 0x7F)."""
    if not line or any(not 0x20 <= byte <= 0x7F for byte in line):
        raise _error(GARBLED_REPLY, "empty reply or non-printable bytes in it", line)
    return line.decode("ascii")


def _check_address(text: str, address: str, line: bytes) -> str:
    """The reply after its address character."""
    if text[0] != address:
        if text[0] in ADDRESSES:
            raise _error(WRONG_ADDRESS, f"sensor {text[0]!r} answered for {address!r}", line)
        raise _error(GARBLED_REPLY, "reply does not start with an address", line)
    return text[1:]


def parse_measure_start(line: bytes, address: str, *, concurrent: bool) -> MeasureStart:
    """Parse ``atttn`` (aM!, aMC!) or ``atttnn`` (aC!, aCC!)."""
    rest = _check_address(_text(line), address, line)
    width = 5 if concurrent else 4
    if len(rest) != width or not rest.isdigit():
        raise _error(GARBLED_REPLY, f"expected a{'tttnn' if concurrent else 'tttn'}", line)
    return MeasureStart(seconds=int(rest[:3]), count=int(rest[3:]))


def parse_identification(line: bytes, address: str) -> Identification:
    """Parse ``allccccccccmmmmmmvvv[serial]``: version, vendor (8), model (6), version (3)."""
    rest = _check_address(_text(line), address, line)
    if len(rest) < 19 or not rest[:2].isdigit():
        raise _error(GARBLED_REPLY, "identification too short", line)
    return Identification(
        sdi12_version=f"{rest[0]}.{rest[1]}",
        vendor=rest[2:10].strip(),
        model=rest[10:16].strip(),
        version=rest[16:19].strip(),
        serial_number=rest[19:].strip(),
    )


def parse_data(line: bytes, address: str, *, crc: bool) -> tuple[float, ...]:
    """Parse a data reply ``a<values>[CRC]`` into its values (possibly none)."""
    text = _text(line)
    if crc:
        # The CRC first: a corrupted address character is line noise, not another sensor.
        if len(line) < 4 or line[-3:] != encode_crc(crc16(line[:-3])):
            raise _error(BAD_CRC, "CRC does not match the reply", line)
        text = text[:-3]
    body = _check_address(text, address, line)
    if not _VALUES.fullmatch(body):
        raise _error(GARBLED_REPLY, "values are not sign-and-digits", line)
    return tuple(float(v) for v in _VALUE.findall(body))


def to_quantities(values: Sequence[float], profile: Sequence[SdiValue]) -> dict[str, float]:
    """A measurement's values as catalogue quantities."""
    needed = max(v.index for v in profile) + 1
    if len(values) < needed:
        raise DeviceReadError(SHORT_DATA, f"{len(values)} values, the sensor gives {needed}")
    return {v.quantity: v.convert(values[v.index]) for v in profile}


@dataclass(frozen=True, slots=True)
class Sdi12Sensor:
    """A sensor on the bus: our device id and its SDI-12 address."""

    device_id: str
    address: str


class Sdi12Bus:
    """Owns one USB SDI-12 adapter and every sensor on its bus; one command at a time.

    :param concurrent: measure every sensor at once with aC! (True), one after another with aM!
        (False); None chooses aC! when several sensors share the bus.
    :param retries: how often a data command is repeated after a corrupted or missing reply.
    """

    def __init__(
        self,
        port: str,
        sensors: Sequence[Sdi12Sensor],
        *,
        baudrate: int = 9600,
        timeout_s: float = 1.0,
        crc: bool = True,
        concurrent: bool | None = None,
        retries: int = 1,
    ) -> None:
        self.port = port
        self.sensors = tuple(sensors)
        self.device_ids = tuple(s.device_id for s in self.sensors)
        self.baudrate = baudrate
        self._timeout_s = timeout_s
        self._crc = crc
        self._concurrent = len(self.sensors) > 1 if concurrent is None else concurrent
        self._retries = retries
        self._lock = threading.Lock()
        self._serial: serial.Serial | None = None
        self._buffer = b""

    def open(self) -> None:
        """Open the adapter's port and log what each sensor says it is."""
        try:
            self._serial = serial.Serial(
                self.port, self.baudrate, timeout=_READ_SLICE_S, write_timeout=self._timeout_s
            )
        except (serial.SerialException, OSError) as exc:
            raise PortLostError(f"cannot open {self.port}: {exc}", "port_unavailable") from None
        self._buffer = b""
        with self._lock:
            try:
                for sensor in self.sensors:
                    self._identify(sensor)
            except PortLostError:
                self.close()
                raise

    def close(self) -> None:
        """Release the port."""
        if self._serial is not None:
            self._serial.close()
            self._serial = None

    def poll(self, stamp: Stamp) -> list[DeviceResult]:
        """Measure every sensor once and collect its data."""
        with self._lock:
            if self._concurrent:
                results = self._poll_concurrently(stamp)
            else:
                results = [self._outcome(s, stamp, self._measure) for s in self.sensors]
        if any(r.error for r in results) and not os.path.exists(self.port):
            raise PortLostError(f"{self.port} disappeared (USB adapter unplugged?)")
        return results

    def _identify(self, sensor: Sdi12Sensor) -> None:
        extra = {"port": self.port, "device_id": sensor.device_id, "address": sensor.address}
        try:
            ident = parse_identification(self._command(f"{sensor.address}I!"), sensor.address)
            log.info("SDI-12 sensor identified", extra={**extra, **ident._asdict()})
        except PortLostError:
            raise
        except DeviceReadError as exc:
            log.warning(f"SDI-12 sensor did not identify: {exc}", extra=extra)

    def _outcome(
        self, sensor: Sdi12Sensor, stamp: Stamp, read: Callable[[Sdi12Sensor], tuple[float, ...]]
    ) -> DeviceResult:
        """The values ``read`` gets from a sensor as measurements, or its device error."""
        try:
            quantities = to_quantities(read(sensor), TEROS12)
        except PortLostError:
            raise
        except DeviceReadError as exc:
            return DeviceResult(sensor.device_id, error=exc)
        wall_ms, mono_ns = stamp()
        return DeviceResult(
            sensor.device_id,
            [Measurement(sensor.device_id, q, v, wall_ms, mono_ns) for q, v in quantities.items()],
        )

    def _measure(self, sensor: Sdi12Sensor) -> tuple[float, ...]:
        """aM! (or aMC!), wait for the service request, collect the data."""
        start = self._start(sensor, concurrent=False)
        if start.seconds:
            self._await_service_request(sensor, start.seconds)
        return self._collect(sensor, start.count)

    def _poll_concurrently(self, stamp: Stamp) -> list[DeviceResult]:
        """aC! (or aCC!) to every sensor, then each one's data once its ttt has passed."""
        failed: dict[str, DeviceResult] = {}
        ready: dict[str, tuple[float, int]] = {}
        for sensor in self.sensors:
            try:
                start = self._start(sensor, concurrent=True)
            except PortLostError:
                raise
            except DeviceReadError as exc:
                failed[sensor.device_id] = DeviceResult(sensor.device_id, error=exc)
            else:
                ready[sensor.device_id] = (time.monotonic() + start.seconds, start.count)

        def collect(sensor: Sdi12Sensor) -> tuple[float, ...]:
            ready_at, count = ready[sensor.device_id]
            # Asking before ttt has passed would abort the sensor's measurement.
            time.sleep(max(0.0, ready_at - time.monotonic()))
            return self._collect(sensor, count)

        return [failed.get(s.device_id) or self._outcome(s, stamp, collect) for s in self.sensors]

    def _start(self, sensor: Sdi12Sensor, *, concurrent: bool) -> MeasureStart:
        verb = ("C" if concurrent else "M") + ("C" if self._crc else "")
        line = self._command(f"{sensor.address}{verb}!")
        return parse_measure_start(line, sensor.address, concurrent=concurrent)

    def _await_service_request(self, sensor: Sdi12Sensor, seconds: int) -> None:
        """Wait for ``a`` CR LF; after ttt (plus the adapter's latency) ask for data anyway."""
        deadline = time.monotonic() + seconds + self._timeout_s
        while True:
            try:
                line = self._read_line(deadline)
            except PortLostError:
                raise
            except DeviceReadError:
                return  # spec: without a service request the data is due after ttt
            if line == sensor.address.encode():
                return
            log.debug("not a service request", extra={"port": self.port, "line": repr(line)})

    def _collect(self, sensor: Sdi12Sensor, count: int) -> tuple[float, ...]:
        """aD0!, aD1!, ... until ``count`` values have arrived."""
        values: list[float] = []
        for part in range(10):  # aD0! .. aD9!
            if len(values) >= count or not (chunk := self._data(sensor, part)):
                break
            values.extend(chunk)
        if len(values) != count:
            raise DeviceReadError(
                SHORT_DATA if len(values) < count else GARBLED_REPLY,
                f"sensor {sensor.address!r} sent {len(values)} of {count} values",
            )
        return tuple(values)

    def _data(self, sensor: Sdi12Sensor, part: int) -> tuple[float, ...]:
        command = f"{sensor.address}D{part}!"
        retries = self._retries
        while True:
            try:
                return parse_data(self._command(command), sensor.address, crc=self._crc)
            except PortLostError:
                raise
            except DeviceReadError as exc:
                if exc.reason not in _RETRYABLE or retries == 0:
                    raise
                retries -= 1
                log.debug(f"{command} again after {exc.reason}", extra={"port": self.port})

    def _command(self, command: str) -> bytes:
        """Send one command and return its reply line."""
        with self._port() as port:
            if self._buffer or port.in_waiting:
                # Leftovers of an earlier reply (noise, a late or cut line) must not be read as
                # the answer to this command.
                log.debug("discarding stray bytes", extra={"port": self.port})
                self._buffer = b""
                port.reset_input_buffer()
            port.write(command.encode("ascii"))
        return self._read_line(time.monotonic() + self._timeout_s)

    def _read_line(self, deadline: float) -> bytes:
        """The next reply line; no_reply or garbled_reply if none is complete by ``deadline``."""
        while True:
            used, line = split_line(self._buffer)
            if line is not None:
                self._buffer = self._buffer[used:]
                return line
            if len(self._buffer) > MAX_REPLY:
                self._buffer = b""
                raise DeviceReadError(GARBLED_REPLY, f"no line end within {MAX_REPLY} bytes")
            if time.monotonic() >= deadline:
                partial, self._buffer = self._buffer, b""
                if partial:
                    raise _error(GARBLED_REPLY, "reply cut short before CR LF", partial)
                raise DeviceReadError(NO_REPLY, f"no reply on {self.port}")
            with self._port() as port:
                self._buffer += port.read(port.in_waiting or 1)

    @contextmanager
    def _port(self) -> Iterator[serial.Serial]:
        """The open port; a failure of the port itself becomes PortLostError."""
        if self._serial is None:
            raise PortLostError(f"{self.port} is not open")
        try:
            yield self._serial
        except (serial.SerialException, OSError) as exc:
            raise PortLostError(f"{self.port}: {exc}") from None
