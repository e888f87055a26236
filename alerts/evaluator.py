"""Rule evaluation on a schedule, over what InfluxDB holds.

The evaluator reads stored readings, not the MQTT stream, so its decisions do not depend on
which ingest worker received a reading (workers share the stream through a shared
subscription) and a restart loses nothing: each rule's per-subject state is a RuleState row,
updated in the same transaction as the alerts it opens or resolves. Run one evaluator per
registry.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from agronomy.scopes import Place, covers
from alerts import lifecycle, water_stress
from alerts.conditions import RATE_WINDOW_MS, RuleSpec, Step, Track, observe
from alerts.config import EvaluationSettings
from registry.alerting import (
    Alert,
    AlertRule,
    AlertState,
    GatewayStatus,
    RuleKind,
    RuleState,
    Scope,
)
from registry.models import Device, Field, Gateway
from registry.store import Registry
from storage.influx import InfluxDB, InfluxError
from storage.queries import RecentSeries, last_seen, recent_readings

log = logging.getLogger(__name__)

SERIES_KINDS = (RuleKind.BELOW, RuleKind.ABOVE, RuleKind.RATE, RuleKind.QUALITY_BAD)
# Water balances are daily; a new irrigation record or rain shows within this long.
WATER_EVERY_MS = 10 * 60_000


def wall_ms() -> int:
    """Now, in epoch milliseconds."""
    return time.time_ns() // 1_000_000


@dataclass(slots=True)
class EvaluationReport:
    """What one pass did."""

    rules: int = 0
    subjects: int = 0
    opened: int = 0
    resolved: int = 0
    failed_rules: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Rule:
    """A rule as read at the start of a pass (the session that read it is gone)."""

    id: int
    name: str
    kind: RuleKind
    quantity: str | None
    scope: Scope
    scope_value: str | None
    duration_ms: int
    spec: RuleSpec


class Evaluator:
    """Checks every enabled rule against recent readings, gateway status and silence."""

    def __init__(
        self,
        registry: Registry,
        influx: InfluxDB,
        settings: EvaluationSettings,
        *,
        clock: Callable[[], int] = wall_ms,
        on_pass: Callable[[EvaluationReport | None, float], None] | None = None,
        utc_offset_h: int = 7,
    ) -> None:
        self._registry = registry
        self._influx = influx
        self._settings = settings
        self._clock = clock
        # Told of each pass of run_forever: its report (None if it raised) and its seconds.
        self._on_pass = on_pass
        self._utc_offset_h = utc_offset_h  # water balances run on local days
        self._water_done_ms: dict[int, int] = {}  # rule id -> when its fields were last balanced

    def run_once(self) -> EvaluationReport:
        """One pass over every rule; a rule whose data cannot be read is skipped and reported."""
        report = EvaluationReport()
        now_ms = self._clock()
        self._retire_alerts_of_disabled_rules(now_ms)
        for rule in self._rules():
            report.rules += 1
            try:
                if rule.kind in SERIES_KINDS:
                    self._series_rule(rule, now_ms, report)
                elif rule.kind is RuleKind.NO_DATA:
                    self._no_data_rule(rule, now_ms, report)
                elif rule.kind is RuleKind.WATER_STRESS:
                    self._water_rule(rule, now_ms, report)
                else:
                    self._offline_rule(rule, now_ms, report)
            except InfluxError as exc:
                report.failed_rules.append(rule.name)
                log.warning(
                    "rule not evaluated: InfluxDB did not answer",
                    extra={"rule": rule.name, "reason": str(exc)},
                )
        return report

    def run_forever(self, stop: threading.Event) -> None:
        """Evaluate every ``every_s`` seconds until ``stop`` is set."""
        while not stop.is_set():
            started = time.monotonic()
            report: EvaluationReport | None = None
            try:
                report = self.run_once()
            except Exception:
                # A bug in one pass must not end alerting; the next pass tries again.
                log.exception("evaluation pass failed")
            else:
                if report.opened or report.resolved or report.failed_rules:
                    log.info(
                        "evaluation pass",
                        extra={
                            "rules": report.rules,
                            "opened": report.opened,
                            "resolved": report.resolved,
                            "failed_rules": report.failed_rules,
                        },
                    )
            if self._on_pass is not None:
                self._on_pass(report, time.monotonic() - started)
            stop.wait(max(0.0, self._settings.every_s - (time.monotonic() - started)))

    # -- rules of readings ---------------------------------------------------------------

    def _series_rule(self, rule: _Rule, now_ms: int, report: EvaluationReport) -> None:
        since_ms = self._read_since(rule, now_ms)
        series_list = recent_readings(
            self._influx,
            since_ms=since_ms,
            quantity=rule.quantity,
            scope=None if rule.scope is Scope.ALL else rule.scope.value,
            scope_value=rule.scope_value,
        )
        clear_hold_ms = int(self._settings.clear_hold_s * 1000)
        with Session(self._registry.engine) as session, session.begin():
            states = _states(session, rule.id)
            db_rule = session.get(AlertRule, rule.id)
            if db_rule is None:
                return
            for series in series_list:
                report.subjects += 1
                key = f"{series.gateway_id}/{series.device_id}/{series.quantity}"
                row = states.get(key) or _new_state(session, rule.id, key)
                start = _first_new(series, row.last_time_ms)
                track = _track(row)
                for obs in observe(rule.spec, series.points, start):
                    step = track.step(
                        obs.time_ms,
                        condition=obs.condition,
                        clear=obs.clear,
                        duration_ms=rule.duration_ms,
                        clear_hold_ms=clear_hold_ms,
                    )
                    if step is Step.OPEN:
                        alert = lifecycle.open_alert(
                            session,
                            db_rule,
                            _subject(key, series),
                            since_ms=track.condition_since_ms or obs.time_ms,
                            value=obs.value,
                            now_ms=now_ms,
                        )
                        row.alert_id = alert.id
                        report.opened += 1
                    elif step is Step.RESOLVE:
                        report.resolved += self._resolve(session, row, now_ms, obs.value)
                    elif track.active and row.alert_id is not None:
                        _note_value(session, row.alert_id, obs.value)
                if series.points:
                    row.last_time_ms = max(row.last_time_ms or 0, series.points[-1].time_ms)
                _save(row, track)

    def _water_rule(self, rule: _Rule, now_ms: int, report: EvaluationReport) -> None:
        last = self._water_done_ms.get(rule.id)
        if last is not None and now_ms - last < WATER_EVERY_MS:
            return
        with Session(self._registry.engine) as session, session.begin():
            db_rule = session.get(AlertRule, rule.id)
            if db_rule is None:
                return
            done = water_stress.evaluate(session, self._influx, db_rule, now_ms, self._utc_offset_h)
        self._water_done_ms[rule.id] = now_ms
        report.subjects += done.subjects
        report.opened += done.opened
        report.resolved += done.resolved

    # -- silence and connectivity ----------------------------------------------------------

    def _no_data_rule(self, rule: _Rule, now_ms: int, report: EvaluationReport) -> None:
        seen = last_seen(self._influx, since_ms=now_ms - self._settings.lookback_s * 1000)
        with Session(self._registry.engine) as session, session.begin():
            db_rule = session.get(AlertRule, rule.id)
            if db_rule is None:
                return
            states = _states(session, rule.id)
            offline = _offline_gateways(session)
            for device, placed in _devices_in_scope(session, rule):
                report.subjects += 1
                key = f"{device.gateway_id}/{device.id}"
                row = states.get(key) or _new_state(session, rule.id, key)
                heard = seen.get((device.gateway_id, device.id))
                if heard is not None:
                    row.last_time_ms = max(row.last_time_ms or 0, heard)
                # Silent since its last reading, or since we first looked for one.
                silent_since = row.last_time_ms or row.condition_since_ms or now_ms
                if row.alert_id is None:
                    # A gateway already reported offline explains its devices' silence.
                    silent = device.gateway_id not in offline
                    row.condition_since_ms = silent_since
                    if silent and now_ms - silent_since >= rule.duration_ms:
                        subject = lifecycle.Subject(
                            key=key,
                            gateway_id=device.gateway_id,
                            device_id=device.id,
                            field_id=placed[0] if placed else None,
                            village_id=placed[1] if placed else None,
                        )
                        alert = lifecycle.open_alert(
                            session,
                            db_rule,
                            subject,
                            since_ms=silent_since,
                            value=None,
                            now_ms=now_ms,
                        )
                        row.alert_id = alert.id
                        report.opened += 1
                elif heard is not None and heard > (row.condition_since_ms or 0):
                    report.resolved += self._resolve(session, row, now_ms, None)
                    row.condition_since_ms = None

    def _offline_rule(self, rule: _Rule, now_ms: int, report: EvaluationReport) -> None:
        with Session(self._registry.engine) as session, session.begin():
            db_rule = session.get(AlertRule, rule.id)
            if db_rule is None:
                return
            states = _states(session, rule.id)
            villages = {g: v for g, v in session.execute(select(Gateway.id, Gateway.village_id))}
            for status in session.scalars(select(GatewayStatus)):
                village = villages.get(status.gateway_id)
                if rule.scope is Scope.VILLAGE and village != rule.scope_value:
                    continue
                report.subjects += 1
                row = states.get(status.gateway_id) or _new_state(
                    session, rule.id, status.gateway_id
                )
                offline = status.state == "offline"
                if row.alert_id is None:
                    if offline and now_ms - status.since_ms >= rule.duration_ms:
                        subject = lifecycle.Subject(
                            key=status.gateway_id,
                            gateway_id=status.gateway_id,
                            village_id=village,
                        )
                        alert = lifecycle.open_alert(
                            session,
                            db_rule,
                            subject,
                            since_ms=status.since_ms,
                            value=None,
                            now_ms=now_ms,
                        )
                        row.alert_id = alert.id
                        row.condition_since_ms = status.since_ms
                        report.opened += 1
                elif not offline:
                    report.resolved += self._resolve(session, row, now_ms, None)
                    row.condition_since_ms = None

    # -- shared ----------------------------------------------------------------------------

    def _read_since(self, rule: _Rule, now_ms: int) -> int:
        """Where this pass starts reading: after what every series of the rule was judged on
        (less a rate window of history), never before the look-back."""
        lookback = now_ms - self._settings.lookback_s * 1000
        with Session(self._registry.engine) as session:
            cursors = list(
                session.scalars(select(RuleState.last_time_ms).where(RuleState.rule_id == rule.id))
            )
        if not cursors or None in cursors:
            return lookback
        # A rate rule compares each new reading with one up to a window older.
        history = (rule.spec.window_ms or RATE_WINDOW_MS) if rule.kind is RuleKind.RATE else 0
        return max(lookback, min(c for c in cursors if c is not None) - history)

    def _resolve(self, session: Session, row: RuleState, now_ms: int, value: float | None) -> int:
        """Resolve the row's alert (unless a person already did); 1 if this resolved it."""
        alert = session.get(Alert, row.alert_id) if row.alert_id is not None else None
        row.alert_id = None
        if alert is None or alert.state == AlertState.RESOLVED.value:
            return 0
        if value is not None:
            alert.last_value = value
        lifecycle.resolve(session, alert, now_ms=now_ms, note="kondisi pulih / condition cleared")
        return 1

    def _rules(self) -> list[_Rule]:
        with Session(self._registry.engine) as session:
            rows = session.scalars(
                select(AlertRule).where(AlertRule.enabled.is_(True)).order_by(AlertRule.id)
            )
            return [_snapshot(row) for row in rows]

    def _retire_alerts_of_disabled_rules(self, now_ms: int) -> None:
        """A rule switched off or deleted leaves no alert open behind it, and starts afresh."""
        with Session(self._registry.engine) as session, session.begin():
            disabled = select(AlertRule.id).where(AlertRule.enabled.is_(False))
            stale = session.scalars(
                select(Alert).where(
                    Alert.state != AlertState.RESOLVED.value,
                    Alert.rule_id.is_(None) | Alert.rule_id.in_(disabled),
                )
            )
            for alert in stale:
                lifecycle.resolve(
                    session, alert, now_ms=now_ms, note="aturan dimatikan / rule disabled"
                )
            for row in session.scalars(select(RuleState).where(RuleState.rule_id.in_(disabled))):
                session.delete(row)


def _snapshot(row: AlertRule) -> _Rule:
    kind = RuleKind(row.kind)
    return _Rule(
        id=row.id,
        name=row.name,
        kind=kind,
        quantity=row.quantity,
        scope=Scope(row.scope),
        scope_value=row.scope_value,
        duration_ms=row.duration_s * 1000,
        spec=RuleSpec(
            kind=kind,
            threshold=row.threshold,
            clear_threshold=row.clear_threshold,
            window_ms=None if row.window_s is None else row.window_s * 1000,
        ),
    )


def _states(session: Session, rule_id: int) -> dict[str, RuleState]:
    rows = session.scalars(select(RuleState).where(RuleState.rule_id == rule_id))
    return {row.subject: row for row in rows}


def _new_state(session: Session, rule_id: int, subject: str) -> RuleState:
    row = RuleState(rule_id=rule_id, subject=subject)
    session.add(row)
    return row


def _track(row: RuleState) -> Track:
    return Track(
        active=row.alert_id is not None,
        condition_since_ms=row.condition_since_ms,
        clear_since_ms=row.clear_since_ms,
    )


def _save(row: RuleState, track: Track) -> None:
    row.condition_since_ms = track.condition_since_ms
    row.clear_since_ms = track.clear_since_ms


def _first_new(series: RecentSeries, last_time_ms: int | None) -> int:
    """Index of the first point not evaluated before."""
    if last_time_ms is None:
        return 0
    for index, point in enumerate(series.points):
        if point.time_ms > last_time_ms:
            return index
    return len(series.points)


def _subject(key: str, series: RecentSeries) -> lifecycle.Subject:
    return lifecycle.Subject(
        key=key,
        gateway_id=series.gateway_id,
        device_id=series.device_id,
        quantity=series.quantity,
        field_id=series.field_id,
        village_id=series.village_id,
    )


def _note_value(session: Session, alert_id: int, value: float) -> None:
    alert = session.get(Alert, alert_id)
    if alert is not None:
        alert.last_value = value


def _offline_gateways(session: Session) -> set[str]:
    rows = session.scalars(select(GatewayStatus.gateway_id).where(GatewayStatus.state == "offline"))
    return set(rows)


def _devices_in_scope(session: Session, rule: _Rule) -> list[tuple[Device, tuple[str, str] | None]]:
    """Registered devices the rule covers, with (field_id, village_id) where placed."""
    query = select(Device, Field.id, Field.village_id, Field.crop).outerjoin(
        Field, Device.field_id == Field.id
    )
    result = []
    for device, field_id, village_id, crop in session.execute(query.order_by(Device.gateway_id)):
        if covers(rule.scope.value, rule.scope_value, Place(field_id, crop, village_id)):
            result.append((device, (field_id, village_id) if field_id else None))
    return result
