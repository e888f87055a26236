"""An ASCII weather station in auto-send mode: one NMEA-style line per sample on a serial port.

Line format (the gateway's parser is written against exactly this)::

    $WXSTA,<seq>,TA=27.4,RH=81.2,PA=1008.6,WS=1.8,WD=135,RC=12,SR=512*4F\\r\\n

``seq`` counts samples from 0 and wraps at 65536; TA degC, RH %, PA hPa and WS m/s have one
decimal; WD is whole degrees 0..359; RC is the cumulative tipping-bucket count (0.2 mm a tip,
wrapping at 65536); SR whole W/m2. The two hex digits after ``*`` are the XOR of every byte
strictly between ``$`` and ``*``.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time

import serial

from firmware_sim import quantities as q
from firmware_sim.faults import GARBLE, SILENT, FaultSwitch
from firmware_sim.history import History, Served
from firmware_sim.model import FieldModel, FieldSample

log = logging.getLogger(__name__)

SENTENCE = "WXSTA"
MM_PER_TIP = 0.2
COUNTER_MODULO = 65536
WEATHER_FAULTS = frozenset({GARBLE, SILENT})
_GARBLE_MODES = ("flip", "drop", "truncate")


def checksum(body: str) -> str:
    """NMEA checksum of the text between ``$`` and ``*``: two uppercase hex digits."""
    value = 0
    for byte in body.encode("ascii"):
        value ^= byte
    return f"{value:02X}"


def rain_tip_count(rain_total_mm: float) -> int:
    """Tipping-bucket counter after ``rain_total_mm`` of rain, as the 16-bit counter shows it."""
    # The epsilon keeps 0.6 mm (0.6 / 0.2 = 2.9999999999999996) at three tips.
    return math.floor(rain_total_mm / MM_PER_TIP + 1e-9) % COUNTER_MODULO


def sample_fields(sample: FieldSample) -> list[tuple[str, str, str]]:
    """(line key, quantity key, text) of each measured field, formatted as the station does."""
    return [
        ("TA", q.AIR_TEMPERATURE, f"{sample.air_temperature:.1f}"),
        ("RH", q.AIR_HUMIDITY, f"{sample.air_humidity:.1f}"),
        ("PA", q.AIR_PRESSURE, f"{sample.air_pressure:.1f}"),
        ("WS", q.WIND_SPEED, f"{sample.wind_speed:.1f}"),
        ("WD", q.WIND_DIRECTION, f"{round(sample.wind_direction) % 360:d}"),
        ("SR", q.SOLAR_RADIATION, f"{round(sample.solar_radiation):d}"),
    ]


def format_line(seq: int, fields: list[tuple[str, str, str]], rain_count: int) -> str:
    """The full line, ``$`` to CRLF, for sample ``seq``."""
    text = {key: value for key, _, value in fields}
    body = ",".join(
        [
            SENTENCE,
            str(seq % COUNTER_MODULO),
            *(f"{k}={text[k]}" for k in ("TA", "RH", "PA", "WS", "WD")),
            f"RC={rain_count % COUNTER_MODULO}",
            f"SR={text['SR']}",
        ]
    )
    return f"${body}*{checksum(body)}\r\n"


def garble(line: str, mode: str, rng: random.Random) -> str:
    """Corrupt a line as line noise would, so that its checksum can no longer pass.

    ``flip`` changes one digit, ``drop`` loses one character (either changes the XOR by a
    non-zero byte), ``truncate`` cuts the line before its ``*hh``.
    """
    star = line.index("*")
    if mode == "flip":
        digits = [i for i in range(1, star) if line[i].isdigit()]
        i = rng.choice(digits)
        new = rng.choice([d for d in "0123456789" if d != line[i]])
        return line[:i] + new + line[i + 1 :]
    if mode == "drop":
        i = rng.randrange(1, star)
        return line[:i] + line[i + 1 :]
    if mode == "truncate":
        return line[: rng.randrange(1, star)] + "\r\n"
    raise ValueError(f"unknown garble mode {mode!r}")


class WeatherStation:
    """Writes one line per sample to ``port`` from its own thread.

    :param model: the field whose weather is measured.
    :param port: the serial device the station is wired to (a pty link's device_path).
    :param interval_s: real seconds between lines; the first goes out at start.
    :param history_len: how many intact lines are remembered.
    :param seed: chooses where garbled lines get hit.
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
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be positive, got {interval_s}")
        self._model = model
        self._port = port
        self._baudrate = baudrate
        self.interval_s = interval_s
        self._faults = FaultSwitch(WEATHER_FAULTS)
        self._history = History(history_len)
        self._rng = random.Random(f"{seed}/garble")
        self._garbled = 0
        self._seq = 0
        self._last_good_count: int | None = None
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
        """Arm ``garble`` (the next ``count`` lines) or ``silent`` (until cleared)."""
        self._faults.arm(fault, count)
        log.info("fault injected", extra={"fault": fault, "count": count})

    def clear(self) -> None:
        """Clear every pending fault."""
        self._faults.clear()

    def history(self) -> list[Served]:
        """Lines sent intact, oldest first, with ``rain`` as mm since the previous intact line.

        Besides catalogue quantities each entry holds ``rain_tip_count`` (RC) and ``seq``.
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
        count = rain_tip_count(sample.rain_total_mm)
        fields = sample_fields(sample)
        line = format_line(seq, fields, count)
        if self._faults.silent:
            return  # the sensor still samples (seq advances) but nothing reaches the wire
        if self._faults.take(GARBLE):
            mode = _GARBLE_MODES[self._garbled % len(_GARBLE_MODES)]
            self._garbled += 1
            self._serial.write(garble(line, mode, self._rng).encode("ascii"))
            log.info("sent garbled line", extra={"seq": seq, "mode": mode})
            return
        previous, self._last_good_count = self._last_good_count, count
        tips = 0 if previous is None else (count - previous) % COUNTER_MODULO
        values: dict[str, float] = {key: float(text) for _, key, text in fields}
        values[q.RAIN] = round(tips * MM_PER_TIP, 1)
        values[q.RAIN_TIP_COUNT] = count
        values[q.SAMPLE_SEQ] = seq
        # Recorded before the write so a reader never sees a line the history lacks yet.
        self._history.record(values)
        self._serial.write(line.encode("ascii"))
