"""Unit tests leave nothing behind: every test ends with the threads and fds it started with."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import pytest


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture(autouse=True)
def no_leaks() -> Iterator[None]:
    """Fail a test that leaves a thread running or a file descriptor open."""
    threads, fds = threading.active_count(), _open_fds()
    yield
    assert threading.active_count() == threads, "a thread was left running"
    assert _open_fds() == fds, "a file descriptor was left open"
