"""RS485 Modbus RTU "7-in-1" soil probes (moisture, temperature, EC, pH, N, P, K).

The common probe answers function 03 (read holding registers) at 0x0000-0x0006 with scaled
integers. Several probes may share one bus under different unit ids; one ``ModbusSoilBus`` owns
the port and asks them in turn, since RS485 is half duplex.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass

from pymodbus import FramerType
from pymodbus.client import ModbusSerialClient
from pymodbus.exceptions import ModbusException
from pymodbus.framer.rtu import FramerRTU

from gateway.drivers.base import DeviceReadError, DeviceResult, Measurement, PortLostError, Stamp

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RegisterField:
    """One holding register and how its raw count becomes a quantity."""

    address: int
    quantity: str
    scale: float
    signed: bool = False

    def convert(self, raw: int) -> float:
        """Raw 16-bit register count to the quantity's unit."""
        if self.signed and raw >= 0x8000:
            raw -= 0x10000
        return round(raw * self.scale, 6)


SEVEN_IN_ONE: tuple[RegisterField, ...] = (
    RegisterField(0x0000, "soil_moisture", 0.1),
    RegisterField(0x0001, "soil_temperature", 0.1, signed=True),
    RegisterField(0x0002, "soil_ec", 1.0),
    RegisterField(0x0003, "soil_ph", 0.1),
    RegisterField(0x0004, "soil_nitrogen", 1.0),
    RegisterField(0x0005, "soil_phosphorus", 1.0),
    RegisterField(0x0006, "soil_potassium", 1.0),
)
REGISTER_COUNT = max(f.address for f in SEVEN_IN_ONE) + 1


def decode_registers(
    registers: Sequence[int], fields: Sequence[RegisterField] = SEVEN_IN_ONE
) -> dict[str, float]:
    """Convert a block of holding registers starting at 0x0000 into quantity values."""
    if len(registers) < REGISTER_COUNT:
        raise DeviceReadError(
            "short_reply", f"expected {REGISTER_COUNT} registers, got {len(registers)}"
        )
    for raw in registers:
        if not 0 <= raw <= 0xFFFF:
            raise DeviceReadError("bad_register", f"register value {raw} is not 16-bit")
    return {f.quantity: f.convert(registers[f.address]) for f in fields}


@dataclass(frozen=True, slots=True)
class SoilProbe:
    """A probe on the bus: our device id and its Modbus unit id."""

    device_id: str
    unit: int


class ModbusSoilBus:
    """Owns one serial port with one or more soil probes on it."""

    def __init__(
        self,
        port: str,
        probes: Sequence[SoilProbe],
        *,
        baudrate: int = 4800,
        timeout_s: float = 1.0,
        retries: int = 0,
    ) -> None:
        self.port = port
        self.probes = tuple(probes)
        self._client = ModbusSerialClient(
            port,
            framer=FramerType.RTU,
            baudrate=baudrate,
            bytesize=8,
            parity="N",
            stopbits=1,
            timeout=timeout_s,
            retries=retries,
            trace_packet=self._trace,
        )
        self._reply = b""

    @property
    def device_ids(self) -> tuple[str, ...]:
        """Our ids of the probes on this bus."""
        return tuple(p.device_id for p in self.probes)

    def open(self) -> None:
        """Open the serial port; raise PortLostError if it is not there."""
        if not self._client.connect():
            raise PortLostError(f"cannot open serial port {self.port}", "port_unavailable")

    def close(self) -> None:
        """Release the serial port."""
        self._client.close()

    def poll(self, stamp: Stamp) -> list[DeviceResult]:
        """Ask each probe in turn (RS485 is half duplex: one transaction at a time)."""
        results = []
        for probe in self.probes:
            try:
                results.append(DeviceResult(probe.device_id, self.read(probe, stamp)))
            except DeviceReadError as exc:
                if not os.path.exists(self.port):
                    raise PortLostError(
                        f"{self.port} disappeared (USB adapter unplugged?)"
                    ) from None
                results.append(DeviceResult(probe.device_id, error=exc))
        return results

    def read(self, probe: SoilProbe, stamp: Stamp) -> list[Measurement]:
        """Read all registers of one probe and convert them."""
        try:
            reply = self._client.read_holding_registers(
                0x0000, count=REGISTER_COUNT, device_id=probe.unit
            )
        except ModbusException as exc:
            raise self._classify_failure(probe, exc) from None
        if reply.isError():
            raise DeviceReadError("exception_reply", f"unit {probe.unit} answered {reply}")
        wall_ms, mono_ns = stamp()
        values = decode_registers(reply.registers)
        return [Measurement(probe.device_id, q, v, wall_ms, mono_ns) for q, v in values.items()]

    def _trace(self, sending: bool, data: bytes) -> bytes:
        """pymodbus hook on raw frames: keep the longest reply seen since the last request."""
        if sending:
            self._reply = b""
        elif len(data) > len(self._reply):
            self._reply = bytes(data)
        return data

    def _classify_failure(self, probe: SoilProbe, exc: ModbusException) -> DeviceReadError:
        """pymodbus says only "no valid response"; the bytes on the line say why."""
        reply = self._reply
        if not reply:
            return DeviceReadError("no_reply", f"unit {probe.unit} did not answer: {exc}")
        if len(reply) >= 4 and not _crc_ok(reply):
            return DeviceReadError(
                "bad_crc", f"unit {probe.unit} answered {reply.hex(' ')} with a bad CRC"
            )
        return DeviceReadError("bad_reply", f"unit {probe.unit} answered {reply.hex(' ')}: {exc}")


def _crc_ok(frame: bytes) -> bool:
    """Whether the last two bytes are the Modbus CRC-16 of the rest (low byte first)."""
    return FramerRTU.compute_CRC(frame[:-2]) == int.from_bytes(frame[-2:], "big")
