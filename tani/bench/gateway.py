"""``tani bench gateway``: memory, CPU, backlog replay and what a field's uplink costs a month.

Everything runs here: InfluxDB from ``tani stack`` in a temporary directory, a Mosquitto with
the production broker's listeners (plain MQTT for the services, TLS with a Let's-Encrypt-shaped
certificate chain for gateways: :func:`tani.bench.tls_broker.tls_broker`), emulated devices on
pseudo-terminals, a real ingest worker sending the end-to-end acks the gateway waits for, and
the gateway as its own process, started as its systemd unit starts it (``python -m
tani.gateway``), so its memory and CPU are its own. Each figure comes with a reference:

- memory (20 devices polled every second, over TLS): a bare interpreter that imported every
  library module the gateway imports, and none of ours (the floor of a gateway written in
  Python with them);
- replay of a 7-day backlog: the same payloads published by a bare paho client at QoS 1;
- a minute-paced field over plain MQTT, counted above TCP as before: the same field with the
  broker's PUBACK as the only confirmation (``confirm = "broker"``), so the cost of ingest's
  acks is a ratio measured in the same run;
- the typical field of a prepaid SIM (:mod:`tani.bench.gateway_uplink`): one 7-in-1 probe and
  one weather station read every 5 minutes, over TLS, every IP packet counted, for
  ``[publish] uplink = "normal"`` and ``"economy"``, in MB and rupiah a month.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from firmware_sim.site import SimulatedSite, SiteConfig
from gateway.outbox import Outbox, OutboxRow
from tani.bench.gateway_process import (
    GATEWAY_ID,
    bench_ingest,
    gateway_process,
    gateway_toml,
    publish_keys,
    wait_until,
)
from tani.bench.gateway_uplink import RUPIAH_PER_GB, typical_field
from tani.bench.tls_broker import TlsBroker, tls_broker
from tani.bench.wire import CountingRelay, ReadingCounter, process_cpu_s, process_rss_mb
from tani.stack import MqttCredentials, Stack, StackConfig, free_ports
from telemetry.codec import encode_batch
from telemetry.quantities import QUANTITIES
from telemetry.reading import Quality, Reading
from telemetry.topics import readings_topic

SOIL_QUANTITIES = [q for q in QUANTITIES if q.startswith("soil_")]
WEATHER_QUANTITIES = [q for q in QUANTITIES if not q.startswith("soil_")]
# Lists, in import order, every module a gateway built from a configuration has imported.
_LIST_MODULES = """
import json, sys
from pathlib import Path
import tani.gateway
from gateway.config import load_config
from gateway.service import Gateway
Gateway(load_config(Path(sys.argv[1])))
print(json.dumps(list(sys.modules)))
"""
# Imports the given modules and prints the resident memory.
_IMPORT_MODULES = """
import importlib, json, os, sys
for name in json.loads(sys.stdin.read()):
    try:
        importlib.import_module(name)
    except Exception:
        pass
print(int(open(f"/proc/{os.getpid()}/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE"))
"""
_OURS = ("tani", "gateway", "telemetry", "ops", "__main__")


def _reference_rss_mb(config: Path) -> tuple[float, list[str]]:
    """RSS of a bare interpreter that imported the library modules a gateway with ``config``
    imports (none of ours), and the top-level packages among them that are not the stdlib."""
    listed = subprocess.run(
        [sys.executable, "-c", _LIST_MODULES, str(config)],
        capture_output=True,
        check=True,
        text=True,
    )
    modules = [m for m in json.loads(listed.stdout) if m.split(".")[0] not in _OURS]
    out = subprocess.run(
        [sys.executable, "-c", _IMPORT_MODULES],
        input=json.dumps(modules),
        capture_output=True,
        check=True,
        text=True,
    )
    third_party = sorted(
        {m.split(".")[0] for m in modules} - set(sys.stdlib_module_names) - {"_distutils_hack"}
    )
    return int(out.stdout) / 1e6, third_party


def _polling(
    broker: TlsBroker, creds: MqttCredentials, reader: ReadingCounter, work: Path, seconds: float
) -> dict[str, Any]:
    """20 devices (4 buses x 4 probes + 4 weather stations) at 1 Hz, over TLS."""
    with ExitStack() as stack_ctx:
        sites = []
        for n in range(4):
            site = SimulatedSite(
                SiteConfig(seed=n, soil_device_ids=(1, 2, 3, 4), weather_interval_s=1.0)
            )
            site.start()
            stack_ctx.callback(site.stop)
            sites.append(site)
        relay = CountingRelay((broker.host, broker.tls_port), tls=True)
        stack_ctx.callback(relay.close)
        text = gateway_toml(
            work / "poll-state",
            relay.port,
            creds,
            sites,
            1.0,
            publish_keys(1.0),
            {"tls": True, "ca_file": broker.ca_file},
        )
        before = reader.readings
        gateway = stack_ctx.enter_context(gateway_process(text, work))
        # Warm up: ports open, first publish done.
        wait_until(lambda: reader.readings > before, 30)
        start_readings, start_cpu = reader.readings, process_cpu_s(gateway.pid)
        relay.reset()
        rss = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            rss.append(process_rss_mb(gateway.pid))
            time.sleep(1.0)
        readings = reader.readings - start_readings
        cpu = process_cpu_s(gateway.pid) - start_cpu
        wire = relay.count()
        reference_mb, libraries = _reference_rss_mb(work / "gateway.toml")
    return {
        "devices": 20,
        "poll_hz": 1.0,
        "seconds": seconds,
        "readings": readings,
        "readings_per_s": round(readings / seconds, 1),
        "rss_mb_max": round(max(rss), 1),
        "reference_python_with_gateway_imports_rss_mb": round(reference_mb, 1),
        "reference_libraries": libraries,
        "cpu_s_per_1000_readings": round(cpu / readings * 1000, 4) if readings else None,
        "cpu_percent_of_one_core": round(cpu / seconds * 100, 1),
        "uplink_ip_bytes_per_reading": round(wire.ip_bytes / readings, 2) if readings else None,
    }


def _minute_field(
    broker: TlsBroker,
    creds: MqttCredentials,
    reader: ReadingCounter,
    work: Path,
    seconds: float,
    confirm: str = "ingest",
) -> dict[str, Any]:
    """One soil probe and one weather station read and published once a minute, 10x faster,
    plain MQTT counted above TCP (the measure the end-to-end ack target was set on)."""
    site = SimulatedSite(SiteConfig(seed=9, weather_interval_s=6.0))
    site.start()
    relay = CountingRelay((broker.host, broker.plain_port))
    try:
        # Health every 5 minutes in real time is every 30 s at ten times the speed.
        text = gateway_toml(
            work / f"minute-{confirm}-state",
            relay.port,
            creds,
            [site],
            6.0,
            publish_keys(6.0, 30.0, confirm),
        )
        before = reader.messages
        with gateway_process(text, work):
            wait_until(lambda: reader.messages > before, 30)
            start_readings, start_payload = reader.readings, reader.payload_bytes
            relay.reset()
            time.sleep(seconds)
            readings = reader.readings - start_readings
            payload = reader.payload_bytes - start_payload
            wire = relay.count()
    finally:
        relay.close()
        site.stop()
    return {
        "scenario": "soil probe + weather station, read and published every 60 s (run 10x faster)",
        "confirm": confirm,
        "readings": readings,
        "uplink_bytes_per_reading": round(wire.tcp_bytes / readings, 2) if readings else None,
        "payload_bytes_per_reading": round(payload / readings, 2) if readings else None,
        "json_payload_bytes_per_reading": _json_reference(),
    }


def _json_reference() -> float:
    """Format-1 JSON bytes per reading for one minute of the same two devices."""
    now = int(time.time() * 1000)
    readings = [
        Reading(GATEWAY_ID, device, q, 23.4, QUANTITIES[q].unit, now, Quality.GOOD, i)
        for i, (device, q) in enumerate(
            [("soil-0-1", q) for q in SOIL_QUANTITIES]
            + [("weather-0", q) for q in WEATHER_QUANTITIES]
        )
    ]
    return round(len(encode_batch(GATEWAY_ID, readings, "json")) / len(readings), 2)


def _plausible(quantity: str, minute: int) -> float:
    """A value that walks through the quantity's plausible range (ingest checks the limits)."""
    q = QUANTITIES[quantity]
    return round(q.plausible_min + (minute % 50) / 50 * (q.plausible_max - q.plausible_min), 1)


def _backlog_rows(days: int) -> Iterator[list[OutboxRow]]:
    """One reading a minute of 20 quantities over ``days`` days, in chunks, oldest first."""
    start = int(time.time() * 1000) - days * 86_400_000
    series = [("soil-1", q) for q in SOIL_QUANTITIES] + [
        ("weather-1", q) for q in WEATHER_QUANTITIES
    ]
    series = (series * 2)[:20]
    chunk: list[OutboxRow] = []
    for minute in range(days * 1440):
        t = start + minute * 60_000
        for n, (device, quantity) in enumerate(series):
            chunk.append(
                OutboxRow(
                    f"{device}-{n // 14}",
                    quantity,
                    _plausible(quantity, minute),
                    Quality.GOOD,
                    t,
                    t,
                    0,
                    "bench",
                )
            )
        if len(chunk) >= 20_000:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _replay(
    broker: TlsBroker, creds: MqttCredentials, ref: MqttCredentials, work: Path, days: int
) -> dict[str, Any]:
    state = work / "replay-state"
    outbox = Outbox(state / "outbox.sqlite3", GATEWAY_ID)
    total = 0
    for chunk in _backlog_rows(days):
        outbox.put(chunk)
        total += len(chunk)
    sample = outbox.take(1, 2000)
    outbox.requeue(1)
    outbox.close()
    reference_s = _paho_ceiling(broker, ref, sample, total)
    text = gateway_toml(state, broker.plain_port, creds, [], 1.0, publish_keys(60.0))
    started = time.monotonic()
    # Done when ingest confirmed every reading stored: the outbox is empty. (Counting what a
    # subscriber receives undercounts once Mosquitto drops for a subscriber that falls behind.)
    left = sqlite3.connect(f"file:{state / 'outbox.sqlite3'}?mode=ro", uri=True)
    try:
        with gateway_process(text, work):
            done = wait_until(lambda: _depth(left) == 0, 600)
            elapsed = time.monotonic() - started
        remaining = _depth(left)
    finally:
        left.close()
    return {
        "readings": total,
        "replayed": total - remaining,
        "complete": done,
        "seconds": round(elapsed, 2),
        "readings_per_s": round(total / elapsed),
        "reference_bare_paho_qos1_seconds": round(reference_s, 2),
        "ratio_to_reference": round(elapsed / reference_s, 2),
    }


def _depth(outbox: sqlite3.Connection) -> int:
    return int(outbox.execute("SELECT count(*) FROM outbox").fetchone()[0])


def _ratio(measured: dict[str, Any], reference: dict[str, Any]) -> float | None:
    mine, theirs = measured["uplink_bytes_per_reading"], reference["uplink_bytes_per_reading"]
    return round(mine / theirs, 3) if mine and theirs else None


def _paho_ceiling(
    broker: TlsBroker, creds: MqttCredentials, sample: list[Reading], total: int
) -> float:
    """Seconds a bare paho QoS 1 publisher needs for the same number of 2000-reading payloads,
    waiting for every PUBACK (as the gateway does), under a gateway id of its own."""
    payload = encode_batch(creds.username, sample)
    messages = -(-total // len(sample))
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=creds.username, protocol=mqtt.MQTTv5
    )
    client.username_pw_set(creds.username, creds.password)
    client.max_inflight_messages_set(20)
    client.connect(broker.host, broker.plain_port)
    client.loop_start()
    started = time.monotonic()
    infos = [
        client.publish(readings_topic(creds.username), payload, qos=1) for _ in range(messages)
    ]
    for info in infos:
        info.wait_for_publish(60)
    elapsed = time.monotonic() - started
    client.disconnect()
    client.loop_stop()
    return elapsed


def run(
    polling_seconds: float = 30.0,
    minute_seconds: float = 60.0,
    typical_seconds: float = 240.0,
    backlog_days: int = 7,
    reconnects_per_day: float = 1.0,
) -> dict[str, Any]:
    """All gateway benchmarks; returns the JSON-ready result."""
    with tempfile.TemporaryDirectory(prefix="tani-bench-") as tmp, ExitStack() as ctx:
        work = Path(tmp)
        mqtt_port, influx_port, rpc_port, plain_port, tls_port = free_ports(5)
        stack = Stack(
            StackConfig(
                state_dir=work / "stack",
                mqtt_port=mqtt_port,
                influx_port=influx_port,
                influx_rpc_port=rpc_port,
            )
        )
        stack.up()
        ctx.callback(stack.down)
        # Every login first: the bench broker reads the stack's password file once.
        creds = stack.add_mqtt_user(GATEWAY_ID, "gateway")
        ref = stack.add_mqtt_user(f"{GATEWAY_ID}-ref", "gateway")
        service = stack.add_mqtt_user("bench-reader", "service")
        stack.add_mqtt_user("bench-ingest", "service")
        (work / "broker").mkdir()
        broker = ctx.enter_context(
            tls_broker(
                work / "broker",
                stack.paths.password_file,
                stack.paths.acl_file,
                (plain_port, tls_port),
                (service.username, service.password),
            )
        )
        reader = ReadingCounter(broker.host, broker.plain_port, service.username, service.password)
        ctx.callback(reader.close)
        with bench_ingest(stack, broker, work, 15.0):
            polling = _polling(broker, creds, reader, work, polling_seconds)
            minute = _minute_field(broker, creds, reader, work, minute_seconds)
            broker_only = _minute_field(broker, creds, reader, work, minute_seconds, "broker")
            replay = _replay(broker, creds, ref, work, backlog_days)
        typical = {
            uplink: typical_field(
                stack, broker, creds, reader, work, uplink, typical_seconds, reconnects_per_day
            )
            for uplink in ("normal", "economy")
        }
    result: dict[str, Any] = {
        "benchmark": "gateway",
        "polling": polling,
        "typical_field": {
            "scenario": (
                "one 7-in-1 soil probe and one weather station read every 300 s; MQTT over "
                "TLS 1.3; every IP packet (MQTT, TLS, TCP/IP headers, ACKs, keepalives, health, "
                "acks) over whole periods of the setting, time compressed; 30-day month"
            ),
            "reconnects_per_day": reconnects_per_day,
            "rupiah_per_gb": RUPIAH_PER_GB,
            **typical,
        },
        "minute_field": minute,
        "minute_field_broker_ack_reference": broker_only,
        "end_to_end_ack_uplink_ratio": _ratio(minute, broker_only),
        "replay": replay,
    }
    result["targets"] = {
        "rss_mb_max <= 35": polling["rss_mb_max"] <= 35,
        "replay seconds <= 60": replay["seconds"] <= 60,
        "minute field uplink bytes per reading (above TCP) <= 20": (
            minute["uplink_bytes_per_reading"] or 1e9
        )
        <= 20,
        "end-to-end acks cost <= 1.10 x broker-only bytes per reading": (
            result["end_to_end_ack_uplink_ratio"] or 1e9
        )
        <= 1.10,
    }
    return result


def main_json(**kwargs: Any) -> str:
    """The benchmark's one JSON line."""
    return json.dumps(run(**kwargs))
