"""Dead letters: messages ingest refused, kept with their reason for someone to inspect."""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

MAX_PAYLOAD = 64 * 1024
MAX_ROWS = 10_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS deadletters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_ms INTEGER NOT NULL,
    topic TEXT NOT NULL,
    reason TEXT NOT NULL,
    detail TEXT NOT NULL,
    payload BLOB NOT NULL,
    truncated INTEGER NOT NULL
)
"""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One refused message."""

    id: int
    received_ms: int
    topic: str
    reason: str
    detail: str
    payload: bytes
    truncated: bool


class DeadLetters:
    """A bounded SQLite store of refused messages (the oldest go first when full)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(_SCHEMA)

    def add(self, topic: str, reason: str, detail: str, payload: bytes) -> None:
        """Keep a refused message (payload cut to 64 KiB)."""
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.execute(
                "INSERT INTO deadletters (received_ms, topic, reason, detail, payload, truncated)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    time.time_ns() // 1_000_000,
                    topic,
                    reason,
                    detail,
                    payload[:MAX_PAYLOAD],
                    len(payload) > MAX_PAYLOAD,
                ),
            )
            self._db.execute(
                "DELETE FROM deadletters WHERE id <= (SELECT max(id) FROM deadletters) - ?",
                (MAX_ROWS,),
            )

    def latest(self, limit: int = 50) -> list[DeadLetter]:
        """The most recent dead letters, newest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, received_ms, topic, reason, detail, payload, truncated"
                " FROM deadletters ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [DeadLetter(r[0], r[1], r[2], r[3], r[4], bytes(r[5]), bool(r[6])) for r in rows]

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()
