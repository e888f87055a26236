"""Soil moisture as a farmer reads it: dry, good or wet for the field's crop and soil.

A crop starts to suffer once it has used the readily available water, RAW = p * TAW (FAO-56
eq. 83), where TAW is the water between field capacity and wilting point (eq. 82) and p the
crop's depletion fraction (Table 22). In volumetric terms the soil is too dry below
FC - p * (FC - WP). Alert rules may set a field's, crop's or village's own limits; where none
covers a field, these crop-and-soil limits apply. The pages, the summaries, the dashboards and
the default alert rules all take their numbers from here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from agronomy.crops import CROPS
from agronomy.scopes import Place, ScopedLimit, lower_limit, upper_limit
from agronomy.soils import DEFAULT_TEXTURE, Soil, soil_from_texture

# The soil a field is assumed to have when the registry does not say (agronomy.soils).
DEFAULT_SOIL: Soil = soil_from_texture(DEFAULT_TEXTURE)

# A crop the catalogue does not know: FAO-56's typical depletion fraction p = 0.5 (Table 22
# lists most field crops between 0.4 and 0.6).
FALLBACK_P = 0.5

# Judgement: well above field capacity (FAO-56 Table 19, loam: 0.20-0.30) and within a few
# points of saturation (mineral soils hold about 40-50 % by volume when saturated). Soil drains
# to field capacity within a day or two, so staying this wet that long means water stands.
WATERLOGGED = 40.0


class Moisture(StrEnum):
    """Soil moisture as a farmer reads it, for the field's crop."""

    DRY = "dry"
    GOOD = "good"
    WET = "wet"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class MoistureLimits:
    """Soil moisture (volumetric %) under which a field is dry, and over which waterlogged."""

    dry: float
    wet: float | None  # None: no limit (rice is flooded on purpose)


def dry_limit(p: float, soil: Soil = DEFAULT_SOIL) -> float:
    """Soil moisture (%) below which a crop with depletion fraction ``p`` is stressed, whole
    points (probes are not more accurate than that)."""
    return float(round(100 * (soil.fc - p * (soil.fc - soil.wp))))


def crop_limits(crop_id: str | None, soil: Soil = DEFAULT_SOIL) -> MoistureLimits:
    """The limits the crop's FAO-56 depletion fraction and the soil give, without any rule."""
    crop = CROPS.get(crop_id) if crop_id else None
    if crop is None:
        return MoistureLimits(dry=dry_limit(FALLBACK_P, soil), wet=WATERLOGGED)
    return MoistureLimits(dry=dry_limit(crop.p, soil), wet=None if crop.ponded else WATERLOGGED)


def field_limits(
    place: Place,
    too_dry: Iterable[ScopedLimit],
    too_wet: Iterable[ScopedLimit],
    soil: Soil = DEFAULT_SOIL,
) -> MoistureLimits:
    """A field's limits: the covering rules' (``below`` rules for dry, ``above`` for wet; see
    ``agronomy.scopes``), else its crop's and soil's."""
    default = crop_limits(place.crop, soil)
    dry = lower_limit(too_dry, place)
    wet = upper_limit(too_wet, place)
    return MoistureLimits(
        dry=default.dry if dry is None else dry, wet=default.wet if wet is None else wet
    )


def moisture_state(value: float | None, limits: MoistureLimits) -> Moisture:
    """Dry, good or wet; unknown without a recent value."""
    if value is None:
        return Moisture.UNKNOWN
    if value < limits.dry:
        return Moisture.DRY
    if limits.wet is not None and value > limits.wet:
        return Moisture.WET
    return Moisture.GOOD
