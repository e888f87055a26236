"""Ingest's end-to-end acks are gathered per gateway: few messages on a prepaid SIM."""

from __future__ import annotations

import pytest

import ingest.acks
from ingest.acks import AckGatherer


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [100.0]
    monkeypatch.setattr(ingest.acks.time, "monotonic", lambda: now[0])
    return now


def test_readings_of_one_gateway_wait_for_the_delay_then_go_as_one_ack(clock) -> None:
    sent: list[tuple[str, list[int]]] = []
    gatherer = AckGatherer(lambda g, seqs, t: sent.append((g, seqs)), delay_s=150, max_pending=99)
    gatherer.add("gw-1", [1, 2, 3])
    clock[0] += 60
    gatherer.add("gw-1", [4, 5])
    gatherer.add("gw-2", [7])
    gatherer.flush_due()
    assert sent == []
    clock[0] += 90
    gatherer.flush_due()
    assert sent == [("gw-1", [1, 2, 3, 4, 5])]
    clock[0] += 60
    gatherer.flush_due()
    assert sent[-1] == ("gw-2", [7])


def test_a_gateway_catching_up_is_confirmed_as_soon_as_enough_wait(clock) -> None:
    sent: list[tuple[str, list[int]]] = []
    gatherer = AckGatherer(lambda g, seqs, t: sent.append((g, seqs)), delay_s=150, max_pending=4)
    gatherer.add("gw-1", [1, 2])
    gatherer.add("gw-1", [3, 4, 5])
    assert sent == [("gw-1", [1, 2, 3, 4, 5])]


def test_stopping_sends_what_waits_and_no_delay_sends_at_once(clock) -> None:
    sent: list[tuple[str, list[int]]] = []
    gatherer = AckGatherer(lambda g, seqs, t: sent.append((g, seqs)), delay_s=150, max_pending=9)
    gatherer.add("gw-1", [1])
    gatherer.flush_all()
    assert sent == [("gw-1", [1])]
    at_once = AckGatherer(lambda g, seqs, t: sent.append((g, seqs)), delay_s=0, max_pending=9)
    at_once.add("gw-2", [5])
    assert sent[-1] == ("gw-2", [5])
