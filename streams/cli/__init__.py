"""`riskalert`: the command line. Every flag falls back to `streams.settings.Settings`.

This module holds the root group and the entry point; each command group lives in its own module:

- `stack`: `stack`, `topics`, `config` (the local services, the topics, the settings).
- `worker`: `worker` (the stream stages).
- `ingest`: `ingest`, `history` (input records into Kafka).
- `db`: `db`, `kpi` (the ClickHouse schema and the KPI report).
- `sim`: `simulate`, `demo` (the seeded warning stream and the self-checking demo).
- `common`: the consoles and `settings_of`, which every command module uses.
"""

from __future__ import annotations

import sys
from typing import Any

import click
from rich.markup import escape

from streams import __version__
from streams.cli.common import errors
from streams.cli.db import db, kpi
from streams.cli.ingest import history, ingest
from streams.cli.sim import demo_command, simulate_command
from streams.cli.stack import config, stack, topics
from streams.cli.worker import worker
from streams.errors import RiskAlertError, SettingsError
from streams.settings import env_help


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


@click.group(cls=_Group, epilog=_env_epilog(), context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="riskalert")
def cli() -> None:
    """riskalert: anti-fraud warnings in, dissuasion tasks, SLA pages and KPIs out."""


for _command in (stack, topics, config, worker, ingest, history, db, kpi, simulate_command, demo_command):
    cli.add_command(_command)


def main() -> None:
    """Console-script entry point."""
    cli()
