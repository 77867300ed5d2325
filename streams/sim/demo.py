"""`riskalert demo`: a simulated day through the whole pipeline, checked against its ground truth.

Steps: simulate (or reuse) a day; start the local stack; create a fresh, prefixed topic set; migrate
a fresh chDB store; start the stream worker in event-time replay (`--clock event`), the resolver
worker and the sink worker; load the victim history, then stream the day through ingest,
accelerated, with a live view from the workers' /metrics; wait until the workers have caught up;
stop them; print the KPI report and the measured figures against expected.json. A mismatch is an
error (exit status 1).

Where the measured figures come from (`streams.sim.measure`, after the workers stopped, so no
refresh lag and no ownership question): ClickHouse, the sink's tables in the demo's chDB store,
over the tasks created (warnings issued) in the simulated period: tasks, merged warnings,
re-deliveries, breaches per step; and the records in the demo's `alerts.dlq` topic.

Each run uses its own topic prefix (`demo-<time>.`) and wipes `<home>/demo/`; topics of earlier demo
runs are deleted first. The stack (Kafka, Prometheus, Alertmanager) is left running.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from datetime import time as dt_time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live

from streams.settings import Settings, load_settings
from streams.sim.display import Throughput, live_view
from streams.sim.feed import TAIL_SPEEDUP, Feeder, FeedProgress
from streams.sim.generate import RUN_OUT_MARGIN_SECONDS, simulate
from streams.sim.measure import Comparison, compare, measure, sink_lag
from streams.sim.model import CHINA, SimConfig, default_start
from streams.sim.output import EXPECTED, write_simulation
from streams.sim.processes import DemoError, WorkerProcess, environment, free_port, metric
from streams.sim.topics import create_changelogs, delete_old_demo_topics
from streams.sim.truth import SLA_KINDS

SETTLE_TIMEOUT_SECONDS = 240
# After the feed, inputs go idle (RISKALERT_SLA_IDLE_INPUT_SECONDS, 5 s) before stream time moves on.
QUIET_SECONDS = 10
# The replay's allowed lateness: this much wall time at the stream's fastest speed (the pipeline's
# lag is wall time), at least half an hour, at most what the simulation's run-out leaves past the
# period's last events.
REPLAY_LATENESS_SECONDS = 1800
REPLAY_LATENESS_WALL_SECONDS = 1.0
MAX_LATENESS = RUN_OUT_MARGIN_SECONDS // 2


@dataclass(frozen=True)
class DemoOptions:
    """What the demo runs."""

    seed: int = 1
    days: int = 1
    seconds: float = 60.0
    cases_per_day: int = 600
    malformed_rate: float = 0.005
    data: Path | None = None  # an existing simulation directory instead of a fresh one
    directory: Path | None = None  # the demo's files; default RISKALERT_HOME/demo (wiped at start)
    live: bool = False  # wall-clock SLA with the policy scaled down by the stream's speed-up

    @property
    def speed(self) -> float:
        """Simulated seconds per wall-clock second."""
        return self.days * 86_400 / self.seconds


def run_demo(base: Settings, options: DemoOptions, console: Console) -> Comparison:
    """Run the demo; returns the comparison (`.ok` when every measured figure equals the ground truth)."""
    started = time.monotonic()
    home = options.directory or base.home / "demo"
    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    settings = load_settings(
        topic_prefix=f"demo-{run_id}.",
        clickhouse_dsn=f"chdb://{home / 'clickhouse'}",
        home=base.home,
        metrics_port=base.metrics_port,
        sink_metrics_port=base.sink_metrics_port,
    )

    def step(text: str) -> None:
        console.print(f"[dim]{time.monotonic() - started:6.1f} s[/dim]  {text}")

    data, expected = _simulation(settings, options, home, step)
    _stack(settings, step)
    workers = _start_workers(settings, home, step, options)
    try:
        progress = _feed(settings, data, expected, workers, options, console, step)
        _settle(settings, expected, workers, step)
    finally:
        for worker in workers.values():
            worker.stop()
    step(f"workers stopped; their logs are in {home / 'logs'}")
    period = _period(expected, options)
    _kpi(settings, period, console)
    # Live mode stamped the records as they were fed: the period ended when its first later warning
    # was stamped.
    period_end_ms = (progress.period_end_stamp_ms or time.time_ns() // 1_000_000) if options.live else None
    comparison = compare(expected, measure(settings, period_end_ms or _period_end_ms(expected)))
    console.print(comparison.table(strict=not options.live))
    if options.live:
        console.print(
            "live mode: breaches are found by the wall clock on deadlines scaled down "
            f"{options.speed:.0f} times, so a step whose event is still in flight at its deadline breaches; "
            "the figures are shown for reference and do not fail the run. `make demo` checks them exactly."
        )
        comparison = Comparison([])
    _closing(settings, period, options, console, time.monotonic() - started)
    return comparison


# --- Steps ------------------------------------------------------------------------------------------


def _simulation(
    settings: Settings, options: DemoOptions, home: Path, step: Callable[[str], None]
) -> tuple[Path, dict[str, Any]]:
    import json

    from streams.kpi.source import chdb_path_holder

    holder = chdb_path_holder(home / "clickhouse")
    if holder is not None:
        raise DemoError(f"process {holder} holds {home / 'clickhouse'}: is another demo running?")
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    if options.data is not None:
        step(f"simulation: using {options.data}")
        return options.data, json.loads((options.data / EXPECTED).read_text())
    data = home / "data"
    config = SimConfig(
        options.days, options.seed, default_start(options.days), options.cases_per_day, options.malformed_rate
    )
    expected = write_simulation(simulate(config), data, settings)
    step(
        f"simulation (seed {options.seed}) in {data}: {expected['warnings']} warnings, "
        f"{expected['task_events']} task events, {expected['victim_records']} victim records, "
        f"{expected['malformed']} malformed lines, from {expected['period']['from']}"
    )
    return data, expected


def _stack(settings: Settings, step: Callable[[str], None]) -> None:
    from streams.kafka_admin import ensure_topics
    from streams.stack import stack_up
    from streams.topics import ALL_TOPICS

    for name, started in stack_up(settings):
        step(f"{name}: {'started' if started else 'already running'}")
    deleted = delete_old_demo_topics(settings)
    if deleted:
        step(f"deleted {deleted} topics of earlier demo runs")
    report = ensure_topics(settings, ALL_TOPICS)
    changelogs = create_changelogs(settings)
    step(
        f"topics: {len(report.created)} created, and {changelogs} table changelogs, "
        f"prefix {settings.topic_prefix}"
    )


def _start_workers(
    settings: Settings, home: Path, step: Callable[[str], None], options: DemoOptions
) -> dict[str, WorkerProcess]:
    import subprocess
    import sys

    common = {
        "RISKALERT_TOPIC_PREFIX": settings.topic_prefix,
        "RISKALERT_CLICKHOUSE_DSN": f"chdb://{home / 'clickhouse'}",
        "RISKALERT_WORKER_STANDBY_REPLICAS": "0",
        "RISKALERT_METRICS_PORT": str(settings.metrics_port),
        "RISKALERT_SINK_METRICS_PORT": str(settings.sink_metrics_port),
        # Demo pages go to the local stack's Alertmanager, never to one the environment names.
        "RISKALERT_ALERTMANAGER_URL": local_alertmanager(settings),
    }
    riskalert = str(Path(sys.executable).parent / "riskalert")
    migrated = subprocess.run(  # a child: the chDB path must stay free for the sink
        [riskalert, "db", "migrate"], env=environment(common), capture_output=True, text=True, check=False
    )
    if migrated.returncode != 0:
        raise DemoError(f"riskalert db migrate failed:\n{migrated.stdout}{migrated.stderr}")
    step(f"ClickHouse: migrated chdb://{home / 'clickhouse'}")
    if options.live:
        policy = scaled_policy(settings.sla_policy_path, options.speed, home / "sla-live.yaml")
        mode = {"RISKALERT_SLA_POLICY": str(policy)}
        step(
            f"live: SLA policy {settings.sla_policy_path} scaled down {options.speed:.0f} times into {policy}"
        )
    else:
        # Stream time waits this long (simulated) for inputs that travel a longer path: events held
        # by the resolver until their warning's verdict, merges against events. At the demo's speed
        # it is about a second of wall time; the simulation's run-out moves stream time past it.
        tail_speed = options.speed * TAIL_SPEEDUP
        lateness = min(
            max(REPLAY_LATENESS_SECONDS, round(tail_speed * REPLAY_LATENESS_WALL_SECONDS)), MAX_LATENESS
        )
        mode = {"RISKALERT_SLA_ALLOWED_LATENESS_SECONDS": str(lateness)}
    stream = WorkerProcess(
        "stream worker",
        ["--clock", "live" if options.live else "event", "--stages", "dedup,sla,pager"],
        environment({**common, "RISKALERT_WORKER_DATA_DIR": str(home / "worker"), **mode}),
        home / "logs" / "worker.log",
        settings.metrics_port,
    )
    # The resolver in a process of its own (separated while a restart stall with it in-process was open;
    # since fixed, see streams/fetching.py): the demo keeps showing that layout.
    resolver_port = free_port()
    resolver = WorkerProcess(
        "resolver worker",
        ["--stages", "resolver"],
        environment(
            {
                **common,
                "RISKALERT_WORKER_DATA_DIR": str(home / "resolver"),
                "RISKALERT_METRICS_PORT": str(resolver_port),
            }
        ),
        home / "logs" / "resolver.log",
        resolver_port,
    )
    sink = WorkerProcess(
        "sink worker",
        ["--stages", "sink"],
        environment(
            {**common, "RISKALERT_WORKER_DATA_DIR": str(home / "sink"), "RISKALERT_SINK_BATCH_SECONDS": "0.5"}
        ),
        home / "logs" / "sink.log",
        settings.sink_metrics_port,
    )
    workers = {"stream": stream, "resolver": resolver, "sink": sink}
    try:
        for worker in workers.values():
            worker.start()
        stream.wait_ready(120, log_line="Worker ready")
        resolver.wait_ready(120, log_line="Worker ready")
        sink.wait_ready(120)
    except BaseException:
        for worker in workers.values():
            worker.stop()
        raise
    step(
        f"workers ready: {'live' if options.live else 'replay'} on :{settings.metrics_port}, "
        f"resolver on :{resolver_port}, sink on :{settings.sink_metrics_port}"
    )
    return workers


def _feed(
    settings: Settings,
    data: Path,
    expected: dict[str, Any],
    workers: dict[str, WorkerProcess],
    options: DemoOptions,
    console: Console,
    step: Callable[[str], None],
) -> FeedProgress:
    days = int(expected["simulation"]["days"])
    start_ms = _period_end_ms(expected) - days * 86_400_000
    feeder = Feeder(settings, data)
    history = feeder.history(start_ms)
    _wait(
        lambda: (
            metric(workers["stream"].metrics(), "riskalert_victim_records_total", outcome="folded") >= history
        ),
        60,
        f"the dedup stage did not fold the {history} victim history records",
        workers,
    )
    step(f"victim history: {history} records folded; streaming {days} day(s) in ~{options.seconds:.0f} s")
    speed = options.speed
    throughput = Throughput()
    with Live(console=console, refresh_per_second=4, transient=False) as live:

        def show(progress: Any) -> None:
            workers["stream"].check_running()
            rate = throughput.rate(progress.lines_done)
            live.update(live_view(progress, workers["stream"].metrics(), workers["sink"].metrics(), rate))

        feeder.stream(speed, start_ms + days * 86_400_000, show, retime=options.live)
    step(f"streamed {feeder.progress.lines_done} lines ({feeder.progress.rejected} rejected at ingest)")
    return feeder.progress


def _settle(
    settings: Settings,
    expected: dict[str, Any],
    workers: dict[str, WorkerProcess],
    step: Callable[[str], None],
) -> None:
    """Wait until the SLA stage has gone quiet, and the sink has stored everything."""
    wanted = sum(
        sum(per_step.values()) for kind, per_step in expected["sla_events"].items() if kind in SLA_KINDS
    )
    step("waiting for the workers to catch up ...")
    last, last_change = -1.0, time.monotonic()
    deadline = time.monotonic() + SETTLE_TIMEOUT_SECONDS
    while time.monotonic() < deadline and time.monotonic() - last_change < QUIET_SECONDS:
        workers["stream"].check_running()
        emitted = metric(workers["stream"].metrics(), "riskalert_sla_events_total")
        if emitted != last:
            last, last_change = emitted, time.monotonic()
        time.sleep(0.5)
    step(f"SLA stage quiet: {last:.0f} SLA events emitted ({wanted} of them for the period's tasks expected)")
    _wait(lambda: sink_lag(settings) == 0, 120, "the sink did not catch up", workers)
    time.sleep(2)  # the sink's last round: inserted, then committed
    _wait(lambda: sink_lag(settings) == 0, 60, "the sink did not catch up", workers)
    step("sink: everything stored")


def _wait(
    done: Callable[[], bool], timeout_seconds: float, what: str, workers: dict[str, WorkerProcess]
) -> None:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        for worker in workers.values():
            worker.check_running()
        if done():
            return
        time.sleep(0.5)
    raise DemoError(
        f"{what} within {timeout_seconds:.0f} s (logs: {next(iter(workers.values())).log_path.parent})"
    )


def local_alertmanager(settings: Settings) -> str:
    """The local stack's Alertmanager."""
    return f"http://127.0.0.1:{settings.alertmanager_port}"


def scaled_policy(source: Path, speed: float, target: Path) -> Path:
    """A copy of the SLA policy with every due time divided by `speed` (live demo: a day in minutes)."""
    import yaml

    from streams.logic.sla_policy import parse_duration_ms

    document = yaml.safe_load(source.read_text())
    for rule in document["rules"]:
        rule["due"] = {
            step: f"{max(parse_duration_ms(due) / speed, 1) / 1000:.3f}s" for step, due in rule["due"].items()
        }
    target.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False))
    return target


def _period_end_ms(expected: dict[str, Any]) -> int:
    """Midnight (China) after the simulated period's last day."""
    last_day = date.fromisoformat(expected["period"]["to"])
    return int(datetime.combine(last_day, dt_time(), CHINA).timestamp()) * 1000 + 86_400_000


def _period(expected: dict[str, Any], options: DemoOptions) -> tuple[str, str]:
    """The KPI period: the simulated days, or today when live mode stamped the records with today."""
    if options.live:
        from streams.kpi.request import today_in_china

        today = today_in_china().isoformat()
        return today, today
    return expected["period"]["from"], expected["period"]["to"]


def _kpi(settings: Settings, period: tuple[str, str], console: Console) -> None:
    from streams.kpi.request import parse_request
    from streams.kpi.source import load_report
    from streams.kpi.table import report_table

    request = parse_request(period[0], period[1], None, None)
    console.print(report_table(load_report(settings, request), request))


# --- Measuring and comparing ------------------------------------------------------------------------


def _closing(
    settings: Settings, period: tuple[str, str], options: DemoOptions, console: Console, seconds: float
) -> None:
    if options.live:
        console.print(f"Pages went to the local Alertmanager: {local_alertmanager(settings)}/#/alerts")
    console.print(
        f"demo finished in {seconds:.0f} s. The stack is still running: stop it with "
        "[bold]make stack-down[/bold] (or .venv/bin/riskalert stack down).\n"
        f"Look again: RISKALERT_CLICKHOUSE_DSN={settings.clickhouse.redacted()} "
        f".venv/bin/riskalert kpi --from {period[0]} --to {period[1]}\n"
        "Grafana: chDB is embedded and cannot serve Grafana. Run a ClickHouse server, set "
        "RISKALERT_CLICKHOUSE_DSN=http://user:password@host:8123/riskalert for the workers and "
        "`riskalert db migrate`, then install the dashboards from dashboards/grafana/ "
        "(docs/operations.md, 'Installing into an existing Grafana 11 or 12')."
    )


__all__ = ["DemoError", "DemoOptions", "compare", "measure", "run_demo"]
