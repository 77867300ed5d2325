"""`riskalert db` and `riskalert kpi`: the ClickHouse schema, and the KPI report read from it."""

from __future__ import annotations

import click

from streams.cli.common import console, settings_of


@click.group()
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


@click.command("kpi")
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
