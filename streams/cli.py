"""`riskalert`: the command line. Every flag falls back to `streams.settings.Settings`."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from streams import __version__
from streams.errors import RiskAlertError, SettingsError
from streams.settings import Settings, env_help, load_settings

F = TypeVar("F", bound=Callable[..., Any])
console = Console()
errors = Console(stderr=True)


def _env_epilog() -> str:
    # "\b" keeps click from re-wrapping the table.
    rows = [f"  {name:<38} {meaning} [default: {default}]" for name, meaning, default in env_help()]
    return "\b\nEnvironment variables (also read from ./.env):\n" + "\n".join(rows)


class _Group(click.Group):
    """A group that turns riskalert errors into one red line and a non-zero exit, not a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SettingsError as exc:
            errors.print(f"[red]configuration error[/red]: {escape(str(exc))}", highlight=False)
            sys.exit(2)
        except RiskAlertError as exc:
            errors.print(f"[red]error[/red]: {escape(str(exc))}", highlight=False)
            sys.exit(1)


def settings_of(ctx: click.Context) -> Settings:
    """The settings, read once per command (so `--help` works even with a bad environment)."""
    root = ctx.find_root()
    if root.obj is None:
        root.obj = load_settings()
    settings: Settings = root.obj
    return settings


@click.group(cls=_Group, epilog=_env_epilog(), context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="riskalert")
def cli() -> None:
    """riskalert: anti-fraud warnings in, dissuasion tasks, SLA pages and KPIs out."""


@cli.group()
def stack() -> None:
    """Run the local Kafka, Prometheus and Alertmanager as background processes under RISKALERT_HOME."""


@stack.command("up")
@click.pass_context
def stack_up_command(ctx: click.Context) -> None:
    """Start every service that is not running and wait until each is healthy (idempotent)."""
    from streams.stack import stack_up

    for name, started in stack_up(settings_of(ctx)):
        console.print(f"{name}: {'started' if started else 'already running'}")
    _print_status(settings_of(ctx))


@stack.command("down")
@click.pass_context
def stack_down_command(ctx: click.Context) -> None:
    """Stop every service (SIGTERM, then SIGKILL after 30 s), leaving no process behind."""
    from streams.stack import stack_down

    for name, was_running in stack_down(settings_of(ctx)):
        console.print(f"{name}: {'stopped' if was_running else 'not running'}")


@stack.command("status")
@click.pass_context
def stack_status_command(ctx: click.Context) -> None:
    """Print service, pid, port and health; exit 1 unless every service is healthy."""
    if not _print_status(settings_of(ctx)):
        sys.exit(1)


def _print_status(settings: Settings) -> bool:
    from streams.stack import stack_status

    rows = stack_status(settings)
    table = Table(title=f"riskalert stack ({settings.home})")
    for column in ("service", "pid", "port", "healthy", "log"):
        table.add_column(column, overflow="fold")
    for row in rows:
        healthy = "[green]yes[/green]" if row.healthy else "[red]no[/red]"
        table.add_row(row.name, str(row.pid or "-"), str(row.port), healthy, str(row.log_file))
    console.print(table)
    return all(row.healthy for row in rows)


@cli.group()
def topics() -> None:
    """Kafka topics, as declared in streams/topics.py."""


@topics.command("create")
@click.pass_context
def topics_create(ctx: click.Context) -> None:
    """Create missing topics; report (never change) existing topics whose config differs. Exit 1 on drift."""
    from streams.kafka_admin import ensure_topics
    from streams.topics import ALL_TOPICS

    report = ensure_topics(settings_of(ctx), ALL_TOPICS)
    for name in report.created:
        console.print(f"created   {name}")
    for name in report.unchanged:
        console.print(f"ok        {name}")
    for drift in report.drift:
        console.print(
            f"[yellow]differs[/yellow]   {drift.topic}: {drift.setting} is {drift.actual}, "
            f"declared {drift.declared}"
        )
    if report.drift:
        console.print("Existing topics were left untouched; align them by hand (see docs/operations.md).")
        sys.exit(1)


@cli.group()
def config() -> None:
    """Inspect the effective configuration."""


@config.command("show")
@click.pass_context
def config_show(ctx: click.Context) -> None:
    """Print the effective settings; secrets are shown as ********."""
    settings = settings_of(ctx)
    table = Table(title="riskalert settings")
    table.add_column("variable")
    table.add_column("value")
    for name in Settings.model_fields:
        value = getattr(settings, name)
        if name == "clickhouse_dsn":
            shown = settings.clickhouse.redacted()
        else:
            shown = "(unset)" if value is None else str(value)
        table.add_row(f"RISKALERT_{name.upper()}", shown)
    console.print(table)


@cli.command("worker")
@click.option("--loglevel", default="INFO", show_default=True, help="Log level of the worker.")
@click.option(
    "--clock",
    type=click.Choice(["live", "event"]),
    default=None,
    help="SLA clock: live (wall clock) or event (stream time, for replays). [env: RISKALERT_SLA_CLOCK]",
)
@click.option(
    "--stages",
    default=None,
    help="Comma-separated stages this worker runs: dedup,resolver,sla,pager (the default), or sink (the "
    "ClickHouse sink, in a worker of its own). [env: RISKALERT_WORKER_STAGES]",
)
@click.pass_context
def worker(ctx: click.Context, loglevel: str, clock: str | None, stages: str | None) -> None:
    """Run a stream worker until SIGTERM; /metrics on RISKALERT_METRICS_PORT (the sink's: ..._SINK_...)."""
    from streams.worker import run

    settings = settings_of(ctx)
    overrides: dict[str, object] = {}
    if clock is not None:
        overrides["sla_clock"] = clock
    if stages is not None:
        overrides["worker_stages"] = [stage.strip() for stage in stages.split(",") if stage.strip()]
    if overrides:
        settings = load_settings(**overrides)  # validated again: e.g. the sink runs alone
    run(settings, loglevel=loglevel)


@cli.group()
def ingest() -> None:
    """Validate, pseudonymise and produce input records; bad records go to the dead-letter topic."""


_FORMAT = click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "csv"]),
    default=None,
    help="Input format; default: from the file suffix, else from the first line.",
)
_ALLOW_REJECTS = click.option(
    "--allow-rejects", is_flag=True, help="Exit 0 even when records were rejected (they are in alerts.dlq)."
)


@ingest.command("alerts")
@click.argument("source", type=click.Path(allow_dash=True, dir_okay=False))
@_FORMAT
@_ALLOW_REJECTS
@click.pass_context
def ingest_alerts(ctx: click.Context, source: str, fmt: str | None, allow_rejects: bool) -> None:
    """Ingest warnings from SOURCE (JSON Lines or CSV with a header; - for stdin) into alerts.raw."""
    _ingest(ctx, "alert", source, fmt, allow_rejects)


@ingest.command("events")
@click.argument("source", type=click.Path(allow_dash=True, dir_okay=False))
@_FORMAT
@_ALLOW_REJECTS
@click.pass_context
def ingest_events(ctx: click.Context, source: str, fmt: str | None, allow_rejects: bool) -> None:
    """Ingest task lifecycle events from SOURCE into tasks.events."""
    _ingest(ctx, "event", source, fmt, allow_rejects)


@ingest.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.pass_context
def ingest_serve(ctx: click.Context, host: str) -> None:
    """Serve the HTTP ingest API (POST /v1/alerts, /v1/tasks/{id}/events) on RISKALERT_METRICS_PORT.

    Tokens come from RISKALERT_API_TOKENS; without any, every request is refused.
    """
    from streams.ingest.http import serve

    serve(settings_of(ctx), host=host)


@cli.group()
def history() -> None:
    """Prior-victim case records."""


@history.command("load")
@click.argument("source", type=click.Path(allow_dash=True, dir_okay=False))
@_FORMAT
@_ALLOW_REJECTS
@click.pass_context
def history_load(ctx: click.Context, source: str, fmt: str | None, allow_rejects: bool) -> None:
    """Load victim case records from SOURCE into the compacted victims.history topic."""
    _ingest(ctx, "victim", source, fmt, allow_rejects)


def _ingest(ctx: click.Context, kind_name: str, source: str, fmt: str | None, allow_rejects: bool) -> None:
    from rich.progress import DownloadColumn, Progress, TimeElapsedColumn

    from streams.ingest.files import ingest_file
    from streams.ingest.gateway import RecordKind

    settings = settings_of(ctx)
    total = None if source == "-" else Path(source).stat().st_size
    columns = (*Progress.get_default_columns()[:2], DownloadColumn(), TimeElapsedColumn())
    with Progress(*columns, console=errors, transient=True, disable=total is None) as bar:
        task = bar.add_task(f"ingest {kind_name}s", total=total)
        summary = ingest_file(
            settings,
            RecordKind(kind_name),
            source,
            fmt=fmt,
            progress=lambda done: bar.update(task, completed=done),
        )
    _print_summary(kind_name, source, summary)
    if summary.rejected and not allow_rejects:
        sys.exit(1)


def _print_summary(kind_name: str, source: str, summary: Any) -> None:
    table = Table(title=f"ingest {kind_name}s from {source}")
    table.add_column("outcome")
    table.add_column("records", justify="right")
    table.add_row("accepted", str(summary.accepted))
    table.add_row("  of which duplicates in input", str(summary.duplicates))
    for reason, count in sorted(summary.rejected.items()):
        table.add_row(f"rejected: {reason}", str(count))
    table.add_row("total", str(summary.total))
    console.print(table)
    if summary.rejected:
        console.print("Rejected records are in the dead-letter topic with their line and reason.")


@cli.group()
def db() -> None:
    """The ClickHouse schema (deploy/clickhouse/migrations; see docs/clickhouse.md)."""


@db.command("migrate")
@click.option(
    "--cluster",
    default=None,
    help="Cluster name: ON CLUSTER DDL, Replicated tables behind Distributed ones. "
    "[default: RISKALERT_CLICKHOUSE_CLUSTER, empty for one node]",
)
@click.option(
    "--ttl-days",
    type=click.IntRange(min=1),
    default=None,
    help="Row retention of new tables, in days. [default: RISKALERT_CLICKHOUSE_TTL_DAYS]",
)
@click.option(
    "--print-sql", is_flag=True, help="Print every statement a fresh database runs; connect to nothing."
)
@click.pass_context
def db_migrate(ctx: click.Context, cluster: str | None, ttl_days: int | None, print_sql: bool) -> None:
    """Create the database and apply the pending migrations in order (idempotent)."""
    from streams.db.client import connect
    from streams.db.migrate import load_migrations, migrate, plan_sql

    settings = settings_of(ctx)
    cluster = settings.clickhouse_cluster if cluster is None else cluster
    ttl_days = settings.clickhouse_ttl_days if ttl_days is None else ttl_days
    database = settings.clickhouse.database
    if print_sql:
        for name, sqls in plan_sql(load_migrations(), database=database, ttl_days=ttl_days, cluster=cluster):
            click.echo("".join(f"-- {name}\n{sql};\n\n" for sql in sqls), nl=False)
        return
    client = connect(settings, use_database=False)
    try:
        report = migrate(client, database=database, ttl_days=ttl_days, cluster=cluster)
    finally:
        client.close()
    for name in report.already_applied:
        console.print(f"ok        {name}")
    for name in report.applied:
        console.print(f"applied   {name}")
    console.print(f"{database} on {settings.clickhouse.redacted()} is up to date.")


@cli.command("kpi")
@click.option(
    "--from",
    "first_day",
    metavar="YYYY-MM-DD",
    default=None,
    help="First day of the period, China time (tasks created from then on). [default: 6 days before --to]",
)
@click.option(
    "--to",
    "last_day",
    metavar="YYYY-MM-DD",
    default=None,
    help="Last day of the period, included. [default: today]",
)
@click.option("--station", default=None, help="One station's code. [default: every station]")
@click.option(
    "--level",
    type=click.Choice(["CRITICAL", "HIGH", "MEDIUM", "LOW"], case_sensitive=False),
    default=None,
    help="Only tasks of this level (their current one). [default: every level]",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print a JSON array: one object per station, then all stations."
)
@click.pass_context
def kpi(
    ctx: click.Context,
    first_day: str | None,
    last_day: str | None,
    station: str | None,
    level: str | None,
    as_json: bool,
) -> None:
    """Per-station KPIs and the red/yellow card ranking (docs/kpi.md); thresholds from RISKALERT_KPI_*.

    While another process owns the chDB path (the sink worker), its KPI API on 127.0.0.1 at
    RISKALERT_SINK_METRICS_PORT answers instead.
    """
    from streams.kpi.report import report_json
    from streams.kpi.request import parse_request
    from streams.kpi.source import load_report
    from streams.kpi.table import report_table

    try:
        request = parse_request(first_day, last_day, station, level)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--from/--to") from exc
    report = load_report(settings_of(ctx), request)
    if as_json:
        click.echo(report_json(report))
    else:
        console.print(report_table(report, request))


@cli.command("simulate")
@click.option("--days", type=click.IntRange(min=1), default=1, show_default=True, help="Days of warnings.")
@click.option(
    "--seed", type=int, default=1, show_default=True, help="Random seed: the same seed, the same files."
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory for alerts.jsonl, events.jsonl, victims.jsonl and expected.json (created).",
)
@click.option(
    "--start",
    metavar="YYYY-MM-DD",
    default=None,
    help="First day, China time. [default: days + 3 days ago, so every event lies in the past]",
)
@click.option(
    "--malformed-rate",
    type=click.FloatRange(0, 1, max_open=True),
    default=0.005,
    show_default=True,
    help="Share of lines per file that are malformed on purpose (they must end in alerts.dlq).",
)
@click.option(
    "--stations", type=click.IntRange(min=1), default=12, show_default=True, help="Police stations."
)
@click.option(
    "--cases-per-day",
    type=click.IntRange(min=1),
    default=600,
    show_default=True,
    help="People warned per day.",
)
@click.pass_context
def simulate_command(
    ctx: click.Context,
    days: int,
    seed: int,
    out_dir: Path,
    start: str | None,
    malformed_rate: float,
    stations: int,
    cases_per_day: int,
) -> None:
    """Write a realistic, seeded warning stream in the ingest formats, with its ground truth.

    expected.json holds what the pipeline must count (tasks, merges, duplicates, SLA events per step,
    dead letters), computed with the pipeline's own logic and the SLA policy in RISKALERT_SLA_POLICY.
    """
    from streams.sim.generate import simulate
    from streams.sim.model import SimConfig, default_start
    from streams.sim.output import write_simulation

    try:
        first_day = default_start(days) if start is None else date.fromisoformat(start)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--start") from exc
    config = SimConfig(days, seed, first_day, cases_per_day, malformed_rate, stations)
    expected = write_simulation(simulate(config), out_dir, settings_of(ctx))
    console.print(
        f"{out_dir}: {expected['warnings']} warnings ({expected['merges']} merged, {expected['duplicates']} "
        f"re-delivered) into {expected['tasks']} tasks, {expected['task_events']} task events, "
        f"{expected['victim_records']} victim records, {expected['dead_letters']['total']} malformed lines; "
        f"breaches {expected['breaches']}"
    )


@cli.command("demo")
@click.option("--seed", type=int, default=1, show_default=True, help="The simulation's seed.")
@click.option("--days", type=click.IntRange(min=1), default=1, show_default=True, help="Simulated days.")
@click.option(
    "--seconds",
    type=click.FloatRange(min=1),
    default=60.0,
    show_default=True,
    help="About how long the simulated days take to stream.",
)
@click.option(
    "--cases-per-day", type=click.IntRange(min=1), default=600, show_default=True, help="People warned."
)
@click.option(
    "--data",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="Stream this `riskalert simulate` output instead of a fresh simulation.",
)
@click.option(
    "--live",
    is_flag=True,
    help="Wall-clock SLA clock with the policy scaled down by the speed-up, records stamped as they are "
    "fed: pages visibly fire into Alertmanager. The comparison is shown, not enforced.",
)
@click.pass_context
def demo_command(
    ctx: click.Context,
    seed: int,
    days: int,
    seconds: float,
    cases_per_day: int,
    data: Path | None,
    live: bool,
) -> None:
    """Run a simulated day through the local stack and check the result against its ground truth.

    Starts the stack, a fresh topic set (prefix demo-<time>.) and chDB store (RISKALERT_HOME/demo),
    the replay worker and the sink worker on RISKALERT_METRICS_PORT and RISKALERT_SINK_METRICS_PORT;
    streams the day with a live view; prints the KPI report and measured-vs-expected. Exit status 1
    on any mismatch. The stack keeps running (`riskalert stack down` stops it).
    """
    from streams.sim.demo import DemoOptions, run_demo

    options = DemoOptions(
        seed=seed, days=days, seconds=seconds, cases_per_day=cases_per_day, data=data, live=live
    )
    if not run_demo(settings_of(ctx), options, console).ok:
        errors.print("[red]the pipeline's figures differ from the ground truth[/red] (see the table above)")
        sys.exit(1)


def main() -> None:
    """Console-script entry point."""
    cli()


if __name__ == "__main__":
    main()
