"""The model of the ClickHouse plugin's macros and Grafana's variables (tests/grafana_macros.py)
against the examples the plugin documents and the cases its source handles."""

from __future__ import annotations

import pytest

from tests.grafana_macros import (
    ALL,
    QueryRange,
    Variable,
    china_ms,
    conditional_all,
    expand,
    interpolate,
    panel_range,
    resolve,
)

# The plugin README's examples: 1415792726 and 1447328726 seconds, an interval of 20 s.
RANGE = QueryRange(1415792726371, 1447328726456, 20_000)


def test_time_macros_are_the_plugins_documented_output() -> None:
    assert expand("WHERE $__timeFilter(time)", {}, RANGE) == (
        "WHERE time >= toDateTime(1415792726) AND time <= toDateTime(1447328726)"
    )
    assert expand("$__fromTime, $__toTime", {}, RANGE) == "toDateTime(1415792726), toDateTime(1447328726)"
    assert (
        expand("$__timeInterval(column)", {}, RANGE)
        == "toStartOfInterval(toDateTime(column), INTERVAL 20 second)"
    )
    assert expand("$__interval_s", {}, RANGE) == "20"
    assert expand("$__interval_s", {}, QueryRange(0, 1, 300)) == "1"  # at least a second


def test_date_filter_uses_utc_dates() -> None:
    # 2025-03-01 00:30 in China is still 2025-02-28 in UTC: one reason the panels never use $__dateFilter.
    at = china_ms("2025-03-01 00:30")
    assert expand("$__dateFilter(day)", {}, QueryRange(at, at)) == (
        "day >= toDate('2025-02-28') AND day <= toDate('2025-02-28')"
    )


def test_a_macro_argument_must_be_a_plain_column() -> None:
    with pytest.raises(AssertionError, match="plain column"):
        expand("$__timeFilter(toDate(x))", {}, RANGE)


def test_conditional_all_drops_the_condition_for_all_only() -> None:
    query = "WHERE $__conditionalAll(station IN (${station:singlequote}), $station) AND 1"
    every = {"station": Variable([ALL], ["S1", "S2"])}
    some = {"station": Variable(["S1", "S2"], ["S1", "S2", "S3"])}
    assert conditional_all(query, every) == "WHERE 1=1 AND 1"
    assert conditional_all(query, some) == "WHERE station IN (${station:singlequote}) AND 1"
    assert expand(query, some, RANGE) == "WHERE station IN ('S1','S2') AND 1"
    nested = "$__conditionalAll(has(arrayMap(x -> f(x, 1), [${v:singlequote}]), c), ${v})"
    assert expand(nested, {"v": Variable(["a"])}, RANGE) == "has(arrayMap(x -> f(x, 1), ['a']), c)"


def test_variables_format_as_grafana_does() -> None:
    quoted = {"v": Variable(["O'Brien", "x"])}
    assert interpolate("${v:singlequote}", quoted) == "'O\\'Brien','x'"
    assert (
        interpolate("$v and [[v]] and ${v}", {"v": Variable(["a", "b"])}) == "'a','b' and 'a','b' and 'a','b'"
    )
    assert interpolate("$v", {"v": Variable(["T1"], multi=False)}) == "T1"
    assert (
        interpolate("${v:singlequote}", {"v": Variable([ALL], ["a", "b"])}) == "'a','b'"
    )  # All: every option
    assert interpolate("$__fromTime $unknown", {}) == "$__fromTime $unknown"


def test_relative_times_round_to_china_days() -> None:
    now = china_ms("2025-03-01 00:30")
    assert resolve("now/d", now, end=False) == china_ms("2025-03-01 00:00")
    assert resolve("now/d", now, end=True) == china_ms("2025-03-02 00:00") - 1
    assert resolve("now-6d/d", now, end=False) == china_ms("2025-02-23 00:00")
    assert panel_range({"from": "now-6h", "to": "now"}, {"timeFrom": "1h"}, now) == QueryRange(
        china_ms("2025-02-28 23:30"), now
    )
