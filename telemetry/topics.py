"""MQTT topic names. Every gateway publishes only under ``tani/v1/<gateway_id>/``."""

from __future__ import annotations

from dataclasses import dataclass

from telemetry.reading import is_valid_id

ROOT = "tani/v1"
READINGS = "readings"
STATUS = "status"
HEALTH = "health"
ACK = "ack"
ALL_READINGS = f"{ROOT}/+/{READINGS}"
ALL_STATUS = f"{ROOT}/+/{STATUS}"
ALL_HEALTH = f"{ROOT}/+/{HEALTH}"


class TopicError(ValueError):
    """A topic that does not follow the Tani Hub layout."""


@dataclass(frozen=True, slots=True)
class Topic:
    """A parsed Tani Hub topic."""

    gateway_id: str
    kind: str


def readings_topic(gateway_id: str) -> str:
    """The topic a gateway publishes its reading batches to."""
    return f"{ROOT}/{gateway_id}/{READINGS}"


def status_topic(gateway_id: str) -> str:
    """The retained topic with the gateway's online/offline state."""
    return f"{ROOT}/{gateway_id}/{STATUS}"


def health_topic(gateway_id: str) -> str:
    """The topic of the gateway's periodic health report."""
    return f"{ROOT}/{gateway_id}/{HEALTH}"


def ack_topic(gateway_id: str) -> str:
    """The topic on which ingest confirms to a gateway what InfluxDB holds (telemetry.acks)."""
    return f"{ROOT}/{gateway_id}/{ACK}"


def parse_topic(topic: str) -> Topic:
    """Split ``tani/v1/<gateway_id>/<kind>``; raise TopicError for anything else."""
    parts = topic.split("/")
    if len(parts) != 4 or f"{parts[0]}/{parts[1]}" != ROOT:
        raise TopicError(f"topic {topic!r} is not tani/v1/<gateway_id>/<kind>")
    if not is_valid_id(parts[2]):
        raise TopicError(f"topic {topic!r} has an invalid gateway id")
    if parts[3] not in (READINGS, STATUS, HEALTH):
        raise TopicError(f"topic {topic!r} has unknown kind {parts[3]!r}")
    return Topic(gateway_id=parts[2], kind=parts[3])
