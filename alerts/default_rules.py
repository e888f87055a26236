"""Default alert rules for the crops grown in Lampung, each number with where it comes from.

The village office adjusts these (``tani rules add`` replaces a rule by name); ``install_defaults``
only adds what is missing unless told to replace. Crop ids are the Indonesian ones fields carry:
padi, jagung, singkong, kopi, lada. Soil moisture is volumetric %, the catalogue's unit.

Dry-soil thresholds follow FAO Irrigation and Drainage Paper 56 (Allen et al. 1998, "FAO-56"):
a crop starts to suffer once it has used the readily available water, RAW = p * TAW (eq. 83),
where TAW is the water between field capacity and wilting point (eq. 82) and p is the crop's
depletion fraction (Table 22). In volumetric terms the soil is too dry below
FC - p * (FC - WP). FAO-56's p values are for ETc of about 5 mm/day, close to Lampung's; they
are used unadjusted. The numbers (p per crop, loam's FC and WP, the waterlogging limit) are the
agronomy package's, which pages and dashboards read too.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from agronomy.crops import CROPS
from agronomy.moisture import WATERLOGGED, crop_limits
from alerts.rules import RuleIn, upsert_rule
from registry.alerting import AlertRule, RuleKind, Scope, Severity

HOUR_S = 3600

# Clear 3 points on the safe side: about the accuracy of soil moisture probes on a generic
# calibration (METER TEROS 12 datasheet: +-0.03 m3/m3), so sensor noise cannot flap an alert.
MOISTURE_HYSTERESIS = 3.0
# Judgement: a passing cloud should not clear heat stress and open it again.
HEAT_HYSTERESIS = 2.0


def _dry(crop: str, hours: int, severity: Severity, note: str) -> RuleIn:
    threshold = crop_limits(crop).dry  # the crop's FAO-56 p on loam (agronomy.moisture)
    return RuleIn(
        name=f"{crop}-tanah-kering",
        kind=RuleKind.BELOW,
        quantity="soil_moisture",
        threshold=threshold,
        clear_threshold=threshold + MOISTURE_HYSTERESIS,
        duration_s=hours * HOUR_S,
        scope=Scope.CROP,
        scope_value=crop,
        severity=severity,
        note=note,
    )


def _waterlogged(crop: str, hours: int, note: str) -> RuleIn:
    return RuleIn(
        name=f"{crop}-tergenang",
        kind=RuleKind.ABOVE,
        quantity="soil_moisture",
        threshold=WATERLOGGED,
        clear_threshold=WATERLOGGED - MOISTURE_HYSTERESIS,
        duration_s=hours * HOUR_S,
        scope=Scope.CROP,
        scope_value=crop,
        severity=Severity.WARNING,
        note=note,
    )


def _heat(crop: str, hours: int, severity: Severity, note: str) -> RuleIn:
    celsius = CROPS[crop].heat_limit_c
    if celsius is None:
        raise ValueError(f"agronomy.crops has no heat limit for {crop}")
    return RuleIn(
        name=f"{crop}-panas",
        kind=RuleKind.ABOVE,
        quantity="air_temperature",
        threshold=celsius,
        clear_threshold=celsius - HEAT_HYSTERESIS,
        duration_s=hours * HOUR_S,
        scope=Scope.CROP,
        scope_value=crop,
        severity=severity,
        note=note,
    )


_LOAM = "tanah lempung/loam FC 25 %, WP 12 % (FAO-56 Tabel 19)"  # agronomy.soils' default

# Durations are judgements throughout: long enough that the daily drying of the topsoil, or one
# hot afternoon hour, does not page an officer; short enough to act before yield is lost.
_CROP_RULES: tuple[RuleIn, ...] = (
    # Padi (lowland rice). FAO-56 Table 22 gives rice p = 0.20, the smallest of any crop: it
    # tolerates little drying. Even IRRI's "safe" alternate wetting and drying lets the water
    # drop only 15 cm below the surface, where the root zone stays saturated, so a root-zone
    # probe under 22 % means the field has run dry. Rice is flooded on purpose: no waterlogging
    # rule. Upland rice (padi gogo) should use jagung-like rules on its fields.
    _dry(
        "padi",
        12,
        Severity.WARNING,
        f"FAO-56 Tabel 22: p = 0.20; {_LOAM}; 12 jam = pertimbangan / judgement",
    ),
    # Spikelets become sterile when anthesis (mid-morning) meets more than about 35 degC, even
    # for an hour (Yoshida 1981, Fundamentals of Rice Crop Science, IRRI).
    _heat(
        "padi",
        1,
        Severity.WARNING,
        "Yoshida 1981 (IRRI): gabah hampa >35 degC saat berbunga / spikelet sterility",
    ),
    # Jagung (maize, grain). FAO-56 Table 22: p = 0.55.
    _dry(
        "jagung",
        24,
        Severity.WARNING,
        f"FAO-56 Tabel 22: p = 0.55; {_LOAM}; 24 jam = pertimbangan / judgement",
    ),
    # Maize is among the crops most hurt by standing water, above all when young (Zaidi et al.
    # 2004, Field Crops Research 90:189-202, on maize's susceptible stages to excess moisture).
    _waterlogged(
        "jagung", 24, "Zaidi dkk. 2004: jagung peka genangan; 40 % & 24 jam = pertimbangan"
    ),
    # Maize pollen loses viability in high heat (Herrero & Johnson 1980, Crop Science
    # 20:796-800). 35 degC, a common limit for maize pollination, and 2 h are judgements.
    _heat(
        "jagung",
        2,
        Severity.WARNING,
        "Herrero & Johnson 1980: serbuk sari rusak saat panas; 35 degC 2 jam = pertimbangan",
    ),
    # Singkong (cassava). FAO-56 Table 22: p = 0.35 (year 1; 0.40 in year 2): cassava closes its
    # stomata early and so survives drought, but stops growing, hence info after two days.
    _dry(
        "singkong",
        48,
        Severity.INFO,
        f"FAO-56 Tabel 22: p = 0.35 (tahun 1); {_LOAM}; 48 jam = pertimbangan / judgement",
    ),
    # Cassava does not tolerate waterlogging (FAO 2013, Save and Grow: Cassava): its storage
    # roots rot in wet soil. 48 h is a judgement.
    _waterlogged("singkong", 48, "FAO 2013 Save and Grow: Cassava - tidak tahan genangan; 48 jam"),
    # Kopi (Lampung grows mostly robusta). FAO-56 Table 22: coffee p = 0.40. Deep-rooted trees
    # take longer to show stress: 48 h.
    _dry(
        "kopi",
        48,
        Severity.WARNING,
        f"FAO-56 Tabel 22: p = 0.40; {_LOAM}; 48 jam = pertimbangan / judgement",
    ),
    # Coffee needs well-drained soil (Puslitkoko, the Indonesian Coffee and Cocoa Research
    # Institute, cultivation guidance); 48 h is a judgement.
    _waterlogged("kopi", 48, "Puslitkoko: kopi perlu tanah berdrainase baik; 48 jam"),
    # Robusta yields fall as temperatures rise above its optimum (Kath et al. 2020, Global
    # Change Biology 26:3677, "Not so robust"); no source gives an hourly limit, so 34 degC for
    # 3 h is a judgement for a heat spell beyond Lampung's usual afternoons. Info only.
    _heat(
        "kopi",
        3,
        Severity.INFO,
        "Kath dkk. 2020: robusta peka panas; 34 degC 3 jam = pertimbangan / judgement",
    ),
    # Lada (black pepper). FAO-56 has no pepper entry: p = 0.35, as for other shallow-rooted
    # crops sensitive to drought, is a judgement. Young vines die in dry spells: 24 h.
    _dry(
        "lada",
        24,
        Severity.WARNING,
        f"p = 0.35 = pertimbangan (lada tidak ada di FAO-56); {_LOAM}; 24 jam",
    ),
    # Wet soil spreads foot rot (busuk pangkal batang, Phytophthora capsici), the worst pepper
    # disease in Lampung; Balittro/Kementan guidance on budidaya lada insists on drainage.
    # No heat rule: pepper grows shaded on living stakes and no source gives a usable limit.
    _waterlogged("lada", 24, "Balittro: genangan memicu busuk pangkal batang (BPB); 24 jam"),
)

# Rules for every field and gateway, whatever grows there. All numbers are judgements.
_COMMON_RULES: tuple[RuleIn, ...] = (
    # Gateways poll every few minutes and keep an outbox; two silent hours is a dead probe or
    # cable, not a short power cut.
    RuleIn(
        name="perangkat-tanpa-data",
        kind=RuleKind.NO_DATA,
        duration_s=2 * HOUR_S,
        note="2 jam tanpa data = pertimbangan / judgement",
    ),
    # The gateway's MQTT last will said offline: half an hour rides out a brief power or signal
    # loss, then someone should look (its outbox keeps the readings meanwhile).
    RuleIn(
        name="gateway-offline",
        kind=RuleKind.GATEWAY_OFFLINE,
        duration_s=HOUR_S // 2,
        note="30 menit = pertimbangan / judgement",
    ),
    # One bad reading is noise; half an hour of them is a probe out of the soil or a failing
    # sensor.
    RuleIn(
        name="sensor-bermasalah",
        kind=RuleKind.QUALITY_BAD,
        duration_s=HOUR_S // 2,
        note="30 menit mutu buruk = pertimbangan / judgement",
    ),
    # Plants cannot pull soil moisture down 10 points in an hour (a day's ETc of about 5 mm is
    # under 2 points of a 30 cm root zone): such a drop is a breached paddy bund or a probe
    # pulled out of the soil. The threshold is negative: only a fall counts, so rain soaking
    # the soil just as fast does not. The numbers are a judgement.
    RuleIn(
        name="kelembapan-turun-cepat",
        kind=RuleKind.RATE,
        quantity="soil_moisture",
        threshold=-10.0,
        clear_threshold=-5.0,
        window_s=HOUR_S,
        severity=Severity.INFO,
        note="-10 %/jam = pertimbangan (pematang bocor, probe tercabut) / judgement "
        "(breached bund, probe pulled out)",
    ),
    # The field's water balance (agronomy.water_balance, FAO-56 ch. 8) says the crop has used
    # its readily available water (Dr > RAW, eq. 83-84) or an AWD paddy is 15 cm dry (IRRI):
    # for the farmer and the officer, with the amount to give. The balance is daily: no
    # duration. It clears once rain or recorded irrigation refills the root zone.
    RuleIn(
        name="tanaman-kekurangan-air",
        kind=RuleKind.WATER_STRESS,
        severity=Severity.WARNING,
        note="FAO-56 Dr > RAW (pers. 83-84); AWD IRRI -15 cm",
    ),
)

DEFAULT_RULES: tuple[RuleIn, ...] = _CROP_RULES + _COMMON_RULES


def install_defaults(session: Session, *, replace: bool = False) -> list[str]:
    """Add the default rules missing by name (all of them with ``replace``); their names."""
    existing = set(session.scalars(select(AlertRule.name)))
    installed = []
    for rule in DEFAULT_RULES:
        if rule.name in existing and not replace:
            continue
        upsert_rule(session, rule)
        installed.append(rule.name)
    return installed
