"""Unit tests leave nothing behind: every test ends with the threads and fds it started with."""

from __future__ import annotations

import gc
import os
import threading
from collections.abc import Iterator

import pytest


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture(autouse=True)
def no_leaks() -> Iterator[None]:
    """Fail a test that leaves a thread running or a file descriptor open."""
    # Objects of earlier tests (paho's wake-up socket pair, say) close their fds when collected;
    # collect first so that does not happen during this test and look like a change. Then
    # freeze what survived: the next collection scans only objects made since, instead of
    # every module, class and cache loaded so far (0.15 s a test, a sixth of the suite's time).
    gc.collect()
    gc.freeze()
    threads, fds = threading.active_count(), _open_fds()
    yield
    assert threading.active_count() == threads, "a thread was left running"
    assert _open_fds() <= fds, "a file descriptor was left open"
