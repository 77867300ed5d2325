"""One way to reach ClickHouse: a clickhouse-connect client for embedded chDB or a server.

The same client class serves both targets, so migrations, the sink and the KPI queries run one code
path. chDB is in-process: one process at a time owns a data path (the worker, in the local stack);
inside that process any number of clients share the engine.
"""

from __future__ import annotations

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from streams.db.errors import ClickHouseError
from streams.settings import ClickHouseTarget, Settings

_LOCKED_HINTS = ("Cannot lock file", "Error initializing EmbeddedServer", "already initialized with path")


def connect(settings: Settings, *, use_database: bool = True) -> Client:
    """A client for `settings.clickhouse`.

    Args:
        settings: riskalert's settings (DSN, TLS options).
        use_database: make the target's database the session's current one; False for `db migrate`,
            which may have to create it.

    Raises:
        ClickHouseError: the target cannot be reached, or its database does not exist yet; the message
            shows the DSN without its password and, for chDB, what holds the path.
    """
    target = settings.clickhouse
    database = target.database if use_database else None
    try:
        if target.embedded:
            return _chdb_client(target, database)
        return _server_client(settings, target, database)
    except Exception as exc:  # clickhouse-connect and chdb raise many kinds; each means no client
        raise ClickHouseError(connect_error_message(target, exc)) from exc


def _chdb_client(target: ClickHouseTarget, database: str | None) -> Client:
    assert target.path is not None  # parse_clickhouse_dsn always sets it for chdb://
    target.path.mkdir(parents=True, exist_ok=True)
    return clickhouse_connect.get_client(interface="chdb", path=str(target.path), database=database)


def _server_client(settings: Settings, target: ClickHouseTarget, database: str | None) -> Client:
    ca_cert = str(settings.clickhouse_ca_cert) if settings.clickhouse_ca_cert else None
    return clickhouse_connect.get_client(
        interface=target.scheme,
        host=target.host,
        port=target.port,
        username=target.username,
        password=target.password.get_secret_value(),
        database=database,
        verify=settings.clickhouse_verify_tls,
        ca_cert=ca_cert,
    )


def connect_error_message(target: ClickHouseTarget, exc: BaseException) -> str:
    """What an operator needs to know when connecting failed, with any password removed."""
    detail = str(exc)
    password = target.password.get_secret_value()
    if password:
        detail = detail.replace(password, "***")
    message = f"cannot connect to ClickHouse at {target.redacted()}: {detail}"
    if target.embedded and any(hint in detail for hint in _LOCKED_HINTS):
        message += (
            "\nchDB lets one process own a data path: stop the process holding it (the worker?), or point "
            "RISKALERT_CLICKHOUSE_DSN at a ClickHouse server"
        )
    if "UNKNOWN_DATABASE" in detail or "does not exist" in detail:
        message += "\nrun `riskalert db migrate` to create the database and its tables"
    return message
