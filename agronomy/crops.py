"""The crop catalogue and a crop's state on a given day: stage, Kc and root depth.

Sources: FAO Irrigation and Drainage Paper 56 (Allen, Pereira, Raes & Smith 1998, "FAO-56"):
Table 11 (stage lengths), Table 12 (single crop coefficients Kc for a sub-humid climate,
RHmin 45 %, u2 2 m/s, with maximum crop heights), Table 22 (maximum rooting depth Zr and
depletion fraction p), eq. 62/65 (Kc climate adjustment) and eq. 66 (Kc between stages).
Crop ids are the Indonesian words fields carry (as in ``alerts.default_rules``).

Season days are counted from 1 on the planting (sowing or transplanting) day. For the
perennials (kopi, lada) ``planted_on`` is the anchor of a year-round cycle (say, the end of
the last harvest): the stages repeat every 365 days and the season is never over.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

# Root depth on the sowing day. Judgement: seeds and transplants root in about the top
# 0.10-0.15 m, the depth of FAO-56's evaporation layer Ze (ch. 7, 0.10-0.15 m).
ROOT_DEPTH_SOWING_M = 0.15
# Lampung lowland daily mean air temperature, about 26-28 degC all year (judgement from BMKG
# station normals for Bandar Lampung): used only to express FAO-56 day lengths in GDD.
LAMPUNG_MEAN_TEMP_C = 27.0
CYCLE_DAYS = 365  # perennials: one year-round cycle


class Stage(StrEnum):
    """FAO-56 crop growth stages (ch. 6, Fig. 25)."""

    INITIAL = "initial"
    DEVELOPMENT = "development"
    MID = "mid"
    LATE = "late"


class UnknownCropError(KeyError):
    """A crop id that is not in the catalogue."""

    def __str__(self) -> str:
        return str(self.args[0])


class BeforePlantingError(ValueError):
    """A day before the crop was planted: there is no crop to describe yet."""


class GrowingDegreeDaysError(ValueError):
    """A GDD calculation without GDD stages or without enough daily temperatures."""


@dataclass(frozen=True, slots=True)
class StageLengths:
    """Lengths of the four FAO-56 stages, in days or in growing degree days (degC day)."""

    initial: float
    development: float
    mid: float
    late: float

    @property
    def total(self) -> float:
        """Length of the whole season."""
        return self.initial + self.development + self.mid + self.late


@dataclass(frozen=True, slots=True)
class Climate:
    """Mid- and late-season climate for FAO-56 eq. 62: wind at 2 m and minimum humidity."""

    u2_m_s: float
    rh_min_pct: float


@dataclass(frozen=True, slots=True)
class Crop:
    """One crop as the water balance needs it; every value cited where the catalogue sets it."""

    id: str
    name_id: str
    name_en: str
    stages: StageLengths  # days
    kc_ini: float
    kc_mid: float
    kc_end: float
    height_m: float  # maximum crop height, FAO-56 Table 12 (for eq. 62)
    root_depth_max_m: float
    p: float  # depletion fraction for no stress at ETc about 5 mm/day, FAO-56 Table 22
    perennial: bool = False
    ponded: bool = False
    base_temp_c: float | None = None
    upper_temp_c: float | None = None  # daily means above this count as this (cut-off)
    gdd_stages: StageLengths | None = None  # degC day above base_temp_c
    flowering_day: int | None = None  # season day of flowering (rice: keep ponded around it)
    # Air temperature (degC) above which an hour harms the crop (flowers, pollen); None: no
    # usable limit. The heat alerts use it.
    heat_limit_c: float | None = None
    root_depth_min_m: float = ROOT_DEPTH_SOWING_M


@dataclass(frozen=True, slots=True)
class CropDay:
    """A crop on one day: where it is in its season, its Kc and its root depth."""

    crop_id: str
    day: date
    days_after_planting: int  # 0 on the planting day
    season_day: int  # FAO-56 eq. 66's i: 1 on the planting day (perennials: day of cycle)
    stage: Stage
    kc: float
    root_depth_m: float
    season_over: bool  # after the late stage (annuals only): harvested, values frozen at end


def kc_adjusted(kc_table: float, u2: float, rh_min: float, height_m: float) -> float:
    """Kc mid or end from FAO-56 Table 12 adjusted to the local climate (eq. 62 and 65).

    Table 12 is for RHmin 45 % and u2 2 m/s; a humid, calm climate lowers Kc. Kc below 0.45
    is not adjusted (eq. 65 applies only to Kc end >= 0.45). Inputs are held to the ranges
    FAO-56 gives for the equation: u2 1-6 m/s, RHmin 20-80 %, h 0.1-10 m.
    """
    if kc_table < 0.45:
        return kc_table
    u2 = min(max(u2, 1.0), 6.0)
    rh_min = min(max(rh_min, 20.0), 80.0)
    height_m = min(max(height_m, 0.1), 10.0)
    return kc_table + (0.04 * (u2 - 2.0) - 0.004 * (rh_min - 45.0)) * (height_m / 3.0) ** 0.3


def p_adjusted(p: float, etc_mm: float) -> float:
    """Depletion fraction p for the day's ETc (FAO-56 Table 22 footnote), within 0.1-0.8."""
    return min(max(p + 0.04 * (5.0 - etc_mm), 0.1), 0.8)


def _gdd_from_days(days: StageLengths, base_c: float) -> StageLengths:
    # Judgement: FAO-56 Table 11 day lengths at Lampung's mean temperature, until a variety's
    # own thermal times are known.
    rate = LAMPUNG_MEAN_TEMP_C - base_c
    return StageLengths(
        days.initial * rate, days.development * rate, days.mid * rate, days.late * rate
    )


# Table 11 rows used (humid tropics where FAO-56 has one): see each crop.
_PADI_DAYS = StageLengths(30, 30, 60, 30)  # Table 11 rice, Dec/May, tropics: 150 days
_JAGUNG_DAYS = StageLengths(20, 35, 40, 30)  # Table 11 maize (grain), June, Nigeria (humid)
_KEDELAI_DAYS = StageLengths(15, 15, 40, 15)  # Table 11 soybeans, Dec, tropics
# Base temperatures: 10 degC for maize (Gilmore & Rogers 1958, Agron. J. 50:611-615) with the
# 30 degC cut-off of the 86/50 method (McMaster & Wilhelm 1997, Agric. For. Meteorol.
# 87:291-300); 10 degC for rice, the usual base for rice heat units (Yoshida 1981,
# Fundamentals of Rice Crop Science, IRRI: 10 degC is the low critical temperature of most
# stages); 10 degC for soybean, the conventional base (published bases 6-10 degC; judgement).
_BASE_C = 10.0
_MAIZE_UPPER_C = 30.0

_CATALOGUE: tuple[Crop, ...] = (
    Crop(
        id="padi",
        name_id="padi sawah",
        name_en="rice",
        stages=_PADI_DAYS,
        # Table 12 rice: 1.05 / 1.20 / 0.90-0.60; 0.75 is the midpoint of Kc end (judgement).
        kc_ini=1.05,
        kc_mid=1.20,
        kc_end=0.75,
        height_m=1.0,  # Table 12
        root_depth_max_m=0.5,  # Table 22: 0.5-1.0 m; lower end, puddling and plough pan
        p=0.20,  # Table 22 (of saturation)
        ponded=True,
        base_temp_c=_BASE_C,
        gdd_stages=_gdd_from_days(_PADI_DAYS, _BASE_C),
        # Flowering about 30 days before maturity: ripening lasts about 30 days in the
        # tropics (Yoshida 1981), so day 120 of the 150-day season.
        flowering_day=120,
        # Spikelets become sterile when anthesis (mid-morning) meets more than about 35 degC,
        # even for an hour (Yoshida 1981, Fundamentals of Rice Crop Science, IRRI).
        heat_limit_c=35.0,
    ),
    Crop(
        id="jagung",
        name_id="jagung",
        name_en="maize",
        stages=_JAGUNG_DAYS,
        # Table 12 maize (field, grain): 0.30 / 1.20 / 0.35 when the grain dries on the plant
        # (0.60 when harvested wet); dry-harvest is a judgement for Lampung's dry-grain trade.
        kc_ini=0.30,
        kc_mid=1.20,
        kc_end=0.35,
        height_m=2.0,  # Table 12
        # Table 22: 1.0-1.7 m; lower end: Lampung's acid Ultisols restrict deep rooting
        # (aluminium in the subsoil) - judgement.
        root_depth_max_m=1.0,
        p=0.55,  # Table 22
        base_temp_c=_BASE_C,
        upper_temp_c=_MAIZE_UPPER_C,
        gdd_stages=_gdd_from_days(_JAGUNG_DAYS, _BASE_C),
        # Maize pollen loses viability in high heat (Herrero & Johnson 1980, Crop Science
        # 20:796-800); 35 degC, a common limit for maize pollination, is a judgement.
        heat_limit_c=35.0,
    ),
    Crop(
        id="singkong",
        name_id="singkong",
        name_en="cassava",
        stages=StageLengths(20, 40, 90, 60),  # Table 11 cassava year 1, rainy season, tropics
        kc_ini=0.30,  # Table 12 cassava year 1: 0.3 / 0.80 / 0.30
        kc_mid=0.80,
        kc_end=0.30,
        height_m=1.0,  # Table 12
        root_depth_max_m=0.5,  # Table 22 year 1: 0.5-0.8 m; lower end (Ultisols, judgement)
        p=0.35,  # Table 22 year 1
    ),
    Crop(
        id="kopi",
        name_id="kopi",
        name_en="coffee",
        # FAO-56 Table 11 has no coffee. A year from the end of harvest: rest, flowering and
        # flush after the first rains, berry growth, ripening and harvest - judgement; with
        # Kc almost flat the split matters little.
        stages=StageLengths(60, 60, 180, 65),
        # Table 12 coffee, bare ground cover: 0.90 / 0.95 / 0.95 (with weeds 1.05 / 1.10 / 1.10)
        kc_ini=0.90,
        kc_mid=0.95,
        kc_end=0.95,
        height_m=2.5,  # Table 12: 2-3 m
        root_depth_max_m=0.9,  # Table 22: 0.9-1.5 m; lower end, most active roots (judgement)
        p=0.40,  # Table 22
        perennial=True,
        # Robusta yields fall as temperatures rise above its optimum (Kath et al. 2020, Global
        # Change Biology 26:3677, "Not so robust"); no source gives an hourly limit: 34 degC,
        # beyond Lampung's usual afternoons, is a judgement.
        heat_limit_c=34.0,
    ),
    Crop(
        id="lada",
        name_id="lada",
        name_en="black pepper",
        # FAO-56 has no black pepper. Judgement throughout: an evergreen woody vine on living
        # stakes, partly shaded, treated like coffee with bare ground (Table 12), the nearest
        # crop FAO-56 tabulates; the same year-round stage split as kopi.
        stages=StageLengths(60, 60, 180, 65),
        kc_ini=0.90,
        kc_mid=0.95,
        kc_end=0.95,
        height_m=3.0,  # judgement: vines trained to 3 m stakes
        root_depth_max_m=0.5,  # judgement: feeder roots mostly in the top 0.3-0.6 m
        p=0.35,  # judgement (shallow-rooted, drought-sensitive)
        perennial=True,
    ),
    Crop(
        id="kedelai",
        name_id="kedelai",
        name_en="soybean",
        stages=_KEDELAI_DAYS,
        kc_ini=0.50,  # Table 12 soybeans: 0.5 / 1.15 / 0.50
        kc_mid=1.15,
        kc_end=0.50,
        height_m=0.75,  # Table 12: 0.5-1.0 m
        root_depth_max_m=0.6,  # Table 22: 0.6-1.3 m; lower end (Ultisols, judgement)
        p=0.50,  # Table 22
        base_temp_c=_BASE_C,
        gdd_stages=_gdd_from_days(_KEDELAI_DAYS, _BASE_C),
    ),
    Crop(
        id="cabai",
        name_id="cabai",
        name_en="chili pepper",
        # FAO-56 has sweet (bell) peppers only; chili is taken as alike (judgement). Table 11's
        # 210-day row (30/40/110/30) fits chili picked repeatedly for 3-4 months.
        stages=StageLengths(30, 40, 110, 30),
        kc_ini=0.60,  # Table 12 sweet peppers (bell): 0.6 / 1.05 / 0.90
        kc_mid=1.05,
        kc_end=0.90,
        height_m=0.7,  # Table 12
        root_depth_max_m=0.5,  # Table 22: 0.5-1.0 m; lower end (shallow-rooted, judgement)
        p=0.30,  # Table 22
    ),
    Crop(
        id="kacang_tanah",
        name_id="kacang tanah",
        name_en="groundnut",
        stages=StageLengths(25, 35, 45, 25),  # Table 11 groundnut, dry season, West Africa
        kc_ini=0.40,  # Table 12 groundnut: 0.4 / 1.15 / 0.60
        kc_mid=1.15,
        kc_end=0.60,
        height_m=0.4,  # Table 12
        root_depth_max_m=0.5,  # Table 22: 0.5-1.0 m; lower end (Ultisols, judgement)
        p=0.50,  # Table 22
    ),
)

CROPS: dict[str, Crop] = {c.id: c for c in _CATALOGUE}


def crop(crop_id: str) -> Crop:
    """The catalogue entry for ``crop_id``."""
    try:
        return CROPS[crop_id]
    except KeyError:
        known = ", ".join(CROPS)
        raise UnknownCropError(
            f"unknown crop {crop_id!r}: set the field's crop to one of {known}"
        ) from None


def _position(
    crop: Crop, lengths: StageLengths, elapsed: float, kc_mid: float, kc_end: float
) -> tuple[Stage, float, float, bool]:
    """(stage, Kc, root depth, season over) after ``elapsed`` days or GDD (FAO-56 eq. 66)."""
    ini, dev, mid = lengths.initial, lengths.development, lengths.mid
    # Roots deepen from sowing and reach their maximum at the start of mid-season, as in
    # FAO-56 Annex 8 (p. 279), where Zr follows the crop's development; linear in time here
    # (a simplification: it lets seedling roots grow during the initial stage too).
    growth = 1.0 if crop.perennial else min(elapsed / (ini + dev), 1.0)
    root = crop.root_depth_min_m + (crop.root_depth_max_m - crop.root_depth_min_m) * growth
    if elapsed <= ini:
        return Stage.INITIAL, crop.kc_ini, root, False
    if elapsed <= ini + dev:
        kc = crop.kc_ini + (elapsed - ini) / dev * (kc_mid - crop.kc_ini)
        return Stage.DEVELOPMENT, kc, root, False
    if elapsed <= ini + dev + mid:
        return Stage.MID, kc_mid, root, False
    if elapsed <= lengths.total:
        kc = kc_mid + (elapsed - ini - dev - mid) / lengths.late * (kc_end - kc_mid)
        return Stage.LATE, kc, root, False
    return Stage.LATE, kc_end, root, True


def _kc_mid_end(crop: Crop, climate: Climate | None) -> tuple[float, float]:
    if climate is None:
        return crop.kc_mid, crop.kc_end
    args = (climate.u2_m_s, climate.rh_min_pct, crop.height_m)
    return kc_adjusted(crop.kc_mid, *args), kc_adjusted(crop.kc_end, *args)


def _days_after(crop: Crop, planted_on: date, day: date) -> int:
    days = (day - planted_on).days
    if days < 0 and not crop.perennial:
        raise BeforePlantingError(
            f"{day} is before {crop.id} was planted on {planted_on}: check the field's "
            "planting date"
        )
    return days


def crop_day(crop: Crop, planted_on: date, day: date, climate: Climate | None = None) -> CropDay:
    """The crop's stage, Kc and root depth on ``day``, counting calendar days (FAO-56).

    ``climate`` adjusts Kc mid and end by eq. 62/65; without it Table 12's values are used.
    """
    days = _days_after(crop, planted_on, day)
    season_day = days % CYCLE_DAYS + 1 if crop.perennial else days + 1
    kc_mid, kc_end = _kc_mid_end(crop, climate)
    stage, kc, root, over = _position(crop, crop.stages, season_day, kc_mid, kc_end)
    return CropDay(crop.id, day, days, season_day, stage, kc, root, over)


def growing_degree_days(crop: Crop, mean_temp_c: float) -> float:
    """One day's GDD (degC day): the daily mean above the base, capped at the upper cut-off."""
    if crop.base_temp_c is None:
        raise GrowingDegreeDaysError(f"{crop.id} has no base temperature: use crop_day")
    if crop.upper_temp_c is not None:
        mean_temp_c = min(mean_temp_c, crop.upper_temp_c)
    return max(mean_temp_c - crop.base_temp_c, 0.0)


def crop_day_gdd(
    crop: Crop,
    planted_on: date,
    day: date,
    mean_temps_c: Sequence[float],
    climate: Climate | None = None,
) -> CropDay:
    """As ``crop_day``, but stages follow accumulated heat (GDD) instead of calendar days.

    ``mean_temps_c`` holds the daily mean air temperatures from the planting day on; those up
    to and including ``day`` are used. Only crops with GDD stages (padi, jagung, kedelai).
    """
    if crop.gdd_stages is None:
        raise GrowingDegreeDaysError(
            f"{crop.id} has no stage lengths in growing degree days: use crop_day"
        )
    days = _days_after(crop, planted_on, day)
    if len(mean_temps_c) < days + 1:
        raise GrowingDegreeDaysError(
            f"{days + 1} daily mean temperatures are needed from {planted_on} to {day}, "
            f"got {len(mean_temps_c)}: fill the missing days (e.g. from a nearby station)"
        )
    gdd = sum(growing_degree_days(crop, t) for t in mean_temps_c[: days + 1])
    kc_mid, kc_end = _kc_mid_end(crop, climate)
    stage, kc, root, over = _position(crop, crop.gdd_stages, gdd, kc_mid, kc_end)
    return CropDay(crop.id, day, days, days + 1, stage, kc, root, over)


def crop_day_by_heat(
    crop: Crop,
    planted_on: date,
    day: date,
    mean_temps_c: Mapping[date, float],
    climate: Climate | None = None,
) -> CropDay:
    """The crop's day by heat where its stages follow heat (``crop_day_gdd``), else by the
    calendar (``crop_day``). Days without a measured mean temperature count
    ``LAMPUNG_MEAN_TEMP_C``, the value the GDD stage lengths were derived with, so a field
    without a station runs on calendar days."""
    if crop.gdd_stages is None or not mean_temps_c:
        return crop_day(crop, planted_on, day, climate)
    days = _days_after(crop, planted_on, day)
    temps = [
        mean_temps_c.get(planted_on + timedelta(days=n), LAMPUNG_MEAN_TEMP_C)
        for n in range(days + 1)
    ]
    return crop_day_gdd(crop, planted_on, day, temps, climate)
