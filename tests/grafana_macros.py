"""What Grafana and the grafana-clickhouse-datasource plugin (v4) do to a panel's rawSql before
ClickHouse sees it, for the tests that run every panel query on chDB. In the plugin's order:

1. `$__conditionalAll(condition, $var)` (the plugin's frontend, `applyConditionalAll`): from the last
   occurrence back, the arguments split at commas outside nested parentheses; replaced by `1=1` when
   the variable's current value is All (`$__all`) or empty, else by the condition.
2. Template variables (Grafana's `templateSrv.replace` with the plugin's formatter): `$var`, `${var}`,
   `${var:format}`, `[[var]]`. All (no custom all value) is every option's value. The plugin's
   formatter quotes a list as `'a','b'` and leaves a single value bare; `singlequote` quotes each
   value and escapes `'` as `\\'`. Names Grafana does not know (`$__fromTime`) are left alone.
3. The backend macros (sqlds, `pkg/macros/macros.go`): `$__timeFilter(c)` is
   `c >= toDateTime(<from s>) AND c <= toDateTime(<to s>)`, `$__fromTime`/`$__toTime` are
   `toDateTime(<unix seconds>)` (an instant: no zone), `$__timeInterval(c)` is
   `toStartOfInterval(toDateTime(c), INTERVAL <s> second)`, `$__interval_s` the interval in whole
   seconds (at least 1), `$__dateFilter(c)` compares with `toDate('<UTC date>')`. Arguments end at
   the first `)`, so a macro's argument must be a plain column (checked).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

ALL = "$__all"
CHINA = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class Variable:
    """A dashboard variable's state: its selected values (`[ALL]` for All) and its options."""

    selected: list[str]
    options: list[str] = field(default_factory=list)
    multi: bool = True

    def values(self) -> list[str]:
        """The values it stands for: every option under All."""
        return list(self.options) if self.selected == [ALL] else list(self.selected)


@dataclass(frozen=True)
class QueryRange:
    """A panel query's time range (epoch ms) and interval."""

    from_ms: int
    to_ms: int
    interval_ms: int = 60_000


def _macro_args(query: str, open_index: int) -> list[str]:
    """The plugin's getMacroArgs: arguments of the call whose '(' is at open_index ([] if unclosed)."""
    args, depth, last = [], 0, open_index + 1
    for match in re.finditer(r"[(),]", query[open_index:]):
        token, position = match.group(), open_index + match.start()
        depth += {"(": 1, ")": -1}.get(token, 0)
        if token == "," and depth == 1:
            args.append(query[last:position])
            last = position + 1
        if depth == 0:
            args.append(query[last:position])
            return args
    return []


def conditional_all(query: str, variables: dict[str, Variable]) -> str:
    """Step 1."""
    macro = "$__conditionalAll("
    index = query.rfind(macro)
    while index != -1:
        args = _macro_args(query, index + len(macro) - 1)
        if len(args) != 2:
            return query
        found = re.search(r"(?<=\$\{)[\w\d]+(?=\})|(?<=\$)[\w\d]+", args[1].strip())
        phrase = args[0]
        if found:
            variable = variables.get(found.group())
            value = ",".join(variable.selected) if variable else ""
            if value in ("", ALL):
                phrase = "1=1"
        query = query.replace(f"{macro}{args[0]},{args[1]})", phrase, 1)
        index = query.rfind(macro)
    return query


def _format(values: list[str], multi: bool, fmt: str | None) -> str:
    if fmt == "singlequote":
        return ",".join("'" + value.replace("'", "\\'") + "'" for value in values)
    if fmt is not None:
        raise ValueError(f"format {fmt} is not modelled")
    return "'" + "','".join(values) + "'" if multi else values[0]


VARIABLE = re.compile(r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?\}")


def interpolate(query: str, variables: dict[str, Variable]) -> str:
    """Step 2."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(4)
        fmt = match.group(3) or match.group(6)
        variable = variables.get(name)
        if variable is None:
            return match.group(0)
        return _format(variable.values(), variable.multi, fmt)

    return VARIABLE.sub(replace, query)


def _date_time(ms: int) -> str:
    return f"toDateTime({ms // 1000})"


def backend_macros(query: str, query_range: QueryRange) -> str:
    """Step 3."""
    seconds = max(query_range.interval_ms // 1000, 1)
    start, end = _date_time(query_range.from_ms), _date_time(query_range.to_ms)

    def utc_date(ms: int) -> str:
        return datetime.fromtimestamp(ms / 1000, UTC).strftime("toDate('%Y-%m-%d')")

    def with_column(name: str, render: str) -> None:
        nonlocal query
        for match in re.finditer(rf"\$__{name}\((.*?)\)", query):
            column = match.group(1).strip()
            assert re.fullmatch(r"[\w.]+", column), f"$__{name} takes a plain column, not {column!r}"
            query = query.replace(match.group(0), render.format(c=column), 1)

    with_column("timeFilter", f"{{c}} >= {start} AND {{c}} <= {end}")
    with_column(
        "dateFilter", f"{{c}} >= {utc_date(query_range.from_ms)} AND {{c}} <= {utc_date(query_range.to_ms)}"
    )
    with_column("timeInterval", f"toStartOfInterval(toDateTime({{c}}), INTERVAL {seconds} second)")
    assert "_ms" not in re.findall(r"\$__\w+", query), "the _ms macros are not modelled"
    query = re.sub(r"\$__fromTime\b", start, query)
    query = re.sub(r"\$__toTime\b", end, query)
    query = re.sub(r"\$__interval_s\b", str(seconds), query)
    leftover = re.findall(r"\$__\w+|\$\{?\w+", query)
    assert not leftover, f"unexpanded macros or variables: {leftover}"
    return query


def expand(query: str, variables: dict[str, Variable], query_range: QueryRange) -> str:
    """A panel's rawSql as ClickHouse receives it."""
    return backend_macros(interpolate(conditional_all(query, variables), variables), query_range)


def china_ms(text: str) -> int:
    """Epoch ms of a China-time `YYYY-MM-DD HH:MM[:SS]`."""
    return int(datetime.fromisoformat(text).replace(tzinfo=CHINA).timestamp() * 1000)


def resolve(expression: str, now_ms: int, *, end: bool) -> int:
    """A Grafana relative time (`now`, `now-6d/d`, `now/d`, `now-1h`) in the dashboard's zone
    (Asia/Shanghai), as epoch ms; `end` rounds a `/d` up to the day's last millisecond, as Grafana
    does for a range's end."""
    found = re.fullmatch(r"now(?:-(\d+)([mhd]))?(/d)?", expression)
    assert found, f"time expression {expression!r} is not modelled"
    moment = datetime.fromtimestamp(now_ms / 1000, CHINA)
    if found.group(1):
        unit = {"m": "minutes", "h": "hours", "d": "days"}[found.group(2)]
        moment -= timedelta(**{unit: int(found.group(1))})
    if found.group(3):
        moment = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        if end:
            moment += timedelta(days=1, milliseconds=-1)
    return int(moment.timestamp() * 1000)


def panel_range(dashboard_time: dict[str, str], panel: dict[str, object], now_ms: int) -> QueryRange:
    """The range a panel queries: the dashboard's, or its own relative time (`timeFrom`: `1h` is the
    last hour to now, `now/d` today so far)."""
    time_from = panel.get("timeFrom")
    if time_from:
        expression = str(time_from) if str(time_from).startswith("now") else f"now-{time_from}"
        return QueryRange(resolve(expression, now_ms, end=False), now_ms)
    return QueryRange(
        resolve(dashboard_time["from"], now_ms, end=False), resolve(dashboard_time["to"], now_ms, end=True)
    )
