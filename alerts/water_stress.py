"""The "crop water stress" rule: a field whose water balance says water now (the crop has used
its readily available water, or an AWD paddy is 15 cm dry) raises an alert for its farmer and
officer, carrying the amount to give; rain or recorded irrigation that refills it resolves it.

The evaluator runs it with the other rules, at most every ``WATER_EVERY_MS``: the balance is
daily.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from agronomy.advice import Action
from agronomy.scopes import covers
from alerts import lifecycle
from alerts.field_limits import place_of
from alerts.field_water import fields_water
from alerts.local_time import local_moment
from registry.alerting import Alert, AlertRule, AlertState, RuleState
from registry.models import Device, Field
from storage.influx import InfluxDB


@dataclass(slots=True)
class WaterPass:
    """What one evaluation of a water-stress rule did."""

    subjects: int = 0
    opened: int = 0
    resolved: int = 0


def evaluate(
    session: Session, influx: InfluxDB, rule: AlertRule, now_ms: int, utc_offset_h: int
) -> WaterPass:
    """Open or resolve the rule's alerts for every field it covers, in ``session``'s
    transaction. Raises ``InfluxError`` if InfluxDB fails (nothing changes then)."""
    done = WaterPass()
    fields = [
        f
        for f in session.scalars(select(Field))
        if covers(rule.scope, rule.scope_value, place_of(f))
    ]
    today = local_moment(now_ms, utc_offset_h).date()
    water = fields_water(session, influx, fields, today, utc_offset_h)
    states = {
        row.subject: row
        for row in session.scalars(select(RuleState).where(RuleState.rule_id == rule.id))
    }
    for field in fields:
        advice = water[field.id].advice
        if advice is None:
            continue
        done.subjects += 1
        key = f"field/{field.id}"
        row = states.get(key)
        if row is None:
            row = RuleState(rule_id=rule.id, subject=key)
            session.add(row)
        stressed = advice.action is Action.WATER_NOW
        alert = session.get(Alert, row.alert_id) if row.alert_id is not None else None
        if stressed and alert is None:
            row.condition_since_ms = now_ms
            alert = lifecycle.open_alert(
                session,
                rule,
                lifecycle.Subject(
                    key=key,
                    gateway_id=_gateway_of(session, field.id),
                    field_id=field.id,
                    village_id=field.village_id,
                ),
                since_ms=now_ms,
                value=advice.amount_mm,
                now_ms=now_ms,
            )
            row.alert_id = alert.id
            done.opened += 1
        elif stressed and alert is not None:
            alert.last_value = advice.amount_mm
        elif alert is not None:
            row.alert_id = None
            row.condition_since_ms = None
            if alert.state != AlertState.RESOLVED.value:
                lifecycle.resolve(
                    session, alert, now_ms=now_ms, note="air cukup lagi / water refilled"
                )
                done.resolved += 1
    return done


def _gateway_of(session: Session, field_id: str) -> str:
    """A gateway with a device in the field (alerts name one); "" when none is placed."""
    found = session.scalars(
        select(Device.gateway_id).where(Device.field_id == field_id).order_by(Device.gateway_id)
    ).first()
    return found or ""
