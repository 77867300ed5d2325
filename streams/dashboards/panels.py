"""Panel shapes the three dashboards share: stat tiles, tables, bar charts, time series."""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders import barchart, bargauge, common, stat, table, timeseries
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.models.common import (
    BigValueColorMode,
    BigValueGraphMode,
    BigValueTextMode,
    StackingMode,
    VisibilityMode,
    VizOrientation,
)
from grafana_foundation_sdk.models.dashboard import DataSourceRef, DynamicConfigValue, FieldColorModeId

from streams.dashboards.grafana import CLICKHOUSE, ClickHouseTarget

PERCENT = "percentunit"
# Rates on the wall where higher is better and no setting names a target: red below 90 %, amber
# below 95 % (the ranking's default step-compliance limits).
GOOD_RATE_LIMITS = ((0.90, "#EAB839"), (0.95, "green"))


def stat_tile(
    title: str,
    description: str,
    query: str | Any,
    unit: str,
    limits: dash.ThresholdsConfig,
    datasource: DataSourceRef = CLICKHOUSE,
) -> stat.Panel:
    """A big number with its background in the threshold colour, readable across a room (`query`: SQL,
    or a target builder)."""
    return (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(datasource)
        .with_target(ClickHouseTarget(query) if isinstance(query, str) else query)
        .unit(unit)
        .thresholds(limits)
        .color_scheme(dash.FieldColor().mode(FieldColorModeId.THRESHOLDS))
        .color_mode(BigValueColorMode.BACKGROUND)
        .graph_mode(BigValueGraphMode.NONE)
        .text_mode(BigValueTextMode.VALUE)
        .reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .no_value("–")
    )


def table_panel(
    title: str, description: str, sql: str, unit: str, limits: dash.ThresholdsConfig
) -> table.Panel:
    """A table of a ClickHouse query's rows."""
    return (
        table.Panel()
        .title(title)
        .description(description)
        .datasource(CLICKHOUSE)
        .with_target(ClickHouseTarget(sql))
        .unit(unit)
        .thresholds(limits)
        .no_value("–")
    )


def percent_columns(panel: Any, *names: str) -> Any:
    """Show the named columns as percentages."""
    for name in names:
        panel = panel.override_by_name(name, [DynamicConfigValue(id_val="unit", value=PERCENT)])
    return panel


def bar_chart(title: str, description: str, sql: str, x_field: str, unit: str) -> barchart.Panel:
    """Bars per category (`x_field`), one stacked segment per value column."""
    return (
        barchart.Panel()
        .title(title)
        .description(description)
        .datasource(CLICKHOUSE)
        .with_target(ClickHouseTarget(sql))
        .x_field(x_field)
        .unit(unit)
        .stacking(StackingMode.NORMAL)
        .show_value(VisibilityMode.AUTO)
        .orientation(VizOrientation.HORIZONTAL)
    )


def bar_gauge(
    title: str, description: str, target: Any, unit: str, limits: dash.ThresholdsConfig
) -> bargauge.Panel:
    """One bar per value column (or series), coloured by the thresholds."""
    return (
        bargauge.Panel()
        .title(title)
        .description(description)
        .with_target(target)
        .unit(unit)
        .thresholds(limits)
        .color_scheme(dash.FieldColor().mode(FieldColorModeId.THRESHOLDS))
        .reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .orientation(VizOrientation.HORIZONTAL)
    )


def time_series(title: str, description: str, target: Any, unit: str) -> timeseries.Panel:
    """Lines over time."""
    return (
        timeseries.Panel()
        .title(title)
        .description(description)
        .with_target(target)
        .unit(unit)
        .line_width(2)
        .fill_opacity(10)
    )


def colour(panel: Any, name: str, color: str, display_name: str) -> Any:
    """A fixed colour and a display name for the named field."""
    return panel.override_by_name(
        name,
        [
            DynamicConfigValue(id_val="color", value={"mode": "fixed", "fixedColor": color}),
            DynamicConfigValue(id_val="displayName", value=display_name),
        ],
    )
