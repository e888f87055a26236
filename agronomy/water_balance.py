"""FAO-56 single-Kc daily root-zone water balance (ch. 8), corrected by a soil-moisture probe.

Each day, FAO-56 eq. 85 with capillary rise 0 (Lampung's upland water tables are deep):
``Dr = Dr_prev - (P - RO) - I + ETc_adj + DP``; Ks from the day's starting depletion (eq. 84),
``ETc_adj = Ks Kc ET0``, deep percolation DP (eq. 88), Dr kept in 0..TAW. Choices:

* Rain. USDA-SCS effective rain is a monthly method; a daily bucket needs none: rain beyond
  what refills the root zone to field capacity leaves as DP (eq. 88). Daily rain under 0.2 ET0
  is ignored, as FAO-56 ch. 8 advises (it just evaporates). Optional runoff RO:
  ``runoff_fraction`` of the rain above ``heavy_rain_mm`` (50 mm, BMKG's "hujan lebat"); the
  default fraction 0 suits flat or terraced, bunded fields (judgement).
* Growing roots: TAW grows with Zr and Dr carries over unchanged, i.e. the soil the roots reach
  is at field capacity (judgement; true for a rainy-season sowing; a probe corrects it).
* Probe (data assimilation): on a day with a good reading the end-of-day depletion is nudged
  to the one the probe implies (eq. 87, ``1000 (FC - theta) Zr`` within 0..TAW):
  ``Dr = Dr_model + w (Dr_probe - Dr_model)``. Default w = 1, direct insertion: the model's
  daily increments are good but its ET0 and rain errors accumulate without bound, while a
  calibrated probe's error is bounded (about 0.03 m3/m3, METER TEROS 12 datasheet); w < 1
  damps a noisy probe. The model carries on from there; ``correction_mm`` keeps the accounts
  closed. One probe is taken to stand for the whole root zone. On a day with recorded
  irrigation the probe may only make the root zone wetter: its daily mean is mostly of
  readings taken before the water was given.
* Missing ET0: the mean of the measured ET0 of the previous 7 days, else ``LAMPUNG_ET0_MM``;
  missing rain counts as 0. Both are counted, for the advice's confidence.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from itertools import pairwise
from typing import Protocol

from agronomy.crops import Climate, Crop, Stage, crop_day_by_heat, p_adjusted
from agronomy.soils import (
    UNCALIBRATED,
    ProbeCalibration,
    Soil,
    depletion_from_moisture,
    moisture_from_depletion,
    taw_mm,
)
from telemetry.quantities import QUANTITIES
from telemetry.reading import Quality

# FAO-56 Table 2: humid tropics, 3-5 mm/day at a mean of about 20 degC and 5-7 above 30 degC.
# Lampung's lowlands average about 27 degC under much cloud: 4 mm/day (judgement).
LAMPUNG_ET0_MM = 4.0
RECENT_DAYS = 7  # the ET0 fallback and the projection's assumed ET0 average this many days
SMALL_RAIN_ET0_FRACTION = 0.2  # FAO-56 ch. 8: daily rain below 0.2 ET0 just evaporates
HEAVY_RAIN_MM = 50.0  # BMKG rain-intensity classes: "hujan lebat" is 50-100 mm/day
# Judgement: above any daily ET0 on Earth (FAO-56 Table 2's highest class is 7-8 mm/day).
MAX_ET0_MM = 15.0
_MOISTURE = QUANTITIES["soil_moisture"]  # its plausible range screens probe values


class Source(StrEnum):
    """Where a day's end state comes from."""

    PROBE = "probe"  # the model nudged to a soil-moisture probe
    MODEL = "model"  # the model alone
    OBSERVED = "observed"  # paddy: a water level read from a field water tube


class Et0Source(StrEnum):
    """Where a day's ET0 comes from."""

    MEASURED = "measured"
    RECENT_MEAN = "recent_mean"
    CLIMATE = "climate"


class BalanceInputError(ValueError):
    """Inputs the balance cannot use; the message says what to correct."""


class PondedCropError(ValueError):
    """A flooded crop given to the root-zone bucket: use ``agronomy.paddy``."""


@dataclass(frozen=True, slots=True)
class DayInput:
    """One day's inputs. ``None`` marks a missing ET0, rain gauge or probe value."""

    day: date
    et0_mm: float | None = None
    rain_mm: float | None = 0.0
    irrigation_mm: float = 0.0  # net, from the farmer's irrigation records
    probe_raw_pct: float | None = None  # one value for the day, as the device reports it
    probe_quality: Quality = Quality.GOOD
    water_level_mm: float | None = None  # paddy only: field water tube, + above the surface


@dataclass(frozen=True, slots=True)
class BalanceSettings:
    """How a field's balance is run; the defaults are the module docstring's choices."""

    probe_weight: float = 1.0
    calibration: ProbeCalibration = UNCALIBRATED
    runoff_fraction: float = 0.0
    heavy_rain_mm: float = HEAVY_RAIN_MM
    adjust_p: bool = True  # p for the day's ETc (FAO-56 Table 22 footnote)
    climate: Climate | None = None  # adjusts Kc mid/end (FAO-56 eq. 62)
    # Daily mean air temperatures from the station: crops whose stages follow heat (padi,
    # jagung, kedelai) advance by growing degree days (agronomy.crops.crop_day_by_heat).
    mean_temps_c: Mapping[date, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0.0 < self.probe_weight <= 1.0 or not 0.0 <= self.runoff_fraction <= 1.0:
            raise BalanceInputError(
                f"probe_weight {self.probe_weight} must be in (0, 1] and runoff_fraction "
                f"{self.runoff_fraction} in [0, 1]"
            )


@dataclass(frozen=True, slots=True)
class DayState:
    """The root zone at the end of one day, with every term of eq. 85 (mm)."""

    day: date
    days_after_planting: int
    stage: Stage
    season_over: bool
    et0_mm: float
    et0_source: Et0Source
    kc: float
    etc_mm: float
    p: float
    ks: float
    etc_adj_mm: float
    rain_mm: float
    rain_missing: bool
    runoff_mm: float
    effective_rain_mm: float  # what entered the root zone: rain - runoff - small-rain loss
    irrigation_mm: float
    deep_percolation_mm: float
    model_depletion_mm: float  # before the probe correction
    correction_mm: float  # depletion - model_depletion
    depletion_mm: float
    taw_mm: float
    raw_mm: float
    root_depth_m: float
    moisture_pct: float  # the mean root-zone moisture the depletion implies
    source: Source
    probe_pct: float | None  # calibrated value used (None: no good reading)
    days_since_probe: int | None

    @property
    def stressed(self) -> bool:
        """Whether the crop has used its readily available water (Ks < 1 from tomorrow)."""
        return self.depletion_mm > self.raw_mm


@dataclass(frozen=True, slots=True)
class BalanceRun:
    """A season's daily states and how much of it rests on fallbacks."""

    states: tuple[DayState, ...]
    missing_et0_days: int
    missing_rain_days: int
    probe_days: int
    rejected_probe_days: int  # readings not GOOD or outside the plausible range

    @property
    def last(self) -> DayState:
        """The latest state."""
        return self.states[-1]


class Et0Day(Protocol):
    """Any day state with an ET0 (root-zone or paddy), for the ET0 fallbacks."""

    @property
    def day(self) -> date: ...
    @property
    def et0_mm(self) -> float: ...
    @property
    def et0_source(self) -> Et0Source: ...


def _recent_et0(states: Sequence[Et0Day], day: date, measured_only: bool) -> float | None:
    since = day - timedelta(days=RECENT_DAYS)
    values = [
        s.et0_mm
        for s in states[-RECENT_DAYS:]
        if s.day >= since and (s.et0_source is Et0Source.MEASURED or not measured_only)
    ]
    return sum(values) / len(values) if values else None


def resolve_et0(
    value: float | None, history: Sequence[Et0Day], day: date
) -> tuple[float, Et0Source]:
    """The day's ET0 and its source: measured, else the recent mean, else climatology."""
    if value is not None and 0.0 <= value <= MAX_ET0_MM:
        return value, Et0Source.MEASURED
    recent = _recent_et0(history, day, measured_only=True)
    if recent is not None:
        return recent, Et0Source.RECENT_MEAN
    return LAMPUNG_ET0_MM, Et0Source.CLIMATE


def _probe(inp: DayInput, settings: BalanceSettings) -> float | None:
    if inp.probe_raw_pct is None or inp.probe_quality is not Quality.GOOD:
        return None
    value = settings.calibration.apply(inp.probe_raw_pct)
    return value if _MOISTURE.in_plausible_range(value) else None


def _step(
    crop: Crop,
    soil: Soil,
    planted_on: date,
    inp: DayInput,
    prev: DayState | None,
    dr_prev: float,
    history: Sequence[DayState],
    settings: BalanceSettings,
) -> DayState:
    cd = crop_day_by_heat(crop, planted_on, inp.day, settings.mean_temps_c, settings.climate)
    zr = cd.root_depth_m
    taw = taw_mm(soil, zr)
    et0, et0_source = resolve_et0(inp.et0_mm, history, inp.day)
    etc = cd.kc * et0
    p = p_adjusted(crop.p, etc) if settings.adjust_p else crop.p
    raw = p * taw
    dr_prev = min(max(dr_prev, 0.0), taw)
    ks = 1.0 if dr_prev <= raw else max((taw - dr_prev) / ((1.0 - p) * taw), 0.0)  # eq. 84
    etc_adj = ks * etc
    rain_missing = inp.rain_mm is None or inp.rain_mm < 0
    rain = 0.0 if rain_missing else float(inp.rain_mm or 0.0)
    runoff = settings.runoff_fraction * max(rain - settings.heavy_rain_mm, 0.0)
    effective = rain - runoff if rain >= SMALL_RAIN_ET0_FRACTION * et0 else 0.0
    water_in = effective + inp.irrigation_mm
    dp = max(water_in - etc_adj - dr_prev, 0.0)  # eq. 88
    dr_model = max(dr_prev - water_in + etc_adj + dp, 0.0)  # eq. 85 (max: rounding)
    if dr_model > taw:  # a day's ETc cannot take more than the root zone holds
        etc_adj -= dr_model - taw
        dr_model = taw
    probe = _probe(inp, settings)
    if probe is None:
        dr, source = dr_model, Source.MODEL
        known = prev is not None and prev.days_since_probe is not None
        since = prev.days_since_probe + 1 if known else None
    else:
        measured = depletion_from_moisture(soil, probe, zr)  # eq. 87
        dr = dr_model + settings.probe_weight * (measured - dr_model)
        source, since = Source.PROBE, 0
        if inp.irrigation_mm > 0 and dr > dr_model:
            # The day's probe value is a daily mean, mostly of readings taken before the
            # water was given: on an irrigation day it may make the root zone wetter than
            # the model, never drier (the farmer who just watered is not told to water).
            dr, source = dr_model, Source.MODEL
    return DayState(
        day=inp.day,
        days_after_planting=cd.days_after_planting,
        stage=cd.stage,
        season_over=cd.season_over,
        et0_mm=et0,
        et0_source=et0_source,
        kc=cd.kc,
        etc_mm=etc,
        p=p,
        ks=ks,
        etc_adj_mm=etc_adj,
        rain_mm=rain,
        rain_missing=rain_missing,
        runoff_mm=runoff,
        effective_rain_mm=effective,
        irrigation_mm=inp.irrigation_mm,
        deep_percolation_mm=dp,
        model_depletion_mm=dr_model,
        correction_mm=dr - dr_model,
        depletion_mm=dr,
        taw_mm=taw,
        raw_mm=raw,
        root_depth_m=zr,
        moisture_pct=moisture_from_depletion(soil, dr, zr),
        source=source,
        probe_pct=probe,
        days_since_probe=since,
    )


def check_days(days: Sequence[DayInput]) -> None:
    """Raise ``BalanceInputError`` unless ``days`` are consecutive and irrigation is >= 0."""
    if not days:
        raise BalanceInputError("no days to run: give at least one DayInput")
    for before, after in pairwise(days):
        if after.day != before.day + timedelta(days=1):
            raise BalanceInputError(
                f"daily inputs must be consecutive: {after.day} follows {before.day}; give "
                "missing days as DayInput(day, et0_mm=None, rain_mm=None)"
            )
    for inp in days:
        if inp.irrigation_mm < 0:
            raise BalanceInputError(
                f"irrigation {inp.irrigation_mm} mm on {inp.day}: amounts must be >= 0; "
                "correct the irrigation record"
            )


def run_balance(
    crop: Crop,
    soil: Soil,
    planted_on: date,
    days: Sequence[DayInput],
    *,
    settings: BalanceSettings | None = None,
    initial_depletion_mm: float = 0.0,
) -> BalanceRun:
    """The daily root-zone balance over ``days`` (consecutive, on or after planting).

    ``initial_depletion_mm`` is the depletion at the start of the first day: 0 (field
    capacity, after the land-preparation rains) unless known; a first-day probe reading
    replaces it anyway.
    """
    if crop.ponded:
        raise PondedCropError(
            f"{crop.id} is grown flooded: use agronomy.paddy.run_paddy for its water balance"
        )
    settings = settings or BalanceSettings()
    check_days(days)
    states: list[DayState] = []
    dr, prev = initial_depletion_mm, None
    missing_et0 = missing_rain = probe_days = rejected = 0
    for inp in days:
        state = _step(crop, soil, planted_on, inp, prev, dr, states, settings)
        states.append(state)
        dr, prev = state.depletion_mm, state
        missing_et0 += state.et0_source is not Et0Source.MEASURED
        missing_rain += state.rain_missing
        probe_days += state.source is Source.PROBE
        rejected += inp.probe_raw_pct is not None and state.probe_pct is None
    return BalanceRun(tuple(states), missing_et0, missing_rain, probe_days, rejected)


def litres(mm: float, area_m2: float) -> float:
    """Water volume for a depth over an area: 1 mm over 1 m2 is 1 litre."""
    return mm * area_m2


def assumed_et0(history: Sequence[Et0Day]) -> float:
    """ET0 to assume ahead: the mean of the last 7 days' ET0, else the climatological value."""
    if not history:
        return LAMPUNG_ET0_MM
    recent = _recent_et0(history, history[-1].day + timedelta(days=1), measured_only=False)
    return LAMPUNG_ET0_MM if recent is None else recent


@dataclass(frozen=True, slots=True)
class Projection:
    """The balance run ahead with an assumed ET0 and no rain or irrigation."""

    et0_mm: float
    days_to_stress: int | None  # 0: stressed already; None: not within the horizon
    stress_on: date | None
    # Net irrigation applied on the first projected day (tomorrow) that ends it at field
    # capacity: today's depletion plus tomorrow's ETc.
    net_irrigation_mm: float
    # The same, applied on the day stress would begin instead.
    net_irrigation_at_stress_mm: float | None
    states: tuple[DayState, ...]

    def litres(self, area_m2: float) -> float:
        """``net_irrigation_mm`` over a field of ``area_m2``, in litres."""
        return litres(self.net_irrigation_mm, area_m2)


def project(
    crop: Crop,
    soil: Soil,
    planted_on: date,
    history: Sequence[DayState],
    *,
    days: int = 14,
    et0_mm: float | None = None,
    settings: BalanceSettings | None = None,
) -> Projection:
    """Project the balance ``days`` days beyond ``history`` (a run's states, latest last)."""
    if not history or days < 1:
        raise BalanceInputError("a projection needs at least one past day and days >= 1")
    settings = settings or BalanceSettings()
    et0 = assumed_et0(history) if et0_mm is None else et0_mm
    last = history[-1]
    ahead: list[DayState] = []
    prev = last
    for n in range(1, days + 1):
        inp = DayInput(last.day + timedelta(days=n), et0_mm=et0, rain_mm=0.0)
        prev = _step(crop, soil, planted_on, inp, prev, prev.depletion_mm, ahead, settings)
        ahead.append(prev)
    if last.stressed:
        to_stress: int | None = 0
    else:
        to_stress = next((n for n, s in enumerate(ahead, 1) if s.stressed), None)
    at_stress = None if to_stress is None else ahead[max(to_stress - 1, 0)]
    stress_on = None if at_stress is None else last.day if to_stress == 0 else at_stress.day
    return Projection(
        et0_mm=et0,
        days_to_stress=to_stress,
        stress_on=stress_on,
        net_irrigation_mm=ahead[0].depletion_mm,
        net_irrigation_at_stress_mm=None if at_stress is None else at_stress.depletion_mm,
        states=tuple(ahead),
    )
