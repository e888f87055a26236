"""Durable outbox: every reading is on disk before it is published, deleted once confirmed.

SQLite in WAL mode with ``synchronous=FULL``, so a committed reading survives ``kill -9`` and a
power cut. A reading is deleted when ingest confirms that InfluxDB holds it (``confirm``), not
when the broker acknowledges it; at worst a reading is sent twice, which overwrites itself. The
AUTOINCREMENT row id is the gateway's sequence number: it never goes back, not even after rows
are deleted or the gateway restarts, which is what the server needs to count gaps.

A reading taken while the wall clock was not trusted has no ``time_ms`` yet (see ``clock.py``);
it waits here until ``rebase`` gives it one, and is not published before.

The outbox has a size limit. When it is reached (days offline), the oldest part of the backlog is
thinned: every other reading of each series is removed, which halves the time resolution of the
oldest data but keeps every series covering the whole outage, and the file is compacted
(VACUUM, which briefly needs as much free disk again as the outbox uses). Each thinning is
logged and counted; nothing disappears silently.
"""

from __future__ import annotations

import logging
import sqlite3
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from telemetry.quantities import QUANTITIES
from telemetry.reading import Quality, Reading

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2
WAL_CHECKPOINT_PAGES = 64  # 256 KiB of 4 KiB pages
WAL_LIMIT_BYTES = 256 * 1024
_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id TEXT NOT NULL,
    quantity TEXT NOT NULL,
    value REAL NOT NULL,
    quality TEXT NOT NULL,
    time_ms INTEGER,
    wall_ms INTEGER NOT NULL,
    mono_ns INTEGER NOT NULL,
    boot_id TEXT NOT NULL,
    time_trusted INTEGER NOT NULL,
    inflight INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS publishable ON outbox (seq) WHERE inflight = 0 AND time_ms IS NOT NULL;
CREATE INDEX IF NOT EXISTS in_flight ON outbox (inflight) WHERE inflight != 0;
CREATE INDEX IF NOT EXISTS waiting_for_clock ON outbox (boot_id) WHERE time_ms IS NULL;
CREATE TABLE IF NOT EXISTS clock_floor (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    newest_ms INTEGER NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """A measurement on its way into the outbox. ``time_ms`` None: the clock was not trusted."""

    device_id: str
    quantity: str
    value: float
    quality: Quality
    time_ms: int | None
    wall_ms: int
    mono_ns: int
    boot_id: str


class OutboxError(Exception):
    """The outbox file cannot be used (wrong schema, unwritable directory)."""


class Outbox:
    """The gateway's store-and-forward queue. Use from one thread at a time."""

    def __init__(self, path: Path, gateway_id: str) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Opened by the thread that starts the gateway, used by its forwarding thread.
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            has_table = self._db.execute(
                "SELECT count(*) FROM sqlite_master WHERE name = 'outbox'"
            ).fetchone()[0]
            if has_table and version != SCHEMA_VERSION:
                raise OutboxError(
                    f"{path} has outbox schema {version}, this gateway needs {SCHEMA_VERSION}: "
                    "publish or move the old file before upgrading"
                )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            # A small WAL, truncated back after each checkpoint: on a nearly full SD card the
            # default (4 MiB, never shrunk) is space the readings themselves need.
            self._db.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES}")
            self._db.execute(f"PRAGMA journal_size_limit = {WAL_LIMIT_BYTES}")
            self._db.executescript(_SCHEMA)
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            # After a restart nothing is in flight: what was, is sent again.
            self._db.execute("UPDATE outbox SET inflight = 0 WHERE inflight != 0")
        except (sqlite3.Error, OutboxError) as exc:
            if hasattr(self, "_db"):
                self._db.close()
            if isinstance(exc, OutboxError):
                raise
            raise OutboxError(f"cannot open the outbox {path}: {exc}") from None
        self.gateway_id = gateway_id
        self.path = path

    def put(self, rows: list[OutboxRow]) -> None:
        """Commit rows in one transaction, and move the clock floor to the newest time."""
        times = [r.time_ms for r in rows if r.time_ms is not None]
        with self._db:
            self._db.execute("BEGIN")
            if times:
                self._db.execute(
                    "INSERT INTO clock_floor (id, newest_ms) VALUES (1, ?) ON CONFLICT (id)"
                    " DO UPDATE SET newest_ms = max(newest_ms, excluded.newest_ms)",
                    (max(times),),
                )
            self._db.executemany(
                "INSERT INTO outbox (device_id, quantity, value, quality, time_ms, wall_ms,"
                " mono_ns, boot_id, time_trusted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1)",
                (
                    (
                        r.device_id,
                        r.quantity,
                        r.value,
                        str(r.quality),
                        r.time_ms,
                        r.wall_ms,
                        r.mono_ns,
                        r.boot_id,
                    )
                    for r in rows
                ),
            )

    def take(
        self, batch_id: int, limit: int, after_seq: int = 0, up_to_seq: int | None = None
    ) -> list[Reading]:
        """The oldest publishable readings in ``(after_seq, up_to_seq]``, marked as in flight
        in batch ``batch_id`` (a positive number the caller does not reuse while it is in flight).
        """
        upper = up_to_seq if up_to_seq is not None else 2**63 - 1
        rows = self._db.execute(
            "SELECT seq, device_id, quantity, value, quality, time_ms, time_trusted FROM outbox"
            " WHERE inflight = 0 AND time_ms IS NOT NULL AND seq > ? AND seq <= ?"
            " ORDER BY seq LIMIT ?",
            (after_seq, upper, limit),
        ).fetchall()
        if not rows:
            return []
        with self._db:
            self._db.execute("BEGIN")
            self._db.execute(
                "UPDATE outbox SET inflight = ? WHERE inflight = 0 AND time_ms IS NOT NULL"
                " AND seq BETWEEN ? AND ?",
                (batch_id, rows[0][0], rows[-1][0]),
            )
        return [
            Reading(
                self.gateway_id, d, q, v, QUANTITIES[q].unit, t, Quality(ql), seq, bool(trusted)
            )
            for seq, d, q, v, ql, t, trusted in rows
        ]

    def confirm(self, ranges: Iterable[tuple[int, int]]) -> int:
        """Forget readings ingest confirmed, by inclusive sequence ranges; how many went."""
        with self._db:
            self._db.execute("BEGIN")
            cursor = self._db.executemany("DELETE FROM outbox WHERE seq BETWEEN ? AND ?", ranges)
        return cursor.rowcount

    def done(self, batch_id: int) -> None:
        """Forget the readings of a batch (confirmed by the broker, with ``confirm="broker"``)."""
        with self._db:
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM outbox WHERE inflight = ?", (batch_id,))

    def requeue(self, batch_id: int) -> None:
        """Make a batch publishable again (the broker refused it, or its session was lost)."""
        with self._db:
            self._db.execute("BEGIN")
            self._db.execute("UPDATE outbox SET inflight = 0 WHERE inflight = ?", (batch_id,))

    def rebase(self, boot_id: str, wall_now_ms: int, mono_now_ns: int) -> int:
        """Give readings of this boot that waited for the clock their true time."""
        with self._db:
            self._db.execute("BEGIN")
            cursor = self._db.execute(
                "UPDATE outbox SET time_ms = ? - (? - mono_ns) / 1000000"
                " WHERE time_ms IS NULL AND boot_id = ?",
                (wall_now_ms, mono_now_ns, boot_id),
            )
        return cursor.rowcount

    def flag_earlier_boots(self, boot_id: str) -> int:
        """Readings of an earlier boot that never saw a trusted clock: keep the guess, flag it."""
        with self._db:
            self._db.execute("BEGIN")
            cursor = self._db.execute(
                "UPDATE outbox SET time_ms = wall_ms, time_trusted = 0"
                " WHERE time_ms IS NULL AND boot_id != ?",
                (boot_id,),
            )
        return cursor.rowcount

    def newest_time_ms(self) -> int | None:
        """The time of the newest reading ever committed with a trusted time (None: none yet)."""
        row = self._db.execute("SELECT newest_ms FROM clock_floor WHERE id = 1").fetchone()
        return int(row[0]) if row else None

    def max_seq(self) -> int:
        """The highest sequence number given out so far (0 if none)."""
        row = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
        return int(row[0]) if row else 0

    def depth(self) -> int:
        """How many readings wait to be acknowledged."""
        return self._db.execute("SELECT count(*) FROM outbox").fetchone()[0]

    def waiting_for_clock(self) -> int:
        """How many readings wait for a trusted clock."""
        return self._db.execute("SELECT count(*) FROM outbox WHERE time_ms IS NULL").fetchone()[0]

    def wal_bytes(self) -> int:
        """Bytes of the write-ahead log file (0 when there is none)."""
        try:
            return self.path.with_name(self.path.name + "-wal").stat().st_size
        except FileNotFoundError:
            return 0

    def release_space(self) -> None:
        """Fold the write-ahead log into the database and truncate it (after a write failed
        for want of space, this gives back what the log held)."""
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def size_bytes(self) -> int:
        """Bytes of the database file in use (free pages not counted)."""
        pages = self._db.execute("PRAGMA page_count").fetchone()[0]
        free = self._db.execute("PRAGMA freelist_count").fetchone()[0]
        size = self._db.execute("PRAGMA page_size").fetchone()[0]
        return (pages - free) * size

    def enforce_limit(self, max_bytes: int) -> int:
        """Thin the oldest backlog until the outbox is under ``max_bytes``; readings removed.

        Passes move from the oldest readings towards newer ones, so the oldest data loses half
        its resolution before any of it loses three quarters.
        """
        removed = 0
        after_seq = 0
        while (used := self.size_bytes()) > max_bytes:
            count = self.depth()
            if count == 0:
                break
            excess = max(1, int((used - max_bytes) / (used / count)))
            thinned, after_seq = self._thin(after_seq, window=max(2 * excess, 100))
            if thinned == 0 and after_seq == 0:
                break
            removed += thinned
            # Deleting every other row leaves half-empty pages, not free ones: compact.
            self._db.execute("VACUUM")
        if removed:
            log.warning(
                "outbox full: oldest readings thinned to half their time resolution",
                extra={"gateway_id": self.gateway_id, "readings_removed": removed},
            )
        return removed

    def _thin(self, after_seq: int, window: int) -> tuple[int, int]:
        """Remove every other reading of each series among ``window`` readings after
        ``after_seq``; returns how many went and where the next pass starts (0: from the
        oldest again)."""
        rows = self._db.execute(
            "SELECT seq, device_id, quantity FROM outbox WHERE inflight = 0 AND seq > ?"
            " ORDER BY seq LIMIT ?",
            (after_seq, window),
        ).fetchall()
        if not rows:
            return 0, 0
        by_series: dict[tuple[str, str], list[int]] = defaultdict(list)
        for seq, device_id, quantity in rows:
            by_series[(device_id, quantity)].append(seq)
        doomed = [seq for seqs in by_series.values() for seq in seqs[1::2]]
        if not doomed:
            # Every series has one reading in the window: the oldest one has to go.
            doomed = [rows[0][0]]
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany("DELETE FROM outbox WHERE seq = ?", ((s,) for s in doomed))
        return len(doomed), rows[-1][0]

    def close(self) -> None:
        """Close the database."""
        self._db.close()
