"""Which rules cover a field and which limit speaks for it (agronomy.scopes)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agronomy.scopes import Place, Scope, ScopedLimit, covers, lower_limit, upper_limit
from registry.alerting import Scope as StoredScope

FIELD = Place(field_id="sawah-1", crop="padi", village_id="bumi-agung")


def test_the_registry_stores_the_same_scopes() -> None:
    assert {s.value for s in Scope} == {s.value for s in StoredScope}


@pytest.mark.parametrize(
    ("scope", "value", "covered"),
    [
        (Scope.ALL, None, True),
        (Scope.VILLAGE, "bumi-agung", True),
        (Scope.VILLAGE, "tiuh-balak", False),
        (Scope.CROP, "padi", True),
        (Scope.CROP, "jagung", False),
        (Scope.FIELD, "sawah-1", True),
        (Scope.FIELD, "sawah-2", False),
    ],
)
def test_covers(scope: Scope, value: str | None, covered: bool) -> None:
    assert covers(scope, value, FIELD) is covered
    assert covers(scope.value, value, FIELD) is covered


def test_a_device_in_no_field_is_covered_by_all_rules_only() -> None:
    nowhere = Place()
    assert covers(Scope.ALL, None, nowhere)
    assert not covers(Scope.CROP, None, nowhere)
    assert not covers(Scope.FIELD, None, nowhere)
    assert not covers(Scope.VILLAGE, None, nowhere)


def test_the_most_specific_rule_wins_then_the_safe_side() -> None:
    limits = [
        ScopedLimit(Scope.ALL, None, 30),
        ScopedLimit(Scope.VILLAGE, "bumi-agung", 25),
        ScopedLimit(Scope.CROP, "padi", 20),
        ScopedLimit(Scope.CROP, "padi", 22),
        ScopedLimit(Scope.CROP, "jagung", 40),
    ]
    assert lower_limit(limits, FIELD) == 22  # crop beats village and all; the higher of two
    assert upper_limit(limits, FIELD) == 20  # for a "too high" limit the lower is the safe one
    own = [*limits, ScopedLimit(Scope.FIELD, "sawah-1", 15)]
    assert lower_limit(own, FIELD) == 15  # the field's own rule beats its crop's
    assert lower_limit(limits, Place("kebun", "kopi", "tiuh-balak")) == 30
    assert lower_limit([], FIELD) is None


@given(
    st.lists(
        st.tuples(
            st.sampled_from(list(Scope)),
            st.sampled_from([None, "sawah-1", "padi", "bumi-agung", "other"]),
            st.floats(0, 100),
        ),
        max_size=8,
    )
)
def test_the_chosen_limit_is_one_of_the_covering_rules(rows: list) -> None:
    limits = [ScopedLimit(scope, value, threshold) for scope, value, threshold in rows]
    covering = [lim.threshold for lim in limits if covers(lim.scope, lim.scope_value, FIELD)]
    chosen = lower_limit(limits, FIELD)
    assert (chosen is None) == (not covering)
    if chosen is not None:
        assert chosen in covering
