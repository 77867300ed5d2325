"""The pipeline health board (`riskalert-pipeline`), on Prometheus: throughput, consumer lag, the
dead-letter rate, sink latency, pages sent and failed, and which workers are up. Every metric is one
`streams/metrics.py` declares (tested), scraped as the jobs of deploy/prometheus/prometheus.yml."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.models.dashboard import DashboardCursorSync, VariableRefresh

from streams.dashboards.grafana import ALL, PROMETHEUS, TIMEZONE, place, promql, thresholds
from streams.dashboards.panels import bar_gauge, stat_tile, time_series

UID = "riskalert-pipeline"
TITLE = "riskalert pipeline"
JOBS = 'job=~"riskalert-worker|riskalert-sink", region=~"$region"'
RATE = "[$__rate_interval]"


def region_variable() -> dash.QueryVariable:
    """The regions whose workers are shown (multi-select, All by default)."""
    return (
        dash.QueryVariable("region")
        .label("Region")
        .description("Regions of the worker targets (the `region` label of the scrape config).")
        .datasource(PROMETHEUS)
        .query(
            {"query": 'label_values(up{job=~"riskalert-worker|riskalert-sink"}, region)', "refId": "region"}
        )
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .current(ALL)
    )


def series(title: str, description: str, unit: str, *queries: tuple[str, str]) -> object:
    """A time series panel of PromQL queries (expression, legend)."""
    panel = time_series(title, description, promql(queries[0][0], queries[0][1], "A"), unit)
    for index, (expr, legend) in enumerate(queries[1:], start=1):
        panel = panel.with_target(promql(expr, legend, chr(ord("A") + index)))
    return panel.datasource(PROMETHEUS).thresholds(thresholds("green"))


def panels() -> list[tuple[object, tuple[int, int, int, int]]]:
    """The board's panels and where they go."""
    up = bar_gauge(
        "Workers up",
        "1 when Prometheus scraped the worker in its last scrape, 0 when it did not: the stream workers "
        "(job riskalert-worker: dedup, SLA, pager) and the ClickHouse sink (riskalert-sink).",
        promql(f"up{{{JOBS}}}", "{{job}} {{instance}}"),
        "bool_yes_no",
        thresholds("red", (1, "green")),
    ).datasource(PROMETHEUS)
    paused = stat_tile(
        "Sink paused",
        "1 while the sink has paused consumption because ClickHouse is failing (rows wait in Kafka, "
        "nothing is lost); the wall's figures stop moving meanwhile.",
        promql(f"max(riskalert_sink_paused{{{JOBS}}})", "paused"),
        "bool_yes_no",
        thresholds("green", (1, "red")),
        PROMETHEUS,
    )
    throughput = series(
        "Throughput",
        "Warnings per second seen by the dedup stage (by outcome), and rows per second the sink inserted "
        "into ClickHouse (by table).",
        "reqps",
        (f"sum by (outcome) (rate(riskalert_alerts_total{{{JOBS}}}{RATE}))", "warnings {{outcome}}"),
        (f"sum by (table) (rate(riskalert_sink_rows_total{{{JOBS}}}{RATE}))", "sink rows {{table}}"),
    )
    lag = series(
        "Consumer lag",
        "Records between each stage's committed offset and the high-water mark, summed over the partitions "
        "the workers own, per stage and topic.",
        "short",
        (f"sum by (stage, topic) (riskalert_consumer_lag_records{{{JOBS}}})", "{{stage}} {{topic}}"),
    )
    dead_letters = series(
        "Dead-letter rate",
        "Records written to the dead-letter topic per second, by stage and reason (docs/operations.md: "
        "reading the dead-letter topic).",
        "reqps",
        (
            f"sum by (stage, reason) (rate(riskalert_dead_letters_total{{{JOBS}}}{RATE}))",
            "{{stage}} {{reason}}",
        ),
    )
    latency = series(
        "Sink latency",
        "p90 time of one batch insert into ClickHouse, by table; and p90 from a warning's issue time to its "
        "row in ClickHouse (end to end).",
        "s",
        (
            "histogram_quantile(0.9, sum by (le, table) "
            f"(rate(riskalert_sink_insert_seconds_bucket{{{JOBS}}}{RATE})))",
            "insert p90 {{table}}",
        ),
        (
            "histogram_quantile(0.9, sum by (le) "
            f"(rate(riskalert_end_to_end_seconds_bucket{{{JOBS}}}{RATE})))",
            "end to end p90",
        ),
    )
    pages = series(
        "Pages sent and failed",
        "SLA alerts pushed to Alertmanager per second: sent (firing, first accepted) and failed (a push "
        "Alertmanager did not accept; retried), by kind (breach, at_risk).",
        "reqps",
        (
            f'sum by (kind, outcome) (rate(riskalert_pages_total{{{JOBS}, outcome=~"sent|failed"}}{RATE}))',
            "{{kind}} {{outcome}}",
        ),
    )
    alertmanagers = series(
        "Alertmanager instances",
        "The pager's pushes per second to each Alertmanager instance, by outcome (accepted, refused, "
        "failed). With a cluster, an instance that only fails has lost the cluster its redundancy "
        "(RiskAlertAlertmanagerUnreachable); pages still go out through the others.",
        "reqps",
        (
            f"sum by (alertmanager, outcome) (rate(riskalert_alertmanager_posts_total{{{JOBS}}}{RATE}))",
            "{{alertmanager}} {{outcome}}",
        ),
    )
    policy = bar_gauge(
        "SLA policy in force",
        "Per stream worker, 1 when its last SLA policy load or reload was applied (or found the file "
        "unchanged), 0 when it refused an invalid file and kept the policy before the edit "
        "(RiskAlertSlaPolicyReloadFailed; docs/operations.md, 'The SLA policy').",
        promql(f"riskalert_sla_policy_last_reload_successful{{{JOBS}}}", "{{instance}}"),
        "bool_yes_no",
        thresholds("red", (1, "green")),
    ).datasource(PROMETHEUS)
    faust = series(
        "Faust events and rebalances",
        "Events per second each Faust stream processed (Faust's own sensor, riskalert_faust_*), and "
        "consumer group rebalances completed per second: frequent rebalances stall every stage.",
        "reqps",
        (
            f"sum by (stream) (rate(riskalert_faust_total_events_per_stream_total{{{JOBS}}}{RATE}))",
            "{{stream}}",
        ),
        (
            f"sum(rate(riskalert_faust_rebalance_done_latency_count{{{JOBS}}}{RATE}))",
            "rebalances",
        ),
    )
    return [
        (up, (0, 0, 18, 6)),
        (paused, (18, 0, 6, 6)),
        (throughput, (0, 6, 12, 8)),
        (lag, (12, 6, 12, 8)),
        (dead_letters, (0, 14, 12, 8)),
        (latency, (12, 14, 12, 8)),
        (pages, (0, 22, 12, 8)),
        (alertmanagers, (12, 22, 12, 8)),
        (faust, (0, 30, 18, 8)),
        (policy, (18, 30, 6, 8)),
    ]


def build() -> dash.Dashboard:
    """The pipeline health dashboard."""
    board = (
        dash.Dashboard(TITLE)
        .uid(UID)
        .description("Pipeline health: is every worker up, is data flowing, and are pages going out.")
        .tags(["riskalert"])
        .timezone(TIMEZONE)
        .time("now-6h", "now")
        .refresh("30s")
        .readonly()
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .with_variable(region_variable())
    )
    for panel_id, (panel, (x, y, w, h)) in enumerate(panels(), start=1):
        board = board.with_panel(place(panel, x, y, w, h, panel_id))
    return board
