"""What the Tani Hub dashboards share: units, thresholds, template variables, query pieces.

Every number shown against a threshold comes from the agronomy catalogue (as the default alert
rules' do) and every unit from the quantity catalogue (``telemetry/quantities.py``), so a
dashboard never disagrees with the alerts or the API.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.models import units
from grafana_foundation_sdk.models.dashboard import (
    Dashboard,
    DashboardLinkType,
    Threshold,
    ThresholdsMode,
    VariableHide,
    VariableOption,
    VariableRefresh,
    VariableSort,
)

from agronomy.crops import CROPS
from agronomy.moisture import WATERLOGGED, crop_limits
from agronomy.paddy import PaddySettings
from dashboards.influxql import datasource_ref
from storage.rollups import StorageLayout
from storage.schema import (
    DAILY_MEASUREMENT,
    DEVICE_HEALTH,
    GATEWAY_HEALTH,
    HOURLY_MEASUREMENT,
    MEASUREMENT,
    ROLLUP_RETENTION_POLICY,
)
from storage.water_days import WATER_MEASUREMENT
from telemetry.quantities import QUANTITIES

# The catalogue's wire units as Grafana unit ids; units Grafana lacks get a custom suffix.
GRAFANA_UNITS: dict[str, str] = {
    "%": units.Percent,
    "degC": units.Celsius,
    "uS/cm": "suffix: µS/cm",
    "pH": units.NoUnit,
    "mg/kg": "suffix: mg/kg",
    "hPa": units.Hectopascals,
    "m/s": units.MetersPerSecond,
    "deg": units.Degrees,
    "mm": units.Millimeter,
    "W/m2": units.WattPerSquareMeter,
}

# Quoted InfluxQL sources, from the schema's names.
RAW = f'"{MEASUREMENT}"'
HOURLY = f'"{ROLLUP_RETENTION_POLICY}"."{HOURLY_MEASUREMENT}"'
DAILY = f'"{ROLLUP_RETENTION_POLICY}"."{DAILY_MEASUREMENT}"'
WATER = f'"{ROLLUP_RETENTION_POLICY}"."{WATER_MEASUREMENT}"'
GATEWAYS = f'"{GATEWAY_HEALTH}"'
DEVICES = f'"{DEVICE_HEALTH}"'
# Readings outside what a sensor can report are left out of charts, as the rollups leave them.
NOT_BAD = "\"quality\" != 'bad'"

# Template variables as panels' queries use them. A single-value variable is inserted as it is
# (tag values are registry ids: no quotes or backslashes), a multi-value one as an escaped
# regex alternation, hence the =~ /^...$/ form.
VILLAGE = "\"village_id\" = '$village'"
FIELD = "\"field_id\" = '$field'"
FIELDS = '"field_id" =~ /^$field$/'
GATEWAY = '"gateway_id" =~ /^$gateway$/'

# Water balance terms (water_1d) are millimetres per local day.
MM = GRAFANA_UNITS["mm"]

# Where local days start, as the rollups and water_1d have them: the default storage layout
# (WIB). Only queries that group by days or weeks depend on it (``local_day``, ``local_week``
# take another offset; ``tani grafana export`` has no option for it yet).
UTC_OFFSET_H = StorageLayout().utc_offset_h

TAGS = ("tani", "tani-hub")
FOLDER_UID = "tani-hub"
FOLDER_TITLE = "Tani Hub"


def grafana_unit(quantity: str) -> str:
    """The Grafana unit id for a catalogue quantity."""
    return GRAFANA_UNITS[QUANTITIES[quantity].unit]


def dry_thresholds() -> dict[str, float]:
    """Each crop's dry-soil limit (%) on the default soil, by crop id (agronomy.moisture)."""
    return {crop_id: crop_limits(crop_id).dry for crop_id in CROPS}


# Of the crops, rice tolerates drying least (FAO-56 p = 0.20): its limit is the line drawn on
# moisture charts (Grafana thresholds cannot follow each field's crop), and descriptions list
# the other crops' limits.
PADI_DRY = crop_limits("padi").dry
PADI_HOT = CROPS["padi"].heat_limit_c


# A paddy under safe AWD is irrigated once its water falls this far below the surface (IRRI,
# agronomy.paddy): the line drawn on the water level chart. A paddy kept ponded is refilled
# once its water falls below the minimum ponding depth.
AWD_THRESHOLD = PaddySettings().awd_threshold_mm
MIN_PONDED = PaddySettings().min_ponded_mm


def local_day(utc_offset_h: int = UTC_OFFSET_H) -> str:
    """``GROUP BY`` time of local days: 1d buckets from local midnight, as the daily rollup."""
    return f"time(1d, {-utc_offset_h % 24}h)"


def local_week(utc_offset_h: int = UTC_OFFSET_H) -> str:
    """``GROUP BY`` time of local weeks, Monday to Sunday.

    InfluxDB counts buckets from the epoch, a Thursday 00:00 UTC; Monday is 4 days on, and
    local midnight ``utc_offset_h`` hours before UTC's (89h for WIB).
    """
    return f"time(7d, {(4 * 24 - utc_offset_h) % (7 * 24)}h)"


def moisture_thresholds() -> dash.ThresholdsConfig:
    """Red below rice's dry threshold, green up to waterlogged, blue above."""
    return (
        dash.ThresholdsConfig()
        .mode(ThresholdsMode.ABSOLUTE)
        .steps(
            [
                Threshold(value=None, color="red"),
                Threshold(value=PADI_DRY, color="green"),
                Threshold(value=WATERLOGGED, color="blue"),
            ]
        )
    )


def heat_thresholds() -> dash.ThresholdsConfig:
    """Green below rice's heat-stress temperature, red from it."""
    return (
        dash.ThresholdsConfig()
        .mode(ThresholdsMode.ABSOLUTE)
        .steps([Threshold(value=None, color="green"), Threshold(value=PADI_HOT, color="red")])
    )


def water_level_thresholds() -> dash.ThresholdsConfig:
    """Red below the AWD irrigation level, green above it."""
    return (
        dash.ThresholdsConfig()
        .mode(ThresholdsMode.ABSOLUTE)
        .steps([Threshold(value=None, color="red"), Threshold(value=AWD_THRESHOLD, color="green")])
    )


def plain_thresholds() -> dash.ThresholdsConfig:
    """One neutral colour: a quantity without an alert threshold."""
    return (
        dash.ThresholdsConfig()
        .mode(ThresholdsMode.ABSOLUTE)
        .steps([Threshold(value=None, color="green")])
    )


def moisture_note() -> str:
    """The dry thresholds of every crop, for panel descriptions."""
    crops = ", ".join(f"{crop} {value:g} %" for crop, value in sorted(dry_thresholds().items()))
    return (
        f"Lines: dry below {PADI_DRY:g} % (padi), waterlogged above {WATERLOGGED:g} %, as the "
        f"default alert rules. Dry thresholds by crop: {crops}."
    )


def _query_variable(name: str, label: str, query: str, description: str) -> dash.QueryVariable:
    return (
        dash.QueryVariable(name)
        .label(label)
        .description(description)
        .datasource(datasource_ref())
        .query(query)
        .refresh(VariableRefresh.ON_DASHBOARD_LOAD)
        .sort(VariableSort.ALPHABETICAL_ASC)
    )


def village_variable() -> dash.QueryVariable:
    """``$village``: one village id, from the readings' tags."""
    return _query_variable(
        "village",
        "Desa",
        f'SHOW TAG VALUES FROM {RAW} WITH KEY = "village_id"',
        "Village (registry id) whose fields are shown.",
    )


def field_variable(*, multi: bool) -> dash.QueryVariable:
    """``$field``: fields of ``$village``; ``multi`` allows several and All."""
    variable = _query_variable(
        "field",
        "Lahan",
        f'SHOW TAG VALUES FROM {RAW} WITH KEY = "field_id" WHERE {VILLAGE}',
        "Field (registry id) of the chosen village.",
    )
    if multi:
        variable = variable.multi(True).include_all(True)
    return variable


def gateway_variable() -> dash.QueryVariable:
    """``$gateway``: gateways that sent a health report; several or All."""
    return (
        _query_variable(
            "gateway",
            "Gateway",
            f'SHOW TAG VALUES FROM {GATEWAYS} WITH KEY = "gateway_id"',
            "Gateways that have sent at least one health report.",
        )
        .multi(True)
        .include_all(True)
    )


def api_url_variable(default: str) -> dash.TextBoxVariable:
    """``$api_url``: where people reach the Tani Hub web pages (for links out of Grafana)."""
    return (
        dash.TextBoxVariable("api_url")
        .label("Alamat Tani Hub")
        .description("Base URL of the Tani Hub API and web pages, as people's browsers reach it.")
        .default_value(default)
        .current(VariableOption(selected=True, text=default, value=default))
        .hide(VariableHide.HIDE_VARIABLE)
    )


def link_to_other_dashboards() -> dash.DashboardLink:
    """A drop-down of the other Tani Hub dashboards, keeping time range and variables."""
    return (
        dash.DashboardLink("Dasbor Tani Hub")
        .type(DashboardLinkType.DASHBOARDS)
        .tags(list(TAGS[:1]))
        .as_dropdown(True)
        .include_vars(True)
        .keep_time(True)
    )


def numbered(dashboard: Dashboard) -> Dashboard:
    """``dashboard`` with its panels (rows and theirs included) numbered 1, 2, ... in order.

    Grafana needs ids unique within a dashboard (links, "view panel", repeats use them); the
    builders leave them unset, and every row at 0.
    """
    next_id = 1
    for panel in dashboard.panels or []:
        panel.id_val = next_id
        next_id += 1
        for inner in getattr(panel, "panels", None) or []:
            inner.id_val = next_id
            next_id += 1
    return dashboard
