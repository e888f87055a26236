"""Readings of devices the registry does not know, held apart until someone registers them.

A reading from an unregistered device has no field, village or crop: stored as it is, it would
sit in InfluxDB with empty tags, counted as stored, in no field's charts and no village's
summary, and nobody would notice the probe that was added without telling the registry. So
ingest holds such readings here (and confirms them to their gateway: they are safe), counts
them, and ``tani quarantine list`` shows which devices send them. Once the device is
registered, ``tani quarantine replay`` writes its held readings with the right tags.

The store is bounded: past ``max_rows`` the oldest held readings go, counted and logged.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from telemetry.quantities import QUANTITIES
from telemetry.reading import Quality, Reading

log = logging.getLogger(__name__)

MAX_ROWS = 1_000_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS held (
    gateway_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    device_id TEXT NOT NULL,
    quantity TEXT NOT NULL,
    value REAL NOT NULL,
    quality TEXT NOT NULL,
    time_ms INTEGER NOT NULL,
    time_trusted INTEGER NOT NULL,
    received_ms INTEGER NOT NULL,
    PRIMARY KEY (gateway_id, seq)
);
CREATE INDEX IF NOT EXISTS held_device ON held (gateway_id, device_id);
"""


@dataclass(frozen=True, slots=True)
class HeldDevice:
    """One unregistered device and what is held of it."""

    gateway_id: str
    device_id: str
    readings: int
    first_ms: int
    last_ms: int


class Quarantine:
    """A bounded SQLite store of readings from unregistered devices; safe across threads."""

    def __init__(self, path: Path, max_rows: int = MAX_ROWS) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._max_rows = max_rows
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self.dropped = 0
        self._unchecked = max_rows  # check the bound at the first hold

    def hold(self, readings: list[Reading]) -> None:
        """Keep readings (a re-sent one replaces itself); drop the oldest past the bound."""
        now_ms = time.time_ns() // 1_000_000
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT OR REPLACE INTO held VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    (
                        r.gateway_id,
                        r.seq,
                        r.device_id,
                        r.quantity,
                        r.value,
                        str(r.quality),
                        r.time_ms,
                        int(r.time_trusted),
                        now_ms,
                    )
                    for r in readings
                ),
            )
            # Counting a large table costs: check the bound every thousand readings held.
            self._unchecked += len(readings)
            excess = 0
            if self._unchecked >= 1000:
                self._unchecked = 0
                held = self._db.execute("SELECT count(*) FROM held").fetchone()[0]
                excess = held - self._max_rows
            if excess > 0:
                self._db.execute(
                    "DELETE FROM held WHERE rowid IN"
                    " (SELECT rowid FROM held ORDER BY received_ms LIMIT ?)",
                    (excess,),
                )
        if excess > 0:
            self.dropped += excess
            log.error(
                "quarantine full: oldest readings of unregistered devices dropped; register "
                "the devices (tani quarantine list) and replay them",
                extra={"dropped": excess},
            )

    def devices(self) -> list[HeldDevice]:
        """Every device with held readings, most readings first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT gateway_id, device_id, count(*), min(time_ms), max(time_ms) FROM held"
                " GROUP BY gateway_id, device_id ORDER BY count(*) DESC"
            ).fetchall()
        return [HeldDevice(*row) for row in rows]

    def take(self, gateway_id: str, device_id: str, limit: int) -> list[Reading]:
        """Up to ``limit`` held readings of one device, oldest first (they stay held)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, quantity, value, quality, time_ms, time_trusted FROM held"
                " WHERE gateway_id = ? AND device_id = ? ORDER BY seq LIMIT ?",
                (gateway_id, device_id, limit),
            ).fetchall()
        return [
            Reading(gateway_id, device_id, q, v, QUANTITIES[q].unit, t, Quality(ql), seq, bool(tr))
            for seq, q, v, ql, t, tr in rows
        ]

    def release(self, gateway_id: str, seqs: list[int]) -> None:
        """Forget readings that were written to InfluxDB."""
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.executemany(
                "DELETE FROM held WHERE gateway_id = ? AND seq = ?",
                ((gateway_id, seq) for seq in seqs),
            )

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()


def replay_registered(
    quarantine: Quarantine,
    known: set[tuple[str, str]],
    write: Callable[[list[Reading]], None],
    batch: int = 5000,
) -> dict[str, int]:
    """Write the held readings of every device now in ``known``, then forget them.

    ``write`` stores readings (with the registry's tags) or raises; what it did not store stays
    held. Returns readings replayed per "gateway/device".
    """
    replayed: dict[str, int] = {}
    for device in quarantine.devices():
        if (device.gateway_id, device.device_id) not in known:
            continue
        while readings := quarantine.take(device.gateway_id, device.device_id, batch):
            write(readings)
            quarantine.release(device.gateway_id, [r.seq for r in readings])
            key = f"{device.gateway_id}/{device.device_id}"
            replayed[key] = replayed.get(key, 0) + len(readings)
    return replayed
