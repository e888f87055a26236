"""Knowing when the wall clock can be trusted, on a Raspberry Pi without a real-time clock.

A Pi boots with the time it saved at shutdown (fake-hwclock) or 1970, and only learns the real
time when NTP reaches a server, perhaps days later. Until then a reading keeps the monotonic
clock of its boot; once the time is trusted, the outbox turns that into real time
(``now - (mono_now - mono_then)``). Readings of an earlier boot that never saw a trusted
clock cannot be placed in time: they keep their wall-clock guess and are flagged.

Two sources are trusted: the kernel's NTP synchronisation, and the server's time, which every
end-to-end ack from ingest carries. The server's time is held against the monotonic clock, so a
wall clock that jumps (a late NTP step, a hand-set date) cannot move it; a gateway that reaches
the broker but no NTP server still learns the time within seconds of connecting. An ack is
stamped when ingest sends it and arrives later by however long the broker and the link took, so
each ack can only make the server's time look earlier than it is: of the acks of the last
``SERVER_WINDOW_S`` the least delayed one is believed (NTP's clock filter does the same).

A wall clock that is merely "late enough" is not evidence: fake-hwclock restores the time of the
last save, which after a two-day power cut is two days behind and yet past any fixed floor.
Believing it (``trust_after_floor``) is for gateways with a battery-backed real-time clock, and
even then the floor moves forward with the newest reading committed, so a clock restored behind
what the gateway already recorded is not believed.
"""

from __future__ import annotations

import ctypes
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, Protocol

log = logging.getLogger(__name__)

# No release of this gateway ran before this date, so a clock that says earlier is surely wrong.
BUILD_FLOOR_MS = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp() * 1000)
_TIME_ERROR = 5  # adjtimex(2): the kernel's clock is not synchronised
_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")

# A wall clock further than this from the server's is reported (once per boot).
CLOCK_OFF_MS = 60_000
ClockSource = Literal["ntp", "server", "floor", "none"]
# How long the kernel's answer on NTP synchronisation is reused (stamp() runs on every poll).
_SYNC_CHECK_S = 10.0
# Acks whose server time is weighed together. Short enough that the monotonic clock's drift
# (a Pi's crystal: up to ~50 ppm, 6 ms in 2 minutes) stays below a link's delay, and that a
# server clock stepped back is followed soon; at most _SERVER_SAMPLES acks are kept.
SERVER_WINDOW_S = 120.0
_SERVER_SAMPLES = 32


@dataclass(frozen=True, slots=True)
class ClockState:
    """Whether the wall clock is trusted, and why."""

    trusted: bool
    source: ClockSource


class Clock(Protocol):
    """The gateway's view of time; tests substitute a clock that jumps."""

    boot_id: str

    def stamp(self) -> tuple[int, int]:
        """(wall-clock epoch ms, monotonic ns), read together."""
        ...

    def state(self) -> ClockState:
        """Whether the wall clock can be trusted right now."""
        ...

    def observe_server_time(self, server_ms: int, mono_ns: int) -> None:
        """The server said it was ``server_ms`` at (about) monotonic time ``mono_ns``."""
        ...

    def raise_floor(self, time_ms: int) -> None:
        """A reading at ``time_ms`` was committed: a clock earlier than it is not believed."""
        ...


def _kernel_synchronised() -> bool | None:
    """What adjtimex says about NTP synchronisation; None where it cannot be asked."""
    try:
        # The process's own symbols, libc's among them: find_library("c") would run ldconfig
        # in a child process every _SYNC_CHECK_S.
        libc = ctypes.CDLL(None, use_errno=True)
        # struct timex is under 256 bytes on every Linux ABI; modes=0 only reads.
        buffer = ctypes.create_string_buffer(512)
        return libc.adjtimex(buffer) != _TIME_ERROR
    except (OSError, AttributeError):
        return None


def read_boot_id() -> str:
    """This boot's id from the kernel (a new one after every reboot)."""
    try:
        return _BOOT_ID.read_text().strip()
    except OSError:
        # Not Linux: a random id still tells this run from the previous one.
        return f"run-{time.time_ns()}"


class SystemClock:
    """The machine's clocks, trusted once NTP synchronised or the server told the time."""

    def __init__(
        self,
        floor_ms: int = BUILD_FLOOR_MS,
        trust_after_floor: bool = False,
        wall_ns: Callable[[], int] = time.time_ns,
        ntp_synchronised: Callable[[], bool | None] = _kernel_synchronised,
    ) -> None:
        self.boot_id = read_boot_id()
        # The wall clock and the kernel's NTP state: a test passes a clock days behind.
        self._wall_ns = wall_ns
        self._ntp_synchronised = ntp_synchronised
        self._floor_ms = floor_ms
        self._trust_after_floor = trust_after_floor
        self._lock = threading.Lock()
        # (server ms - monotonic ms, monotonic ns of arrival) of this boot's recent acks, and
        # the largest such offset among them: the least delayed ack's.
        self._samples: deque[tuple[int, int]] = deque(maxlen=_SERVER_SAMPLES)
        self._offset_ms: int | None = None
        self._synced = False
        self._synced_checked = float("-inf")
        self._strays = False  # NTP says synchronised, the server's time says otherwise

    def stamp(self) -> tuple[int, int]:
        """(epoch ms, monotonic ns): the server's time carried forward when NTP is absent, or
        when the wall clock strays from it (a clock stepped by hand, a bad NTP server)."""
        wall_ms, mono_ns = self._wall_ns() // 1_000_000, time.monotonic_ns()
        server_ms = self._server_ms(mono_ns)
        if server_ms is not None and (not self._ntp() or abs(server_ms - wall_ms) > CLOCK_OFF_MS):
            return server_ms, mono_ns
        return wall_ms, mono_ns

    def state(self) -> ClockState:
        """NTP first (unless the server's time disagrees), then the server's time; the local
        clock past the floor only if asked."""
        server_ms = self._server_ms(time.monotonic_ns())
        if self._ntp():
            wall_ms = self._wall_ns() // 1_000_000
            strays = server_ms is not None and abs(server_ms - wall_ms) > CLOCK_OFF_MS
            if strays != self._strays:
                self._strays = strays
                log.log(
                    logging.WARNING if strays else logging.INFO,
                    "the NTP-synchronised clock disagrees with the server's time: going by the "
                    "server's"
                    if strays
                    else "the NTP-synchronised clock agrees with the server's time again",
                    extra={"offset_s": round(((server_ms or wall_ms) - wall_ms) / 1000)},
                )
            if not strays:
                return ClockState(True, "ntp")
        if server_ms is not None:
            return ClockState(True, "server")
        with self._lock:
            floor_ms = self._floor_ms
        if self._trust_after_floor and self._wall_ns() // 1_000_000 >= floor_ms:
            return ClockState(True, "floor")
        return ClockState(False, "none")

    def _server_ms(self, mono_ns: int) -> int | None:
        with self._lock:
            offset_ms = self._offset_ms
        if offset_ms is None:
            return None
        return mono_ns // 1_000_000 + offset_ms

    def observe_server_time(self, server_ms: int, mono_ns: int) -> None:
        """Hold the server's time against the monotonic clock: of the acks that arrived in the
        last ``SERVER_WINDOW_S``, the one that took least time on its way."""
        with self._lock:
            first = self._offset_ms is None
            self._samples.append((server_ms - mono_ns // 1_000_000, mono_ns))
            oldest_ns = mono_ns - int(SERVER_WINDOW_S * 1e9)
            while self._samples[0][1] < oldest_ns:
                self._samples.popleft()
            self._offset_ms = max(offset for offset, _ in self._samples)
        offset_ms = self.offset_ms() or 0
        if first and abs(offset_ms) > CLOCK_OFF_MS:
            log.warning(
                "the gateway's clock is off: going by the server's time (check NTP, or the "
                "real-time clock's battery)",
                extra={"offset_s": round(offset_ms / 1000)},
            )

    def raise_floor(self, time_ms: int) -> None:
        """Move the floor forward to a committed reading's time."""
        with self._lock:
            self._floor_ms = max(self._floor_ms, time_ms)

    def offset_ms(self) -> int | None:
        """How far the wall clock is behind the server's time (None before the first ack)."""
        server_now = self._server_ms(time.monotonic_ns())
        if server_now is None:
            return None
        return server_now - self._wall_ns() // 1_000_000

    def _ntp(self) -> bool:
        now = time.monotonic()
        if now - self._synced_checked >= _SYNC_CHECK_S:
            self._synced = bool(self._ntp_synchronised())
            self._synced_checked = now
        return self._synced


def rebased_time_ms(wall_now_ms: int, mono_now_ns: int, mono_then_ns: int) -> int:
    """The true time of a monotonic reading, given a trusted wall clock now."""
    return wall_now_ms - (mono_now_ns - mono_then_ns) // 1_000_000
