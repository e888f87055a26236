"""Keeps ``water_1d`` current: each field's daily water balance written where Grafana and the
village summaries read it (``storage.water_days``).

Every run balances every field (``alerts.field_water``, the same numbers as the field page) and
writes its last ``REWRITE_DAYS`` days, the whole season on the first run after a start, so a
late reading, a new irrigation record or a corrected calibration reaches the stored days.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from agronomy.advice import Action
from alerts.field_water import FieldWater, fields_water
from alerts.local_time import local_midnight_ms, local_moment
from registry.models import Field
from registry.store import Registry
from storage.influx import InfluxDB, InfluxError
from storage.water_days import WaterDay, write_water_days

log = logging.getLogger(__name__)

REWRITE_DAYS = 14  # judgement: irrigation is recorded within days, not weeks


def _days(
    water: FieldWater, village_id: str, since: date | None, utc_offset_h: int
) -> list[WaterDay]:
    crop = water.crop.id if water.crop else ""
    action = water.advice.action if water.advice else None
    rows: list[WaterDay] = []
    states = (
        water.root_zone.states if water.root_zone else water.paddy.states if water.paddy else ()
    )
    for state in states:
        if since is not None and state.day < since:
            continue
        values: dict[str, float] = {
            "et0_mm": state.et0_mm,
            "etc_mm": state.etc_mm,
            "rain_mm": state.rain_mm,
            "irrigation_mm": state.irrigation_mm,
        }
        if water.root_zone is not None:
            values |= {
                "etc_adj_mm": state.etc_adj_mm,
                "effective_rain_mm": state.effective_rain_mm,
                "depletion_mm": state.depletion_mm,
                "raw_mm": state.raw_mm,
                "taw_mm": state.taw_mm,
                "moisture_pct": state.moisture_pct,
            }
        else:
            values["water_level_mm"] = state.water_level_mm
        if state is states[-1]:
            values["needs_water"] = 1.0 if action is Action.WATER_NOW else 0.0
        midnight = local_midnight_ms(state.day, utc_offset_h)
        rows.append(WaterDay(water.field_id, village_id, crop, midnight, values))
    return rows


class WaterJob:
    """Balances every field and writes the days; run it from one thread."""

    def __init__(
        self,
        registry: Registry,
        influx: InfluxDB,
        utc_offset_h: int,
        *,
        clock: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        self._registry = registry
        self._influx = influx
        self._utc_offset_h = utc_offset_h
        self._clock = clock
        self._written_once = False

    def run_once(self) -> int:
        """One run; the number of points written. Raises ``InfluxError`` if InfluxDB fails."""
        today = local_moment(self._clock(), self._utc_offset_h).date()
        since = today - timedelta(days=REWRITE_DAYS) if self._written_once else None
        with Session(self._registry.engine) as session:
            fields = list(session.scalars(select(Field).order_by(Field.id)))
            water = fields_water(session, self._influx, fields, today, self._utc_offset_h)
        days = [
            row
            for field in fields
            for row in _days(water[field.id], field.village_id, since, self._utc_offset_h)
        ]
        written = write_water_days(self._influx, days)
        self._written_once = True
        log.info("water balances written", extra={"fields": len(fields), "points": written})
        return written

    def run_forever(self, stop: threading.Event, every_s: float) -> None:
        """Run every ``every_s`` seconds until ``stop``; InfluxDB failures wait for the next."""
        while not stop.is_set():
            try:
                self.run_once()
            except InfluxError as exc:
                log.warning(
                    "water balances not written: InfluxDB failed", extra={"reason": str(exc)}
                )
            stop.wait(every_s)
