"""The common RS485 "7-in-1" soil probe, emulated as a Modbus RTU slave on a serial device.

Register map (function 03, read holding registers), as the probes' datasheets give it:

====== ==================== ======== ===================
addr   quantity             raw      range (raw)
====== ==================== ======== ===================
0x0000 soil moisture        x0.1 %   0..1000
0x0001 soil temperature     x0.1 degC -400..800 (signed)
0x0002 soil EC              uS/cm    0..20000
0x0003 soil pH              x0.1     30..90
0x0004 nitrogen             mg/kg    0..1999
0x0005 phosphorus           mg/kg    0..1999
0x0006 potassium            mg/kg    0..1999
====== ==================== ======== ===================

Several probes (device ids) can share one bus. pymodbus's serial server runs the bus in its own
thread with its own asyncio loop; registers are refreshed from the field model on every request.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from pymodbus.framer import FramerType
from pymodbus.pdu import ModbusPDU
from pymodbus.server import ModbusSerialServer
from pymodbus.simulator import DataType, SimData, SimDevice

from firmware_sim import quantities as q
from firmware_sim.faults import BAD_CRC, SILENT, FaultSwitch
from firmware_sim.history import History, Served
from firmware_sim.model import FieldModel

log = logging.getLogger(__name__)

READ_HOLDING_REGISTERS = 0x03
SOIL_FAULTS = frozenset({BAD_CRC, SILENT})


@dataclass(frozen=True, slots=True)
class ProbeRegister:
    """One holding register: engineering value = raw / divisor."""

    address: int
    key: str
    divisor: int
    raw_min: int
    raw_max: int
    signed: bool = False

    def encode(self, value: float) -> int:
        """Engineering value -> 16-bit register (two's complement if signed), clamped."""
        raw = min(self.raw_max, max(self.raw_min, round(value * self.divisor)))
        return raw & 0xFFFF

    def decode(self, register: int) -> float:
        """16-bit register -> engineering value."""
        raw = register - 0x10000 if self.signed and register & 0x8000 else register
        return raw / self.divisor if self.divisor != 1 else float(raw)


REGISTER_MAP: tuple[ProbeRegister, ...] = (
    ProbeRegister(0x0000, q.SOIL_MOISTURE, 10, 0, 1000),
    ProbeRegister(0x0001, q.SOIL_TEMPERATURE, 10, -400, 800, signed=True),
    ProbeRegister(0x0002, q.SOIL_EC, 1, 0, 20000),
    ProbeRegister(0x0003, q.SOIL_PH, 10, 30, 90),
    ProbeRegister(0x0004, q.SOIL_NITROGEN, 1, 0, 1999),
    ProbeRegister(0x0005, q.SOIL_PHOSPHORUS, 1, 0, 1999),
    ProbeRegister(0x0006, q.SOIL_POTASSIUM, 1, 0, 1999),
)
_BY_ADDRESS = {r.address: r for r in REGISTER_MAP}


class SoilProbeBus:
    """One RS485 bus with one or more soil probes answering Modbus RTU on ``port``.

    :param model: where the probes' values come from (each device id is its own spot).
    :param port: the serial device the probes are wired to (a pty link's device_path).
    :param device_ids: Modbus ids of the probes on this bus.
    :param history_len: how many served replies are remembered per probe.
    """

    def __init__(
        self,
        model: FieldModel,
        port: str,
        *,
        device_ids: Iterable[int] = (1,),
        baudrate: int = 4800,
        history_len: int = 1000,
    ) -> None:
        self._model = model
        self._port = port
        self._baudrate = baudrate
        self.device_ids = tuple(device_ids)
        if not self.device_ids or any(not 1 <= d <= 247 for d in self.device_ids):
            raise ValueError(f"device ids must be 1..247, got {self.device_ids}")
        if len(set(self.device_ids)) != len(self.device_ids):
            raise ValueError(f"duplicate device ids in {self.device_ids}")
        self._faults = {d: FaultSwitch(SOIL_FAULTS) for d in self.device_ids}
        self._bus_faults = FaultSwitch(SOIL_FAULTS)
        self._history = {d: History(history_len) for d in self.device_ids}
        self._request: ModbusPDU | None = None
        self._pending: dict[str, float] | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._start_error: BaseException | None = None

    # -- life cycle -----------------------------------------------------------------------------

    def start(self, timeout_s: float = 5.0) -> None:
        """Start the server thread and wait until the port is open."""
        if self._thread is not None:
            raise RuntimeError("soil probe bus already started")
        self._thread = threading.Thread(
            target=asyncio.run, args=(self._serve(),), name="soil-probe-bus", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise TimeoutError(f"soil probe server did not open {self._port} in {timeout_s} s")
        if self._start_error is not None:
            self._thread.join()
            raise RuntimeError(f"soil probe server failed on {self._port}") from self._start_error
        log.info("soil probes listening", extra={"port": self._port, "device_ids": self.device_ids})

    def stop(self) -> None:
        """Shut the server down and join its thread. Idempotent."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        if self._loop is not None and self._stopping is not None and thread.is_alive():
            self._loop.call_soon_threadsafe(self._stopping.set)
        thread.join()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        devices = [
            SimDevice(
                id=d,
                simdata=SimData(
                    address=0,
                    values=[0] * len(REGISTER_MAP),
                    datatype=DataType.REGISTERS,
                    readonly=True,
                ),
                action=functools.partial(self._refresh, d),
            )
            for d in self.device_ids
        ]
        try:
            server = ModbusSerialServer(
                devices,
                framer=FramerType.RTU,
                port=self._port,
                baudrate=self._baudrate,
                trace_packet=self._trace_packet,
                trace_pdu=self._trace_pdu,  # type: ignore[arg-type]  # may return None, see there
            )
            await server.serve_forever(background=True)
        except Exception as exc:  # any failure to open the port is reported by start()
            self._start_error = exc
            self._ready.set()
            return
        self._ready.set()
        await self._stopping.wait()
        await server.shutdown()

    # -- faults and history ---------------------------------------------------------------------

    def inject(self, fault: str, count: int = 1, device_id: int | None = None) -> None:
        """Arm ``bad_crc`` (next ``count`` replies) or ``silent`` for one probe or the bus."""
        self._switch(device_id).arm(fault, count)
        log.info("fault injected", extra={"fault": fault, "count": count, "device_id": device_id})

    def clear(self, device_id: int | None = None) -> None:
        """Clear faults of one probe, or of the bus and every probe."""
        if device_id is None:
            self._bus_faults.clear()
            for switch in self._faults.values():
                switch.clear()
        else:
            self._switch(device_id).clear()

    def history(self, device_id: int) -> list[Served]:
        """Replies sent with a good CRC by probe ``device_id``, oldest first."""
        if device_id not in self._history:
            raise KeyError(f"no probe with device id {device_id} on this bus")
        return self._history[device_id].snapshot()

    def _switch(self, device_id: int | None) -> FaultSwitch:
        if device_id is None:
            return self._bus_faults
        if device_id not in self._faults:
            raise KeyError(f"no probe with device id {device_id} on this bus")
        return self._faults[device_id]

    def _take(self, device_id: int, fault: str) -> bool:
        return self._bus_faults.take(fault) or self._faults[device_id].take(fault)

    # -- pymodbus hooks (run in the server's loop thread) ---------------------------------------

    async def _refresh(
        self,
        device_id: int,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> None:
        """SimDevice action: load the probe's registers from the model before each access."""
        sample = self._model.now(spot=device_id)
        for reg in REGISTER_MAP:
            registers[reg.address - start_address] = reg.encode(getattr(sample, reg.key))

    def _trace_pdu(self, sending: bool, pdu: ModbusPDU) -> ModbusPDU | None:
        if not sending:
            if pdu.dev_id not in self._faults or (
                self._bus_faults.silent or self._faults[pdu.dev_id].silent
            ):
                # pymodbus handles a request only if this hook returns a truthy PDU: returning
                # None makes the server ignore it, as a probe that is absent or dead would.
                self._request = None
                return None
            self._request = pdu
            return pdu
        self._pending = self._decode_reply(pdu)
        return pdu

    def _decode_reply(self, reply: ModbusPDU) -> dict[str, float] | None:
        request = self._request
        if request is None or reply.function_code != READ_HOLDING_REGISTERS:
            return None  # exception replies and other functions serve no values
        values = {}
        for offset, register in enumerate(reply.registers):
            if (reg := _BY_ADDRESS.get(request.address + offset)) is not None:
                values[reg.key] = reg.decode(register)
        return values

    def _trace_packet(self, sending: bool, data: bytes) -> bytes:
        if not sending or not data:
            return data
        device_id = data[0]
        values, self._pending = self._pending, None
        if self._take(device_id, BAD_CRC):
            log.info("sending reply with corrupted CRC", extra={"device_id": device_id})
            return data[:-1] + bytes([data[-1] ^ 0xA5])
        if values:
            self._history[device_id].record(values)
        return data
