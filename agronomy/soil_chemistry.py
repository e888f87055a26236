"""Soil chemistry read against the crop: pH class, dolomite advice and N/P/K classes from a
7-in-1 RS485 soil probe.

Every number names its source (a ``Source``, saying how far it was checked for this module:
"checked" on a public copy or transcription, or "recalled", not re-checked) or says
"judgement". Class tables are printed to a lab report's precision (pH to 0.1, ppm and kg/ha to
whole units); a value is rounded half-up to that precision before it is looked up, so 15.4 ppm,
between "10-15" and "16-25", goes where a lab report of the same sample would.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from telemetry.quantities import quantity
from telemetry.reading import Quality, Reading


@dataclass(frozen=True, slots=True)
class Text:
    """A sentence a page renders, Indonesian first."""

    id: str
    en: str


@dataclass(frozen=True, slots=True)
class Source:
    """Where a number comes from, and how far it was checked for this module."""

    citation: str
    checked: str


BALITTANAH_2009 = Source(
    "Eviati & Sulaeman (eds.) 2009, Petunjuk Teknis Analisis Kimia Tanah, Tanaman, Air dan "
    "Pupuk, ed. 2, Balai Penelitian Tanah: Kriteria penilaian hasil analisis tanah, pH H2O",
    "checked on public transcriptions (one quotes ed. 1, 2005, Lampiran 3); PDF not read",
)
PPT_1983 = Source(
    "Pusat Penelitian Tanah 1983, Kriteria Penilaian Sifat Kimia Tanah (in Hardjowigeno "
    "1987): P2O5 Bray-1, ppm P2O5",
    "'<10', '10-15' checked on a public transcription; '16-25', '26-35', '>35' recalled",
)
TANDON_2005 = Source(
    "Tandon (ed.) 2005 and Havlin et al. 1999: available N, P2O5, K2O ratings in kg/ha, as "
    "tabulated in J. Ecol. Environ. 2019, doi 10.1186/s41610-019-0104-9, Table 9 (available N "
    "by alkaline permanganate, Subbiah & Asija 1956)",
    "checked on the journal's table page",
)
_DJAENUDIN = (
    "Djaenudin et al. 2011, Petunjuk Teknis Evaluasi Lahan untuk Komoditas Pertanian (ed. "
    "revisi), BBSDLP: pH H2O of class S1 (sangat sesuai)"
)
DJAENUDIN_CHECKED = Source(_DJAENUDIN, "checked on a public transcription citing its pages")
DJAENUDIN_RECALLED = Source(_DJAENUDIN, "recalled, not re-checked")
CYBEX_DOLOMITE = Source(
    "Cybex Kementerian Pertanian, quoted by Kompas Agri, 17 Feb 2023: 2,000 kg dolomite per ha "
    "raises soil pH one unit; raise it in steps (bertahap)",
    "checked on the article",
)
KAMPRATH_1970 = Source(
    "Kamprath 1970, SSSA Proc. 34:252-254 (exchangeable Al as the liming criterion); the "
    "Indonesian test dose 1 x Al-dd (Kepmentan 02/Pert/HK.060/2/2006, per Harjanti 2009, IPB)",
    "1 x Al-dd checked on Harjanti 2009's summary; Kamprath recalled",
)
NPK_CAVEAT_SOURCE = Source(
    "github.com/myduino/Industrial-Soil-Sensor-RS485 issue #1: an RS485 NPK probe read N 50, "
    "P 114, K 104 mg/kg in clean water; pcbsync.com/npk-sensor-arduino: 'conductivity-based'",
    "checked; no manufacturer or peer-reviewed statement found",
)
NPK_CAVEAT = Text(
    "NPK dari probe 7-in-1 hanya perkiraan: probe murah menaksir N, P, K dari daya hantar "
    "listrik tanah, bukan dari ekstraksi kimia di laboratorium. Pakai untuk melihat tren; "
    "tentukan dosis pupuk dari uji tanah laboratorium.",
    "Probe NPK is indicative only: cheap 7-in-1 probes estimate N, P and K from the soil's "
    "electrical conductivity, not a laboratory extraction. Use it for trends; base fertiliser "
    "doses on a laboratory soil test.",
)

# Standard atomic weights: P2O5/(2 P) = 2.2913, K2O/(2 K) = 1.2046.
_P, _K, _O = Decimal("30.973762"), Decimal("39.0983"), Decimal("15.999")
P_TO_P2O5 = (2 * _P + 5 * _O) / (2 * _P)
K_TO_K2O = (2 * _K + _O) / (2 * _K)
# mg/kg to kg/ha: the 0-15 cm furrow slice of 2.24 million kg soil per ha that kg/ha ratings
# assume (judgement: the field's real depth and bulk density are unknown).
MG_KG_TO_KG_HA = Decimal("2.24")
MAX_AGE_S = 24 * 3600  # judgement: chemistry changes over weeks; a silent day means a fault
DOLOMITE_T_HA_PER_PH_UNIT = Decimal("2.0")  # CYBEX_DOLOMITE
MAX_DOLOMITE_T_HA_PER_STEP = Decimal("2.0")  # judgement: one pH unit a step (CYBEX_DOLOMITE)


class Reason(StrEnum):
    """Why a quantity gets no class and no advice."""

    QUALITY_BAD = "quality_bad"
    QUALITY_SUSPECT = "quality_suspect"
    NO_READING = "no_reading"
    STALE = "stale"


class RangePosition(StrEnum):
    """Where the soil's pH lies against the crop's preferred range."""

    BELOW = "below"
    WITHIN = "within"
    ABOVE = "above"


class UnknownCropError(LookupError):
    """A crop id with no pH range in the catalogue."""


class UnknownNutrientError(LookupError):
    """A quantity key with no nutrient class table."""


class InvalidAreaError(ValueError):
    """A field area that is not a positive number of square metres."""


def _round(value: float | Decimal, decimals: int) -> Decimal:
    return Decimal(str(value)).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class PhClass:
    """A soil reaction class: ``low <= pH < high`` on the pH rounded to 0.1 (None: open)."""

    key: str
    name_id: str
    name_en: str
    low: float | None
    high: float | None

    def contains(self, ph: float) -> bool:
        """Whether ``ph`` falls in this class."""
        value = _round(ph, 1)
        return (self.low is None or value >= Decimal(str(self.low))) and (
            self.high is None or value < Decimal(str(self.high))
        )


# BALITTANAH_2009: <4.5, 4.5-5.5, 5.6-6.5, 6.6-7.5, 7.6-8.5, >8.5.
PH_CLASSES: tuple[PhClass, ...] = (
    PhClass("very_acid", "Sangat masam", "Very acid", None, 4.5),
    PhClass("acid", "Masam", "Acid", 4.5, 5.6),
    PhClass("slightly_acid", "Agak masam", "Slightly acid", 5.6, 6.6),
    PhClass("neutral", "Netral", "Neutral", 6.6, 7.6),
    PhClass("slightly_alkaline", "Agak alkalis", "Slightly alkaline", 7.6, 8.6),
    PhClass("alkaline", "Alkalis", "Alkaline", 8.6, None),
)
PH_SOURCE = BALITTANAH_2009


def classify_ph(ph: float) -> PhClass:
    """The soil reaction class of ``ph`` (pH H2O)."""
    if not math.isfinite(ph):
        raise ValueError(f"pH must be a finite number, got {ph!r}")
    return next(c for c in PH_CLASSES if c.contains(ph))


@dataclass(frozen=True, slots=True)
class NutrientClass:
    """A nutrient status class, named as Indonesian soil reports name it."""

    key: str
    name_id: str
    name_en: str


NUTRIENT_CLASSES: tuple[NutrientClass, ...] = (
    NutrientClass("very_low", "Sangat rendah", "Very low"),
    NutrientClass("low", "Rendah", "Low"),
    NutrientClass("medium", "Sedang", "Medium"),
    NutrientClass("high", "Tinggi", "High"),
    NutrientClass("very_high", "Sangat tinggi", "Very high"),
)


@dataclass(frozen=True, slots=True)
class NutrientTable:
    """A five-class table for one probe quantity, and how a probe's mg/kg enters its unit.

    ``limits``: lower limits of low, medium, high and very high in the table's unit, on the
    value rounded to whole units.
    """

    quantity: str
    basis: Text
    unit: str
    factor: Decimal  # table unit per probe mg/kg
    limits: tuple[int, int, int, int]
    source: Source

    def to_table_unit(self, mg_kg: float) -> Decimal:
        """The probe's mg/kg in this table's unit, rounded as the table is printed."""
        return _round(Decimal(str(mg_kg)) * self.factor, 0)

    def classify(self, value: Decimal) -> NutrientClass:
        """The class of ``value``, already in this table's unit."""
        return NUTRIENT_CLASSES[sum(value >= limit for limit in self.limits)]


_N, _KG_HA = Text("N tersedia", "available N"), MG_KG_TO_KG_HA
_P2O5 = Text("P2O5 Bray-1", "P2O5 Bray-1")
_K2O, _K2O_HA = Text("K2O tersedia", "available K2O"), K_TO_K2O * MG_KG_TO_KG_HA
NUTRIENT_TABLES: dict[str, NutrientTable] = {
    t.quantity: t
    for t in (
        # TANDON_2005: <140, 141-420, 421-560, 561-700, >700 kg N/ha; 140, in the table's gap,
        # goes to "low" (judgement). Not the Indonesian total-N % table: a probe's tens of mg/kg
        # cannot be total N (0.1 % = 1,000 mg/kg) and would always read very low.
        NutrientTable("soil_nitrogen", _N, "kg N/ha", _KG_HA, (140, 421, 561, 701), TANDON_2005),
        # PPT_1983 Bray-1, the extraction for acid soils like Lampung's: <10, 10-15, 16-25,
        # 26-35, >35 ppm P2O5. The probe's mg/kg is read as elemental P.
        NutrientTable("soil_phosphorus", _P2O5, "ppm P2O5", P_TO_P2O5, (10, 16, 26, 36), PPT_1983),
        # TANDON_2005: <120, 121-240, 241-300, 301-360, >360 kg K2O/ha; 120 goes to "low"
        # (judgement). The probe's mg/kg is read as elemental K.
        NutrientTable(
            "soil_potassium", _K2O, "kg K2O/ha", _K2O_HA, (120, 241, 301, 361), TANDON_2005
        ),
    )
}


def p_to_p2o5(p: float) -> float:
    """Elemental P to P2O5 (x 2.2913)."""
    return float(Decimal(str(p)) * P_TO_P2O5)


def k_to_k2o(k: float) -> float:
    """Elemental K to K2O (x 1.2046)."""
    return float(Decimal(str(k)) * K_TO_K2O)


@dataclass(frozen=True, slots=True)
class NutrientAssessment:
    """A probe's N, P or K, put into a cited table's unit and classed; indicative only."""

    quantity: str
    probe_mg_kg: float
    table_value: float
    nutrient_class: NutrientClass
    table: NutrientTable
    caveat: Text = NPK_CAVEAT
    caveat_source: Source = NPK_CAVEAT_SOURCE


def classify_nutrient(quantity_key: str, mg_kg: float) -> NutrientAssessment:
    """Class a probe's ``soil_nitrogen``, ``soil_phosphorus`` or ``soil_potassium`` (mg/kg)."""
    try:
        table = NUTRIENT_TABLES[quantity_key]
    except KeyError:
        known = ", ".join(NUTRIENT_TABLES)
        raise UnknownNutrientError(f"no class table for {quantity_key!r}; known: {known}") from None
    if not math.isfinite(mg_kg) or mg_kg < 0:
        raise ValueError(f"{quantity_key} must be a finite mg/kg >= 0, got {mg_kg!r}")
    value = table.to_table_unit(mg_kg)
    return NutrientAssessment(quantity_key, mg_kg, float(value), table.classify(value), table)


@dataclass(frozen=True, slots=True)
class CropPhRange:
    """A crop's preferred soil pH (H2O), inclusive at both ends on the pH rounded to 0.1."""

    crop_id: str  # agronomy.crops names it
    low: float
    high: float
    source: Source
    note: Text | None = None

    def position(self, ph: float) -> RangePosition:
        """Where ``ph`` lies against this range."""
        value = _round(ph, 1)
        if value < Decimal(str(self.low)):
            return RangePosition.BELOW
        return RangePosition.ABOVE if value > Decimal(str(self.high)) else RangePosition.WITHIN


_PADDY_NOTE = Text(
    "Di sawah tergenang pH tanah masam naik mendekati netral beberapa minggu setelah digenangi "
    "(Ponnamperuma 1972): pH probe di tanah tergenang bukan pH tanah kering dari laboratorium.",
    "In flooded paddy an acid soil's pH rises towards neutral within weeks (Ponnamperuma "
    "1972): a probe's pH under water is not the laboratory pH of the dried soil.",
)
CROP_PH_RANGES: dict[str, CropPhRange] = {
    c.crop_id: c
    for c in (
        # DJAENUDIN_CHECKED: transcription cites rice p.30, maize p.34, soybean p.42, chili
        # (cabai merah) p.54, robusta p.117.
        CropPhRange("padi", 5.5, 7.0, DJAENUDIN_CHECKED, _PADDY_NOTE),
        CropPhRange("jagung", 5.8, 7.8, DJAENUDIN_CHECKED),
        CropPhRange("kedelai", 5.5, 7.5, DJAENUDIN_CHECKED),
        CropPhRange("cabai", 6.0, 7.6, DJAENUDIN_CHECKED),
        CropPhRange("kopi", 5.3, 6.0, DJAENUDIN_CHECKED),
        CropPhRange("singkong", 5.2, 7.0, DJAENUDIN_RECALLED),
        CropPhRange("lada", 5.5, 7.0, DJAENUDIN_RECALLED),
        CropPhRange("kacang_tanah", 6.0, 7.0, DJAENUDIN_RECALLED),
    )
}


def crop_ph_range(crop_id: str) -> CropPhRange:
    """The preferred pH range of ``crop_id``."""
    try:
        return CROP_PH_RANGES[crop_id]
    except KeyError:
        raise UnknownCropError(
            f"no pH range for crop {crop_id!r}; known crops: {', '.join(CROP_PH_RANGES)}. Set "
            "the field's crop to one of these, or add the crop to CROP_PH_RANGES with a source."
        ) from None


DOLOMITE = Text("Kapur dolomit", "Dolomite lime")
LIME_LIMITS: tuple[Text, ...] = (
    Text(
        "Aturan kasar dari pH saja (2 t dolomit/ha menaikkan pH sekitar 1 satuan). Kebutuhan "
        "kapur sebenarnya bergantung pada Al-dd, tekstur dan bahan organik: tanah berpasir "
        "biasanya perlu lebih sedikit, tanah liat atau kaya bahan organik lebih banyak.",
        "A rough pH-only rule (2 t dolomite/ha raises pH about one unit). The real lime need "
        "depends on exchangeable Al, texture and organic matter: sandy soils usually need less, "
        "clay or organic soils more.",
    ),
    Text(
        "Uji Al-dd di laboratorium lebih tepat: sekitar 1 t kapur (setara CaCO3)/ha untuk "
        "setiap 1 cmol(+)/kg Al-dd.",
        "A laboratory test of exchangeable Al is better: about 1 t lime (CaCO3 equivalent)/ha "
        "per 1 cmol(+)/kg of exchangeable Al.",
    ),
    Text(
        "Beri bertahap, paling banyak 2 t/ha sekali; ukur pH lagi sebelum tahap berikutnya.",
        "Spread it in steps of at most 2 t/ha; measure pH again before the next step.",
    ),
)


@dataclass(frozen=True, slots=True)
class LimeAdvice:
    """Dolomite to bring an acid soil up to the crop's range (given only below the range)."""

    material: Text
    ph: float
    target_ph: float
    dose_t_ha: float
    dose_kg_field: int | None
    steps: int
    limits: tuple[Text, ...]
    sources: tuple[Source, ...]


def _check_area(area_m2: float | None) -> None:
    if area_m2 is not None and not (math.isfinite(area_m2) and area_m2 > 0):
        raise InvalidAreaError(
            f"field area must be a positive number of m2, got {area_m2!r}: fix the field's "
            "area in the registry, or pass None for the dose per hectare only"
        )


def lime_advice(crop_id: str, ph: float, area_m2: float | None) -> LimeAdvice | None:
    """Dolomite for ``crop_id`` at ``ph``; None when the pH is within or above the range.

    The target is the range's lower end (judgement: the least lime that does the job; more
    risks over-liming). With ``area_m2`` None only the per-hectare dose is given.
    """
    crop = crop_ph_range(crop_id)
    _check_area(area_m2)
    if crop.position(ph) is not RangePosition.BELOW:
        return None
    rounded, target = _round(ph, 1), Decimal(str(crop.low))
    dose = _round((target - rounded) * DOLOMITE_T_HA_PER_PH_UNIT, 1)
    # t/ha x 1,000 kg/t x area_m2 / 10,000 m2/ha
    kg = None if area_m2 is None else int(_round(dose * Decimal(str(area_m2)) / 10, 0))
    return LimeAdvice(
        DOLOMITE,
        float(rounded),
        crop.low,
        float(dose),
        kg,
        math.ceil(dose / MAX_DOLOMITE_T_HA_PER_STEP),
        LIME_LIMITS if crop.note is None else (*LIME_LIMITS, crop.note),
        (CYBEX_DOLOMITE, KAMPRATH_1970),
    )


@dataclass(frozen=True, slots=True)
class ProbeValue:
    """The latest value of one probe quantity, with its quality and time."""

    value: float
    quality: Quality
    time_ms: int
    time_trusted: bool = True

    @classmethod
    def from_reading(cls, reading: Reading) -> ProbeValue:
        """The probe value a telemetry Reading carries."""
        return cls(reading.value, reading.quality, reading.time_ms, reading.time_trusted)


def withhold_reason(
    key: str, probe: ProbeValue | None, now_ms: int, max_age_s: float = MAX_AGE_S
) -> Reason | None:
    """Why ``probe`` (quantity ``key``) must not be advised on; None when it may be.

    A value that is not finite or outside the quantity's physical range counts as bad; a
    reading whose time the gateway could not establish counts as stale (its age is unknown).
    """
    if probe is None:
        return Reason.NO_READING
    if probe.quality == Quality.BAD or not (
        math.isfinite(probe.value) and quantity(key).in_physical_range(probe.value)
    ):
        return Reason.QUALITY_BAD
    if probe.quality == Quality.SUSPECT:
        return Reason.QUALITY_SUSPECT
    if not probe.time_trusted or (now_ms - probe.time_ms) / 1000 > max_age_s:
        return Reason.STALE
    return None


@dataclass(frozen=True, slots=True)
class SoilChemistryAdvice:
    """Soil chemistry of one field read against its crop.

    A quantity in ``withheld`` gets no class and no advice; for ``soil_ph`` the pH fields and
    ``lime`` are None. ``lime`` is also None when the pH is within or above the crop's range.
    """

    crop: CropPhRange
    ph: float | None
    ph_class: PhClass | None
    ph_position: RangePosition | None
    in_crop_range: bool | None
    lime: LimeAdvice | None
    nutrients: dict[str, NutrientAssessment]
    withheld: dict[str, Reason]


def assess_soil(
    crop_id: str,
    readings: Mapping[str, ProbeValue],
    area_m2: float | None,
    now_ms: int,
    *,
    max_age_s: float = MAX_AGE_S,
) -> SoilChemistryAdvice:
    """pH class, lime advice and N/P/K classes for a field of ``crop_id``.

    ``readings`` maps quantity keys (``soil_ph``, ``soil_nitrogen``, ...) to the latest probe
    values; other keys are ignored. With ``area_m2`` None lime is given per hectare only.
    """
    crop = crop_ph_range(crop_id)
    _check_area(area_m2)
    usable: dict[str, float] = {}
    withheld: dict[str, Reason] = {}
    for key in ("soil_ph", *NUTRIENT_TABLES):
        probe = readings.get(key)
        reason = withhold_reason(key, probe, now_ms, max_age_s)
        if reason is not None:
            withheld[key] = reason
        elif probe is not None:
            usable[key] = probe.value
    nutrients = {k: classify_nutrient(k, usable[k]) for k in NUTRIENT_TABLES if k in usable}
    if "soil_ph" not in usable:
        return SoilChemistryAdvice(crop, None, None, None, None, None, nutrients, withheld)
    ph = usable["soil_ph"]
    position = crop.position(ph)
    return SoilChemistryAdvice(
        crop,
        float(_round(ph, 1)),
        classify_ph(ph),
        position,
        position is RangePosition.WITHIN,
        lime_advice(crop_id, ph, area_m2),
        nutrients,
        withheld,
    )
