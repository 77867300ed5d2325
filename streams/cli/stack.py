"""`riskalert stack`, `riskalert topics` and `riskalert config`: the local services, topics and settings."""

from __future__ import annotations

import sys

import click
from rich.table import Table

from streams.cli.common import console, settings_of
from streams.settings import Settings


@click.group()
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


@click.group()
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


@click.group()
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
