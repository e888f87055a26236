"""The gateway's durable outbox."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from gateway.outbox import Outbox
from telemetry.reading import Quality


def _rows(n: int, start: int = 0) -> list[tuple[str, str, float, str, int, Quality]]:
    return [
        ("soil-1", "soil_moisture", 30.0 + i, "%", 1_790_000_000_000 + i, Quality.GOOD)
        for i in range(start, start + n)
    ]


def test_take_returns_oldest_first_with_increasing_sequence_numbers(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite3", "gw-1")
    outbox.put(_rows(5))
    taken = outbox.take(3)
    assert [r.value for r in taken] == [30.0, 31.0, 32.0]
    assert [r.seq for r in taken] == [1, 2, 3]
    assert [r.seq for r in outbox.take(10, after_seq=3)] == [4, 5]
    outbox.close()


def test_done_forgets_and_sequence_numbers_never_go_back(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    outbox = Outbox(path, "gw-1")
    outbox.put(_rows(3))
    outbox.done([1, 2, 3])
    assert outbox.depth() == 0
    outbox.close()
    # A restart after everything was acknowledged must not reuse sequence numbers.
    reopened = Outbox(path, "gw-1")
    reopened.put(_rows(1))
    assert [r.seq for r in reopened.take(10)] == [4]
    reopened.close()


def test_unacknowledged_readings_survive_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    writer = f"""
import os, signal
import signal
import subprocess
import sys
from pathlib import Path
from gateway.outbox import Outbox
from telemetry.reading import Quality
outbox = Outbox(Path({str(path)!r}), "gw-1")
outbox.put([("soil-1", "soil_moisture", 30.0 + i, "%", 1_790_000_000_000 + i, Quality.GOOD)
            for i in range(4)])
outbox.done([2])
os.kill(os.getpid(), signal.SIGKILL)
"""
    result = subprocess.run([sys.executable, "-c", writer], check=False)
    assert result.returncode == -signal.SIGKILL
    reopened = Outbox(path, "gw-1")
    assert [r.seq for r in reopened.take(10)] == [1, 3, 4]
    assert reopened.take(1)[0].quality is Quality.GOOD
    reopened.close()
