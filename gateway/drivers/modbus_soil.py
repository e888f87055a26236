"""RS485 Modbus RTU soil probes (moisture, temperature, EC, pH, N, P, K).

Probes answer function 03 (read holding registers) with scaled integers at the addresses of
their register map (:mod:`gateway.drivers.register_map`). Several probes may share one bus under
different unit ids; one ``ModbusSoilBus`` owns the port and asks them in turn, since RS485 is
half duplex.

When the USB adapter vanishes, pymodbus 3.16's sync client sees the OSError (EIO) of the dead
tty in ``send``/``recv``, closes its serial object and raises ``ConnectionException``; its next
request would silently try to reopen the path. The bus turns ``ConnectionException`` (and any
failure while the configured path is missing) into ``PortLostError``, so the poller closes the
port and reopens the configured, stable name itself.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass

from pymodbus import FramerType
from pymodbus.client import ModbusSerialClient
from pymodbus.exceptions import ConnectionException, ModbusException

from gateway.drivers.base import DeviceReadError, DeviceResult, Measurement, PortLostError, Stamp
from gateway.drivers.register_map import SEVEN_IN_ONE, ReadBlock, RegisterMap, block_registers
from gateway.drivers.rtu_frames import scan_reply

log = logging.getLogger(__name__)

READ_HOLDING_REGISTERS = 0x03
# Modbus over serial line v1.02, 2.5.1.1: 3.5 character times of silence between frames, an
# 11-bit character, and a fixed 1.75 ms above 19200 baud.
_BITS_PER_CHAR = 11
_MIN_GAP_S = 0.00175


def inter_frame_gap_s(baudrate: int) -> float:
    """The silence RS485 Modbus RTU needs between the end of one frame and the next."""
    if baudrate > 19200:
        return _MIN_GAP_S
    return 3.5 * _BITS_PER_CHAR / baudrate


@dataclass(frozen=True, slots=True)
class SoilProbe:
    """A probe on the bus: our device id, its Modbus unit id and its register map."""

    device_id: str
    unit: int
    register_map: RegisterMap = SEVEN_IN_ONE


class ModbusSoilBus:
    """Owns one serial port with one or more soil probes on it.

    pymodbus 3.16's sync serial client leaves no silence between a reply (or a timeout) and the
    next request, so the bus keeps the 3.5-character gap itself before every request.
    """

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
        self._gap_s = inter_frame_gap_s(baudrate)
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
        self._line_idle_at = 0.0
        self._expect: tuple[int, int] = (0, 0)  # (unit, count) of the outstanding read
        self._received = b""

    @property
    def device_ids(self) -> tuple[str, ...]:
        """Our ids of the probes on this bus."""
        return tuple(p.device_id for p in self.probes)

    def open(self) -> None:
        """Open the serial port; raise PortLostError if it is not there."""
        # Checked first so an absent adapter is not an ERROR in pymodbus's log on every retry.
        if not os.path.exists(self.port) or not self._client.connect():
            raise PortLostError(f"cannot open serial port {self.port}", "port_unavailable")
        self._line_idle_at = time.monotonic()

    def close(self) -> None:
        """Release the serial port."""
        self._client.close()

    def poll(self, stamp: Stamp) -> list[DeviceResult]:
        """Ask each probe in turn (RS485 is half duplex: one transaction at a time)."""
        results = []
        for probe in self.probes:
            try:
                results.append(DeviceResult(probe.device_id, self.read(probe, stamp)))
            except PortLostError:
                raise
            except DeviceReadError as exc:
                if not os.path.exists(self.port):
                    raise PortLostError(
                        f"{self.port} disappeared (USB adapter unplugged?)"
                    ) from None
                results.append(DeviceResult(probe.device_id, error=exc))
        return results

    def read(self, probe: SoilProbe, stamp: Stamp) -> list[Measurement]:
        """Read every register of one probe's map and convert them."""
        registers: dict[int, int] = {}
        for block in probe.register_map.blocks():
            registers.update(block_registers(block, self._read_block(probe, block)))
        # The clocks are read when the last reply is in: the values are that recent.
        wall_ms, mono_ns = stamp()
        values = probe.register_map.decode(registers)
        return [Measurement(probe.device_id, q, v, wall_ms, mono_ns) for q, v in values.items()]

    def _read_block(self, probe: SoilProbe, block: ReadBlock) -> list[int]:
        self._expect = (probe.unit, block.count)
        quiet_for = self._line_idle_at + self._gap_s - time.monotonic()
        if quiet_for > 0:
            time.sleep(quiet_for)
        try:
            reply = self._client.read_holding_registers(
                block.start, count=block.count, device_id=probe.unit
            )
        except ConnectionException as exc:
            raise PortLostError(f"{self.port} failed: {exc}") from None
        except ModbusException as exc:
            raise self._classify_failure(probe, exc) from None
        finally:
            self._line_idle_at = time.monotonic()
        if reply.isError():
            raise DeviceReadError("exception_reply", f"unit {probe.unit} answered {reply}")
        return list(reply.registers)

    def _trace(self, sending: bool, data: bytes) -> bytes:
        """pymodbus hook on raw bytes: pass on only a checked reply to the outstanding read.

        Received ``data`` is everything since the request; returning b"" makes pymodbus wait
        for more, until its timeout.
        """
        if sending:
            self._received = b""
            return data
        self._received = bytes(data)
        unit, count = self._expect
        scan = scan_reply(self._received, unit, READ_HOLDING_REGISTERS, count)
        if scan.frame is None:
            return b""
        if scan.skipped:
            log.debug(
                "skipped noise before a reply",
                extra={"port": self.port, "unit": unit, "noise": data[: scan.skipped].hex(" ")},
            )
        return scan.frame

    def _classify_failure(self, probe: SoilProbe, exc: ModbusException) -> DeviceReadError:
        """pymodbus says only "no valid response"; the bytes on the line say why."""
        received = self._received
        if not received:
            return DeviceReadError("no_reply", f"unit {probe.unit} did not answer: {exc}")
        unit, count = self._expect
        if scan_reply(received, unit, READ_HOLDING_REGISTERS, count).bad_crc:
            return DeviceReadError(
                "bad_crc", f"unit {probe.unit} answered {received.hex(' ')} with a bad CRC"
            )
        return DeviceReadError(
            "bad_reply", f"unit {probe.unit} answered {received.hex(' ')}: {exc}"
        )
