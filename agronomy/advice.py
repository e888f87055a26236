"""Irrigation advice a farmer can act on, from a field's water balance: water now, in N days, or
not needed (and whether rain covered it), how much in mm and in litres, days until the crop is
stressed, and how far to trust it.

Amounts are net irrigation depths (FAO-56 ch. 8: the depletion that brings the root zone back
to field capacity), i.e. water that reaches the roots; a farmer watering by hose or furrow loses
some on the way, which the page says. Pages and alerts word the advice; this module decides it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from agronomy.crops import Crop
from agronomy.paddy import PaddyDayState, PaddyRun, PaddySettings, project_paddy
from agronomy.soils import Soil
from agronomy.water_balance import (
    BalanceRun,
    BalanceSettings,
    DayState,
    Et0Source,
    Source,
    litres,
    project,
)

# Advise "water in N days" up to this many days ahead; beyond it the weather will have changed
# (judgement: a farmer plans two days ahead, and rain forecasts beyond that are poor).
SOON_DAYS = 2
HORIZON_DAYS = 14  # how far the balance is projected without rain
# "Rain covered it": the last few days' effective rain at least this much (judgement: about a
# day of a crop's peak water use in Lampung, so the rain, not chance, explains a full root zone).
RAIN_COVER_DAYS = 3
RAIN_COVER_MM = 5.0
# Confidence is "probe" while the balance was set by a good probe reading this recently.
PROBE_FRESH_DAYS = 1
WEATHER_WINDOW_DAYS = 7  # missing weather is counted over this many past days


class Action(StrEnum):
    """What the farmer should do about water."""

    WATER_NOW = "water_now"  # the crop is stressed (or the paddy is below its threshold)
    WATER_SOON = "water_soon"  # within SOON_DAYS
    NOT_NEEDED = "not_needed"
    DRAIN = "drain"  # paddy, before harvest: let the field dry
    SEASON_OVER = "season_over"  # after the crop's last stage: nothing to advise


class Confidence(StrEnum):
    """What the advice rests on."""

    PROBE = "probe"  # the balance was set by the field's soil-moisture probe
    MODEL = "model"  # weather and records alone


@dataclass(frozen=True, slots=True)
class Advice:
    """A field's water advice today."""

    day: date
    action: Action
    in_days: int | None  # days until water is needed: 0 today, None not within the horizon
    amount_mm: float | None  # net irrigation to apply then
    litres: float | None  # amount_mm over the field's area (None: area unknown)
    days_to_stress: int | None  # root zone: days until the crop uses its readily available water
    rain_covered: bool  # recent rain refilled the root zone (or the paddy)
    confidence: Confidence
    missing_weather_days: int  # of the last WEATHER_WINDOW_DAYS, days without station data
    et0_ahead_mm: float  # the daily ET0 assumed for the days ahead
    depletion_mm: float | None = None  # root zone
    raw_mm: float | None = None
    taw_mm: float | None = None
    water_level_mm: float | None = None  # paddy: + above the surface, - below


def _litres(mm: float | None, area_m2: float | None) -> float | None:
    return None if mm is None or area_m2 is None else litres(mm, area_m2)


def _missing_weather(states: Sequence[DayState] | Sequence[PaddyDayState]) -> int:
    recent = states[-WEATHER_WINDOW_DAYS:]
    return sum(s.et0_source is not Et0Source.MEASURED or s.rain_missing for s in recent)


def _recent_rain(states: Sequence[DayState] | Sequence[PaddyDayState], today: date) -> float:
    since = today - timedelta(days=RAIN_COVER_DAYS - 1)
    return sum(s.rain_mm for s in states if s.day >= since)


def root_zone_advice(
    crop: Crop,
    soil: Soil,
    planted_on: date,
    run: BalanceRun,
    area_m2: float | None,
    settings: BalanceSettings | None = None,
) -> Advice:
    """Advice from a root-zone balance whose last state is today."""
    last = run.last
    probe_fresh = last.days_since_probe is not None and last.days_since_probe <= PROBE_FRESH_DAYS
    common = {
        "day": last.day,
        "confidence": Confidence.PROBE if probe_fresh else Confidence.MODEL,
        "missing_weather_days": _missing_weather(run.states),
        "depletion_mm": last.depletion_mm,
        "raw_mm": last.raw_mm,
        "taw_mm": last.taw_mm,
    }
    if last.season_over:
        return Advice(
            action=Action.SEASON_OVER,
            in_days=None,
            amount_mm=None,
            litres=None,
            days_to_stress=None,
            rain_covered=False,
            et0_ahead_mm=last.et0_mm,
            **common,
        )
    ahead = project(crop, soil, planted_on, run.states, days=HORIZON_DAYS, settings=settings)
    to_stress = ahead.days_to_stress
    if to_stress == 0:
        action, in_days, amount = Action.WATER_NOW, 0, ahead.net_irrigation_mm
    elif to_stress is not None and to_stress <= SOON_DAYS:
        action, in_days, amount = Action.WATER_SOON, to_stress, ahead.net_irrigation_at_stress_mm
    else:
        action, in_days, amount = Action.NOT_NEEDED, to_stress, None
    rain = _recent_rain(run.states, last.day)
    return Advice(
        action=action,
        in_days=in_days,
        amount_mm=amount,
        litres=_litres(amount, area_m2),
        days_to_stress=to_stress,
        rain_covered=action is Action.NOT_NEEDED and rain >= RAIN_COVER_MM,
        et0_ahead_mm=ahead.et0_mm,
        **common,
    )


def paddy_advice(
    crop: Crop,
    planted_on: date,
    run: PaddyRun,
    area_m2: float | None,
    settings: PaddySettings | None = None,
) -> Advice:
    """Advice from a paddy balance whose last state is today."""
    settings = settings or PaddySettings()
    last = run.last
    observed = last.source is Source.OBSERVED or (
        last.days_since_observation is not None and last.days_since_observation <= PROBE_FRESH_DAYS
    )
    common = {
        "day": last.day,
        "days_to_stress": None,
        "confidence": Confidence.PROBE if observed else Confidence.MODEL,
        "missing_weather_days": _missing_weather(run.states),
        "water_level_mm": last.water_level_mm,
    }
    draining = crop.stages.total - last.days_after_planting <= settings.drain_before_harvest_days
    if last.season_over or draining:
        return Advice(
            action=Action.SEASON_OVER if last.season_over else Action.DRAIN,
            in_days=None,
            amount_mm=None,
            litres=None,
            rain_covered=False,
            et0_ahead_mm=last.et0_mm,
            **common,
        )
    ahead = project_paddy(crop, planted_on, run.states, days=HORIZON_DAYS, settings=settings)
    to_need = ahead.days_to_irrigation
    if to_need == 0:
        action, in_days, amount = Action.WATER_NOW, 0, ahead.refill_mm
    elif to_need is not None and to_need <= SOON_DAYS:
        action, in_days, amount = Action.WATER_SOON, to_need, ahead.refill_when_needed_mm
    else:
        action, in_days, amount = Action.NOT_NEEDED, to_need, None
    rain = _recent_rain(run.states, last.day)
    return Advice(
        action=action,
        in_days=in_days,
        amount_mm=amount,
        litres=_litres(amount, area_m2),
        rain_covered=action is Action.NOT_NEEDED and rain >= RAIN_COVER_MM,
        et0_ahead_mm=ahead.et0_mm,
        **common,
    )
