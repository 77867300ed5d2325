"""The KPI cells' refreshes (migration 004): ClickHouse runs them on schedule; these run them now.

`kpi_cells_recent` is refreshed every minute and `kpi_cells_history` daily by whichever process hosts
the engine: a ClickHouse server, or the chDB owner (the sink worker). A process that opens an idle
chDB store itself (`riskalert kpi` while no worker runs, tests, the benchmark) refreshes them first,
so its figures include every row stored so far.
"""

from __future__ import annotations

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
