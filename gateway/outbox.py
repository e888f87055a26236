"""Durable outbox: every reading is on disk before it is published, deleted after PUBACK.

SQLite in WAL mode with ``synchronous=FULL`` so a committed batch survives a power cut. The
AUTOINCREMENT row id doubles as the gateway's sequence number: it never goes back, not even
after rows are deleted or the gateway restarts, which is what the server needs to count gaps.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

from telemetry.reading import Quality, Reading

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id TEXT NOT NULL,
    quantity TEXT NOT NULL,
    value REAL NOT NULL,
    unit TEXT NOT NULL,
    time_ms INTEGER NOT NULL,
    quality TEXT NOT NULL
)
"""


# (device_id, quantity, value, unit, time_ms, quality)
OutboxRow = tuple[str, str, float, str, int, Quality]


class Outbox:
    """The gateway's store-and-forward queue. Use from one thread at a time."""

    def __init__(self, path: Path, gateway_id: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.gateway_id = gateway_id
        # Opened by the thread that starts the gateway, used by its forwarding thread.
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(_SCHEMA)

    def put(self, rows: Iterable[OutboxRow]) -> None:
        """Commit rows of (device, quantity, value, unit, time_ms, quality) in one transaction."""
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT INTO outbox (device_id, quantity, value, unit, time_ms, quality)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                ((d, q, v, u, t, str(ql)) for d, q, v, u, t, ql in rows),
            )

    def take(self, limit: int, after_seq: int = 0) -> list[Reading]:
        """The oldest readings with a sequence number above ``after_seq``."""
        cursor = self._db.execute(
            "SELECT seq, device_id, quantity, value, unit, time_ms, quality FROM outbox"
            " WHERE seq > ? ORDER BY seq LIMIT ?",
            (after_seq, limit),
        )
        return [
            Reading(self.gateway_id, d, q, v, u, t, Quality(ql), seq)
            for seq, d, q, v, u, t, ql in cursor
        ]

    def done(self, seqs: Sequence[int]) -> None:
        """Forget readings the broker has acknowledged."""
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany("DELETE FROM outbox WHERE seq = ?", ((s,) for s in seqs))

    def depth(self) -> int:
        """How many readings wait to be acknowledged."""
        return self._db.execute("SELECT count(*) FROM outbox").fetchone()[0]

    def close(self) -> None:
        """Close the database."""
        self._db.close()
