"""What ``tani bench ingest`` sends, who runs ingest, and how the benchmark sees readings arrive.

- :class:`Layout`: gateway batches whose readings never share a (series, time), so InfluxDB's
  count equals the number of distinct readings published and any loss shows as a shortfall
  (a replay overwrites itself and adds nothing). Every message has a time slot of its own,
  so one ``GROUP BY time()`` query tells which messages are queryable already.
- :class:`Publishers`: one paho client per simulated gateway, each with its own MQTT user.
- :func:`ingest_workers`: ingest as separate processes (``tani ingest --config``), so their CPU
  is their own and two workers really run on two cores.
- :class:`Counter`: the few InfluxQL counts the benchmark needs (``tani.bench.ingest_watcher``
  uses them to tell when each latency probe became queryable).
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
from prometheus_client.parser import text_string_to_metric_families

from registry.store import DeviceEntry, FieldEntry, GatewayEntry, Registry, SiteFile, VillageEntry
from storage.influx import InfluxDB
from storage.schema import MEASUREMENT
from tani.bench.wire import process_cpu_s
from tani.stack import MqttCredentials, Stack
from telemetry.quantities import QUANTITIES
from telemetry.reading import Quality, Reading
from telemetry.topics import readings_topic

log = logging.getLogger(__name__)

# A gateway of six 7-in-1 soil probes and one weather station: 49 series, one poll a second.
SERIES: tuple[tuple[str, str], ...] = tuple(
    (f"soil-{n}", q) for n in range(1, 7) for q in QUANTITIES if q.startswith("soil_")
) + tuple(("weather-1", q) for q in QUANTITIES if not q.startswith("soil_"))
VILLAGE = "desa-bench"
# `tani ingest` in a process of its own, as production runs it.
_INGEST = (sys.executable, "-c", "from tani.cli import app; app()", "ingest")


@dataclass(frozen=True)
class Layout:
    """Where each bench message lies in time: slot ``n`` starts ``n * slot_s`` after ``base_ms``.

    A message holds ``per_message`` readings: consecutive polls of every series, one second
    apart, all inside its slot. ``base_ms`` is a multiple of the slot length, so InfluxDB's
    ``GROUP BY time(<slot_s>s)`` buckets are exactly the slots.
    """

    gateways: tuple[str, ...]
    per_message: int
    base_ms: int

    @classmethod
    def starting(cls, gateways: tuple[str, ...], per_message: int, days_ago: float) -> Layout:
        """A layout whose slot 0 starts about ``days_ago`` days before now."""
        slot_ms = -(-per_message // len(SERIES)) * 1000
        start = int((time.time() - days_ago * 86_400) * 1000)
        return cls(gateways, per_message, start - start % slot_ms)

    @property
    def slot_s(self) -> int:
        """Length of one message's slot, in whole seconds."""
        return -(-self.per_message // len(SERIES))

    def slot_ms(self, slot: int) -> int:
        """Start of slot ``slot``, epoch milliseconds."""
        return self.base_ms + slot * self.slot_s * 1000

    def slot_of(self, time_ms: int) -> int:
        """The slot a time falls in."""
        return (time_ms - self.base_ms) // (self.slot_s * 1000)

    @property
    def markers(self) -> tuple[tuple[str, str], ...]:
        """(device, quantity) of the series of a message's first and last reading.

        Ingest writes a message's readings in one request, which InfluxDB applies to its
        cache at once, so when both are queryable the whole message is. The latency watcher
        counts only these (``tani.bench.ingest_watcher``).
        """
        first, last = SERIES[0], SERIES[(self.per_message - 1) % len(SERIES)]
        return (first,) if first == last else (first, last)

    @property
    def marker_readings(self) -> int:
        """How many of one message's readings belong to the :attr:`markers` series."""
        return sum(
            -(-(self.per_message - SERIES.index(marker)) // len(SERIES)) for marker in self.markers
        )

    def readings(self, gateway_id: str, slot: int, first_seq: int) -> list[Reading]:
        """One message's readings: polls of every series from the start of ``slot``."""
        start = self.slot_ms(slot)
        batch = []
        for k in range(self.per_message):
            poll, index = divmod(k, len(SERIES))
            device_id, key = SERIES[index]
            quantity = QUANTITIES[key]
            # Plausible values with one decimal that vary, so payloads compress like real ones.
            span = quantity.plausible_max - quantity.plausible_min
            value = round(quantity.plausible_min + (first_seq + k) % 97 / 97 * span, 1)
            time_ms, seq = start + poll * 1000, first_seq + k
            batch.append(
                Reading(
                    gateway_id, device_id, key, value, quantity.unit, time_ms, Quality.GOOD, seq
                )
            )
        return batch


def bench_registry(path: Path, gateways: tuple[str, ...]) -> Registry:
    """A registry that places every bench device on a field, so readings carry all tags."""
    registry = Registry.from_path(path)
    fields = [f"lahan-{gateway_id}" for gateway_id in gateways]
    devices = sorted({device_id for device_id, _ in SERIES})
    registry.apply(
        SiteFile(
            villages=[VillageEntry(id=VILLAGE, name="Desa Bench")],
            fields=[FieldEntry(id=f, name=f, village=VILLAGE, crop="padi") for f in fields],
            gateways=[
                GatewayEntry(
                    id=gateway_id,
                    name=gateway_id,
                    devices=[DeviceEntry(id=d, kind=d.split("-")[0], field=field) for d in devices],
                )
                for gateway_id, field in zip(gateways, fields, strict=True)
            ],
        )
    )
    return registry


class Publishers:
    """One connected QoS 1 publisher per gateway, logged in as that gateway."""

    def __init__(self, stack: Stack, gateways: tuple[str, ...]) -> None:
        self._clients: dict[str, mqtt.Client] = {}
        for gateway_id in gateways:
            creds = stack.add_mqtt_user(gateway_id, "gateway")
            client = mqtt.Client(
                mqtt.CallbackAPIVersion.VERSION2,
                client_id=f"{gateway_id}-bench",
                protocol=mqtt.MQTTv5,
            )
            client.username_pw_set(creds.username, creds.password)
            # Enough in flight that a burst is not paced by round trips, as a gateway's
            # backlog replay is not.
            client.max_inflight_messages_set(100)
            client.connect(stack.mqtt_host, stack.mqtt_port)
            client.loop_start()
            self._clients[gateway_id] = client
        if not wait_until(lambda: all(c.is_connected() for c in self._clients.values()), 30):
            self.close()
            raise BenchError("the bench publishers could not connect to Mosquitto")

    def publish(self, gateway_id: str, payload: bytes) -> mqtt.MQTTMessageInfo:
        """Queue one reading batch at QoS 1; the returned info tells when it was PUBACKed."""
        return self._clients[gateway_id].publish(readings_topic(gateway_id), payload, qos=1)

    def publish_all(self, messages: list[tuple[str, bytes]]) -> None:
        """Publish (gateway id, payload) pairs as fast as paho takes them; wait for every PUBACK."""
        infos = [self.publish(gateway_id, payload) for gateway_id, payload in messages]
        for info in infos:
            info.wait_for_publish(120)
            if not info.is_published():
                raise BenchError("a bench message was not acknowledged by Mosquitto in 120 s")

    def close(self) -> None:
        """Disconnect every publisher."""
        for client in self._clients.values():
            client.disconnect()
            client.loop_stop()


class BenchError(RuntimeError):
    """The benchmark could not measure (a process died, data never arrived)."""


class Counter:
    """Counts of bench readings in one InfluxDB database."""

    def __init__(self, url: str, database: str) -> None:
        self._influx = InfluxDB(url, database, timeout_s=60.0)

    def create(self) -> None:
        """Create the database (the raw writers have no ingest to do it)."""
        self._influx.ensure_database()

    def count(self, since_ms: int) -> int:
        """Readings stored with a time at or after ``since_ms``."""
        series = self._influx.query(
            f"SELECT count(value) FROM {MEASUREMENT} WHERE time >= {since_ms}ms"
        )
        return int(series[0].values[0][1]) if series else 0

    def markers_per_slot(self, layout: Layout, first: int, last: int) -> dict[int, int]:
        """{slot: readings of the layout's marker series stored} for slots ``first..last``."""
        # Our own device and quantity names, not user text.
        markers = " OR ".join(
            f"(device_id = '{device}' AND quantity = '{quantity}')"
            for device, quantity in layout.markers
        )
        series = self._influx.query(
            f"SELECT count(value) FROM {MEASUREMENT} WHERE time >= {layout.slot_ms(first)}ms "
            f"AND time < {layout.slot_ms(last + 1)}ms AND ({markers}) "
            f"GROUP BY time({layout.slot_s}s)"
        )
        if not series:
            return {}
        return {layout.slot_of(t): int(n) for t, n in series[0].values if n}

    def wait_for(self, since_ms: int, expected: int, workers: list[IngestWorker]) -> None:
        """Wait until ``expected`` readings since ``since_ms`` are stored (warm-up)."""

        def stored() -> bool:
            for worker in workers:
                worker.check_alive()
            return self.count(since_ms) >= expected

        if not wait_until(stored, 60, poll_s=0.1):
            raise BenchError(f"warm-up readings not stored within 60 s (expected {expected})")

    def close(self) -> None:
        """Close the HTTP connections."""
        self._influx.close()


def wait_until(condition: Callable[[], bool], timeout_s: float, poll_s: float = 0.05) -> bool:
    """Poll ``condition`` until true; whether it became true within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(poll_s)
    return condition()


def settle(pid: int, timeout_s: float = 30.0, idle_cores: float = 0.1) -> None:
    """Wait until process ``pid`` uses less than ``idle_cores``: InfluxDB compacting what the
    previous run wrote would otherwise slow the next one."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        before = process_cpu_s(pid)
        time.sleep(0.5)
        if process_cpu_s(pid) - before < idle_cores * 0.5:
            return


@dataclass(frozen=True)
class IngestSetup:
    """What every ingest worker of the benchmark shares."""

    stack: Stack
    creds: MqttCredentials
    registry_url: str
    workdir: Path


def _ingest_toml(setup: IngestSetup, database: str, client_id: str, shared: bool) -> str:
    def text(value: object) -> str:
        return json.dumps(str(value))  # a JSON string of ASCII is a TOML basic string

    lines = [
        f"registry_url = {text(setup.registry_url)}",
        f"deadletters_path = {text(setup.workdir / f'{client_id}-deadletters.sqlite3')}",
        f"quarantine_path = {text(setup.workdir / f'{client_id}-quarantine.sqlite3')}",
        # On a free port, logged: the benchmark reads the worker's InfluxDB write times there.
        "metrics_port = 0",
        "[mqtt]",
        f"host = {text(setup.stack.mqtt_host)}",
        f"port = {setup.stack.mqtt_port}",
        f"username = {text(setup.creds.username)}",
        f"password = {text(setup.creds.password)}",
        f"client_id = {text(client_id)}",
        # A finished run's session must not keep collecting the next runs' messages.
        "session_expiry_s = 0",
    ]
    if shared:
        lines.append('shared_group = "tani-ingest"')
    lines += ["[influx]", f"url = {text(setup.stack.influx_url)}", f"database = {text(database)}"]
    return "\n".join(lines) + "\n"


# What a worker's /metrics says about its InfluxDB writes (ingest.metrics).
WRITE_COUNTERS = (
    "tani_ingest_batches_total",
    "tani_ingest_readings_written_total",
    "tani_ingest_write_seconds_sum",
    "tani_ingest_write_seconds_count",
)
WRITE_BUCKETS = "tani_ingest_write_seconds_bucket"
SLOW_WRITE_S = ("0.1", "0.25")


@dataclass(frozen=True)
class IngestWorker:
    """One ingest process of the benchmark, and where its log goes."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def check_alive(self) -> None:
        """Raise BenchError, with the end of its log, if the worker has exited."""
        if self.process.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise BenchError(
                f"ingest worker {self.name} exited ({self.process.returncode}):\n{tail}"
            )

    def write_totals(self) -> dict[str, float]:
        """The worker's InfluxDB write counters from its /metrics; {} where it has none."""
        served = [
            json.loads(line)
            for line in self.log_path.read_text(errors="replace").splitlines()
            if '"event": "metrics served"' in line
        ]
        if not served:
            return {}
        try:
            text = httpx.get(served[-1]["url"], timeout=10.0).text
        except httpx.HTTPError:
            return {}  # a figure beside the measurement, never a reason to stop it
        totals: dict[str, float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name in WRITE_COUNTERS:
                    totals[sample.name] = sample.value
                elif sample.name == WRITE_BUCKETS and sample.labels.get("le") in SLOW_WRITE_S:
                    totals[f"{WRITE_BUCKETS}_{sample.labels['le']}"] = sample.value
        return totals


@contextmanager
def ingest_workers(
    setup: IngestSetup, database: str, workers: int, label: str
) -> Iterator[list[IngestWorker]]:
    """``workers`` ingest processes writing to ``database``; yields once each has its
    subscription confirmed by the broker. With more than one they share the subscription."""
    with ExitStack() as cleanup:
        started = []
        for n in range(workers):
            name = f"bench-ingest-{label}-{n}"
            config = setup.workdir / f"{name}.toml"
            config.write_text(_ingest_toml(setup, database, name, workers > 1))
            log_path = setup.workdir / f"{name}.log"
            log_file = cleanup.enter_context(log_path.open("wb"))
            process = subprocess.Popen(
                [*_INGEST, "--config", str(config), "--log-level", "info"],
                stdout=subprocess.DEVNULL,
                stderr=log_file,
            )
            cleanup.callback(_stop, process)
            started.append(IngestWorker(name, process, log_path))

        def subscribed() -> bool:
            # Logged in is not enough: what is published before the SUBACK reaches nobody.
            for worker in started:
                worker.check_alive()
            return all(
                '"event": "subscribed"' in worker.log_path.read_text(errors="replace")
                for worker in started
            )

        if not wait_until(subscribed, 60):
            raise BenchError("ingest workers did not subscribe within 60 s")
        yield started


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        log.warning("ingest worker did not stop on SIGTERM; killing it")
        process.kill()
        process.wait()
