"""Idempotent batch inserts: a batch inserted twice with the same token lands once.

The sink builds each batch deterministically from one Kafka partition and names it by its position
(`batch_token`). ClickHouse remembers the tokens of recent inserts per table and partition (replicated
tables always; plain MergeTree through the `non_replicated_deduplication_window` table setting every
migration sets) and drops a block whose token it has seen. The sink commits offsets only after the
insert returned, so a crash replays at most the uncommitted batches, with the same tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from clickhouse_connect.driver.client import Client

from streams.db.errors import ClickHouseError, RefusedBlock


def batch_token(topic: str, partition: int, first_offset: int, last_offset: int) -> str:
    """The deduplication token of the batch read from `topic`/`partition` at these offsets (inclusive)."""
    return f"{topic}:{partition}:{first_offset}-{last_offset}"


def insert_settings(token: str) -> dict[str, Any]:
    """The per-insert settings that make an insert idempotent under `token`.

    `insert_distributed_sync` makes an insert into a cluster's Distributed table return only after every
    shard stored its part (with the token), so committing the offsets afterwards is safe.
    """
    if not token:
        raise ValueError("an insert needs a non-empty deduplication token")
    return {"insert_deduplication_token": token, "insert_deduplicate": 1, "insert_distributed_sync": 1}


def insert_rows(
    client: Client, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], token: str
) -> int:
    """Insert one deterministic batch; inserting it again with the same token adds nothing.

    Args:
        client: from `streams.db.client.connect`.
        table: the table, in the client's database (e.g. `tasks`).
        columns: the column names of `rows`, e.g. `streams.db.rows.TASK_COLUMNS`.
        rows: the rows, each in `columns` order (`streams.db.rows`).
        token: the batch's deduplication token (`batch_token`); the same batch must always get the same
            token and the same rows in the same order.

    Returns:
        The number of rows sent (a deduplicated batch counts too).

    Raises:
        ClickHouseError: naming the table, the token and ClickHouse's reason.
    """
    settings = insert_settings(token)
    if not rows:
        return 0
    try:
        client.insert(table, rows, column_names=list(columns), settings=settings)
    except Exception as exc:  # clickhouse-connect raises several kinds; each means the batch did not land
        raise ClickHouseError(
            f"insert of {len(rows)} rows into {table} (batch {token}) failed: {exc}"
        ) from exc
    return len(rows)


# ClickHouse error names that mean the insert's data could not be read (not that ClickHouse failed).
_UNREADABLE = (
    "CANNOT_PARSE",
    "CANNOT_READ_ALL_DATA",
    "INCORRECT_DATA",
    "TYPE_MISMATCH",
    "CANNOT_CONVERT_TYPE",
    "UNKNOWN_TYPE",
    "ILLEGAL_COLUMN",
    "TOO_LARGE_STRING_SIZE",
    "CANNOT_ALLOCATE_MEMORY",
    "ATTEMPT_TO_READ_AFTER_EOF",
    "ARGUMENT_OUT_OF_BOUND",
    "avro::Exception",  # the Avro library inside ClickHouse: a body that does not decode
)


def insert_avro(client: Client, table: str, columns: Sequence[str], block: bytes, token: str) -> None:
    """Insert one deterministic batch given as an Avro container (`streams.db.avro_blocks`); ClickHouse
    decodes it and maps its fields to `columns` by name. Inserting it again with the same token adds
    nothing.

    Raises:
        RefusedBlock: ClickHouse could not read the block (naming table, token and its reason).
        ClickHouseError: the insert failed otherwise (worth a retry).
    """
    try:
        client.raw_insert(
            table, list(columns), insert_block=block, settings=insert_settings(token), fmt="Avro"
        )
    except Exception as exc:  # clickhouse-connect raises several kinds; each means the batch did not land
        message = f"Avro insert into {table} (batch {token}) failed: {exc}"
        if any(name in str(exc) for name in _UNREADABLE):
            raise RefusedBlock(message) from exc
        raise ClickHouseError(message) from exc
