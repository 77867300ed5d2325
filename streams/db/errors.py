"""Errors of the ClickHouse layer, in riskalert's one error tree."""

from __future__ import annotations

from streams.errors import RiskAlertError


class ClickHouseError(RiskAlertError):
    """A ClickHouse connection, query or insert failed; the message names the target and the table."""


class MigrationError(ClickHouseError):
    """A migration cannot be read, rendered or applied; the message names the migration file."""


class RefusedBlock(Exception):  # noqa: N818  (ClickHouse's verdict on the data, not a failure of it)
    """ClickHouse could not read an Avro insert block (a corrupt record in it); retrying cannot help.

    The sink then decodes the batch record by record, dead-letters what does not decode and inserts
    the rest under the same token.
    """
