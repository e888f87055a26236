"""Alert rules as the office writes them: checked input, and the changes to the rule table.

A rule's quantity must be one the wire contract knows, and its thresholds inside what that
sensor can report; the catalogue lives in ``telemetry``, which the registry may not import, so
rules are checked here. The ``tani rules`` commands and the HTTP API both call these.
"""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import Field as PydanticField
from pydantic import StringConstraints, field_validator, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.alerting import AlertRule, RuleKind, Scope, Severity
from registry.directory import Input, require_row, require_village, saved
from registry.models import Field
from registry.store import Identifier, RegistryNotFound
from telemetry.quantities import QUANTITIES

RuleName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,99}$")]

# Which optional numbers each kind of rule reads; any other given number is a mistake.
_RULE_USES: dict[RuleKind, frozenset[str]] = {
    RuleKind.BELOW: frozenset({"quantity", "threshold", "clear_threshold"}),
    RuleKind.ABOVE: frozenset({"quantity", "threshold", "clear_threshold"}),
    RuleKind.RATE: frozenset({"quantity", "threshold", "clear_threshold", "window_s"}),
    RuleKind.NO_DATA: frozenset(),
    RuleKind.GATEWAY_OFFLINE: frozenset(),
    RuleKind.QUALITY_BAD: frozenset({"quantity"}),
    RuleKind.WATER_STRESS: frozenset(),
}


class RuleIn(Input):
    """An alert rule; ``rate`` thresholds are a change per hour in the quantity's unit,
    negative for a fall (e.g. -10: soil moisture dropping 10 points an hour), positive for a
    rise."""

    name: RuleName
    kind: RuleKind
    quantity: str | None = None
    threshold: float | None = None
    clear_threshold: float | None = None
    duration_s: int = PydanticField(default=0, ge=0)
    window_s: int | None = PydanticField(default=None, gt=0)
    scope: Scope = Scope.ALL
    scope_value: Identifier | None = None
    severity: Severity = Severity.WARNING
    enabled: bool = True
    note: str | None = PydanticField(default=None, max_length=2000)

    @field_validator("quantity")
    @classmethod
    def _known_quantity(cls, value: str | None) -> str | None:
        if value is not None and value not in QUANTITIES:
            raise ValueError(
                f"Besaran '{value}' tidak dikenal / unknown quantity '{value}' "
                f"({', '.join(QUANTITIES)})"
            )
        return value

    @model_validator(mode="after")
    def _fits_kind(self) -> Self:
        self._check_scope()
        for name in ("quantity", "threshold", "clear_threshold", "window_s"):
            if getattr(self, name) is not None and name not in _RULE_USES[self.kind]:
                raise ValueError(
                    f"Aturan {self.kind} tidak memakai {name} / a {self.kind} rule has no {name}"
                )
        if self.kind in (RuleKind.BELOW, RuleKind.ABOVE):
            self._check_threshold()
        elif self.kind is RuleKind.RATE:
            self._check_rate()
        elif self.kind in (RuleKind.NO_DATA, RuleKind.GATEWAY_OFFLINE) and self.duration_s <= 0:
            raise ValueError(
                f"Aturan {self.kind} perlu duration_s > 0 / a {self.kind} rule needs duration_s > 0"
            )
        return self

    def _check_scope(self) -> None:
        if self.scope is Scope.ALL and self.scope_value is not None:
            raise ValueError("Cakupan all tanpa scope_value / scope all takes no scope_value")
        if self.scope is not Scope.ALL and self.scope_value is None:
            raise ValueError(
                f"Cakupan {self.scope} perlu scope_value / scope {self.scope} needs scope_value"
            )
        # A gateway belongs to a village, not to a crop or a field.
        if self.kind is RuleKind.GATEWAY_OFFLINE and self.scope not in (Scope.ALL, Scope.VILLAGE):
            raise ValueError(
                "Aturan gateway_offline mencakup semua atau satu desa / a gateway_offline rule "
                "covers all gateways or one village"
            )

    def _check_threshold(self) -> None:
        if self.quantity is None or self.threshold is None:
            raise ValueError(
                f"Aturan {self.kind} perlu quantity dan threshold / a {self.kind} rule needs "
                "quantity and threshold"
            )
        if self.clear_threshold is None:
            self.clear_threshold = self.threshold
        # The clear threshold sits on the safe side, so a value hovering at the threshold
        # keeps one alert open instead of opening and clearing it again and again.
        if self.kind is RuleKind.BELOW and self.clear_threshold < self.threshold:
            raise ValueError(
                "Aturan below pulih di atas batas: clear_threshold >= threshold / a below rule "
                "clears at or above its threshold"
            )
        if self.kind is RuleKind.ABOVE and self.clear_threshold > self.threshold:
            raise ValueError(
                "Aturan above pulih di bawah batas: clear_threshold <= threshold / an above rule "
                "clears at or below its threshold"
            )
        spec = QUANTITIES[self.quantity]
        for value in (self.threshold, self.clear_threshold):
            if not spec.in_physical_range(value):
                raise ValueError(
                    f"Batas {value} di luar rentang sensor / threshold {value} is outside "
                    f"{spec.key}'s range {spec.physical_min:g}..{spec.physical_max:g} {spec.unit}"
                )

    def _check_rate(self) -> None:
        if self.quantity is None or self.threshold is None or self.window_s is None:
            raise ValueError(
                "Aturan rate perlu quantity, threshold dan window_s / a rate rule needs "
                "quantity, threshold and window_s"
            )
        if self.threshold == 0:
            raise ValueError(
                "Batas rate adalah perubahan per jam: negatif untuk turun, positif untuk naik, "
                "bukan 0 / a rate threshold is a change per hour: negative watches falls, "
                "positive watches rises, not 0"
            )
        if self.clear_threshold is None:
            self.clear_threshold = self.threshold
        if not 0 <= self.clear_threshold / self.threshold <= 1:
            raise ValueError(
                "Aturan rate pulih antara 0 dan batasnya, bertanda sama / a rate rule clears "
                "between 0 and its threshold, with the same sign"
            )


def _rule(session: Session, name: str) -> AlertRule:
    rule = session.scalar(select(AlertRule).where(AlertRule.name == name))
    if rule is None:
        raise RegistryNotFound(f"Aturan '{name}' tidak ada / unknown rule '{name}'")
    return rule


def upsert_rule(session: Session, data: RuleIn) -> AlertRule:
    """Add a rule, or replace every setting of the rule with this name."""
    if data.scope is Scope.VILLAGE:
        require_village(session, data.scope_value)
    elif data.scope is Scope.FIELD:
        require_row(session, Field, data.scope_value, "Lahan", "field")
    rule = session.scalar(select(AlertRule).where(AlertRule.name == data.name))
    if rule is None:
        rule = AlertRule(name=data.name)
    for key, value in data.model_dump(mode="json", exclude={"name"}).items():
        setattr(rule, key, value)
    return saved(session, rule)


def set_rule_enabled(session: Session, name: str, enabled: bool) -> AlertRule:
    """Switch a rule on or off without losing its settings."""
    rule = _rule(session, name)
    rule.enabled = enabled
    return saved(session, rule)


def delete_rule(session: Session, name: str) -> None:
    """Delete a rule; its past alerts stay, still naming it."""
    session.delete(_rule(session, name))
    session.flush()


def list_rules(session: Session) -> list[AlertRule]:
    """Every rule, by id."""
    return list(session.scalars(select(AlertRule).order_by(AlertRule.id)))
