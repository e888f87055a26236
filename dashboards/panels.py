"""Panel shapes the Tani Hub dashboards repeat: a chart, a bar chart, a stat, a table.

Each takes raw InfluxQL (see :mod:`dashboards.influxql`) and the Indonesian title and English
description the dashboards use; every panel points at the Tani Hub InfluxDB data source.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import stat, table, text, timeseries
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.models.common import (
    BigValueGraphMode,
    GraphDrawStyle,
    GraphTresholdsStyleMode,
    LegendDisplayMode,
    LegendPlacement,
    StackingMode,
    TooltipDisplayMode,
)
from grafana_foundation_sdk.models.dashboard import (
    DataTransformerConfig,
    DynamicConfigValue,
    Panel,
)

from dashboards.common import plain_thresholds
from dashboards.influxql import InfluxQL, datasource_ref

PanelBuilder = cogbuilder.Builder[Panel]

# Readings come every minute or so: finer buckets only add empty ones.
READING_INTERVAL = "1m"
# Gateways report health every 5 minutes.
HEALTH_INTERVAL = "5m"


def chart(
    title: str,
    description: str,
    query: InfluxQL,
    unit: str,
    thresholds: dash.ThresholdsConfig | None = None,
    *,
    interval: str | None = READING_INTERVAL,
    width: int = 8,
) -> timeseries.Panel:
    """A line chart; thresholds, when given, are drawn as dashed lines."""
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(datasource_ref())
        .with_target(query.ref_id("A"))
        .unit(unit)
        .span(width)
        .height(8)
        .span_nulls(True)
        .thresholds(thresholds or plain_thresholds())
        # One tooltip for all series at the hovered time: devices or fields side by side.
        .tooltip(common_builders.VizTooltipOptions().mode(TooltipDisplayMode.MULTI))
        .legend(legend())
    )
    if thresholds is not None:
        panel = panel.thresholds_style(
            common_builders.GraphThresholdsStyleConfig().mode(GraphTresholdsStyleMode.DASHED)
        )
    if interval is not None:
        panel = panel.interval(interval)
    return panel


def legend() -> common_builders.VizLegendOptions:
    """A visible list legend under the chart (the SDK's default hides it)."""
    return (
        common_builders.VizLegendOptions()
        .show_legend(True)
        .display_mode(LegendDisplayMode.LIST)
        .placement(LegendPlacement.BOTTOM)
    )


def bars(
    title: str,
    description: str,
    query: InfluxQL,
    unit: str,
    *,
    stacked: bool = False,
    interval: str | None = None,
    time_from: str | None = None,
    width: int = 12,
) -> timeseries.Panel:
    """A bar chart (rain per hour or day, readings per interval)."""
    panel = (
        chart(title, description, query, unit, interval=interval, width=width)
        .draw_style(GraphDrawStyle.BARS)
        .fill_opacity(80)
        .span_nulls(False)
    )
    if stacked:
        panel = panel.stacking(common_builders.StackingConfig().mode(StackingMode.NORMAL))
    if time_from is not None:
        panel = panel.time_from(time_from)
    return panel


def latest(
    title: str,
    description: str,
    query: InfluxQL,
    unit: str,
    thresholds: dash.ThresholdsConfig | None = None,
    *,
    width: int = 3,
) -> stat.Panel:
    """The last value in the range, big, with a sparkline of the range."""
    return (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(datasource_ref())
        .with_target(query.ref_id("A"))
        .unit(unit)
        .thresholds(thresholds or plain_thresholds())
        .graph_mode(BigValueGraphMode.AREA)
        .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .interval(READING_INTERVAL)
        .span(width)
        .height(4)
    )


def number(
    title: str,
    description: str,
    query: InfluxQL,
    unit: str,
    thresholds: dash.ThresholdsConfig,
    *,
    width: int = 6,
) -> stat.Panel:
    """One value (a count, a sum) big, coloured by ``thresholds``, without a sparkline."""
    return (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(datasource_ref())
        .with_target(query.ref_id("A"))
        .unit(unit)
        .thresholds(thresholds)
        .graph_mode(BigValueGraphMode.NONE)
        .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .span(width)
        .height(4)
    )


def time_since(title: str, description: str, query: InfluxQL, *, width: int = 6) -> stat.Panel:
    """How long ago the last row of the query was (its time column shown as "5 minutes ago")."""
    return (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(datasource_ref())
        .with_target(query.ref_id("A"))
        .unit("dateTimeFromNow")
        .reduce_options(
            common_builders.ReduceDataOptions()
            .calcs(["lastNotNull"])
            .values(False)
            .fields("/^Time$/")
        )
        .graph_mode(BigValueGraphMode.NONE)
        .thresholds(plain_thresholds())
        .span(width)
        .height(4)
    )


def grid(
    title: str,
    description: str,
    query: InfluxQL,
    *,
    transformations: list[DataTransformerConfig] | None = None,
    overrides: dict[str, list[DynamicConfigValue]] | None = None,
    width: int = 24,
    height: int = 8,
) -> table.Panel:
    """A table of the query's rows (queries answer as tables), with optional transformations
    and per-column settings by column name."""
    panel = (
        table.Panel()
        .title(title)
        .description(description)
        .datasource(datasource_ref())
        .with_target(query.ref_id("A").table())
        .show_header(True)
        .transformations(transformations or [])
        .span(width)
        .height(height)
    )
    for column, properties in (overrides or {}).items():
        panel = panel.override_by_name(column, properties)
    return panel


def note(title: str, description: str, markdown: str, *, width: int = 24) -> text.Panel:
    """A text panel (Markdown; Grafana fills in $variables)."""
    return (
        text.Panel().title(title).description(description).content(markdown).span(width).height(4)
    )


def organize(renames: dict[str, str], hide: tuple[str, ...] = ()) -> DataTransformerConfig:
    """Rename (and hide) a table's columns."""
    return DataTransformerConfig(
        id_val="organize",
        options={"renameByName": renames, "excludeByName": dict.fromkeys(hide, True)},
    )


def pivot(*, row: str, column: str, value: str) -> DataTransformerConfig:
    """One row per ``row`` value, one column per ``column`` value (Grafana's grouping to
    matrix); the first column is named ``<row>\\<column>``."""
    return DataTransformerConfig(
        id_val="groupingToMatrix",
        options={"rowField": row, "columnField": column, "valueField": value},
    )


def unit_override(unit: str) -> list[DynamicConfigValue]:
    """Column settings giving a column its unit."""
    return [DynamicConfigValue(id_val="unit", value=unit)]
