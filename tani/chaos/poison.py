"""Poison: malformed, hostile and huge payloads, published with a gateway's own MQTT login
between that gateway's good readings. Every poison must become a dead letter, and the next
good reading must still be stored within seconds."""

from __future__ import annotations

import random
import time
from typing import Any

import paho.mqtt.client as mqtt

from ingest.deadletters import DeadLetters
from tani.chaos.accounting import outbox_state
from tani.chaos.context import Context
from tani.chaos.members import GatewayProc, IngestProc
from tani.chaos.world import World
from telemetry.batch import MAX_ROWS
from telemetry.codec import encode_batch
from telemetry.quantities import QUANTITIES
from telemetry.reading import Quality, Reading
from telemetry.topics import health_topic, readings_topic

# Poison rows carry sequence numbers no gateway reaches, so they can never be mistaken for (or
# acknowledged as) a real reading of the gateway whose login sends them.
_POISON_SEQ = 2**62


def _row(device: str, quantity: str, value: str, seq: int) -> str:
    unit = QUANTITIES[quantity].unit if quantity in QUANTITIES else "%"
    now = time.time_ns() // 1_000_000
    return f'["{device}","{quantity}",{value},"{unit}",{now},"g",{seq}]'


def _json(gateway_id: str, rows: list[str]) -> bytes:
    return f'{{"v":1,"gw":"{gateway_id}","r":[{",".join(rows)}]}}'.encode()


def _readings(gateway_id: str, n: int, first_seq: int) -> list[Reading]:
    now = time.time_ns() // 1_000_000
    return [
        Reading(
            gateway_id, "soil-1", "soil_moisture", 30.0, "%", now + k, Quality.GOOD, first_seq + k
        )
        for k in range(n)
    ]


def poisons(
    gateway_id: str, other_id: str, rng: random.Random, round_no: int
) -> list[tuple[str, str, bytes, str]]:
    """(kind, topic, payload, expected dead-letter reason) of one round."""
    seq = _POISON_SEQ + round_no * 1000
    readings = readings_topic(gateway_id)

    def one_row(quantity: str, value: str, n: int) -> bytes:
        return _json(gateway_id, [_row("soil-1", quantity, value, seq + n)])

    binary = encode_batch(gateway_id, _readings(gateway_id, 5, seq))
    too_many = [_row("soil-1", "soil_moisture", "30.5", seq + 100 + k) for k in range(MAX_ROWS + 1)]
    forged = encode_batch(other_id, _readings(other_id, 3, seq + 10), "json")
    health = b'{"clock": 5, "devices": []}'
    bad, malformed = "invalid_readings", "malformed_payload"
    return [
        ("json_value_1e309", readings, one_row("soil_moisture", "1" + "0" * 309, 0), bad),
        ("json_nan", readings, one_row("soil_moisture", "NaN", 1), bad),
        ("unknown_quantity", readings, one_row("soil_unobtainium", "1.0", 2), bad),
        ("random_bytes", readings, rng.randbytes(2048), malformed),
        ("truncated_binary", readings, binary[: len(binary) // 2], malformed),
        ("empty", readings, b"", malformed),
        ("huge_rows", readings, _json(gateway_id, too_many), malformed),
        ("huge_blob_8mib", readings, b"{" + rng.randbytes(8 * 1024 * 1024), malformed),
        ("forged_gateway", readings, forged, "forged_gateway"),
        ("malformed_health", health_topic(gateway_id), health, "malformed_health"),
    ]


def _letters_after(worker: IngestProc, last_id: int) -> list[tuple[int, str]]:
    if not worker.deadletters_path.exists():
        return []
    store = DeadLetters(worker.deadletters_path)
    try:
        return sorted((d.id, d.reason) for d in store.latest(50) if d.id > last_id)
    finally:
        store.close()


def _stored_after(world: World, gateway: GatewayProc, committed: int) -> float | None:
    """When a reading of ``gateway`` with a sequence number above ``committed`` is stored."""
    assert world.store is not None
    found = world.store.points(gateway.id, committed, _POISON_SEQ - 1)
    return time.monotonic() if found else None


class _Poisoner:
    """A second MQTT connection with the gateway's own credentials (another client id)."""

    def __init__(self, world: World, gateway: GatewayProc) -> None:
        creds = world.stack.mqtt_credentials(gateway.id)
        self._client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"{gateway.id}-poisoner",
            protocol=mqtt.MQTTv5,
        )
        self._client.username_pw_set(creds.username, creds.password)
        self._client.connect(world.stack.mqtt_host, world.stack.mqtt_port)
        self._client.loop_start()

    def publish(self, topic: str, payload: bytes) -> None:
        info = self._client.publish(topic, payload, qos=1)
        info.wait_for_publish(60)
        if not info.is_published():
            raise RuntimeError(f"the broker did not acknowledge a poison on {topic} in 60 s")

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def poison(ctx: Context) -> dict[str, Any]:
    """Poison payloads between good readings; dead letters and next-good latency."""
    p, rng = ctx.params, ctx.rng
    with World(ctx) as world:
        world.start_gateways()
        world.warm_up()
        assert world.store is not None
        victim, other = world.gateways[0], world.gateways[-1]
        worker = world.ingest[0]
        poisoner = _Poisoner(world, victim)
        sent: list[dict[str, Any]] = []
        try:
            last_id = max((i for i, _ in _letters_after(worker, 0)), default=0)
            for round_no in range(p.poison_rounds):
                for kind, topic, payload, expected in poisons(victim.id, other.id, rng, round_no):
                    ctx.sleep(rng.uniform(0.2, 1.0))
                    committed = outbox_state(victim.outbox_path).committed
                    started = time.monotonic()
                    poisoner.publish(topic, payload)
                    ctx.wait(
                        lambda n=last_id: _letters_after(worker, n), 30.0, f"dead letter of {kind}"
                    )
                    good_at = ctx.wait(
                        lambda c=committed: _stored_after(world, victim, c),
                        30.0,
                        f"a reading of {victim.id} committed after {kind}",
                        poll_s=0.05,
                    )
                    # Written before the good reading that came after it: all of them by now.
                    letters = _letters_after(worker, last_id)
                    last_id = letters[-1][0]
                    sent.append(
                        {
                            "kind": kind,
                            "bytes": len(payload),
                            "dead_letters": [reason for _, reason in letters],
                            "expected": expected,
                            "next_good_stored_s": round(good_at - started, 3),
                        }
                    )
                    ctx.say(f"{kind}: {sent[-1]['dead_letters']} in {good_at - started:.2f} s")
        finally:
            poisoner.close()
        latencies = [s["next_good_stored_s"] for s in sent]
        return world.finish(
            time.monotonic(),
            {
                "how": "a second MQTT connection with the gateway's own login publishes each "
                "poison at QoS 1 between its good readings; dead letters are read from ingest's "
                "dead-letter file; 'next good' is the first reading the gateway committed after "
                "the poison, found in InfluxDB",
                "gateway": victim.id,
                "poisons": sent,
                "every_poison_dead_lettered": all(
                    s["dead_letters"] == [s["expected"]] for s in sent
                ),
                "max_next_good_stored_s": max(latencies, default=None),
                "next_good_target_s": p.poison_good_within_s,
                "next_good_within_target": all(t <= p.poison_good_within_s for t in latencies),
            },
        )
