"""The gateway's durable outbox: ordering, acknowledgement, clock rebasing, size limit, kill -9."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.outbox import WAL_LIMIT_BYTES, Outbox, OutboxError, OutboxRow
from telemetry.reading import Quality

T0 = 1_790_000_000_000
BOOT = "boot-a"


def _rows(n: int, start: int = 0, time_ms: int | None = T0, boot: str = BOOT) -> list[OutboxRow]:
    return [
        OutboxRow(
            "soil-1",
            "soil_moisture",
            30.0 + i,
            Quality.GOOD,
            None if time_ms is None else time_ms + i,
            T0 + i,
            1_000_000_000 * i,
            boot,
        )
        for i in range(start, start + n)
    ]


@pytest.fixture
def outbox(tmp_path: Path) -> Outbox:
    box = Outbox(tmp_path / "o.sqlite3", "gw-1")
    yield box
    box.close()


def test_take_returns_oldest_first_and_marks_in_flight(outbox: Outbox) -> None:
    outbox.put(_rows(5))
    taken = outbox.take(1, 3)
    assert [r.value for r in taken] == [30.0, 31.0, 32.0]
    assert [r.seq for r in taken] == [1, 2, 3]
    assert taken[0].unit == "%"
    # In flight: not handed out twice.
    assert [r.seq for r in outbox.take(2, 10)] == [4, 5]
    assert outbox.take(3, 10) == []


def test_take_respects_the_sequence_window(outbox: Outbox) -> None:
    outbox.put(_rows(6))
    assert [r.seq for r in outbox.take(1, 10, after_seq=4)] == [5, 6]
    assert [r.seq for r in outbox.take(2, 10, up_to_seq=2)] == [1, 2]


def test_done_forgets_one_batch_and_requeue_returns_another(outbox: Outbox) -> None:
    outbox.put(_rows(4))
    outbox.take(1, 2)
    outbox.take(2, 2)
    outbox.done(1)
    outbox.requeue(2)
    assert outbox.depth() == 2
    assert [r.seq for r in outbox.take(3, 10)] == [3, 4]


def test_sequence_numbers_never_go_back(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    outbox = Outbox(path, "gw-1")
    outbox.put(_rows(3))
    outbox.take(1, 3)
    outbox.done(1)
    outbox.close()
    reopened = Outbox(path, "gw-1")
    reopened.put(_rows(1))
    assert [r.seq for r in reopened.take(1, 10)] == [4]
    assert reopened.max_seq() == 4
    reopened.close()


def test_readings_in_flight_at_a_restart_are_sent_again(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    outbox = Outbox(path, "gw-1")
    outbox.put(_rows(3))
    outbox.take(7, 3)
    outbox.close()
    reopened = Outbox(path, "gw-1")
    assert [r.seq for r in reopened.take(1, 10)] == [1, 2, 3]
    reopened.close()


def test_readings_waiting_for_the_clock_are_held_then_rebased(outbox: Outbox) -> None:
    outbox.put(_rows(2, time_ms=None))
    outbox.put(_rows(1, start=2))
    assert outbox.waiting_for_clock() == 2
    assert [r.seq for r in outbox.take(1, 10)] == [3]
    # Clock now trusted: it is 1_900_000_000_000 ms, the monotonic clock reads 10 s.
    assert outbox.rebase(BOOT, 1_900_000_000_000, 10_000_000_000) == 2
    taken = outbox.take(2, 10)
    # Read at mono 0 s and 1 s: 10 s and 9 s before "now".
    assert [r.time_ms for r in taken] == [1_899_999_990_000, 1_899_999_991_000]
    assert all(r.time_trusted for r in taken)


def test_readings_of_an_earlier_boot_keep_their_guess_and_are_flagged(outbox: Outbox) -> None:
    outbox.put(_rows(2, time_ms=None, boot="boot-old"))
    assert outbox.rebase(BOOT, 1_900_000_000_000, 0) == 0
    assert outbox.flag_earlier_boots(BOOT) == 2
    taken = outbox.take(1, 10)
    assert [r.time_ms for r in taken] == [T0, T0 + 1]  # the wall clock's guess, not invented
    assert not any(r.time_trusted for r in taken)


def test_a_full_outbox_thins_the_oldest_readings_evenly(outbox: Outbox) -> None:
    for chunk in range(40):
        outbox.put(_rows(1000, start=chunk * 1000))
    before = outbox.size_bytes()
    limit = before * 3 // 4
    removed = outbox.enforce_limit(limit)
    assert outbox.size_bytes() <= limit
    assert 0 < removed < 40_000 // 2
    seqs = [r.seq for r in outbox.take(1, 40_000)]
    # The oldest part lost every other reading; the newest part is untouched.
    assert seqs[:3] == [1, 3, 5]
    assert seqs[-3:] == [39_998, 39_999, 40_000]
    assert len(seqs) == 40_000 - removed


def test_an_outbox_of_another_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    import sqlite3

    db = sqlite3.connect(path)
    db.execute("CREATE TABLE outbox (seq INTEGER PRIMARY KEY)")
    db.commit()
    db.close()
    with pytest.raises(OutboxError, match="schema"):
        Outbox(path, "gw-1")


def test_committed_readings_survive_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    writer = f"""
import os, signal
from pathlib import Path
from gateway.outbox import Outbox, OutboxRow
from telemetry.reading import Quality
outbox = Outbox(Path({str(path)!r}), "gw-1")
outbox.put([OutboxRow("soil-1", "soil_moisture", 30.0 + i, Quality.GOOD, {T0} + i, {T0} + i, i,
                      "b") for i in range(4)])
outbox.take(1, 1)
outbox.done(1)
outbox.take(2, 1)
os.kill(os.getpid(), signal.SIGKILL)
"""
    result = subprocess.run([sys.executable, "-c", writer], check=False)
    assert result.returncode == -signal.SIGKILL
    reopened = Outbox(path, "gw-1")
    # Seq 1 was acknowledged; seq 2 was in flight when killed: it is sent again.
    assert [r.seq for r in reopened.take(1, 10)] == [2, 3, 4]
    reopened.close()


def test_confirm_forgets_exactly_the_confirmed_ranges(outbox: Outbox) -> None:
    outbox.put(_rows(10))
    outbox.take(1, 10)
    assert outbox.confirm([(2, 4), (7, 7), (50, 60)]) == 4
    assert outbox.depth() == 6
    outbox.requeue(1)
    assert [r.seq for r in outbox.take(2, 10)] == [1, 5, 6, 8, 9, 10]


def test_the_newest_committed_time_is_kept_across_restarts(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite3", "gw-1")
    assert outbox.newest_time_ms() is None
    outbox.put(_rows(3, time_ms=T0 + 5000))
    outbox.put(_rows(2, time_ms=None))  # waiting for the clock: no time to move the floor
    outbox.confirm([(1, 5)])
    outbox.close()
    reopened = Outbox(tmp_path / "outbox.sqlite3", "gw-1")
    try:
        assert reopened.newest_time_ms() == T0 + 5002  # the newest of the three
    finally:
        reopened.close()


def test_the_write_ahead_log_stays_small(outbox: Outbox) -> None:
    # SQLite's default WAL grows to 4 MiB and is never shrunk: space a full SD card lacks.
    for n in range(60):
        outbox.put(_rows(200, start=200 * n))
        outbox.confirm([(1, 200 * (n + 1))])
    assert outbox.wal_bytes() <= 2 * WAL_LIMIT_BYTES
    outbox.release_space()
    assert outbox.wal_bytes() == 0
