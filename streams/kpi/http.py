"""`GET /v1/kpi`: the KPI report over HTTP, served by the process that owns the chDB path.

chDB lets one process own a data path, and in the local stack that is the sink worker. So the
worker serves the report, and `riskalert kpi` asks it when the path is taken (`streams.kpi.source`).
The response body is exactly what `riskalert kpi --json` prints (`report.report_json`).

Mount it on the worker's web application (the route is `/kpi` under the `/v1` prefix):

    web_app.add_subapp("/v1", create_kpi_subapp(settings, lambda: connect(settings)))

Query parameters, all optional, as the command's options: `from`, `to` (YYYY-MM-DD, China days,
both included; default the last 7 days including today), `station`, `level`. A bad parameter is a
400, a failing query a 503, each with `{"error": "..."}`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from aiohttp import web
from clickhouse_connect.driver.client import Client

from streams.errors import RiskAlertError
from streams.kpi.queries import CardThresholds
from streams.kpi.report import report_json, station_report
from streams.kpi.request import KpiRequest, parse_request
from streams.settings import Settings

ClientFactory = Callable[[], Client]
ROUTE = "/kpi"
MOUNT_PREFIX = "/v1"
PATH = MOUNT_PREFIX + ROUTE
QUERY_PARAMETERS = ("from", "to", "station", "level")

log = logging.getLogger(__name__)

_THRESHOLDS: web.AppKey[CardThresholds] = web.AppKey("kpi_thresholds")
_CLIENT_FACTORY: web.AppKey[ClientFactory] = web.AppKey("kpi_client_factory")


def create_kpi_subapp(settings: Settings, client_factory: ClientFactory) -> web.Application:
    """The sub-application serving `GET /kpi`; mount it under `/v1` (module docstring).

    Args:
        settings: riskalert's settings (the card thresholds).
        client_factory: opens a ClickHouse client in the owning process, e.g. `lambda: connect(settings)`;
            each request opens one and closes it, on an executor thread.
    """
    app = web.Application()
    app[_THRESHOLDS] = CardThresholds.from_settings(settings)
    app[_CLIENT_FACTORY] = client_factory
    app.router.add_get(ROUTE, handle_kpi)
    return app


async def handle_kpi(request: web.Request) -> web.Response:
    """The report for the request's query parameters, as `riskalert kpi --json` prints it."""
    try:
        kpi_request = request_of(dict(request.query))
    except ValueError as exc:
        return error_response(400, str(exc))
    run = partial(report_text, request.app[_CLIENT_FACTORY], kpi_request, request.app[_THRESHOLDS])
    try:
        body = await asyncio.get_running_loop().run_in_executor(None, run)
    except RiskAlertError as exc:
        log.warning("KPI report failed: %s", exc)
        return error_response(503, str(exc))
    except Exception as exc:  # a bug here must still answer JSON, and show up in the log
        log.exception("KPI report failed")
        return error_response(500, f"KPI report failed: {type(exc).__name__}: {exc}")
    return web.Response(text=body, content_type="application/json")


def request_of(query: dict[str, str]) -> KpiRequest:
    """The report a query string asks for.

    Raises:
        ValueError: an unknown parameter, a bad date or level, or a period that ends before it starts.
    """
    unknown = sorted(set(query) - set(QUERY_PARAMETERS))
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(unknown)}; use {', '.join(QUERY_PARAMETERS)}")
    return parse_request(query.get("from"), query.get("to"), query.get("station"), query.get("level"))


def report_text(client_factory: ClientFactory, request: KpiRequest, thresholds: CardThresholds) -> str:
    """Run the report on a client of its own (blocking: call it on an executor thread).

    Raises:
        ClickHouseError: the client could not be opened or a query failed.
    """
    client = client_factory()
    try:
        return report_json(station_report(client, request, thresholds))
    finally:
        client.close()


def error_response(status: int, message: str) -> web.Response:
    """`{"error": message}` with `status`."""
    body: dict[str, Any] = {"error": message}
    return web.Response(
        status=status, text=json.dumps(body, ensure_ascii=False), content_type="application/json"
    )
