"""Building blocks of the dashboards: datasources, query targets, thresholds and panel defaults.

grafana-foundation-sdk has no builder for the grafana-clickhouse-datasource plugin's queries, so
`ClickHouseTarget` writes the plugin's query model (v4: `editorType`, `format`, `queryType`,
`rawSql`) itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import prometheus
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models.dashboard import (
    DataSourceRef,
    GridPos,
    MappingType,
    Threshold,
    ThresholdsMode,
    ValueMap,
    ValueMappingResult,
    VariableOption,
)

from streams.logic.pager_push import TASK_VIEW_UID, TASK_VIEW_VARIABLE

# Fixed datasource uids: dashboards/grafana/provisioning/datasources/riskalert.yaml provisions them.
CLICKHOUSE_UID = "riskalert-clickhouse"
CLICKHOUSE_TYPE = "grafana-clickhouse-datasource"
PROMETHEUS_UID = "riskalert-prometheus"
PROMETHEUS_TYPE = "prometheus"
CLICKHOUSE = DataSourceRef(type_val=CLICKHOUSE_TYPE, uid=CLICKHOUSE_UID)
PROMETHEUS = DataSourceRef(type_val=PROMETHEUS_TYPE, uid=PROMETHEUS_UID)
TIMEZONE = "Asia/Shanghai"
# The task view's link, relative to Grafana's root: the pager's page links to the same view.
TASK_VIEW_LINK = f"/d/{TASK_VIEW_UID}/{TASK_VIEW_UID}?var-{TASK_VIEW_VARIABLE}=${{__value.raw}}"

# A multi-select variable's selection of every value.
ALL = VariableOption(selected=True, text=["All"], value=["$__all"])

# grafana-clickhouse-datasource's Format: how the plugin shapes the result.
FORMAT_TIME_SERIES = 0
FORMAT_TABLE = 1


@dataclass
class ClickHouseQuery(cogvariants.Dataquery):
    """A raw-SQL query of the grafana-clickhouse-datasource plugin (v4 query model)."""

    ref_id: str
    raw_sql: str
    time_series: bool = False

    def to_json(self) -> dict[str, Any]:
        """The target as the plugin stores it in a dashboard."""
        return {
            "datasource": CLICKHOUSE.to_json(),
            "editorType": "sql",
            "format": FORMAT_TIME_SERIES if self.time_series else FORMAT_TABLE,
            "queryType": "timeseries" if self.time_series else "table",
            "rawSql": self.raw_sql,
            "refId": self.ref_id,
        }


class ClickHouseTarget(cogbuilder.Builder[ClickHouseQuery]):
    """Builds a `ClickHouseQuery`."""

    def __init__(self, raw_sql: str, ref_id: str = "A", time_series: bool = False) -> None:
        self._query = ClickHouseQuery(ref_id=ref_id, raw_sql=raw_sql, time_series=time_series)

    def build(self) -> ClickHouseQuery:
        """The query."""
        return self._query


def promql(expr: str, legend: str, ref_id: str = "A") -> prometheus.Dataquery:
    """A range query on the Prometheus datasource."""
    return (
        prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(ref_id).range().datasource(PROMETHEUS)
    )


def thresholds(base: str, *steps: tuple[float, str]) -> dash.ThresholdsConfig:
    """Absolute thresholds: `base` colour below the first step, then each step's colour from its value."""
    return (
        dash.ThresholdsConfig()
        .mode(ThresholdsMode.ABSOLUTE)
        .steps(
            [
                Threshold(value=None, color=base),
                *(Threshold(value=value, color=color) for value, color in steps),
            ]
        )
    )


def text_map(mapping: dict[str, tuple[str, str]]) -> list[ValueMap]:
    """A value mapping: each value shown as a text in a colour."""
    options = {
        value: ValueMappingResult(text=text, color=color, index=index)
        for index, (value, (text, color)) in enumerate(mapping.items())
    }
    value_map = ValueMap(options=options)
    value_map.type_val = MappingType.VALUE_TO_TEXT
    return [value_map]


def place(panel: Any, x: int, y: int, w: int, h: int, panel_id: int) -> Any:
    """The panel at grid position (x, y), w columns wide and h rows high, with its id."""
    return panel.grid_pos(GridPos(x=x, y=y, w=w, h=h)).id(panel_id)
