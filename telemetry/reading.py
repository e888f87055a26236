"""The one neutral record that crosses the wire: a Reading."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

# Identifiers end up in MQTT topics and InfluxDB tags: keep them short, lower-case, unambiguous.
ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class Quality(StrEnum):
    """How far a reading can be trusted; kept with the value, never used to drop it."""

    GOOD = "good"
    SUSPECT = "suspect"
    BAD = "bad"


@dataclass(frozen=True, slots=True)
class Reading:
    """One value of one quantity from one device, at one time.

    ``time_ms`` is milliseconds since the Unix epoch (UTC); ``seq`` is the gateway's own
    monotonically increasing sequence number, unique per gateway, so the server can count gaps
    and duplicates. ``time_trusted`` is False when the gateway could not establish the true time
    of the reading (no RTC, rebooted before NTP): the value is real, its time is a guess.
    """

    gateway_id: str
    device_id: str
    quantity: str
    value: float
    unit: str
    time_ms: int
    quality: Quality
    seq: int
    time_trusted: bool = True


def is_valid_id(text: str) -> bool:
    """Whether ``text`` may be used as a gateway or device id."""
    # fullmatch: "$" alone would let a trailing newline through, into a line-protocol tag.
    return bool(ID_PATTERN.fullmatch(text))
