"""What a device really put on the wire, kept so tests can compare it with what was stored."""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import NamedTuple


class Served(NamedTuple):
    """One frame sent intact: wall-clock unix time and values in engineering units."""

    wall_time: float
    values: dict[str, float]


class History:
    """A bounded, thread-safe record of frames sent intact, oldest first."""

    def __init__(self, maxlen: int) -> None:
        self._lock = threading.Lock()
        self._items: deque[Served] = deque(maxlen=maxlen)

    def record(self, values: dict[str, float]) -> Served:
        """Remember ``values`` as served now."""
        served = Served(time.time(), values)
        with self._lock:
            self._items.append(served)
        return served

    def snapshot(self) -> list[Served]:
        """A copy of everything remembered, oldest first."""
        with self._lock:
            return list(self._items)
