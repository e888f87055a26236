"""A USB SDI-12 adapter with TEROS-12-like soil probes behind it, on a serial device.

The host talks to the adapter at 9600 8N1 as to the common USB SDI-12 interfaces: it writes a
command (``0M!``) and reads the addressed sensor's reply line ``...\\r\\n``. Each probe answers
(``a`` is its address; commands to absent addresses get no reply):

- ``a!`` -> ``a``; ``aI!`` -> ``a13TANISIM TER12 400SIM-a``;
- ``aM!``/``aMC!`` -> ``atttn``, ``aC!``/``aCC!`` -> ``atttnn`` (n = 3); after ``measure_s``
  an M measurement sends the service request ``a``, a C measurement sends nothing;
- ``aD0!`` .. ``aD9!`` -> ``a+2716.35+27.1+312``, with the SDI-12 CRC (three characters) after
  aMC!/aCC!: calibrated counts (2 decimals), temperature degC (1 decimal), bulk EC uS/cm.

As the spec requires, a command addressed to a probe that is still measuring aborts the
measurement; its data replies are then empty. Faults hit replies to commands, never the service
request: ``garbage`` puts noise bytes before a reply (the adapter relays them as part of the
reply line, so it is not counted as sent intact), ``partial`` cuts a reply before its CR LF,
``bad_crc`` changes a CRC character of a data reply that carries one.
"""

from __future__ import annotations

import logging
import math
import random
import string
import threading
import time
from dataclasses import dataclass, field

import serial

from firmware_sim import quantities as q
from firmware_sim.faults import BAD_CRC, GARBAGE, PARTIAL, SILENT, FaultSwitch
from firmware_sim.history import History, Served
from firmware_sim.model import FieldModel, FieldSample

log = logging.getLogger(__name__)

ADAPTER_BAUDRATE = 9600
ADDRESSES = string.digits + string.ascii_lowercase + string.ascii_uppercase
SDI12_FAULTS = frozenset({BAD_CRC, GARBAGE, PARTIAL, SILENT})
# Not a catalogue quantity: the calibrated counts as printed, kept in the history.
VWC_RAW = "vwc_raw"
SPOT_BASE = 1000  # model spots of SDI-12 probes: apart from the Modbus ids 1..247

_CHAR_S = 10 / 1200  # one SDI-12 character: 7E1 at 1200 baud
_WAKE_S = 0.0122 + 0.0083  # the adapter's break and marking before each command
_SENSOR_LATENCY_S = 0.010  # a sensor starts its reply within 15 ms
_POLL_S = 0.01
_MAX_VALUE_CHARS = {False: 35, True: 75}  # spec limits of one data reply: aM!, aC!
_NOISE = bytes([0x00, *range(0x80, 0x100)])  # framing errors: never printable ASCII


def crc16(data: bytes) -> int:
    """SDI-12 CRC-16 (spec 4.4.12): CRC-16/ARC, reflected polynomial 0xA001, start 0."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def crc_chars(data: bytes) -> bytes:
    """The CRC of ``data`` as SDI-12 sends it: 4, 6 and 6 bits, each ORed with 0x40."""
    crc = crc16(data)
    return bytes((0x40 | (crc >> 12), 0x40 | ((crc >> 6) & 0x3F), 0x40 | (crc & 0x3F)))


def raw_counts(moisture_percent: float) -> float:
    """TEROS 12 calibrated counts for a water content, by METER's mineral-soil calibration."""
    return (moisture_percent / 100 + 0.6956) / 3.879e-4


def moisture_percent(raw: float) -> float:
    """Water content in % from calibrated counts: theta = 3.879e-4 * RAW - 0.6956 (x100)."""
    return (3.879e-4 * raw - 0.6956) * 100


def reading_fields(sample: FieldSample) -> list[tuple[str, str]]:
    """(key, text) of the values of one measurement, printed as the probe prints them."""
    return [
        (VWC_RAW, f"{raw_counts(sample.soil_moisture):+.2f}"),
        (q.SOIL_TEMPERATURE, f"{sample.soil_temperature:+.1f}"),
        (q.SOIL_EC, f"{round(sample.soil_ec):+d}"),
    ]


def served_values(fields: list[tuple[str, str]]) -> dict[str, float]:
    """What a gateway should make of a measurement's printed values."""
    values = {key: float(text) for key, text in fields}
    values[q.SOIL_MOISTURE] = moisture_percent(values[VWC_RAW])
    return values


def data_parts(texts: list[str], max_chars: int, max_values: int) -> list[list[int]]:
    """Value indices of each data reply aD0!, aD1!, ...: as many as fit into one reply."""
    parts: list[list[int]] = []
    used = 0
    for i, text in enumerate(texts):
        if not parts or used + len(text) > max_chars or len(parts[-1]) >= max_values:
            parts.append([])
            used = 0
        parts[-1].append(i)
        used += len(text)
    return parts


@dataclass(slots=True)
class _Measurement:
    fields: list[tuple[str, str]]
    parts: list[list[int]]
    crc: bool
    ready_at: float
    service_request: bool  # still to be sent (M measurements only)
    intact: set[int] = field(default_factory=set)  # value indices sent without a fault


@dataclass(slots=True)
class _Probe:
    address: str
    faults: FaultSwitch
    history: History
    measurement: _Measurement | None = None


class Sdi12Adapter:
    """A USB SDI-12 adapter on ``port`` with one TEROS-12-like probe per address.

    :param model: where the probes' values come from (each address is its own spot).
    :param port: the serial device the adapter is (a pty link's device_path).
    :param measure_s: real seconds a measurement takes; ttt announces it rounded up.
    :param line_timing: delay replies by the time the 1200-baud bus would take.
    :param values_per_reply: at most this many values in one data reply (the spec's 35/75
        character limits apply too).
    :param history_len: how many measurements are remembered per probe.
    :param seed: chooses the noise bytes and where replies are cut.
    """

    def __init__(
        self,
        model: FieldModel,
        port: str,
        *,
        addresses: tuple[str, ...] = ("0",),
        measure_s: float = 1.0,
        line_timing: bool = True,
        values_per_reply: int = 9,
        history_len: int = 1000,
        seed: int = 0,
    ) -> None:
        if not addresses or any(len(a) != 1 or a not in ADDRESSES for a in addresses):
            raise ValueError(f"SDI-12 addresses are one of 0-9, a-z, A-Z, got {addresses}")
        if len(set(addresses)) != len(addresses):
            raise ValueError(f"duplicate SDI-12 addresses in {addresses}")
        if measure_s < 0 or values_per_reply < 1:
            raise ValueError("measure_s must not be negative, values_per_reply at least 1")
        self._model = model
        self._port = port
        self._measure_s = measure_s
        self._line_timing = line_timing
        self._values_per_reply = values_per_reply
        self._probes = {
            a: _Probe(a, FaultSwitch(SDI12_FAULTS), History(history_len)) for a in addresses
        }
        self._bus_faults = FaultSwitch(SDI12_FAULTS)
        self._rng = random.Random(f"{seed}/sdi12")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._serial: serial.Serial | None = None

    def start(self) -> None:
        """Open the port and start answering."""
        if self._thread is not None:
            raise RuntimeError("SDI-12 adapter already started")
        # Opened here, not in the thread, so a bad port fails the caller at once.
        self._serial = serial.Serial(
            self._port, ADAPTER_BAUDRATE, timeout=_POLL_S, write_timeout=5.0, exclusive=True
        )
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="sdi12-adapter", daemon=True)
        self._thread.start()
        log.info(
            "SDI-12 adapter answering",
            extra={"port": self._port, "addresses": "".join(self._probes)},
        )

    def stop(self) -> None:
        """Stop answering, join the thread and close the port. Idempotent."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        thread.join()
        if self._serial is not None:
            self._serial.close()
            self._serial = None

    def inject(self, fault: str, count: int = 1, address: str | None = None) -> None:
        """Arm ``bad_crc``, ``garbage`` or ``partial`` (next ``count`` replies) or ``silent``,
        for one probe or (``address`` None) the whole adapter."""
        self._switch(address).arm(fault, count)
        log.info("fault injected", extra={"fault": fault, "count": count, "address": address})

    def clear(self, address: str | None = None) -> None:
        """Clear the faults of one probe, or of the adapter and every probe."""
        if address is not None:
            self._switch(address).clear()
            return
        self._bus_faults.clear()
        for probe in self._probes.values():
            probe.faults.clear()

    def history(self, address: str) -> list[Served]:
        """Measurements of probe ``address`` whose every value went out intact, oldest first.

        Values: ``vwc_raw`` (counts), ``soil_moisture`` (% from them), ``soil_temperature``,
        ``soil_ec``.
        """
        return self._probe(address).history.snapshot()

    def _probe(self, address: str) -> _Probe:
        if address not in self._probes:
            raise KeyError(f"no SDI-12 probe with address {address!r} on this adapter")
        return self._probes[address]

    def _switch(self, address: str | None) -> FaultSwitch:
        return self._bus_faults if address is None else self._probe(address).faults

    def _take(self, probe: _Probe, fault: str) -> bool:
        return self._bus_faults.take(fault) or probe.faults.take(fault)

    def _silent(self, probe: _Probe) -> bool:
        return self._bus_faults.silent or probe.faults.silent

    # -- the adapter's thread -------------------------------------------------------------------

    def _run(self) -> None:
        port = self._serial
        assert port is not None, "start() opens the port"
        pending = b""
        while not self._stop.is_set():
            try:
                pending += port.read(port.in_waiting or 1)
                while b"!" in pending:
                    command, _, pending = pending.partition(b"!")
                    self._handle(command.strip().decode("ascii", "replace"))
                self._send_service_requests()
            except serial.SerialException:
                log.exception("SDI-12 adapter cannot use its port", extra={"port": self._port})
                self._stop.wait(0.5)

    def _handle(self, command: str) -> None:
        probe = self._probes.get(command[:1])
        if probe is None or self._silent(probe):
            return  # nobody on the bus answers
        m = probe.measurement
        if m is not None and time.monotonic() < m.ready_at:
            log.info("measurement aborted by a command", extra={"address": probe.address})
            probe.measurement = _Measurement([], [], m.crc, 0.0, service_request=False)
        verb = command[1:]
        if verb == "":
            self._reply(probe, command, probe.address)
        elif verb == "I":
            self._reply(probe, command, f"{probe.address}13TANISIM TER12 400SIM-{probe.address}")
        elif verb in ("M", "MC", "C", "CC"):
            self._reply(probe, command, self._start_measurement(probe, verb))
        elif len(verb) == 2 and verb[0] == "D" and verb[1].isdigit():
            self._send_data(probe, command, int(verb[1]))
        # Any other command: a TEROS 12 does not answer it.

    def _start_measurement(self, probe: _Probe, verb: str) -> str:
        concurrent = verb.startswith("C")
        fields = reading_fields(self._model.now(spot=SPOT_BASE + ord(probe.address)))
        texts = [text for _, text in fields]
        seconds = math.ceil(self._measure_s)
        probe.measurement = _Measurement(
            fields,
            data_parts(texts, _MAX_VALUE_CHARS[concurrent], self._values_per_reply),
            crc=verb.endswith("C") and verb != "C",
            ready_at=time.monotonic() + self._measure_s,
            service_request=not concurrent and seconds > 0,
        )
        count = f"{len(fields):02d}" if concurrent else f"{len(fields)}"
        return f"{probe.address}{seconds:03d}{count}"

    def _send_data(self, probe: _Probe, command: str, part: int) -> None:
        m = probe.measurement
        indices = m.parts[part] if m is not None and part < len(m.parts) else []
        values = "".join(m.fields[i][1] for i in indices) if m is not None else ""
        body = (probe.address + values).encode("ascii")
        crc = m is not None and m.crc
        if crc:
            body += crc_chars(body)
        self._reply(probe, command, body.decode("ascii"), crc=crc, indices=indices)

    def _reply(
        self,
        probe: _Probe,
        command: str,
        body: str,
        *,
        crc: bool = False,
        indices: list[int] | None = None,
    ) -> None:
        """Send one reply, unless a fault spoils it; record a measurement sent whole intact."""
        line = body.encode("ascii") + b"\r\n"
        spoiled = True
        if self._take(probe, PARTIAL):
            line = line[: self._rng.randrange(1, len(body) + 1)]
        elif self._take(probe, GARBAGE):
            noise = bytes(self._rng.choice(_NOISE) for _ in range(self._rng.randint(1, 4)))
            line = noise + line
        elif crc and self._take(probe, BAD_CRC):
            # Another valid CRC character, so only the check itself can notice.
            last = (line[-3] - 0x40 + self._rng.randrange(1, 64)) % 64
            line = line[:-3] + bytes([0x40 | last]) + b"\r\n"
        else:
            spoiled = False
            self._note_intact(probe, indices or [])
        if spoiled:
            log.info(
                "sending a spoiled reply", extra={"address": probe.address, "command": command}
            )
        self._write(line, wait_s=_WAKE_S + (len(command) + 1) * _CHAR_S + _SENSOR_LATENCY_S)

    def _note_intact(self, probe: _Probe, indices: list[int]) -> None:
        m = probe.measurement
        if m is None or not indices:
            return
        complete_before = len(m.intact) == len(m.fields)
        m.intact.update(indices)
        if not complete_before and len(m.intact) == len(m.fields):
            # Recorded before the write so a reader never sees values the history lacks yet.
            probe.history.record(served_values(m.fields))

    def _send_service_requests(self) -> None:
        now = time.monotonic()
        for probe in self._probes.values():
            m = probe.measurement
            if m is not None and m.service_request and now >= m.ready_at:
                m.service_request = False
                if not self._silent(probe):
                    self._write(f"{probe.address}\r\n".encode("ascii"), wait_s=0.0)

    def _write(self, line: bytes, wait_s: float) -> None:
        """Relay a line to the host once the SDI-12 bus would have carried it."""
        if self._line_timing:
            self._stop.wait(wait_s + len(line) * _CHAR_S)
        assert self._serial is not None, "start() opens the port"
        self._serial.write(line)
