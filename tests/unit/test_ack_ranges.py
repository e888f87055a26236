"""Ack ranges cover exactly the settled sequence numbers, in one run or many."""

from __future__ import annotations

import itertools
import random

from hypothesis import given
from hypothesis import strategies as st

from telemetry.acks import decode_ack, encode_acks, seq_ranges

numbers = st.one_of(
    st.lists(st.integers(0, 2**32), max_size=60),
    st.builds(
        lambda start, n: list(range(start, start + n)), st.integers(0, 2**32), st.integers(1, 600)
    ),
)


@given(numbers, st.randoms())
def test_ranges_cover_exactly_the_numbers_sorted_and_apart(
    seqs: list[int], rnd: random.Random
) -> None:
    rnd.shuffle(seqs)
    ranges = seq_ranges(seqs)
    covered = [seq for first, last in ranges for seq in range(first, last + 1)]
    assert covered == sorted(set(seqs))
    assert all(b[0] > a[1] + 1 for a, b in itertools.pairwise(ranges))
    assert [r for p in encode_acks(7, seqs) for r in decode_ack(p).ranges] == ranges


def test_a_run_with_a_hole_is_two_ranges() -> None:
    assert seq_ranges([5, 6, 7, 9, 10]) == [(5, 7), (9, 10)]
    assert seq_ranges([3, 1, 2, 2]) == [(1, 3)]
    assert seq_ranges([]) == []
