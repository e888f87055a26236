"""An ASCII weather station in auto-send mode: one line per sample on a serial port.

The station speaks one of the line formats of :mod:`firmware_sim.weather_lines` (``wxsta`` by
default, or ``vaisala_wxt``), and can be made to misbehave: ``garble`` corrupts lines, ``silent``
mutes it, ``garbage`` sends noise bytes before a line, ``partial`` cuts a line before its end so
that the next line follows straight on.
"""

from __future__ import annotations

import logging
import random
import threading
import time

import serial

from firmware_sim import quantities as q
from firmware_sim.faults import GARBAGE, GARBLE, PARTIAL, SILENT, FaultSwitch
from firmware_sim.history import History, Served
from firmware_sim.model import FieldModel
from firmware_sim.weather_lines import COUNTER_MODULO, FORMATS, WXSTA

log = logging.getLogger(__name__)

WEATHER_FAULTS = frozenset({GARBAGE, GARBLE, PARTIAL, SILENT})


class WeatherStation:
    """Writes one line per sample to ``port`` from its own thread.

    :param model: the field whose weather is measured.
    :param port: the serial device the station is wired to (a pty link's device_path).
    :param interval_s: real seconds between lines; the first goes out at start.
    :param history_len: how many intact lines are remembered.
    :param seed: chooses where garbled lines get hit, where partial lines end and the noise.
    :param line_format: ``wxsta`` or ``vaisala_wxt`` (see weather_lines).
    """

    def __init__(
        self,
        model: FieldModel,
        port: str,
        *,
        interval_s: float = 10.0,
        baudrate: int = 4800,
        history_len: int = 1000,
        seed: int = 0,
        line_format: str = WXSTA,
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be positive, got {interval_s}")
        if line_format not in FORMATS:
            raise ValueError(f"unknown line format {line_format!r}; known: {sorted(FORMATS)}")
        self._format = FORMATS[line_format]
        self._model = model
        self._port = port
        self._baudrate = baudrate
        self.interval_s = interval_s
        self._faults = FaultSwitch(WEATHER_FAULTS)
        self._history = History(history_len)
        self._rng = random.Random(f"{seed}/garble")
        self._garbled = 0
        self._seq = 0
        self._last_good_rain: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._serial: serial.Serial | None = None

    def start(self) -> None:
        """Open the port and start sending lines."""
        if self._thread is not None:
            raise RuntimeError("weather station already started")
        # Opened here, not in the thread, so a bad port fails the caller at once.
        self._serial = serial.Serial(
            self._port, self._baudrate, timeout=0, write_timeout=5.0, exclusive=True
        )
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="weather-station", daemon=True)
        self._thread.start()
        log.info(
            "weather station sending", extra={"port": self._port, "interval_s": self.interval_s}
        )

    def stop(self) -> None:
        """Stop sending, join the thread and close the port. Idempotent."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        thread.join()
        if self._serial is not None:
            self._serial.close()
            self._serial = None

    def inject(self, fault: str, count: int = 1) -> None:
        """Arm ``garble``, ``garbage`` or ``partial`` (the next ``count`` lines) or ``silent``
        (until cleared)."""
        self._faults.arm(fault, count)
        log.info("fault injected", extra={"fault": fault, "count": count})

    def clear(self) -> None:
        """Clear every pending fault."""
        self._faults.clear()

    def history(self) -> list[Served]:
        """Lines sent intact, oldest first, with ``rain`` as mm since the previous intact line.

        Besides catalogue quantities each entry holds the raw rain item: ``rain_tip_count`` (RC)
        and ``seq`` for ``wxsta``, ``rain_total_mm`` (Rc) for ``vaisala_wxt``.
        """
        return self._history.snapshot()

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.wait(max(0.0, next_at - time.monotonic())):
            try:
                self._send_sample()
            except serial.SerialException:
                log.exception("weather station cannot write", extra={"port": self._port})
            next_at += self.interval_s
            # After a stall (suspended machine) carry on from now rather than bursting.
            next_at = max(next_at, time.monotonic() - self.interval_s)

    def _send_sample(self) -> None:
        """Take one sample and send its line now (the sending thread calls this on schedule)."""
        if self._serial is None:
            raise RuntimeError("weather station not started")
        sample = self._model.now()
        seq, self._seq = self._seq, (self._seq + 1) % COUNTER_MODULO
        rendered = self._format.render(seq, sample)
        line = rendered.line
        if self._faults.silent:
            return  # the sensor still samples (seq advances) but nothing reaches the wire
        if self._faults.take(GARBLE):
            modes = self._format.garble_modes
            mode = modes[self._garbled % len(modes)]
            self._garbled += 1
            self._serial.write(self._format.garble(line, mode, self._rng).encode("ascii"))
            log.info("sent garbled line", extra={"seq": seq, "mode": mode})
            return
        if self._faults.take(PARTIAL):
            # Cut before the line end; the next line then follows on the same line.
            cut = self._rng.randrange(1, len(line) - 2)
            self._serial.write(line[:cut].encode("ascii"))
            log.info("sent partial line", extra={"seq": seq, "sent": cut})
            return
        previous, self._last_good_rain = self._last_good_rain, rendered.rain_raw
        values = dict(rendered.values)
        values[q.RAIN] = (
            0.0 if previous is None else self._format.rain_since(previous, rendered.rain_raw)
        )
        noise = b""
        if self._faults.take(GARBAGE):
            # Noise on the line before an intact line (no line end, so it joins that line).
            noise = bytes(b for b in self._rng.randbytes(self._rng.randint(1, 16)) if b != 0x0A)
            log.info("sending noise before a line", extra={"seq": seq, "noise": len(noise)})
        # Recorded before the write so a reader never sees a line the history lacks yet.
        self._history.record(values)
        self._serial.write(noise + line.encode("ascii"))
