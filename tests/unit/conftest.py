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
    # collect first so that does not happen during this test and look like a change.
    gc.collect()
    threads, fds = threading.active_count(), _open_fds()
    yield
    assert threading.active_count() == threads, "a thread was left running"
    assert _open_fds() <= fds, "a file descriptor was left open"
