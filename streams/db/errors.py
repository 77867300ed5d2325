"""Errors of the ClickHouse layer, in riskalert's one error tree."""

from __future__ import annotations

from streams.errors import RiskAlertError


class ClickHouseError(RiskAlertError):
    """A ClickHouse connection, query or insert failed; the message names the target and the table."""


class MigrationError(ClickHouseError):
    """A migration cannot be read, rendered or applied; the message names the migration file."""
