"""`riskalert worker`: run the stream stages in a Faust worker."""

from __future__ import annotations

import click

from streams.cli.common import settings_of
from streams.settings import load_settings


@click.command("worker")
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
