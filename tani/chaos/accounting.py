"""Counting readings by sequence number: what each outbox committed, what InfluxDB holds.

- committed: the outbox's AUTOINCREMENT counter (``sqlite_sequence``). An insert's update of it
  rolls back with its transaction, so every number 1..max belongs to a committed reading.
- thinned: readings the outbox removed on purpose when full, counted from the gateway's log
  ("outbox full ... readings_removed"); dropped: readings held in memory and dropped while the
  outbox could not be written ("outbox unwritable ... dropped"). Thinned readings had their
  sequence numbers (lost below subtracts them); dropped ones never got one, so they are
  reported beside the counts, not inside them.
- stored: distinct (gateway_id, seq) in InfluxDB, in both the trusted and the untrusted-time
  measurement; duplicated: stored points beyond the first of their (gateway_id, seq).
- lost = committed - stored - thinned.

Outbox files are opened read-only, so counting never disturbs a running gateway.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from storage.influx import InfluxDB, InfluxError, InfluxRejected
from storage.schema import MEASUREMENT, UNTRUSTED_TIME_MEASUREMENT

READING_MEASUREMENTS = (MEASUREMENT, UNTRUSTED_TIME_MEASUREMENT)
_PAGE = 50_000
_SEQS = (
    f'SELECT "seq" FROM "{MEASUREMENT}", "{UNTRUSTED_TIME_MEASUREMENT}"'
    ' WHERE "gateway_id" = $gw AND "seq" > $lo AND "seq" <= $hi'
)


@dataclass(frozen=True, slots=True)
class OutboxState:
    """What one outbox file says: highest sequence number given out, readings still in it,
    and how many of those wait for a trusted clock."""

    committed: int
    depth: int
    waiting_for_clock: int = 0


def outbox_state(path: Path) -> OutboxState:
    """Read an outbox file read-only (the gateway may be running); zeros if it has none yet."""
    if not path.exists():
        return OutboxState(0, 0)
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10.0)
    try:
        row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
        depth, waiting = db.execute(
            "SELECT count(*), count(*) - count(time_ms) FROM outbox"
        ).fetchone()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return OutboxState(0, 0)  # created, schema not yet committed
        raise
    finally:
        db.close()
    return OutboxState(int(row[0]) if row else 0, int(depth), int(waiting))


@dataclass(slots=True)
class LogCounts:
    """What a gateway's log says it removed or could not keep."""

    thinned: int = 0
    dropped_in_memory: int = 0
    outbox_errors: int = 0
    lines: int = 0


def gateway_log_counts(path: Path) -> LogCounts:
    """Sum the thinning, dropping and outbox-error events of a gateway log (JSON lines)."""
    counts = LogCounts()
    if not path.exists():
        return counts
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            counts.lines += 1
            if not line.startswith("{"):
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            event = str(entry.get("event", ""))
            if event.startswith("outbox full"):
                counts.thinned += int(entry.get("readings_removed", 0))
            elif event.startswith("outbox unwritable"):
                counts.dropped_in_memory += int(entry.get("dropped", 0))
            elif event.startswith("outbox unusable"):
                counts.outbox_errors += 1
    return counts


@dataclass(frozen=True, slots=True)
class StoredPoint:
    """One reading point in InfluxDB."""

    measurement: str
    time_ms: int
    seq: int


class Store:
    """The readings InfluxDB holds, by gateway and sequence number."""

    def __init__(self, url: str, database: str) -> None:
        self._influx = InfluxDB(url, database, timeout_s=60.0)

    def close(self) -> None:
        """Close the HTTP connections."""
        self._influx.close()

    def points(self, gateway_id: str, after: int, up_to: int) -> list[StoredPoint]:
        """Points of ``gateway_id`` with ``after < seq <= up_to``, both measurements."""
        try:
            series = self._influx.query(_SEQS, {"gw": gateway_id, "lo": after, "hi": up_to})
        except InfluxRejected as exc:
            if "database not found" in str(exc):
                return []  # ingest has not created it yet
            raise
        return [
            StoredPoint(s.name, int(t), int(seq))
            for s in series
            for t, seq in s.values
            if seq is not None  # a point seen mid-write, one field before the other
        ]

    def all_points(self, gateway_id: str, up_to: int) -> list[StoredPoint]:
        """Every point of ``gateway_id``: paged up to ``up_to``, then anything above it."""
        found: list[StoredPoint] = []
        low = 0
        while low < up_to:
            found += self.points(gateway_id, low, min(low + _PAGE, up_to))
            low += _PAGE
        found += self.points(gateway_id, max(up_to, 0), 2**62)
        return found

    def any_stored(self, gateway_id: str) -> bool:
        """Whether at least one reading of ``gateway_id`` is stored."""
        try:
            return bool(self.points(gateway_id, 0, 2**62)[:1])
        except InfluxError:
            return False


@dataclass(slots=True)
class Progress:
    """How far each gateway's readings up to a target are stored; updated incrementally."""

    store: Store
    targets: dict[str, int]
    stored: dict[str, set[int]] = field(default_factory=dict)
    _low: dict[str, int] = field(default_factory=dict)

    def update(self) -> int:
        """Ask InfluxDB for what is new; return how many target readings are stored in all."""
        for gateway_id, target in self.targets.items():
            have = self.stored.setdefault(gateway_id, set())
            low = self._low.get(gateway_id, 0)
            if low < target:
                have.update(p.seq for p in self.store.points(gateway_id, low, target) if p.seq >= 1)
                while low + 1 in have:
                    low += 1
                self._low[gateway_id] = low
        return sum(len(s) for s in self.stored.values())

    def complete(self, thinned: dict[str, int]) -> bool:
        """Whether every target reading is stored, counting thinned ones as accounted for."""
        return all(
            len(self.stored.get(g, ())) + thinned.get(g, 0) >= target
            for g, target in self.targets.items()
        )


def account_gateway(
    gateway_id: str,
    outbox: OutboxState,
    logs: LogCounts,
    points: list[StoredPoint],
    run_window_ms: tuple[int, int],
) -> dict[str, Any]:
    """The per-gateway figures of a scenario's result."""
    committed = outbox.committed
    per_seq = Counter(p.seq for p in points)
    stored = sum(1 for seq in per_seq if 1 <= seq <= committed)
    missing = [seq for seq in range(1, committed + 1) if seq not in per_seq]
    earliest, latest = run_window_ms
    trusted_outside = sum(
        1 for p in points if p.measurement == MEASUREMENT and not earliest <= p.time_ms <= latest
    )
    return {
        "committed": committed,
        "stored": stored,
        "lost": max(committed - stored - logs.thinned, 0),
        "duplicated": len(points) - len(per_seq),
        "duplicated_seqs": sum(1 for n in per_seq.values() if n > 1),
        "thinned": logs.thinned,
        "dropped_before_commit": logs.dropped_in_memory,
        "still_in_outbox": outbox.depth,
        "stored_untrusted_time": sum(
            1 for p in points if p.measurement == UNTRUSTED_TIME_MEASUREMENT
        ),
        "stored_trusted_time_outside_run": trusted_outside,
        "stored_unknown_seq": sum(1 for seq in per_seq if not 1 <= seq <= committed),
        "missing_seqs_sample": missing[:10],
    }


TOTAL_KEYS = (
    "committed",
    "stored",
    "lost",
    "duplicated",
    "thinned",
    "dropped_before_commit",
    "still_in_outbox",
    "stored_untrusted_time",
    "stored_trusted_time_outside_run",
)


def totals(per_gateway: dict[str, dict[str, Any]]) -> dict[str, int]:
    """The per-gateway figures added up."""
    return {key: sum(int(g[key]) for g in per_gateway.values()) for key in TOTAL_KEYS}
