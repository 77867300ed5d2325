"""The KPI report as the rich table `riskalert kpi` prints (without `--json`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from rich.markup import escape
from rich.table import Table

from streams.kpi.request import KpiRequest

Item = Mapping[str, Any]


def _rate(path: str) -> Callable[[Item], Any]:
    def get(item: Item) -> Any:
        value: Any = item
        for key in path.split("."):
            value = value.get(key) if isinstance(value, Mapping) else None
        return value

    return get


def _minutes(step: str) -> Callable[[Item], str | None]:
    def get(item: Item) -> str | None:
        times = item["time_to_step_seconds"][step]
        if times["p50"] is None:
            return None
        return f"{times['p50'] / 60:.0f}/{times['p90'] / 60:.0f}"

    return get


# (header, value of a report item, kind) of the printed columns.
COLUMNS: tuple[tuple[str, Callable[[Item], Any], str], ...] = (
    ("rank", _rate("rank"), "int"),
    ("station", lambda item: item["station"] or "all stations", "text"),
    ("card", _rate("card"), "card"),
    ("tasks", _rate("tasks"), "int"),
    ("签收 reception", _rate("step_compliance.reception"), "rate"),
    ("派发 dispatch", _rate("step_compliance.dispatch"), "rate"),
    ("核查 verification", _rate("step_compliance.verification"), "rate"),
    ("超期反馈 overdue feedback", _rate("overdue_feedback_rate"), "rate"),
    ("见面 face-to-face", _rate("face_to_face_rate"), "rate"),
    ("劝阻 dissuasion", _rate("dissuasion_rate"), "rate"),
    ("预后被骗 victimised", _rate("post_warning_victimisation_rate"), "rate"),
    ("after dissuasion", _rate("post_warning_victimisation.after_dissuasion"), "rate"),
    ("never dissuaded", _rate("post_warning_victimisation.never_dissuaded"), "rate"),
    ("挽损 protected ¥", _rate("amount_protected_yuan"), "yuan"),
    ("核查 min p50/p90", _minutes("verification"), "text"),
    ("反馈 min p50/p90", _minutes("feedback"), "text"),
)


def report_table(report: Iterable[Item], request: KpiRequest) -> Table:
    """The report as a rich table; `-` where a rate has nothing to divide by."""
    period = request.period
    level = f", level {request.level}" if request.level else ""
    table = Table(title=f"riskalert KPIs, tasks created {period.first_day} to {period.last_day}{level}")
    for header, _, kind in COLUMNS:
        table.add_column(
            header, justify="left" if kind in ("text", "card") else "right", no_wrap=kind == "text"
        )
    for item in report:
        style = "bold" if item["station"] is None else None
        table.add_row(*(format_cell(value(item), kind) for _, value, kind in COLUMNS), style=style)
    return table


def format_cell(value: Any, kind: str) -> str:
    """One report value as rich markup: rates as percentages, cards coloured, yuan with separators;
    `-` where there is nothing to divide by, blank for no card."""
    if value is None:
        return "" if kind == "card" else "-"
    if kind == "rate":
        return f"{float(value):.1%}"
    if kind == "yuan":
        return f"{float(value):,.2f}"
    if kind == "card":
        return {"red": "[red]red[/red]", "yellow": "[yellow]yellow[/yellow]"}.get(str(value), "")
    return escape(str(value))
