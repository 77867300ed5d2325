"""`riskalert ingest` and `riskalert history`: input records from files, stdin or HTTP into Kafka."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from streams.cli.common import console, errors, settings_of


@click.group()
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


@click.group()
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
