"""Soils: water held at field capacity and wilting point, and the water a root zone can use.

Two ways to a field's soil: its texture class (FAO-56 Table 19, the midpoints of its ranges)
or a laboratory sand/clay/organic-matter analysis (Saxton & Rawls 2006, Soil Sci. Soc. Am. J.
70:1569-1578, eq. 1 and 2). Water contents are volumetric, m3/m3; the probes' unit is % of
that (``fc_pct``), read through a per-soil, per-device ``ProbeCalibration``. TAW and RAW are
FAO-56 eq. 82 and 83.
"""

from __future__ import annotations

from dataclasses import dataclass


class UnknownSoilError(KeyError):
    """A texture class that is not in the catalogue."""

    def __str__(self) -> str:
        return str(self.args[0])


class SoilError(ValueError):
    """Soil numbers that cannot describe a real soil, or lie outside a method's range."""


@dataclass(frozen=True, slots=True)
class Span:
    """A published range; ``mid`` is the value used when nothing better is known."""

    low: float
    high: float

    @property
    def mid(self) -> float:
        """The midpoint of the range."""
        return (self.low + self.high) / 2


@dataclass(frozen=True, slots=True)
class Texture:
    """One FAO-56 Table 19 texture class: water contents (m3/m3) and evaporable water (mm).

    REW and TEW are for an evaporation layer Ze = 0.10 m (Table 19's own basis); they serve
    the dual-Kc method, not the single-Kc balance here.
    """

    key: str
    name_id: str
    name_en: str
    fc: Span
    wp: Span
    rew_mm: Span
    tew_mm: Span


@dataclass(frozen=True, slots=True)
class Soil:
    """A field's soil as the water balance sees it: water content at FC and WP (m3/m3)."""

    name: str
    fc: float
    wp: float
    source: str  # where the numbers come from, to show beside advice

    def __post_init__(self) -> None:
        if not 0.0 <= self.wp < self.fc < 1.0:
            raise SoilError(
                f"soil {self.name!r}: need 0 <= wilting point < field capacity < 1 m3/m3, "
                f"got WP {self.wp} and FC {self.fc}; percentages must be divided by 100"
            )

    @property
    def fc_pct(self) -> float:
        """Field capacity in volumetric %, the soil-moisture probes' unit."""
        return self.fc * 100.0

    @property
    def wp_pct(self) -> float:
        """Wilting point in volumetric %."""
        return self.wp * 100.0


# FAO-56 Table 19 (typical soil water characteristics), all rows. Indonesian names are the
# usual Indonesian soil-texture terms (lempung = loam, liat = clay, debu = silt).
_TEXTURES: tuple[Texture, ...] = (
    Texture("sand", "pasir", "sand", Span(0.07, 0.17), Span(0.02, 0.07), Span(2, 7), Span(6, 12)),
    Texture(
        "loamy_sand",
        "pasir berlempung",
        "loamy sand",
        Span(0.11, 0.19),
        Span(0.03, 0.10),
        Span(4, 8),
        Span(9, 14),
    ),
    Texture(
        "sandy_loam",
        "lempung berpasir",
        "sandy loam",
        Span(0.18, 0.28),
        Span(0.06, 0.16),
        Span(6, 10),
        Span(15, 20),
    ),
    # Loam's midpoints, FC 0.25 and WP 0.12, are alerts.default_rules' FIELD_CAPACITY and
    # WILTING_POINT.
    Texture(
        "loam", "lempung", "loam", Span(0.20, 0.30), Span(0.07, 0.17), Span(8, 10), Span(16, 22)
    ),
    Texture(
        "silt_loam",
        "lempung berdebu",
        "silt loam",
        Span(0.22, 0.36),
        Span(0.09, 0.21),
        Span(8, 11),
        Span(18, 25),
    ),
    Texture("silt", "debu", "silt", Span(0.28, 0.36), Span(0.12, 0.22), Span(8, 11), Span(22, 26)),
    Texture(
        "silty_clay_loam",
        "lempung liat berdebu",
        "silty clay loam",
        Span(0.30, 0.37),
        Span(0.17, 0.24),
        Span(8, 11),
        Span(22, 27),
    ),
    Texture(
        "silty_clay",
        "liat berdebu",
        "silty clay",
        Span(0.30, 0.42),
        Span(0.17, 0.29),
        Span(8, 12),
        Span(22, 28),
    ),
    Texture("clay", "liat", "clay", Span(0.32, 0.40), Span(0.20, 0.24), Span(8, 12), Span(22, 29)),
)

TEXTURES: dict[str, Texture] = {t.key: t for t in _TEXTURES}


def texture(name: str) -> Texture:
    """The Table 19 class called ``name`` (key, English or Indonesian name, any case)."""
    wanted = name.strip().lower().replace("-", " ").replace("_", " ")
    for t in _TEXTURES:
        if wanted in (t.key.replace("_", " "), t.name_en, t.name_id):
            return t
    known = ", ".join(TEXTURES)
    raise UnknownSoilError(f"unknown soil texture {name!r}: choose one of {known}")


def soil_from_texture(name: str) -> Soil:
    """A soil with the midpoints of its texture class's FC and WP ranges (FAO-56 Table 19)."""
    t = texture(name)
    return Soil(t.name_en, t.fc.mid, t.wp.mid, f"FAO-56 Table 19, {t.name_en}, midpoints")


# Saxton & Rawls 2006 fitted their equations on soils up to 60 % clay and 8 % organic matter.
_MAX_CLAY_PCT = 60.0
_MAX_OM_PCT = 8.0


def soil_from_sand_clay(sand_pct: float, clay_pct: float, organic_matter_pct: float = 2.5) -> Soil:
    """A soil from a particle-size analysis, by Saxton & Rawls 2006 eq. 1 (WP) and 2 (FC).

    Sand and clay are % by weight of the mineral soil, organic matter % by weight. The default
    2.5 % organic matter is the value of the paper's texture-class table (Table 3).
    """
    if sand_pct < 0 or clay_pct < 0 or sand_pct + clay_pct > 100:
        raise SoilError(
            f"sand {sand_pct} % and clay {clay_pct} %: each must be 0-100 and together at most "
            "100 (the rest is silt); check the laboratory report"
        )
    if clay_pct > _MAX_CLAY_PCT or not 0 <= organic_matter_pct <= _MAX_OM_PCT:
        raise SoilError(
            f"clay {clay_pct} %, organic matter {organic_matter_pct} %: Saxton & Rawls 2006 "
            f"hold for clay up to {_MAX_CLAY_PCT:.0f} % and organic matter 0-{_MAX_OM_PCT:.0f} "
            "%; use soil_from_texture instead"
        )
    s, c, om = sand_pct / 100.0, clay_pct / 100.0, organic_matter_pct
    # Eq. 1: water at 1500 kPa (wilting point).
    t1500 = (
        -0.024 * s + 0.487 * c + 0.006 * om + 0.005 * s * om - 0.013 * c * om + 0.068 * s * c
    ) + 0.031
    wp = t1500 + (0.14 * t1500 - 0.02)
    # Eq. 2: water at 33 kPa (field capacity).
    t33 = (
        -0.251 * s + 0.195 * c + 0.011 * om + 0.006 * s * om - 0.027 * c * om + 0.452 * s * c
    ) + 0.299
    fc = t33 + (1.283 * t33 * t33 - 0.374 * t33 - 0.015)
    name = f"sand {sand_pct:g} %, clay {clay_pct:g} %, OM {organic_matter_pct:g} %"
    return Soil(name, fc, wp, "Saxton & Rawls 2006, eq. 1-2")


# A field whose soil the registry does not describe: loam, FAO-56 Table 19 midpoints. A
# judgement: Lampung's upland soils (mostly Ultisols) range from sandy loam to clay, and loam
# sits in the middle.
DEFAULT_TEXTURE = "loam"


def field_soil(texture_name: str | None, sand_pct: float | None, clay_pct: float | None) -> Soil:
    """A field's soil from what the registry holds: a laboratory's sand and clay where known
    (Saxton & Rawls), else its texture class (Table 19), else loam."""
    if sand_pct is not None and clay_pct is not None:
        return soil_from_sand_clay(sand_pct, clay_pct)
    return soil_from_texture(texture_name or DEFAULT_TEXTURE)


class CalibrationError(ValueError):
    """A probe calibration that cannot map raw readings to true moisture."""


@dataclass(frozen=True, slots=True)
class ProbeCalibration:
    """true % = raw % * scale + offset, as ``registry.records.ProbeCalibration`` stores it.

    Capacitive probes are set at the factory to air and water, not to the field's soil; a
    two-point calibration in that soil (a dry and a wet sample, weighed and oven-dried) fixes
    both the offset and the slope.
    """

    offset: float = 0.0
    scale: float = 1.0

    def __post_init__(self) -> None:
        if not self.scale > 0:
            raise CalibrationError(
                f"calibration scale {self.scale}: must be > 0 (wetter soil reads higher); "
                "redo the dry and wet samples"
            )

    def apply(self, raw_pct: float) -> float:
        """The true volumetric moisture (%) for a raw probe value (%)."""
        return raw_pct * self.scale + self.offset

    @classmethod
    def two_point(
        cls, raw_dry: float, true_dry: float, raw_wet: float, true_wet: float
    ) -> ProbeCalibration:
        """The line through (raw_dry, true_dry) and (raw_wet, true_wet), all in %."""
        if raw_wet <= raw_dry or true_wet <= true_dry:
            raise CalibrationError(
                f"dry sample (raw {raw_dry}, true {true_dry}) and wet sample (raw {raw_wet}, "
                f"true {true_wet}): the wet one must read and weigh wetter; retake the samples"
            )
        scale = (true_wet - true_dry) / (raw_wet - raw_dry)
        return cls(offset=true_dry - scale * raw_dry, scale=scale)


UNCALIBRATED = ProbeCalibration()  # the factory setting, taken as right until calibrated


def taw_mm(soil: Soil, root_depth_m: float) -> float:
    """Total available water in the root zone, mm: 1000 (FC - WP) Zr (FAO-56 eq. 82)."""
    return 1000.0 * (soil.fc - soil.wp) * root_depth_m


def raw_mm(taw: float, p: float) -> float:
    """Readily available water, mm: p TAW (FAO-56 eq. 83)."""
    return p * taw


def depletion_from_moisture(soil: Soil, moisture_pct: float, root_depth_m: float) -> float:
    """Root-zone depletion (mm) a volumetric moisture (%) implies, within 0..TAW (eq. 87)."""
    depletion = 1000.0 * (soil.fc - moisture_pct / 100.0) * root_depth_m
    return min(max(depletion, 0.0), taw_mm(soil, root_depth_m))


def moisture_from_depletion(soil: Soil, depletion_mm: float, root_depth_m: float) -> float:
    """Mean root-zone volumetric moisture (%) for a depletion (mm): the inverse of eq. 87."""
    return 100.0 * (soil.fc - depletion_mm / (1000.0 * root_depth_m))
