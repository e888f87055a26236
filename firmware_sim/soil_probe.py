"""RS485 soil probes, emulated as Modbus RTU slaves on a serial device.

Each probe (device id) serves one register map of :mod:`firmware_sim.soil_maps` (function 03,
read holding registers): the common "7-in-1" map by default, or JXCT's. Several probes can
share one bus. pymodbus's serial server runs the bus in its own thread with its own asyncio
loop; registers are refreshed from the field model on every request.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import threading
from collections.abc import Iterable, Mapping

from pymodbus.framer import FramerType
from pymodbus.pdu import ModbusPDU
from pymodbus.server import ModbusSerialServer
from pymodbus.simulator import DataType, SimData, SimDevice

from firmware_sim.faults import BAD_CRC, GARBAGE, PARTIAL, SILENT, FaultSwitch
from firmware_sim.history import History, Served
from firmware_sim.model import FieldModel
from firmware_sim.soil_maps import PROBE_MAPS, SEVEN_IN_ONE, ProbeMap

log = logging.getLogger(__name__)

READ_HOLDING_REGISTERS = 0x03
SOIL_FAULTS = frozenset({BAD_CRC, GARBAGE, PARTIAL, SILENT})


class SoilProbeBus:
    """One RS485 bus with one or more soil probes answering Modbus RTU on ``port``.

    :param model: where the probes' values come from (each device id is its own spot).
    :param port: the serial device the probes are wired to (a pty link's device_path).
    :param device_ids: Modbus ids of the probes on this bus.
    :param maps: register map name per device id (see soil_maps); unlisted ids serve
        ``seven_in_one``.
    :param history_len: how many served replies are remembered per probe.
    :param seed: chooses the noise bytes of the ``garbage`` fault.
    """

    def __init__(
        self,
        model: FieldModel,
        port: str,
        *,
        device_ids: Iterable[int] = (1,),
        maps: Mapping[int, str] | None = None,
        baudrate: int = 4800,
        history_len: int = 1000,
        seed: int = 0,
    ) -> None:
        self._model = model
        self._port = port
        self._baudrate = baudrate
        self.device_ids = tuple(device_ids)
        if not self.device_ids or any(not 1 <= d <= 247 for d in self.device_ids):
            raise ValueError(f"device ids must be 1..247, got {self.device_ids}")
        if len(set(self.device_ids)) != len(self.device_ids):
            raise ValueError(f"duplicate device ids in {self.device_ids}")
        maps = dict(maps or {})
        if unknown := sorted(set(maps) - set(self.device_ids)):
            raise ValueError(f"maps given for device ids {unknown} that are not on this bus")
        if bad := sorted(set(maps.values()) - set(PROBE_MAPS)):
            raise ValueError(f"unknown register maps {bad}; known: {sorted(PROBE_MAPS)}")
        self._maps: dict[int, ProbeMap] = {
            d: PROBE_MAPS[maps.get(d, SEVEN_IN_ONE)] for d in self.device_ids
        }
        self._rng = random.Random(f"{seed}/soil-noise")
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
                    address=probe_map.first,
                    values=[0] * probe_map.span,
                    datatype=DataType.REGISTERS,
                    readonly=True,
                ),
                action=functools.partial(self._refresh, d),
            )
            for d, probe_map in self._maps.items()
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
        """Arm ``bad_crc``, ``garbage`` or ``partial`` (next ``count`` replies) or ``silent`` for
        one probe or the bus."""
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
        for reg in self._maps[device_id].registers:
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
        probe_map = self._maps[request.dev_id]
        values = {}
        for offset, register in enumerate(reply.registers):
            if (reg := probe_map.at(request.address + offset)) is not None:
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
        if self._take(device_id, PARTIAL):
            # The probe browns out mid-reply: only the first half reaches the bus.
            log.info("sending only part of a reply", extra={"device_id": device_id})
            return data[: len(data) // 2]
        if values:
            self._history[device_id].record(values)
        if self._take(device_id, GARBAGE):
            # Line noise (a glitch at bus turnaround) ahead of an intact reply.
            noise = self._rng.randbytes(self._rng.randint(1, 8))
            log.info("sending noise before a reply", extra={"device_id": device_id})
            return noise + data
        return data
