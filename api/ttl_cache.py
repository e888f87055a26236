"""A small thread-safe cache whose entries expire after a fixed number of seconds."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

# Beyond this many entries, expired ones are dropped before a new one is kept.
MAX_ENTRIES = 10_000


class TtlCache(Generic[K, V]):
    """Values kept ``ttl_s`` seconds each (0: nothing is kept), at most MAX_ENTRIES of them.

    ``name`` says which cache it is in the API's metrics, which read its hits and misses.
    """

    def __init__(
        self, ttl_s: float, clock: Callable[[], float] = time.monotonic, *, name: str
    ) -> None:
        self.ttl_s = ttl_s
        self.name = name
        self._clock = clock
        self._lock = threading.Lock()
        self._kept: dict[K, tuple[float, V]] = {}
        self._hits = 0
        self._misses = 0

    def get(self, key: K, *, count: bool = True) -> V | None:
        """The value kept for ``key`` if it has not expired, else None.

        ``count=False``: a look that a counted one may repeat; ``count_hit`` counts it if used.
        """
        with self._lock:
            kept = self._kept.get(key)
            # Plain ints under the lock already taken: cheaper than a metric per request.
            if kept is not None and self._clock() < kept[0]:
                self._hits += count
                return kept[1]
            self._misses += count
        return None

    def count_hit(self) -> None:
        """Count a hit that ``get(count=False)`` found and that was used."""
        with self._lock:
            self._hits += 1

    def counts(self) -> tuple[int, int]:
        """(hits, misses) of ``get`` since the cache was made."""
        with self._lock:
            return self._hits, self._misses

    def put(self, key: K, value: V) -> None:
        """Keep ``value`` for ``ttl_s`` seconds."""
        if self.ttl_s <= 0:
            return
        now = self._clock()
        with self._lock:
            if len(self._kept) >= MAX_ENTRIES:
                fresh = {k: v for k, v in self._kept.items() if now < v[0]}
                self._kept = fresh if len(fresh) < MAX_ENTRIES else {}
            self._kept[key] = (now + self.ttl_s, value)

    def discard(self, key: K) -> None:
        """Forget ``key`` now."""
        with self._lock:
            self._kept.pop(key, None)

    def clear(self) -> None:
        """Forget everything now."""
        with self._lock:
            self._kept.clear()
