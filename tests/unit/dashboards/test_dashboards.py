"""The generated dashboards: committed as generated, laid out on the grid, every panel readable and
pointing at a provisioned datasource, variables over real columns, no raw identifier on a panel, the
pager's link landing on the task view, and Prometheus metrics that the code exports."""

from __future__ import annotations

import json
import re
from itertools import combinations
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from streams import metrics
from streams.dashboards import generate, ops
from streams.dashboards.grafana import CLICKHOUSE_TYPE, PROMETHEUS_TYPE
from streams.db.migrate import load_migrations, statements
from streams.faust_sensor import faust_metrics
from streams.logic.pager_push import grafana_task_url
from streams.settings import PROJECT_ROOT

GRAFANA_DIR = PROJECT_ROOT / "dashboards" / "grafana"
PROVISIONING = GRAFANA_DIR / "provisioning"
# Columns that identify a person or hold free text: never on a panel. (Masked names, 张*, are allowed.)
IDENTIFIER_COLUMNS = (
    "person_key",
    "masked_phone",
    "suspect_account_hash",
    "relative_keys",
    "assignee",
    "note",
    "extras",
    "id_number",
    "phone",
    "name",
)


def dashboards() -> dict[str, dict[str, Any]]:
    """Every committed dashboard, by uid."""
    loaded = (json.loads(path.read_text(encoding="utf-8")) for path in sorted(GRAFANA_DIR.glob("*.json")))
    return {board["uid"]: board for board in loaded}


def panels() -> list[tuple[str, dict[str, Any]]]:
    return [(uid, panel) for uid, board in dashboards().items() for panel in board["panels"]]


def clickhouse_sql() -> list[tuple[str, str, str]]:
    """(dashboard uid, panel title, rawSql) of every ClickHouse target."""
    return [
        (uid, panel["title"], target["rawSql"])
        for uid, panel in panels()
        for target in panel["targets"]
        if target["datasource"]["type"] == CLICKHOUSE_TYPE
    ]


def table_columns() -> dict[str, set[str]]:
    """Each table's columns, from the migrations."""
    columns: dict[str, set[str]] = {}
    for migration in load_migrations():
        for statement in statements(migration.text, database="riskalert", ttl_days=1095):
            found = re.search(
                r"CREATE TABLE IF NOT EXISTS riskalert\.(\w+)\s*\((.*?)\n\)\s*ENGINE", statement, re.S
            )
            if found:
                columns[found.group(1)] = set(re.findall(r"^\s{4}(\w+) ", found.group(2), re.M))
    return columns


def test_the_committed_json_is_what_the_code_generates() -> None:
    committed = {path.name: path.read_text(encoding="utf-8") for path in GRAFANA_DIR.glob("*.json")}
    assert committed == generate.rendered(), "dashboards/grafana/*.json are stale: run `make dashboards`"


def test_three_dashboards_with_their_uids() -> None:
    assert set(dashboards()) == {"riskalert-wall", "riskalert-ops", "riskalert-pipeline"}
    wall = dashboards()["riskalert-wall"]
    assert (wall["refresh"], wall["timezone"]) == ("30s", "Asia/Shanghai")
    assert all(board["editable"] is False for board in dashboards().values())  # generated, not edited


def test_panel_ids_are_unique_per_dashboard() -> None:
    for board in dashboards().values():
        ids = [panel["id"] for panel in board["panels"]]
        assert len(ids) == len(set(ids)), board["uid"]


def _cells(panel: dict[str, Any]) -> set[tuple[int, int]]:
    grid = panel["gridPos"]
    return {
        (x, y)
        for x in range(grid["x"], grid["x"] + grid["w"])
        for y in range(grid["y"], grid["y"] + grid["h"])
    }


def test_panels_fit_24_columns_without_overlapping() -> None:
    for board in dashboards().values():
        for panel in board["panels"]:
            grid = panel["gridPos"]
            assert min(grid["x"], grid["w"] - 1, grid["h"] - 1) >= 0, panel["title"]
            assert grid["x"] + grid["w"] <= 24, panel["title"]
        for first, second in combinations(board["panels"], 2):
            assert not _cells(first) & _cells(second), (first["title"], second["title"])


def provisioned_datasources() -> dict[str, str]:
    """uid: type of every provisioned datasource."""
    config = yaml.safe_load((PROVISIONING / "datasources" / "riskalert.yaml").read_text(encoding="utf-8"))
    return {source["uid"]: source["type"] for source in config["datasources"]}


def test_every_target_reads_a_provisioned_datasource() -> None:
    provisioned = provisioned_datasources()
    assert provisioned == {"riskalert-clickhouse": CLICKHOUSE_TYPE, "riskalert-prometheus": PROMETHEUS_TYPE}
    for _, panel in panels():
        assert panel["targets"], panel["title"]
        for source in [panel["datasource"], *(target["datasource"] for target in panel["targets"])]:
            assert provisioned.get(source["uid"]) == source["type"], panel["title"]
    for board in dashboards().values():
        for variable in board["templating"]["list"]:
            if "datasource" in variable:
                assert provisioned.get(variable["datasource"]["uid"]) == variable["datasource"]["type"]


def test_the_file_provider_reads_the_dashboards() -> None:
    config = yaml.safe_load((PROVISIONING / "dashboards" / "riskalert.yaml").read_text(encoding="utf-8"))
    (provider,) = config["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"]
    assert provider["allowUiUpdates"] is False


def test_every_panel_has_a_title_a_description_and_a_unit() -> None:
    for uid, panel in panels():
        assert panel.get("title"), uid
        assert len(panel.get("description", "")) > 20, (uid, panel["title"])
        assert panel["fieldConfig"]["defaults"].get("unit"), (uid, panel["title"])


def test_every_stat_tile_has_absolute_thresholds() -> None:
    tiles = [panel for _, panel in panels() if panel["type"] == "stat"]
    assert len(tiles) >= 6
    for tile in tiles:
        limits = tile["fieldConfig"]["defaults"]["thresholds"]
        assert limits["mode"] == "absolute", tile["title"]
        assert limits["steps"][0]["value"] is None, tile["title"]  # the base colour
        assert limits["steps"][0]["color"], tile["title"]
        assert tile["fieldConfig"]["defaults"]["color"]["mode"] == "thresholds", tile["title"]


def test_the_wall_tiles_colour_rates_by_the_card_limits() -> None:
    tiles = {panel["title"]: panel for panel in dashboards()["riskalert-wall"]["panels"]}
    steps = tiles["Overdue feedback rate 超期反馈率"]["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert [(step["value"], step["color"]) for step in steps] == [
        (None, "green"),
        (0.05, "#EAB839"),
        (0.1, "red"),
    ]


def test_variables_list_values_of_existing_columns() -> None:
    columns = table_columns()
    for board in dashboards().values():
        for variable in board["templating"]["list"]:
            if variable["type"] != "query" or variable["datasource"]["type"] != CLICKHOUSE_TYPE:
                continue
            found = re.match(r"SELECT DISTINCT (\w+) FROM (\w+)", variable["query"])
            assert found, variable["query"]
            column, table = found.groups()
            assert column in columns[table], variable["query"]
            for used in re.findall(r"\b(\w+_code|issued_at|created_at)\b", variable["query"]):
                assert used in columns[table], variable["query"]


def test_every_variable_a_query_uses_is_defined() -> None:
    for board in dashboards().values():
        defined = {variable["name"] for variable in board["templating"]["list"]}
        texts = [json.dumps(panel["targets"]) for panel in board["panels"]]
        texts += [json.dumps(variable.get("query", "")) for variable in board["templating"]["list"]]
        used = {name for text in texts for name in re.findall(r"\$\{?([a-z]\w*)", text)}
        assert used <= defined, (board["uid"], used - defined)


def test_the_ops_board_filters_by_region_station_level_fraud_type_and_source() -> None:
    variables = {
        variable["name"]: variable for variable in dashboards()["riskalert-ops"]["templating"]["list"]
    }
    for name in ("region", "station", "level", "fraud_type", "source"):
        assert variables[name]["multi"], name
        assert variables[name]["includeAll"], name
        assert variables[name]["current"]["value"] == ["$__all"], name
    assert variables["task_id"]["type"] == "textbox"


def test_no_panel_reads_a_raw_identifier_column() -> None:
    pattern = re.compile(rf"\b({'|'.join(IDENTIFIER_COLUMNS)})\b")
    for uid, title, sql in clickhouse_sql():
        assert not pattern.findall(sql), (uid, title, pattern.findall(sql))


def test_the_pagers_link_opens_the_task_view() -> None:
    url = grafana_task_url("https://grafana.example/", "T0123abc")
    assert url is not None
    parts = urlsplit(url)
    _, d, uid, slug = parts.path.split("/")
    board = dashboards()[uid]
    assert (d, uid) == ("d", ops.UID)
    assert slug == re.sub(r"[^a-z0-9]+", "-", board["title"].lower()).strip("-")  # Grafana's slug
    (name,) = (key.removeprefix("var-") for key in parse_qs(parts.query))
    assert parse_qs(parts.query)[f"var-{name}"] == ["T0123abc"]
    variables = {variable["name"]: variable for variable in board["templating"]["list"]}
    assert variables[name]["type"] == "textbox"
    views = [title for _, title, sql in clickhouse_sql() if f"${{{name}:singlequote}}" in sql]
    assert views == ["Task", "Task timeline"]
    links = json.dumps(board["panels"])
    assert f"/d/{uid}/{slug}?var-{name}=${{__value.raw}}" in links  # the overdue table links the same way


def test_the_pager_quotes_the_task_id_in_its_link() -> None:
    assert (
        grafana_task_url("http://g", "T 1&x")
        == "http://g/d/riskalert-ops/riskalert-ops?var-task_id=T%201%26x"
    )


def exported_series() -> set[str]:
    """Every series name the code's Prometheus metrics export."""
    names = set()
    faust = list(faust_metrics())  # Faust's sensor, riskalert_faust_* (streams.faust_sensor)
    for value in [*vars(metrics).values(), *faust]:
        if isinstance(value, MetricWrapperBase):
            kind, name = value._type, value._name
            names |= {
                "counter": {f"{name}_total"},
                "gauge": {name},
                "histogram": {f"{name}_bucket", f"{name}_sum", f"{name}_count"},
            }[kind]
    return names


def promql_expressions() -> list[str]:
    board = dashboards()["riskalert-pipeline"]
    return [target["expr"] for panel in board["panels"] for target in panel["targets"]]


def test_every_metric_on_the_pipeline_board_is_exported_by_the_code() -> None:
    exported = exported_series()
    used = {name for expr in promql_expressions() for name in re.findall(r"\b(riskalert_\w+)", expr)}
    assert used <= exported, used - exported
    covered = {
        "riskalert_alerts_total", "riskalert_consumer_lag_records", "riskalert_dead_letters_total",
        "riskalert_sink_insert_seconds_bucket", "riskalert_pages_total", "riskalert_sink_rows_total",
    }  # fmt: skip
    assert covered <= used


def test_the_pipeline_board_reads_the_scrape_configs_jobs() -> None:
    config = yaml.safe_load(
        (PROJECT_ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text(encoding="utf-8")
    )
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    for expr in promql_expressions():
        for job in re.findall(r"riskalert-\w+", expr):
            assert job in jobs, expr


@pytest.mark.parametrize("path", sorted(GRAFANA_DIR.glob("*.json")), ids=lambda path: Path(path).name)
def test_dashboards_are_utf8_json_with_a_final_newline(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.endswith("}\n")
    assert "\\u" not in text
