"""What every command module shares: the output consoles and the settings, read once per command."""

from __future__ import annotations

import click
from rich.console import Console

from streams.settings import Settings, load_settings

console = Console()
errors = Console(stderr=True)


def settings_of(ctx: click.Context) -> Settings:
    """The settings, read once per command (so `--help` works even with a bad environment)."""
    root = ctx.find_root()
    if root.obj is None:
        root.obj = load_settings()
    settings: Settings = root.obj
    return settings
