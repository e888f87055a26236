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

from bisect import bisect_left
from dataclasses import dataclass

from storage.influx import InfluxDB
from storage.schema import MEASUREMENT, UNTRUSTED_TIME_MEASUREMENT
from telemetry.acks import seq_ranges

# Per gateway: the last this many sequence numbers are remembered for duplicate detection.
RECENT = 100_000


class DuplicateCounter:
    """Remembers the recent sequence numbers of each gateway as runs of consecutive numbers.

    A batch's numbers are nearly always one run, so a message costs a few comparisons, not one
    set operation per reading (which showed in ingest's profile).
    """

    def __init__(self, recent: int = RECENT) -> None:
        self._recent = recent
        # Per gateway: sorted, disjoint, non-adjacent [first, last] runs.
        self._runs: dict[str, list[list[int]]] = {}

    def count(self, gateway_id: str, seqs: list[int]) -> int:
        """How many of ``seqs`` were seen before; remembers all of them."""
        runs = self._runs.setdefault(gateway_id, [])
        distinct = set(seqs)
        duplicates = len(seqs) - len(distinct)
        for first, last in seq_ranges(distinct):
            duplicates += _overlap(runs, first, last)
            _add(runs, first, last)
        if runs and runs[0][1] < runs[-1][1] - self._recent:
            floor = runs[-1][1] - self._recent
            runs[:] = [run for run in runs if run[1] >= floor]
        return duplicates


def _overlap(runs: list[list[int]], first: int, last: int) -> int:
    at = max(bisect_left(runs, [first]) - 1, 0)
    total = 0
    for run_first, run_last in runs[at:]:
        if run_first > last:
            break
        total += max(0, min(last, run_last) - max(first, run_first) + 1)
    return total


def _add(runs: list[list[int]], first: int, last: int) -> None:
    """Insert [first, last], merging with runs it overlaps or touches."""
    at = bisect_left(runs, [first])
    if at > 0 and runs[at - 1][1] >= first - 1:
        at -= 1
    end = at
    while end < len(runs) and runs[end][0] <= last + 1:
        first, last = min(first, runs[end][0]), max(last, runs[end][1])
        end += 1
    runs[at:end] = [[first, last]]


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
