"""The KPI cells' refreshes (migration 004): ClickHouse runs them on schedule; these run them now.

`kpi_cells_recent` is refreshed every minute and `kpi_cells_history` daily by whichever process hosts
the engine: a ClickHouse server, or the chDB owner (the sink worker). A process that opens an idle
chDB store itself (`riskalert kpi` while no worker runs, tests, the benchmark) refreshes them first,
so its figures include every row stored so far.
"""

from __future__ import annotations

import re

from clickhouse_connect.driver.client import Client

from streams.db.errors import ClickHouseError

RECENT_VIEW = "kpi_cells_recent_mv"
HISTORY_VIEW = "kpi_cells_history_mv"


def refresh_cells(client: Client, *, history: bool = True) -> None:
    """Refresh the recent cells (and, with `history`, the older ones) and wait until they are done.

    Raises:
        ClickHouseError: a refresh failed (ClickHouse's reason, naming the view).
    """
    views = (RECENT_VIEW, HISTORY_VIEW) if history else (RECENT_VIEW,)
    for view in views:
        try:
            client.command(f"SYSTEM REFRESH VIEW {view}")
            client.command(f"SYSTEM WAIT VIEW {view}")
        except Exception as exc:  # clickhouse-connect raises several kinds; each means no fresh cells
            raise ClickHouseError(f"refreshing the KPI cells ({view}) failed: {exc}") from exc


# The insert-time views (migration 005) whose SELECT a backfill re-runs over the base tables.
BACKFILL_VIEWS = (
    "kpi_task_attrs_by_day_mv",
    "kpi_task_facts_by_day_events_mv",
    "kpi_task_facts_by_day_sla_mv",
)


def backfill_kpi_tables(client: Client) -> None:
    """Fill the KPI tables from the base tables, as if every row had been inserted after migration 005.

    For a database whose base tables were filled before 005 was applied; running it again changes
    nothing (every fact merges idempotently). Refreshes the cells at the end.

    Raises:
        ClickHouseError: naming the view whose query failed.
    """
    for view in BACKFILL_VIEWS:
        try:
            target, select = _view_query(client, view)
            columns = [name for name, *_ in client.query(f"DESCRIBE ({select})").result_rows]
            client.command(f"INSERT INTO {target} ({', '.join(columns)}) {select}")
        except Exception as exc:  # clickhouse-connect raises several kinds; each means no backfill
            raise ClickHouseError(f"backfilling the KPI tables from {view} failed: {exc}") from exc
    refresh_cells(client)


def _view_query(client: Client, view: str) -> tuple[str, str]:
    """A materialized view's target table and SELECT, as ClickHouse stored them.

    Raises:
        ValueError: the view does not exist.
    """
    result = client.query(
        "SELECT create_table_query, as_select FROM system.tables "
        "WHERE database = currentDatabase() AND name = {view:String}",
        parameters={"view": view},
    )
    if not result.result_rows:
        raise ValueError(f"no view {view}: apply migration 005 first (riskalert db migrate)")
    [(ddl, select)] = result.result_rows
    target = re.search(r"\sTO\s+([\w.]+)", str(ddl))
    if target is None:
        raise ValueError(f"{view} writes to no table")
    return target[1], str(select)
