"""``tani bench gateway``: memory, CPU, backlog replay and uplink bytes of a real gateway process.

Everything runs here: a real Mosquitto from ``tani stack`` in a temporary directory, emulated
devices on pseudo-terminals, and the gateway as its own process (``tani gateway --config``), so
its memory and CPU are its own. Each figure comes with a reference measured in the same run:

- memory: a bare Python process that imported the same libraries (the floor of any gateway
  written in Python with them);
- replay: the same payloads published by a bare paho client at QoS 1 (the broker's ceiling);
- uplink bytes: the same readings as format-1 JSON, and the same field with the broker's PUBACK
  as the only confirmation (``confirm = "broker"``, what gateways did before end-to-end acks),
  so the cost of ingest's acks is a ratio measured in the same run.

A real ingest worker writes into the stack's InfluxDB and sends the end-to-end acks the gateway
waits for (and the server's time: this machine's clock is not NTP-synchronised).
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from firmware_sim.site import SimulatedSite, SiteConfig
from gateway.outbox import Outbox, OutboxRow
from ingest.config import AckSettings, InfluxSettings, IngestConfig
from ingest.config import MqttSettings as IngestMqtt
from ingest.service import Ingest
from tani.bench.wire import CountingRelay, ReadingCounter, process_cpu_s, process_rss_mb
from tani.stack import MqttCredentials, Stack, StackConfig, free_ports
from telemetry.codec import encode_batch
from telemetry.quantities import QUANTITIES
from telemetry.reading import Quality, Reading
from telemetry.topics import readings_topic

GATEWAY_ID = "gw-bench"
SOIL_QUANTITIES = [q for q in QUANTITIES if q.startswith("soil_")]
WEATHER_QUANTITIES = [q for q in QUANTITIES if not q.startswith("soil_")]


def _gateway_toml(
    state_dir: Path,
    mqtt_port: int,
    creds: MqttCredentials,
    sites: list[SimulatedSite],
    poll_s: float,
    publish_s: float,
    health_s: float = 300.0,
    confirm: str = "ingest",
) -> str:
    lines = [
        f'gateway_id = "{GATEWAY_ID}"',
        f'state_dir = "{state_dir}"',
        "[mqtt]",
        'host = "127.0.0.1"',
        f"port = {mqtt_port}",
        f'username = "{creds.username}"',
        f'password = "{creds.password}"',
        "keepalive_s = 60",
        "[publish]",
        f"interval_s = {publish_s}",
        f"health_interval_s = {health_s}",
        f'confirm = "{confirm}"',
        "ack_timeout_s = 30",
        "[clock]",
        # Before end-to-end acks (the reference) a gateway believed its clock past the floor;
        # with them it learns the server's time from the acks.
        f"trust_after_floor = {'true' if confirm == 'broker' else 'false'}",
    ]
    for n, site in enumerate(sites):
        probes = ", ".join(
            f'{{ device_id = "soil-{n}-{unit}", unit = {unit} }}'
            for unit in site.config.soil_device_ids
        )
        lines += [
            "[[modbus]]",
            f'port = "{site.ports["soil"]}"',
            "baudrate = 4800",
            f"interval_s = {poll_s}",
            f"probes = [{probes}]",
            "[[weather]]",
            f'device_id = "weather-{n}"',
            f'port = "{site.ports["weather"]}"',
            "baudrate = 4800",
        ]
    return "\n".join(lines) + "\n"


@contextmanager
def _gateway_process(config_text: str, workdir: Path) -> Iterator[subprocess.Popen[bytes]]:
    config = workdir / "gateway.toml"
    config.write_text(config_text)
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from tani.cli import app; app()",
            "gateway",
            "--config",
            str(config),
            "--log-level",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(workdir / "gateway.log").open("wb"),
    )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until(condition: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def _reference_rss_mb() -> float:
    """RSS of a bare interpreter that imported what the gateway imports."""
    code = (
        "import paho.mqtt.client, pymodbus.client, serial, pydantic, pydantic_settings, typer, "
        "sqlite3, os; print(int(open(f'/proc/{os.getpid()}/statm').read().split()[1]) "
        "* os.sysconf('SC_PAGE_SIZE'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True, text=True)
    return int(out.stdout) / 1e6


def _polling(
    stack: Stack, creds: MqttCredentials, reader: ReadingCounter, work: Path, seconds: float
) -> dict[str, Any]:
    """20 devices (4 buses x 4 probes + 4 weather stations) at 1 Hz."""
    with ExitStack() as stack_ctx:
        sites = []
        for n in range(4):
            site = SimulatedSite(
                SiteConfig(seed=n, soil_device_ids=(1, 2, 3, 4), weather_interval_s=1.0)
            )
            site.start()
            stack_ctx.callback(site.stop)
            sites.append(site)
        relay = CountingRelay((stack.mqtt_host, stack.mqtt_port))
        stack_ctx.callback(relay.close)
        text = _gateway_toml(work / "poll-state", relay.port, creds, sites, 1.0, 1.0)
        gateway = stack_ctx.enter_context(_gateway_process(text, work))
        # Warm up: ports open, first publish done.
        _wait_until(lambda: reader.readings > 0, 30)
        start_readings, start_cpu = reader.readings, process_cpu_s(gateway.pid)
        relay.reset()
        rss = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            rss.append(process_rss_mb(gateway.pid))
            time.sleep(1.0)
        readings = reader.readings - start_readings
        cpu = process_cpu_s(gateway.pid) - start_cpu
        wire = relay.upstream_bytes + relay.downstream_bytes
    return {
        "devices": 20,
        "poll_hz": 1.0,
        "seconds": seconds,
        "readings": readings,
        "readings_per_s": round(readings / seconds, 1),
        "rss_mb_max": round(max(rss), 1),
        "cpu_s_per_1000_readings": round(cpu / readings * 1000, 4) if readings else None,
        "cpu_percent_of_one_core": round(cpu / seconds * 100, 1),
        "uplink_bytes_per_reading": round(wire / readings, 2) if readings else None,
    }


def _typical_field(
    stack: Stack,
    creds: MqttCredentials,
    reader: ReadingCounter,
    work: Path,
    seconds: float,
    confirm: str = "ingest",
) -> dict[str, Any]:
    """One soil probe and one weather station read and published once a minute, 10x faster."""
    site = SimulatedSite(SiteConfig(seed=9, weather_interval_s=6.0))
    site.start()
    relay = CountingRelay((stack.mqtt_host, stack.mqtt_port))
    try:
        # Health every 5 minutes in real time is every 30 s at ten times the speed.
        text = _gateway_toml(
            work / f"typical-{confirm}-state", relay.port, creds, [site], 6.0, 6.0, 30.0, confirm
        )
        with _gateway_process(text, work):
            _wait_until(lambda: reader.messages > 0, 30)
            start_readings, start_payload = reader.readings, reader.payload_bytes
            relay.reset()
            time.sleep(seconds)
            readings = reader.readings - start_readings
            payload = reader.payload_bytes - start_payload
            wire = relay.upstream_bytes + relay.downstream_bytes
    finally:
        relay.close()
        site.stop()
    return {
        "scenario": "soil probe + weather station, read and published every 60 s (run 10x faster)",
        "confirm": confirm,
        "readings": readings,
        "uplink_bytes_per_reading": round(wire / readings, 2) if readings else None,
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


def _replay(stack: Stack, creds: MqttCredentials, work: Path, days: int) -> dict[str, Any]:
    state = work / "replay-state"
    outbox = Outbox(state / "outbox.sqlite3", GATEWAY_ID)
    total = 0
    for chunk in _backlog_rows(days):
        outbox.put(chunk)
        total += len(chunk)
    sample = outbox.take(1, 2000)
    outbox.requeue(1)
    outbox.close()
    reference_s = _paho_ceiling(stack, sample, total)
    text = _gateway_toml(state, stack.mqtt_port, creds, [], 1.0, 60.0)
    started = time.monotonic()
    # Done when ingest confirmed every reading stored: the outbox is empty. (Counting what a
    # subscriber receives undercounts once Mosquitto drops for a subscriber that falls behind.)
    left = sqlite3.connect(f"file:{state / 'outbox.sqlite3'}?mode=ro", uri=True)
    try:
        with _gateway_process(text, work):
            done = _wait_until(lambda: _depth(left) == 0, 600)
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


def _ingest(stack: Stack, work: Path) -> Ingest:
    """A real ingest worker on the stack, confirming what it stores to the gateway."""
    creds = stack.add_mqtt_user("bench-ingest", "service")
    ingest = Ingest(
        IngestConfig(
            mqtt=IngestMqtt(
                host=stack.mqtt_host,
                port=stack.mqtt_port,
                username=creds.username,
                password=creds.password,
                client_id="bench-ingest",
            ),
            influx=InfluxSettings(url=stack.influx_url, database="bench_gateway"),
            # The typical field runs ten times faster than real time: so do the acks.
            acks=AckSettings(delay_s=15.0),
            registry_url=f"sqlite:///{work / 'registry.sqlite3'}",
            deadletters_path=work / "deadletters.sqlite3",
            quarantine_path=work / "quarantine.sqlite3",
            unknown_devices="store",  # the benchmark measures the gateway, not the registry
        )
    )
    ingest.start()
    if not ingest.wait_subscribed(30):
        ingest.stop()
        raise RuntimeError("the benchmark's ingest worker never subscribed")
    return ingest


def _paho_ceiling(stack: Stack, sample: list[Reading], total: int) -> float:
    """Seconds a bare paho QoS 1 publisher needs for the same number of 2000-reading payloads,
    waiting for every PUBACK (as the gateway does), under a gateway id of its own."""
    reference_id = f"{GATEWAY_ID}-ref"
    creds = stack.add_mqtt_user(reference_id, "gateway")
    payload = encode_batch(reference_id, sample)
    messages = -(-total // len(sample))
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=reference_id, protocol=mqtt.MQTTv5
    )
    client.username_pw_set(creds.username, creds.password)
    client.max_inflight_messages_set(20)
    client.connect(stack.mqtt_host, stack.mqtt_port)
    client.loop_start()
    started = time.monotonic()
    infos = [client.publish(readings_topic(reference_id), payload, qos=1) for _ in range(messages)]
    for info in infos:
        info.wait_for_publish(60)
    elapsed = time.monotonic() - started
    client.disconnect()
    client.loop_stop()
    return elapsed


def run(
    polling_seconds: float = 30.0, typical_seconds: float = 60.0, backlog_days: int = 7
) -> dict[str, Any]:
    """All gateway benchmarks; returns the JSON-ready result."""
    with tempfile.TemporaryDirectory(prefix="tani-bench-") as tmp:
        work = Path(tmp)
        mqtt_port, influx_port, rpc_port = free_ports(3)
        stack = Stack(
            StackConfig(
                state_dir=work / "stack",
                mqtt_port=mqtt_port,
                influx_port=influx_port,
                influx_rpc_port=rpc_port,
            )
        )
        stack.up()
        try:
            creds = stack.add_mqtt_user(GATEWAY_ID, "gateway")
            service = stack.add_mqtt_user("bench-reader", "service")
            reader = ReadingCounter(
                stack.mqtt_host, stack.mqtt_port, service.username, service.password
            )
            ingest = _ingest(stack, work)
            try:
                typical = _typical_field(stack, creds, reader, work, typical_seconds)
                broker_only = _typical_field(
                    stack, creds, reader, work, typical_seconds, confirm="broker"
                )
                result = {
                    "benchmark": "gateway",
                    "polling": _polling(stack, creds, reader, work, polling_seconds),
                    "typical_field": typical,
                    "typical_field_broker_ack_reference": broker_only,
                    "end_to_end_ack_uplink_ratio": _ratio(typical, broker_only),
                    "replay": _replay(stack, creds, work, backlog_days),
                    "reference_python_with_gateway_imports_rss_mb": round(_reference_rss_mb(), 1),
                }
            finally:
                ingest.stop()
                reader.close()
        finally:
            stack.down()
    result["targets"] = {
        "rss_mb_max <= 60": result["polling"]["rss_mb_max"] <= 60,
        "replay seconds <= 60": result["replay"]["seconds"] <= 60,
        "typical uplink bytes per reading <= 20": (
            result["typical_field"]["uplink_bytes_per_reading"] or 1e9
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
