"""Counting duplicated and missing readings from the gateways' sequence numbers.

Duplicates are counted where they arrive: a reading whose (gateway, seq) this worker saw
recently (a re-sent batch after a lost PUBACK, say). They are harmless, since InfluxDB keeps one
point per series and time, but a high rate points at a link that keeps dropping.

Missing readings cannot be judged by one worker when several share the subscription, since
each sees only its share. So the audit asks InfluxDB, which holds everything every worker
wrote: per gateway, how many sequence numbers between the lowest and highest of a recent window
have no point. A gateway that thinned its outbox after days offline shows those as missing too;
its health report says how many it thinned.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from storage.influx import InfluxDB
from storage.schema import MEASUREMENT, UNTRUSTED_TIME_MEASUREMENT

# Per gateway: the last this many sequence numbers are remembered for duplicate detection.
RECENT = 100_000


class DuplicateCounter:
    """Remembers recent sequence numbers per gateway; says which readings were seen before."""

    def __init__(self, recent: int = RECENT) -> None:
        self._recent = recent
        self._seen: dict[str, set[int]] = {}
        self._order: dict[str, deque[int]] = {}

    def seen_before(self, gateway_id: str, seq: int) -> bool:
        """True for a reading already seen; otherwise remember it."""
        seen = self._seen.setdefault(gateway_id, set())
        if seq in seen:
            return True
        order = self._order.setdefault(gateway_id, deque())
        seen.add(seq)
        order.append(seq)
        if len(order) > self._recent:
            seen.discard(order.popleft())
        return False


@dataclass(frozen=True, slots=True)
class SequenceAudit:
    """What InfluxDB holds of one gateway's recent sequence numbers."""

    gateway_id: str
    stored: int
    lowest: int
    highest: int

    @property
    def missing(self) -> int:
        """Sequence numbers in [lowest, highest] with no stored reading."""
        return max(0, self.highest - self.lowest + 1 - self.stored)


_AUDIT = (
    'SELECT count("seq"), min("seq"), max("seq") FROM "{measurement}"'
    ' WHERE time > now() - {hours}h GROUP BY "gateway_id"'
)


def audit(influx: InfluxDB, window_h: float) -> dict[str, SequenceAudit]:
    """Per gateway, stored readings against the span of their sequence numbers."""
    totals: dict[str, list[int]] = {}
    hours = int(window_h) if window_h >= 1 else 1
    for measurement in (MEASUREMENT, UNTRUSTED_TIME_MEASUREMENT):
        for series in influx.query(_AUDIT.format(measurement=measurement, hours=hours)):
            gateway_id = series.tags.get("gateway_id", "")
            for row in series.rows():
                count, low, high = int(row["count"]), int(row["min"]), int(row["max"])
                if gateway_id in totals:
                    total = totals[gateway_id]
                    totals[gateway_id] = [total[0] + count, min(total[1], low), max(total[2], high)]
                else:
                    totals[gateway_id] = [count, low, high]
    return {g: SequenceAudit(g, c, lo, hi) for g, (c, lo, hi) in totals.items()}
