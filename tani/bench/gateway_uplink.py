"""What a typical field's uplink costs a month, for ``tani bench gateway``.

One 7-in-1 soil probe and one weather station read every 5 minutes, over TLS, with every IP
packet counted (:class:`tani.bench.wire.CountingRelay`: MQTT, TLS records and handshakes, TCP/IP
headers, pure ACKs, keepalive pings, health reports and acks), for ``[publish] uplink =
"normal"`` and ``"economy"``. Time is compressed: every interval of the gateway (poll, publish
window, health, keepalive, ack timeouts) and ingest's ack delay run ``time_scale`` times faster,
and the count runs over whole periods of them, from one arrival of the probe's readings to
another. A month is that count scaled to 30 days (a prepaid package) plus the connections it
opens (``reconnects_per_day``: a mobile operator's daily session reset, a reboot), each costing
what the gateway's first connection cost (TCP and TLS handshakes, CONNECT, SUBSCRIBE, "online",
the start-up health report).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from firmware_sim.site import SimulatedSite, SiteConfig
from gateway.config import UPLINKS, PublishSettings
from ingest.config import AckSettings
from tani.bench.gateway_process import (
    GATEWAY_ID,
    bench_ingest,
    gateway_process,
    gateway_toml,
    wait_until,
)
from tani.bench.tls_broker import TlsBroker
from tani.bench.wire import CountingRelay, ReadingCounter, WireCount
from tani.stack import MqttCredentials, Stack

# The typical field of issue 14: its devices are read every 5 minutes.
FIELD_POLL_S = 300.0
# Ingest's default [acks] delay_s: how long it gathers acks for one gateway.
INGEST_ACK_DELAY_S = AckSettings.model_fields["delay_s"].default
# Each setting runs as much faster as its shortest interval allows: "normal" keeps its 60 s
# keepalive at 5 s, the smallest the gateway takes.
TIME_SCALE = {"normal": 12.0, "economy": 60.0}
MONTH_S = 30 * 86_400
RUPIAH_PER_GB = 10_000
SOIL_DEVICE = "soil-0-1"


def _field_settings(uplink: str) -> tuple[dict[str, object], dict[str, object], float]:
    """The [publish] and [mqtt] keys an ``uplink`` gives a gateway, run ``TIME_SCALE`` times
    faster, and the period (simulated s) after which everything it does repeats."""
    scale = TIME_SCALE[uplink]
    publish = PublishSettings(uplink=uplink)  # type: ignore[arg-type]
    keepalive_s = publish.keepalive_s()
    timeouts = PublishSettings()
    publish_keys: dict[str, object] = {
        "uplink": uplink,
        "interval_s": publish.interval_s / scale,
        "health_interval_s": publish.health_interval_s / scale,
        "ack_timeout_s": timeouts.ack_timeout_s / scale,
        "ack_timeout_max_s": timeouts.ack_timeout_max_s / scale,
    }
    period_s = float(
        math.lcm(int(FIELD_POLL_S), int(publish.interval_s), int(publish.health_interval_s))
    )
    return publish_keys, {"keepalive_s": round(keepalive_s / scale)}, period_s


def typical_field(
    stack: Stack,
    broker: TlsBroker,
    creds: MqttCredentials,
    reader: ReadingCounter,
    work: Path,
    uplink: str,
    seconds: float,
    reconnects_per_day: float,
) -> dict[str, Any]:
    """One 7-in-1 probe and one weather station read every 5 minutes, over TLS, counted per
    IP packet over whole periods of the ``uplink`` setting (see the module docstring)."""
    scale = TIME_SCALE[uplink]
    publish_keys, mqtt_keys, period_s = _field_settings(uplink)
    window_s = max(FIELD_POLL_S, float(UPLINKS[uplink].interval_s))
    arrivals = max(1, int(seconds * scale // period_s)) * int(period_s // window_s)
    poll_s = FIELD_POLL_S / scale
    site = SimulatedSite(SiteConfig(seed=9, weather_interval_s=poll_s))
    site.start()
    relay = CountingRelay((broker.host, broker.tls_port), tls=True)
    try:
        with bench_ingest(stack, broker, work, INGEST_ACK_DELAY_S / scale):
            text = gateway_toml(
                work / f"typical-{uplink}-state",
                relay.port,
                creds,
                [site],
                poll_s,
                publish_keys,
                {"tls": True, "ca_file": broker.ca_file, **mqtt_keys},
                max_silence_s=3 * poll_s,
            )
            online, soil = reader.online[GATEWAY_ID], reader.by_device
            before = soil[SOIL_DEVICE]
            with gateway_process(text, work):
                wait_until(lambda: reader.online[GATEWAY_ID] > online, 30)
                time.sleep(1.0)  # the start-up health report and the broker's answers
                connection = relay.count()
                # The first readings wait for the server's time (in ingest's first ack) and may
                # leave in pieces; a window later the gateway is in its steady state, and the
                # next arrival of the probe's readings opens the count.
                wait_until(lambda: soil[SOIL_DEVICE] > before, 2 * window_s / scale + 30)
                time.sleep(window_s / scale)
                seen = soil[SOIL_DEVICE]
                wait_until(lambda: soil[SOIL_DEVICE] > seen, 2 * window_s / scale + 30, 0.005)
                start, started = relay.count(), time.monotonic()
                first = reader.snapshot()
                for _ in range(arrivals):
                    wait_until(
                        lambda n=soil[SOIL_DEVICE]: soil[SOIL_DEVICE] > n,
                        2 * window_s / scale + 30,
                        0.005,
                    )
                wire, elapsed = relay.count() - start, time.monotonic() - started
                last = reader.snapshot()
    finally:
        relay.close()
        site.stop()
    simulated_s = elapsed * scale
    per_month = wire.ip_bytes * MONTH_S / simulated_s
    connections = reconnects_per_day * MONTH_S / 86_400 * connection.ip_bytes
    total = per_month + connections
    readings = last.readings - first.readings
    payload = last.payload_bytes - first.payload_bytes
    delay_sum, delay_max = last.delay_ms_sum - first.delay_ms_sum, last.delay_ms_max
    return {
        "uplink": uplink,
        "publish_window_s": UPLINKS[uplink].interval_s,
        "keepalive_s": PublishSettings(uplink=uplink).keepalive_s(),  # type: ignore[arg-type]
        "health_interval_s": UPLINKS[uplink].health_interval_s,
        "time_scale": scale,
        "simulated_hours": round(simulated_s / 3600, 2),
        "readings": readings,
        "reading_delay_s_mean": round(delay_sum / readings / 1000 * scale) if readings else None,
        "reading_delay_s_max": round(delay_max / 1000 * scale),
        "payload_bytes_per_reading": round(payload / readings, 2) if readings else None,
        "ip_bytes_per_reading": round(wire.ip_bytes / readings, 2) if readings else None,
        "steady_bytes": _breakdown(wire),
        "packets_per_hour": round((wire.up_segments + wire.down_segments) * 3600 / simulated_s),
        "connection_bytes": connection.ip_bytes,
        "tcp_tls_handshake_bytes": connection.handshake_bytes,
        "mb_per_month": round(total / 1e6, 2),
        "mb_per_month_steady": round(per_month / 1e6, 2),
        "rupiah_per_month": round(total / 1e9 * RUPIAH_PER_GB),
    }


def _breakdown(wire: WireCount) -> dict[str, int]:
    return {
        "up_above_tcp": wire.up_bytes,
        "down_above_tcp": wire.down_bytes,
        "tcp_ip_headers": wire.header_bytes,
        "segments": wire.up_segments + wire.down_segments,
        "connections_opened": wire.connections,
    }
