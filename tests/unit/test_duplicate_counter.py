"""Duplicate counting by runs of sequence numbers agrees with the plain set-based definition."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ingest.sequences import DuplicateCounter

batches = st.lists(st.lists(st.integers(0, 300), max_size=40), max_size=30)


@given(batches)
def test_counts_exactly_what_a_set_would(messages: list[list[int]]) -> None:
    counter = DuplicateCounter(recent=10_000)
    seen: set[int] = set()
    for seqs in messages:
        expected = 0
        for seq in seqs:  # a reading is a duplicate if its seq came before, anywhere
            expected += seq in seen
            seen.add(seq)
        assert counter.count("gw-1", seqs) == expected


def test_a_resent_batch_is_all_duplicates_and_gateways_are_apart() -> None:
    counter = DuplicateCounter()
    assert counter.count("gw-1", list(range(1, 501))) == 0
    assert counter.count("gw-2", list(range(1, 501))) == 0
    assert counter.count("gw-1", list(range(1, 501))) == 500
    assert counter.count("gw-1", list(range(501, 1001))) == 0


def test_memory_is_bounded_to_the_recent_span() -> None:
    counter = DuplicateCounter(recent=1000)
    for start in range(0, 100_000, 10):
        counter.count("gw-1", [start])  # every tenth number: one run each
    assert counter.count("gw-1", [5]) == 0  # long forgotten
    assert counter.count("gw-1", [99_990]) == 1
