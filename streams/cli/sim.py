"""`riskalert simulate` and `riskalert demo`: a seeded warning stream, and running it through the stack."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import click

from streams.cli.common import console, errors, settings_of


@click.command("simulate")
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


@click.command("demo")
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
