"""When the gateway believes its wall clock, and what time it uses when it does not."""

from __future__ import annotations

import time

from gateway.clock import SERVER_WINDOW_S, SystemClock

DAY_MS = 86_400_000


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


def _no_ntp() -> bool:
    return False


def test_without_ntp_a_clock_past_the_floor_is_not_believed_by_default() -> None:
    # fake-hwclock after a two-day power cut: past any fixed floor, and two days behind.
    behind = lambda: time.time_ns() - 2 * DAY_MS * 10**6  # noqa: E731
    clock = SystemClock(_wall_ms() - 30 * DAY_MS, wall_ns=behind, ntp_synchronised=_no_ntp)
    assert clock.state().trusted is False


def test_the_servers_time_is_believed_and_carried_forward_by_the_monotonic_clock() -> None:
    jump = [-2 * DAY_MS * 10**6]  # the local clock is two days behind
    clock = SystemClock(wall_ns=lambda: time.time_ns() + jump[0], ntp_synchronised=_no_ntp)
    server_ms = _wall_ms()
    clock.observe_server_time(server_ms, time.monotonic_ns())
    state = clock.state()
    assert (state.trusted, state.source) == (True, "server")
    stamped, _ = clock.stamp()
    assert abs(stamped - server_ms) < 1000
    assert abs(clock.offset_ms() - 2 * DAY_MS) < 1000  # type: ignore[operator]
    # The wall clock jumps (someone sets the date by hand): the time told stays the server's.
    jump[0] -= 3600 * 10**9
    assert abs(clock.stamp()[0] - server_ms) < 1000


def test_the_least_delayed_ack_sets_the_servers_time() -> None:
    # Each ack is stamped when ingest sends it and arrives later: Nagle, a busy broker, a slow
    # link. Believing the latest ack put readings up to its delay behind the truth.
    clock = SystemClock(ntp_synchronised=_no_ntp)
    for delay_ms in (40, 1, 25, 60):
        clock.observe_server_time(_wall_ms() - delay_ms, time.monotonic_ns())
    assert abs(clock.stamp()[0] - _wall_ms()) <= 5


def test_a_server_clock_stepped_back_is_followed_once_its_earlier_acks_are_old() -> None:
    clock = SystemClock(ntp_synchronised=_no_ntp)
    now_ns = time.monotonic_ns()
    old_ns = now_ns - int((SERVER_WINDOW_S + 1) * 1e9)
    clock.observe_server_time(_wall_ms() - 120_000 + 3_600_000, old_ns)  # an hour ahead, then
    clock.observe_server_time(_wall_ms(), now_ns)  # corrected by its NTP
    assert abs(clock.stamp()[0] - _wall_ms()) <= 5


def test_with_trust_after_floor_a_clock_behind_the_newest_reading_is_not_believed() -> None:
    clock = SystemClock(_wall_ms() - DAY_MS, trust_after_floor=True, ntp_synchronised=_no_ntp)
    assert clock.state().source == "floor"
    clock.raise_floor(_wall_ms() + 2 * DAY_MS)  # a reading committed two days "later"
    assert clock.state().trusted is False


def test_ntp_is_believed_before_the_server_within_a_minute() -> None:
    clock = SystemClock(ntp_synchronised=lambda: True)
    clock.observe_server_time(_wall_ms() + 30_000, time.monotonic_ns())
    assert clock.state().source == "ntp"
    assert abs(clock.stamp()[0] - _wall_ms()) < 1000


def test_an_ntp_clock_that_strays_from_the_servers_time_is_not_believed() -> None:
    # NTP says synchronised, yet the clock was stepped a day back (a bad NTP server, a hand).
    step = [0]
    clock = SystemClock(wall_ns=lambda: time.time_ns() + step[0], ntp_synchronised=lambda: True)
    clock.observe_server_time(_wall_ms(), time.monotonic_ns())
    assert clock.state().source == "ntp"
    step[0] = -DAY_MS * 10**6
    assert clock.state().source == "server"
    assert abs(clock.stamp()[0] - _wall_ms()) < 1000
    step[0] = 20 * 10**9  # within a minute of the server: NTP's precision wins again
    assert clock.state().source == "ntp"
