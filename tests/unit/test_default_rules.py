"""The default rules are valid rules, cover the Lampung crops, and install without surprises."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from agronomy.moisture import dry_limit
from alerts.default_rules import DEFAULT_RULES, install_defaults
from alerts.rules import RuleIn, list_rules, upsert_rule
from registry.alerting import AlertRule, RuleKind, Scope
from registry.store import Registry

CROPS = ("padi", "jagung", "singkong", "kopi", "lada")


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    """A session on a fresh, empty registry."""
    registry = Registry.from_path(tmp_path / "registry.db")
    try:
        with Session(registry.engine) as session:
            yield session
    finally:
        registry.close()


@pytest.mark.parametrize("rule", DEFAULT_RULES, ids=lambda rule: rule.name)
def test_every_default_is_a_valid_rule_with_its_source(rule: RuleIn) -> None:
    assert RuleIn.model_validate(rule.model_dump()) == rule
    assert rule.note


def test_names_are_unique() -> None:
    names = [rule.name for rule in DEFAULT_RULES]
    assert len(names) == len(set(names))


def _crop_rules(kind: RuleKind, quantity: str) -> dict[str, RuleIn]:
    return {
        rule.scope_value: rule
        for rule in DEFAULT_RULES
        if rule.kind is kind and rule.quantity == quantity and rule.scope is Scope.CROP
    }


def test_every_crop_has_a_dry_soil_rule_with_duration_and_hysteresis() -> None:
    dry = _crop_rules(RuleKind.BELOW, "soil_moisture")
    assert set(dry) == set(CROPS)
    for rule in dry.values():
        assert rule.threshold is not None and rule.clear_threshold is not None
        assert rule.clear_threshold > rule.threshold
        assert rule.duration_s >= 3600


def test_waterlogging_everywhere_but_the_flooded_paddy() -> None:
    wet = _crop_rules(RuleKind.ABOVE, "soil_moisture")
    assert set(wet) == {"jagung", "singkong", "kopi", "lada"}
    dry = _crop_rules(RuleKind.BELOW, "soil_moisture")
    for crop, rule in wet.items():
        # Wet clears before it meets dry: one value cannot be both.
        assert (
            (dry[crop].clear_threshold or 0) < (rule.clear_threshold or 0) < (rule.threshold or 0)
        )


def test_heat_and_crop_independent_rules() -> None:
    assert set(_crop_rules(RuleKind.ABOVE, "air_temperature")) >= {"padi", "jagung"}
    common = {rule.kind for rule in DEFAULT_RULES if rule.scope is Scope.ALL}
    assert common == {
        RuleKind.NO_DATA,
        RuleKind.GATEWAY_OFFLINE,
        RuleKind.QUALITY_BAD,
        RuleKind.RATE,
        RuleKind.WATER_STRESS,
    }


def test_dry_threshold_follows_fao56_readily_available_water() -> None:
    # Loam FC 25 %, WP 12 %: maize (p = 0.55) is stressed below 25 - 0.55 * 13 = 17.85 %.
    assert dry_limit(0.55) == 18
    assert dry_limit(0.0) == 25


def test_install_is_idempotent(session: Session) -> None:
    assert install_defaults(session) == [rule.name for rule in DEFAULT_RULES]
    assert install_defaults(session) == []
    assert len(list_rules(session)) == len(DEFAULT_RULES)


def test_install_keeps_the_office_changes_unless_replacing(session: Session) -> None:
    install_defaults(session)
    changed = DEFAULT_RULES[0].model_copy(update={"threshold": 15.0, "clear_threshold": 18.0})
    upsert_rule(session, changed)
    upsert_rule(session, RuleIn(name="kantor-sendiri", kind="quality_bad"))
    session.flush()

    assert install_defaults(session) == []
    assert _stored(session, changed.name).threshold == 15.0

    assert install_defaults(session, replace=True) == [rule.name for rule in DEFAULT_RULES]
    assert _stored(session, changed.name).threshold == DEFAULT_RULES[0].threshold
    # Rules the office added itself are left alone.
    assert _stored(session, "kantor-sendiri").kind == "quality_bad"


def _stored(session: Session, name: str) -> AlertRule:
    return next(rule for rule in list_rules(session) if rule.name == name)
