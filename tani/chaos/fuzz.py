"""Fuzz every parser of untrusted bytes: serial replies, weather lines, payloads, health reports.

A parser meets bytes from a serial line or the network. Whatever they hold, it must return a
value or raise the error its caller catches (its *declared* error); anything else escapes the
caller: on the gateway it ends the poller thread of a port, in ingest the message handler.
:func:`fuzz_parsers` feeds each parser mutated copies of valid inputs (made by the emulators in
``firmware_sim`` and the encoders in ``telemetry``) and counts, per parser, the inputs it
accepted, the ones it refused with its declared error and the ones that raised anything else
(undeclared), with examples to reproduce them.

Mutations: bit flips, byte changes, inserts, deletes and duplicated runs, truncation, splicing
two samples, interesting values (0x00, 0xFF, "nan", "inf", "-0", "1" + 400 zeros, unicode,
deep nesting, very long lines), numbers swapped for other numbers; a few inputs are fully
random and a few are left valid. Where a format has a checksum (Modbus CRC, SDI-12 CRC, NMEA
``*hh``), half the mutated inputs get it recomputed, so mutations reach past the check into the
parsing of values. Each parser draws from its own ``random.Random(f"{seed}:{name}")``: a run is
reproducible, and adding a parser changes no other parser's inputs.

A parser is one :class:`ParserEntry` in :data:`PARSERS` (at the end of this module). Its
``parse`` takes the bytes as its caller receives them and does what the caller does with them.

    python -m tani.chaos.fuzz --inputs 100000 --seed 0
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import time
import traceback
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pymodbus.exceptions import ModbusException
from pymodbus.framer.rtu import FramerRTU
from pymodbus.pdu import DecodePDU, ExceptionResponse
from pymodbus.pdu.register_message import ReadHoldingRegistersResponse

from firmware_sim import sdi12_probe
from firmware_sim.model import FieldModel, FieldSample, ModelConfig
from firmware_sim.soil_maps import PROBE_MAPS
from firmware_sim.weather_lines import FORMATS as STATION_LINES
from gateway.config_devices import LineFormatSettings
from gateway.drivers import sdi12
from gateway.drivers.ascii_weather import RainGauge
from gateway.drivers.base import DeviceReadError
from gateway.drivers.modbus_soil import READ_HOLDING_REGISTERS
from gateway.drivers.register_map import BUILTIN_MAPS, RegisterMap, block_registers
from gateway.drivers.rtu_frames import scan_reply
from gateway.drivers.weather_lines import BUILTIN_FORMATS, LineFormat, checksum, parse_line
from storage.schema import HealthError, health_lines
from telemetry.acks import AckError, decode_ack, encode_acks
from telemetry.codec import PayloadError, decode_batch, encode_batch
from telemetry.quantities import QUANTITIES
from telemetry.reading import Quality, Reading

MAX_EXAMPLES = 5
_EXAMPLE_BYTES = 2048  # longer inputs are cut in examples (their length is given)
_RANDOM_SHARE = 0.04  # fully random inputs
_VALID_SHARE = 0.04  # samples passed unchanged
_REPAIR_SHARE = 0.5  # mutated inputs whose checksum is made right again
_PROJECT = Path(__file__).resolve().parents[2]

Parse = Callable[[bytes], object]


@dataclass(frozen=True, slots=True)
class ParserEntry:
    """One parser of untrusted bytes and how to fuzz it.

    :param parse: the bytes as the caller receives them -> what the caller makes of them.
    :param declared: the errors the caller catches; anything else escapes it.
    :param samples: valid inputs (a few refused ones are fine: an exception reply, say).
    :param repair: recompute the format's checksum of a mutated input.
    :param check: what is wrong with an accepted result that the next stage cannot use, or None.
    :param tokens: interesting values of this format, besides the common ones.
    """

    name: str
    parse: Parse
    declared: tuple[type[Exception], ...]
    samples: Callable[[random.Random], list[bytes]]
    repair: Callable[[bytes], bytes] | None = None
    check: Callable[[object], str | None] | None = None
    tokens: tuple[bytes, ...] = ()


# -- mutation ---------------------------------------------------------------------------------

_NUMBERS: tuple[bytes, ...] = (
    *(b"0", b"-0", b"+0", b"-1", b"1.", b".5", b"+.5", b"1e", b"--1", b"1_0", b"0x1F", b" 1"),
    *(b"nan", b"NaN", b"-nan", b"inf", b"-inf", b"Infinity", b"1e306", b"1e308", b"1e309"),
    *(b"-1e309", b"1.7976931348623157e308", b"5e-324", b"32768", b"65535", b"65536"),
    *(b"2147483648", b"9223372036854775807", b"9223372036854775808", b"18446744073709551616"),
    b"1" + b"0" * 400,
    b"9" * 5000,
    "\u0661\u0662".encode(),  # Arabic-Indic digits: str.isdigit() and float() accept them
    "\uff11".encode(),  # fullwidth 1
)
_COMMON: tuple[bytes, ...] = (
    *_NUMBERS,
    *(b"\x00", b"\xff", b"\x7f", b"\x80", b"", b",", b";", b"=", b"*", b"$", b"#", b" "),
    *(b"\r", b"\n", b"\r\n", b'"', b"\\", b"\\n", b"\\u0000", b"\\ud800", b"true", b"null"),
    *(b"[]", b"{}", b"[" * 1500, b'{"a":' * 1500, b"A" * 300, b"x" * 5000),
    *("\u00e9".encode(), "\ufeff".encode(), "\U0001f33e".encode()),
    *(b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80"),  # invalid UTF-8
)
_BYTES = (0x00, 0xFF, 0x7F, 0x80, 0x0A, 0x0D, 0x20, 0x2C, 0x2A, 0x24, 0x2B, 0x2D, 0x2E, 0x3D)
_NUMBER = re.compile(rb"[+-]?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")


class _Mutator:
    """Inputs for one parser: mostly mutated samples, some random, some valid."""

    def __init__(self, rng: random.Random, samples: list[bytes], tokens: tuple[bytes, ...]):
        self.rng = rng
        self.samples = samples
        self.tokens = _COMMON + tokens
        self.ops = (
            self._flip,
            self._set_byte,
            self._insert,
            self._delete,
            self._duplicate,
            self._truncate,
            self._splice,
            self._token,
            self._token,
            self._number,
            self._number,
            self._number,
            self._long,
        )

    def next(self, repair: Callable[[bytes], bytes] | None) -> bytes:
        rng = self.rng
        draw = rng.random()
        if draw < _RANDOM_SHARE:
            return rng.randbytes(rng.randrange(300))
        data = rng.choice(self.samples)
        if draw < _RANDOM_SHARE + _VALID_SHARE:
            return data
        for _ in range(1 + int(rng.expovariate(1.0))):
            data = rng.choice(self.ops)(data)
        if repair is not None and rng.random() < _REPAIR_SHARE:
            data = repair(data)
        return data

    def _at(self, data: bytes) -> int:
        return self.rng.randrange(len(data) + 1)

    def _flip(self, data: bytes) -> bytes:
        if not data:
            return data
        i = self.rng.randrange(len(data))
        return data[:i] + bytes([data[i] ^ (1 << self.rng.randrange(8))]) + data[i + 1 :]

    def _set_byte(self, data: bytes) -> bytes:
        if not data:
            return data
        i = self.rng.randrange(len(data))
        value = self.rng.choice(_BYTES) if self.rng.random() < 0.5 else self.rng.randrange(256)
        return data[:i] + bytes([value]) + data[i + 1 :]

    def _insert(self, data: bytes) -> bytes:
        i = self._at(data)
        return data[:i] + self.rng.randbytes(self.rng.randint(1, 8)) + data[i:]

    def _delete(self, data: bytes) -> bytes:
        if not data:
            return data
        i = self.rng.randrange(len(data))
        return data[:i] + data[i + self.rng.randint(1, 8) :]

    def _duplicate(self, data: bytes) -> bytes:
        i = self._at(data)
        j = min(len(data), i + self.rng.randint(1, 32))
        return data[:j] + data[i:j] * self.rng.randint(1, 3) + data[j:]

    def _truncate(self, data: bytes) -> bytes:
        return data[: self._at(data)]

    def _splice(self, data: bytes) -> bytes:
        other = self.rng.choice(self.samples)
        return data[: self._at(data)] + other[self._at(other) :]

    def _token(self, data: bytes) -> bytes:
        token, i = self.rng.choice(self.tokens), self._at(data)
        end = i if self.rng.random() < 0.5 else i + len(token)  # insert or overwrite
        return data[:i] + token + data[end:]

    def _number(self, data: bytes) -> bytes:
        numbers = list(_NUMBER.finditer(data))
        if not numbers:
            return self._token(data)
        found = self.rng.choice(numbers)
        return data[: found.start()] + self._new_number() + data[found.end() :]

    def _new_number(self) -> bytes:
        rng = self.rng
        kind = rng.randrange(4)
        if kind == 0:
            return rng.choice(_NUMBERS)
        if kind == 1:
            return str(rng.randint(-(10 ** rng.randint(1, 25)), 10 ** rng.randint(1, 25))).encode()
        if kind == 2:
            return f"{rng.uniform(-2000, 2000):.{rng.randint(0, 9)}f}".encode()
        return f"{rng.uniform(-9.9, 9.9):.3f}e{rng.randint(-400, 400)}".encode()

    def _long(self, data: bytes) -> bytes:
        if self.rng.random() < 0.5:
            return data * self.rng.randint(2, 40)
        i = self._at(data)
        return data[:i] + bytes([self.rng.randrange(256)]) * self.rng.randint(64, 4096) + data[i:]


# -- running ----------------------------------------------------------------------------------


def fuzz_parsers(
    inputs_per_parser: int = 100_000,
    seed: int = 0,
    parsers: list[ParserEntry] | None = None,
) -> dict[str, object]:
    """Fuzz every parser in :data:`PARSERS` (or ``parsers``); JSON-able results by name.

    Per parser: ``inputs``, ``accepted``, ``refused`` (its declared error), ``undeclared``
    (anything else), ``undeclared_types`` (count per exception type), ``examples`` (up to five
    undeclared exceptions, one per type and place: input as hex, type, message, where),
    ``bad_output`` and ``bad_output_examples`` (accepted inputs whose result fails the entry's
    check) and ``seconds``.
    """
    return {
        entry.name: _fuzz_one(entry, inputs_per_parser, seed)
        for entry in (PARSERS if parsers is None else parsers)
    }


def _fuzz_one(entry: ParserEntry, inputs: int, seed: int) -> dict[str, object]:
    started = time.perf_counter()
    rng = random.Random(f"{seed}:{entry.name}")
    mutator = _Mutator(rng, entry.samples(rng), entry.tokens)
    accepted = refused = bad_output = 0
    types: Counter[str] = Counter()
    examples: list[dict[str, object]] = []
    bad_examples: list[dict[str, object]] = []
    seen: set[tuple[str, str]] = set()
    for _ in range(inputs):
        data = mutator.next(entry.repair)
        try:
            result = entry.parse(data)
        except entry.declared:
            refused += 1
            continue
        except Exception as exc:
            kind = type(exc).__name__
            types[kind] += 1
            where = _where(exc)
            if len(examples) < MAX_EXAMPLES and (kind, where) not in seen:
                seen.add((kind, where))
                examples.append({**_shown(data), "exception": kind, "message": str(exc)[:300]})
                examples[-1]["where"] = where
            continue
        accepted += 1
        problem = entry.check(result) if entry.check is not None else None
        if problem:
            bad_output += 1
            if len(bad_examples) < MAX_EXAMPLES:
                bad_examples.append({**_shown(data), "problem": problem[:300]})
    return {
        "inputs": inputs,
        "accepted": accepted,
        "refused": refused,
        "undeclared": sum(types.values()),
        "undeclared_types": dict(types),
        "examples": examples,
        "bad_output": bad_output,
        "bad_output_examples": bad_examples,
        "seconds": round(time.perf_counter() - started, 3),
    }


def _shown(data: bytes) -> dict[str, object]:
    return {"input_hex": data[:_EXAMPLE_BYTES].hex(), "input_bytes": len(data)}


def _where(exc: BaseException) -> str:
    """The deepest place in this project's code the exception passed (where a fix goes)."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if f.filename.startswith(str(_PROJECT)) and ".venv" not in f.filename]
    frame = (ours or frames)[-1]
    path = Path(frame.filename)
    shown = path.relative_to(_PROJECT) if path.is_relative_to(_PROJECT) else path.name
    return f"{shown}:{frame.lineno} in {frame.name}"


def _finite_values(result: object) -> str | None:
    """Problem of a driver's result: every value must be a finite float."""
    values = list(result.values()) if isinstance(result, dict) else result
    assert isinstance(values, list), "a driver entry returns a dict or a list of values"
    for value in values:
        if not isinstance(value, float) or not math.isfinite(value):
            return f"value {value!r} is not a finite number"
    return None


# -- valid inputs -----------------------------------------------------------------------------

_ORIGIN_S = 1_750_000_000.0


def _field_samples(rng: random.Random, n: int) -> list[FieldSample]:
    """Field states of the emulators' model over a few days, at several probe spots."""
    model = FieldModel(ModelConfig(seed=rng.randrange(2**31), origin_unix_s=_ORIGIN_S))
    times = sorted(_ORIGIN_S + rng.uniform(0, 3 * 86400) for _ in range(n))
    return [model.sample(t, spot=rng.randrange(8)) for t in times]


def _noise(rng: random.Random) -> bytes:
    """Line noise as the emulators make it: framing errors, never printable ASCII."""
    return bytes(rng.choice((0x00, *range(0x80, 0x100))) for _ in range(rng.randint(1, 8)))


# -- Modbus RTU soil probes -------------------------------------------------------------------

_UNIT = 1  # the probes' factory default; 1 also reads as function 01 (see rtu_frames)
_FRAMER = FramerRTU(DecodePDU(is_server=False))


def _modbus_parser(register_map: RegisterMap) -> Parse:
    (block,) = register_map.blocks()  # the built-in maps are read in one transaction

    def parse(received: bytes) -> dict[str, float]:
        """What ModbusSoilBus.read makes of ``received`` as the reply to its read.

        Its trace hook passes pymodbus only a frame found by ``scan_reply``; without one,
        pymodbus waits out its timeout and the bus raises a DeviceReadError.
        """
        scan = scan_reply(received, _UNIT, READ_HOLDING_REGISTERS, block.count)
        if scan.frame is None:
            raise DeviceReadError("bad_crc" if scan.bad_crc else "bad_reply", "no reply frame")
        _, pdu = _FRAMER.handleFrame(scan.frame, _UNIT, 0)
        if pdu is None:
            raise DeviceReadError("bad_reply", "pymodbus could not decode the frame")
        if pdu.isError():
            raise DeviceReadError("exception_reply", f"unit {_UNIT} answered {pdu}")
        return register_map.decode(block_registers(block, pdu.registers))

    return parse


def _modbus_samples(register_map: RegisterMap) -> Callable[[random.Random], list[bytes]]:
    probe_map = PROBE_MAPS[register_map.name]
    (block,) = register_map.blocks()

    def samples(rng: random.Random) -> list[bytes]:
        out = []
        for sample in _field_samples(rng, 24):
            registers = [0] * block.count  # the emulated JXCT answers 0 between its registers
            for reg in probe_map.registers:
                registers[reg.address - block.start] = reg.encode(getattr(sample, reg.key))
            reply = ReadHoldingRegistersResponse(registers=registers, dev_id=_UNIT)
            frame = _FRAMER.buildFrame(reply)
            out += [frame, _noise(rng) + frame, frame + rng.randbytes(rng.randint(1, 4))]
        out += [_FRAMER.buildFrame(ExceptionResponse(3, code, _UNIT)) for code in (1, 2, 4, 6)]
        return out

    return samples


def _modbus_repair(data: bytes) -> bytes:
    """The last two bytes become the CRC of the rest (as a frame at the end of the reply)."""
    if len(data) < 4:
        return data
    return data[:-2] + FramerRTU.compute_CRC(data[:-2]).to_bytes(2, "big")


# -- SDI-12 -----------------------------------------------------------------------------------

_ADDRESS = "0"


def _sdi12_line(received: bytes) -> bytes:
    """The reply line Sdi12Bus._read_line takes from ``received``."""
    _, line = sdi12.split_line(received)
    if line is None:
        raise DeviceReadError(sdi12.GARBLED_REPLY, "reply cut short before CR LF")
    return line


def _sdi12_measure(concurrent: bool) -> Parse:
    def parse(received: bytes) -> object:
        return sdi12.parse_measure_start(_sdi12_line(received), _ADDRESS, concurrent=concurrent)

    return parse


def _sdi12_identification(received: bytes) -> object:
    return sdi12.parse_identification(_sdi12_line(received), _ADDRESS)


def _sdi12_data(crc: bool) -> Parse:
    def parse(received: bytes) -> dict[str, float]:
        """A data reply's values, as the bus turns a whole measurement into quantities."""
        values = sdi12.parse_data(_sdi12_line(received), _ADDRESS, crc=crc)
        return sdi12.to_quantities(values, sdi12.TEROS12)

    return parse


def _sdi12_replies(rng: random.Random, bodies: list[str]) -> list[bytes]:
    """Replies as the emulated adapter relays them: mostly clean, some after line noise."""
    lines = [body.encode("ascii") + b"\r\n" for body in bodies]
    return lines + [_noise(rng) + line for line in rng.sample(lines, len(lines) // 8)]


def _sdi12_measure_samples(concurrent: bool) -> Callable[[random.Random], list[bytes]]:
    def samples(rng: random.Random) -> list[bytes]:
        width = "02d" if concurrent else "d"
        bodies = [
            f"{_ADDRESS}{rng.randrange(1000):03d}{rng.choice((3, 3, 0, 9)):{width}}"
            for _ in range(40)
        ]
        return _sdi12_replies(rng, [*bodies, f"1001{3:{width}}"])

    return samples


def _sdi12_identification_samples(rng: random.Random) -> list[bytes]:
    bodies = [f"{_ADDRESS}13TANISIM TER12 400SIM-{_ADDRESS}", "013METER   TER12 412631800001"]
    bodies += [f"{_ADDRESS}14METER   TER12 {rng.randrange(100, 999)}{rng.randrange(10**9)}"]
    return _sdi12_replies(rng, bodies * 4)


def _sdi12_data_samples(crc: bool) -> Callable[[random.Random], list[bytes]]:
    def samples(rng: random.Random) -> list[bytes]:
        bodies = []
        for sample in _field_samples(rng, 24):
            texts = [text for _, text in sdi12_probe.reading_fields(sample)]
            bodies.append(_ADDRESS + "".join(texts))
        bodies.append(_ADDRESS)  # an aborted measurement: no values
        if crc:
            bodies = [b + sdi12_probe.crc_chars(b.encode("ascii")).decode() for b in bodies]
        return _sdi12_replies(rng, bodies)

    return samples


def _sdi12_crc_repair(data: bytes) -> bytes:
    """The three characters before the first CR LF become the CRC of the reply before them."""
    line, end, rest = data.partition(b"\n")
    cr = line.endswith(b"\r")
    body = line.removesuffix(b"\r")
    if not 4 <= len(body) <= 4 * sdi12.MAX_REPLY:  # a long one costs more than it finds
        return data
    body = body[:-3] + sdi12_probe.crc_chars(body[:-3])
    return body + b"\r" * cr + end + rest


# -- ASCII weather stations -------------------------------------------------------------------

# The custom formats of the configuration examples (tests/unit/golden/gateway_config), built as
# a gateway builds them from its configuration.
NMEA_MDA = LineFormatSettings(
    **{
        "sentence": "$WIMDA",
        "layout": "positional",
        "checksum": "nmea",
        "fields": [
            {"quantity": "air_pressure", "position": 2, "scale": 1000.0},
            {"quantity": "air_temperature", "position": 4},
            {"quantity": "air_humidity", "position": 8},
            {"quantity": "wind_direction", "position": 12},
            {"quantity": "wind_speed", "position": 18},
        ],
    }
).build("custom_nmea_mda")
KEY_VALUE = LineFormatSettings(
    **{
        "sentence": "WS",
        "separator": ";",
        "sequence": {"key": "N"},
        "fields": [
            {"quantity": "air_temperature", "key": "T"},
            {"quantity": "air_humidity", "key": "H"},
            {"quantity": "wind_speed", "key": "W", "unit": "m/s"},
        ],
        "rain": {"key": "R", "mode": "tip_counter", "mm_per_tip": 0.5, "modulus": 1000},
    }
).build("custom_key_value")


def _weather_parser(fmt: LineFormat) -> Parse:
    def parse(received: bytes) -> list[float]:
        """What AsciiWeatherStation.read makes of the first line in ``received``."""
        sample = parse_line(received.partition(b"\n")[0], fmt)
        values = list(sample.values.values())
        if fmt.rain is not None and sample.rain_raw is not None:
            rain = RainGauge(fmt.rain, last=0.0).millimetres(sample.rain_raw)
            values += [] if rain is None else [rain]
        return values

    return parse


def _nmea(body: str) -> bytes:
    return f"${body}*{checksum(body.encode('ascii')):02X}\r\n".encode("ascii")


def _station_lines(name: str) -> Callable[[random.Random], list[bytes]]:
    """Lines of the emulated station ``name`` (firmware_sim.weather_lines), some garbled."""
    station = STATION_LINES[name]

    def samples(rng: random.Random) -> list[bytes]:
        lines = [station.render(rng.randrange(70000), s).line for s in _field_samples(rng, 24)]
        lines += [station.garble(line, rng.choice(station.garble_modes), rng) for line in lines[:4]]
        if name == "vaisala_wxt":  # values the station flags invalid: unit letter -> '#'
            lines += [line.replace("C,", "#,").replace("M,", "#,", 1) for line in lines[:4]]
        out = [line.encode("ascii") for line in lines]
        return out + [_noise(rng) + line for line in out[:4]]

    return samples


def _mda_lines(rng: random.Random) -> list[bytes]:
    out = []
    for s in _field_samples(rng, 24):
        bar, wd = s.air_pressure / 1000, s.wind_direction
        out.append(
            _nmea(
                f"WIMDA,{bar * 29.53:.4f},I,{bar:.4f},B,{s.air_temperature:.1f},C,,,"
                f"{s.air_humidity:.1f},,{s.air_temperature - 3:.1f},C,{wd:.1f},T,"
                f"{(wd - 1) % 360:.1f},M,{s.wind_speed * 1.9438:.1f},N,{s.wind_speed:.1f},M"
            )
        )
    return out


def _key_value_lines(rng: random.Random) -> list[bytes]:
    return [
        f"WS;N={rng.randrange(10000)};T={s.air_temperature:.1f};H={s.air_humidity:.0f};"
        f"W={s.wind_speed:.1f}m/s;R={rng.randrange(1000)}\r\n".encode("ascii")
        for s in _field_samples(rng, 24)
    ]


def _nmea_repair(data: bytes) -> bytes:
    """The two characters after the last '*' become the checksum since the '$' before it."""
    star = data.rfind(b"*")
    dollar = data.rfind(b"$", 0, max(star, 0))
    if star < 0 or dollar < 0:
        return data
    return data[: star + 1] + b"%02X" % checksum(data[dollar + 1 : star]) + data[star + 3 :]


# -- payloads and health reports (ingest) -----------------------------------------------------

_GATEWAY = "gw-fuzz"


def _payload(received: bytes) -> object:
    return decode_batch(received, _GATEWAY)


def _readings(rng: random.Random) -> list[Reading]:
    seq, time_ms = rng.randrange(10**6), 1_750_000_000_000 + rng.randrange(10**9)
    readings = []
    for _ in range(rng.choice((1, 1, 3, 7, 20, 60))):
        q = rng.choice(list(QUANTITIES.values()))
        value = rng.uniform(q.physical_min, q.physical_max)
        if rng.random() < 0.8:
            value = round(value, rng.randrange(4))
        trusted = rng.random() < 0.9
        device = rng.choice(("soil-1", "soil-2", "weather-1", "sdi-0"))
        stamp = time_ms if trusted else rng.randrange(10**9)
        quality = rng.choice(list(Quality))
        readings.append(
            Reading(_GATEWAY, device, q.key, value, q.unit, stamp, quality, seq, trusted)
        )
        seq += 1 if rng.random() < 0.9 else rng.randrange(2, 1000)
        time_ms += rng.choice((0, 0, 1000, 60_000))
    return readings


def _binary_payloads(rng: random.Random) -> list[bytes]:
    out = []
    for _ in range(32):
        payload = encode_batch(_GATEWAY, _readings(rng), "binary")
        out.append(payload)
        if payload[1] == 1:  # also uncompressed, so mutations hit the layout itself
            out.append(b"\x02\x00" + zlib.decompress(payload[2:]))
    return out


def _binary_repair(data: bytes) -> bytes:
    """An uncompressed payload, compressed: mutations reach the decoder behind inflate."""
    if data[:2] != b"\x02\x00":
        return data
    return b"\x02\x01" + zlib.compress(data[2:])


def _json_payloads(rng: random.Random) -> list[bytes]:
    return [encode_batch(_GATEWAY, _readings(rng), "json") for _ in range(32)]


def _health(received: bytes) -> list[str]:
    return health_lines(_GATEWAY, received)


_REASONS = ["bad_crc", "no_reply", "garbled_line", "short_data", "port_lost"]


def _health_reports(rng: random.Random) -> list[bytes]:
    """Reports shaped as gateway.service.health_report makes them."""
    out = []
    for _ in range(32):
        trusted = rng.random() < 0.7
        devices = {
            device: {
                "online": rng.random() < 0.8,
                "last_ok_ms": rng.choice((None, 1_750_000_000_000 + rng.randrange(10**9))),
                "errors": {r: rng.randrange(100) for r in rng.sample(_REASONS, rng.randrange(3))},
            }
            for device in rng.sample(("soil-1", "soil-2", "weather-1", "sdi-0"), rng.randrange(5))
        }
        report: dict[str, object] = {
            "uptime_s": rng.randrange(10**7),
            "outbox_depth": rng.randrange(10**5),
            "waiting_for_clock": rng.randrange(100),
            "readings_sent": rng.randrange(10**8),
            "readings_thinned": rng.randrange(10),
            "clock": {"trusted": trusted, "source": "ntp" if trusted else "none"},
            "devices": devices,
            "link": rng.choice((None, {"rssi_dbm": -rng.randrange(40, 110)})),
        }
        if trusted:
            report["time_ms"] = 1_750_000_000_000 + rng.randrange(10**9)
        out.append(json.dumps(report, separators=(",", ":")).encode())
    return out


_LINE_INT = re.compile(r"=(-?\d+)i\b")


def _line_protocol_problem(result: object) -> str | None:
    """Problem of health lines: one line each, integers InfluxDB can hold."""
    assert isinstance(result, list)
    for line in result:
        if "\n" in line or "\r" in line:
            return f"line break inside the line {line[:80]!r}"
        if any(abs(int(n)) >= 2**63 for n in _LINE_INT.findall(line)):
            return f"integer beyond 64 bits in {line[:80]!r}"
    return None


# -- the parsers ------------------------------------------------------------------------------

# What the callers catch: the buses and pollers (gateway/pollers.py) DeviceReadError, which
# ModbusSoilBus also makes of pymodbus's ModbusException; ingest/service.py PayloadError and
# HealthError.
_DRIVER = (DeviceReadError,)
_MODBUS = (DeviceReadError, ModbusException)
_SDI12_TOKENS = (b"+", b"-", b"+9999999.", b"-.0000001")
_JSON_TOKENS = (b'"soil_moisture"', b'"g"', b"1.5", b"-1", b"0", b"[1,2]", b'"r":[]', b'"v":1')
_STATIONS = (
    ("wxsta", BUILTIN_FORMATS["wxsta"], _station_lines("wxsta")),
    ("vaisala_wxt", BUILTIN_FORMATS["vaisala_wxt"], _station_lines("vaisala_wxt")),
    ("custom_nmea_mda", NMEA_MDA, _mda_lines),
    ("custom_key_value", KEY_VALUE, _key_value_lines),
)


def _acks(rng: random.Random) -> list[bytes]:
    """End-to-end acks as ingest sends them: runs of sequence numbers with gaps, and none."""
    samples = [encode_acks(rng.randrange(2**41), [])[0]]
    for _ in range(20):
        start = rng.randrange(2 ** rng.choice((4, 20, 40, 62)))
        seqs = [start + i for i in range(rng.randrange(1, 50)) if rng.random() < 0.9]
        samples += encode_acks(1_790_000_000_000 + rng.randrange(10**9), seqs)
    return samples


PARSERS: list[ParserEntry] = [
    *(
        ParserEntry(
            f"modbus.{name}",
            _modbus_parser(m),
            _MODBUS,
            _modbus_samples(m),
            _modbus_repair,
            check=_finite_values,
        )
        for name, m in BUILTIN_MAPS.items()
    ),
    *(
        ParserEntry(f"sdi12.{name}", _sdi12_measure(c), _DRIVER, _sdi12_measure_samples(c))
        for name, c in (("measure", False), ("concurrent", True))
    ),
    ParserEntry(
        "sdi12.identification", _sdi12_identification, _DRIVER, _sdi12_identification_samples
    ),
    *(
        ParserEntry(
            f"sdi12.{name}",
            _sdi12_data(crc),
            _DRIVER,
            _sdi12_data_samples(crc),
            _sdi12_crc_repair if crc else None,
            _finite_values,
            _SDI12_TOKENS,
        )
        for name, crc in (("data", False), ("data_crc", True))
    ),
    *(
        ParserEntry(
            f"weather.{name}",
            _weather_parser(fmt),
            _DRIVER,
            samples,
            _nmea_repair if fmt.checksum == "nmea" else None,
            _finite_values,
        )
        for name, fmt, samples in _STATIONS
    ),
    ParserEntry("payload.binary", _payload, (PayloadError,), _binary_payloads, _binary_repair),
    ParserEntry("payload.json", _payload, (PayloadError,), _json_payloads, tokens=_JSON_TOKENS),
    ParserEntry(
        "health",
        _health,
        (HealthError,),
        _health_reports,
        None,
        _line_protocol_problem,
        _JSON_TOKENS,
    ),
    ParserEntry("ack", decode_ack, (AckError,), _acks),
]


def main(argv: list[str] | None = None) -> int:
    """Fuzz every parser and print the results as JSON; exit 1 if any raised undeclared."""
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--inputs", type=int, default=100_000, help="inputs per parser")
    args.add_argument("--seed", type=int, default=0)
    args.add_argument("--only", action="append", help="parser name (repeatable)")
    options = args.parse_args(argv)
    chosen = [p for p in PARSERS if not options.only or p.name in options.only]
    results = fuzz_parsers(options.inputs, options.seed, chosen)
    print(json.dumps(results, indent=2))
    failed = any(r["undeclared"] or r["bad_output"] for r in results.values())  # type: ignore[index]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
