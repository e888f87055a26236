"""When each latency probe of ``tani bench ingest`` became queryable in InfluxDB."""

from __future__ import annotations

import threading
import time

from tani.bench.ingest_load import Counter, Layout


class Watcher(threading.Thread):
    """Polls InfluxDB for the probe messages published but not yet seen; notes when each is.

    Probe ``k`` lies in slot ``first_slot + k``; the publisher raises ``published`` after each.
    A message is noted when the query that first shows it returns, so what the watcher adds to
    a latency is at most one poll interval plus one query: ``query_s`` holds every query's
    duration and ``widest`` the most slots one query spanned, to show it kept up.

    It counts only the series of each message's first and last reading (:attr:`Layout.markers`,
    2 of its 49 series): counting every reading of every unseen message cost InfluxDB a fifth
    of a core at 50,000 readings/s and more than doubled the p99 it measured (170-230 ms
    against 78-82 ms, same load), the watcher's cost and not ingest's. The run's final count
    checks every reading.
    """

    def __init__(self, counter: Counter, layout: Layout, first_slot: int, poll_s: float) -> None:
        super().__init__(name="latency-watcher", daemon=True)
        self.seen: dict[int, float] = {}
        self.published = 0
        self.error: Exception | None = None
        self.query_s: list[float] = []
        self.widest = 0
        self._counter, self._layout = counter, layout
        self._first, self._poll_s = first_slot, poll_s
        self._halt = threading.Event()

    @property
    def queries(self) -> int:
        """How many visibility queries ran."""
        return len(self.query_s)

    def run(self) -> None:
        """Poll until stopped."""
        lowest = 0
        try:
            while not self._halt.wait(self._poll_s):
                while lowest in self.seen:
                    lowest += 1
                published = self.published
                if lowest >= published:
                    continue
                # Only the slots of messages published and not yet seen: the query's cost
                # follows how far ingest is behind, not how long the run has been going.
                asked = time.monotonic()
                slots = self._counter.markers_per_slot(
                    self._layout, self._first + lowest, self._first + published - 1
                )
                now = time.monotonic()
                self.query_s.append(now - asked)
                self.widest = max(self.widest, published - lowest)
                for slot, stored in slots.items():
                    if stored >= self._layout.marker_readings:
                        self.seen.setdefault(slot - self._first, now)
        except Exception as exc:  # reported by the main thread, which owns the result
            self.error = exc

    def stop(self) -> None:
        """End the polling."""
        self._halt.set()
        self.join()
