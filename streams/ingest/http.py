"""HTTP ingest: `POST /v1/alerts`, `POST /v1/tasks/{task_id}/events` and
`POST /v1/alerts/{source}/{source_alert_id}/events` (events reported against a warning), with
bearer-token auth.

The same routes are served standalone (`riskalert ingest serve`) or mounted on the worker's web
server. A request's valid records are always produced; invalid ones go to the dead-letter topic and are
listed in the response by index and field. Upstream retries of a whole batch are safe: the dedup stage
drops repeated warnings by (source, source_alert_id) and repeated events by their deterministic id.

Responses:
    202: every record accepted; `{"accepted": n, "ids": [...]}`.
    422: some records rejected; `{"accepted": n, "ids": [...], "rejected": n, "errors": [...]}`.
    400: the body is not JSON, or not an object or a list of objects.
    401: no bearer token. 403: a wrong token.
    413: the body or the batch is too large.
    503: Kafka did not confirm the records; nothing in the request may be assumed accepted.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from streams.codec import default_codec
from streams.errors import ProduceError
from streams.ingest.context import Accepted, Rejected
from streams.ingest.gateway import Gateway, Position, RecordKind, RecordProcessor
from streams.ingest.readers import ParseError
from streams.producer import CheckedProducer
from streams.settings import Settings

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_SETTINGS = web.AppKey("settings", Settings)
_PRODUCER = web.AppKey("producer", CheckedProducer)
_PROCESSORS = web.AppKey("processors", dict[RecordKind, RecordProcessor])
_FLUSH_LOCK = web.AppKey("flush_lock", asyncio.Lock)


API_PREFIX = "/v1"


def create_api(settings: Settings, producer: CheckedProducer | None = None) -> web.Application:
    """The standalone ingest web application: `/v1/...`, `/healthz` and `/metrics`.

    Args:
        settings: tokens, limits and topics.
        producer: the producer to use; a new checked producer by default.
    """
    app = web.Application()
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/metrics", _metrics)
    app.add_subapp(API_PREFIX, create_ingest_subapp(settings, producer))
    return app


def create_ingest_subapp(settings: Settings, producer: CheckedProducer | None = None) -> web.Application:
    """The authenticated ingest routes, to mount at `/v1` (standalone, or on the worker's web server)."""
    app = web.Application(client_max_size=settings.api_max_body_bytes, middlewares=[_auth(settings)])
    app[_SETTINGS] = settings
    app[_PRODUCER] = producer or CheckedProducer(settings, **{"linger.ms": 5})
    # Built once per server: the HMAC key and the validators' context are not rebuilt per request.
    app[_PROCESSORS] = {
        kind: RecordProcessor(settings, default_codec(), kind, "http", partitions=0)
        for kind in (RecordKind.ALERT, RecordKind.EVENT)
    }
    app[_FLUSH_LOCK] = asyncio.Lock()
    app.router.add_post("/alerts", _post_alerts)
    app.router.add_post("/tasks/{task_id}/events", _post_task_events)
    app.router.add_post("/alerts/{source}/{source_alert_id}/events", _post_alert_events)
    return app


def _auth(settings: Settings) -> Any:
    tokens = [token.encode() for token in settings.api_token_list()]

    @web.middleware
    async def check_token(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await _checked(request, handler)
        except ApiError as exc:
            return web.json_response({"error": exc.message}, status=exc.status, headers=exc.headers)

    async def _checked(request: web.Request, handler: Handler) -> web.StreamResponse:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise _error(web.HTTPUnauthorized, "a bearer token is required", WWW_Authenticate="Bearer")
        # Compare against every token in constant time, so timing reveals nothing about a near miss.
        if not any(hmac.compare_digest(token.strip().encode(), known) for known in tokens):
            raise _error(web.HTTPForbidden, "the bearer token is not accepted")
        return await handler(request)

    return check_token


async def _post_alerts(request: web.Request) -> web.Response:
    return await _ingest(request, RecordKind.ALERT, await _records(request))


async def _post_task_events(request: web.Request) -> web.Response:
    task_id = request.match_info["task_id"]
    records = await _records(request)
    for record in records:
        if isinstance(record, dict) and record.setdefault("task_id", task_id) != task_id:
            raise _error(web.HTTPBadRequest, "task_id in the body differs from the task id in the path")
    return await _ingest(request, RecordKind.EVENT, records)


async def _post_alert_events(request: web.Request) -> web.Response:
    """Events an ops system reports against the warning it received (its source and instruction id)."""
    path_ref = {
        "source": request.match_info["source"],
        "source_alert_id": request.match_info["source_alert_id"],
    }
    records = await _records(request)
    for record in records:
        if not isinstance(record, dict):
            continue  # rejected per record as not_an_object
        if record.get("task_id") not in (None, ""):
            raise _error(web.HTTPBadRequest, "an event posted to a warning's route carries no task_id")
        if record.setdefault("alert_ref", path_ref) != path_ref:
            raise _error(web.HTTPBadRequest, "alert_ref in the body differs from the warning in the path")
    return await _ingest(request, RecordKind.EVENT, records)


async def _records(request: web.Request) -> list[object]:
    settings = request.app[_SETTINGS]
    limit = settings.api_max_body_bytes
    # Checked here, not only by aiohttp's client_max_size: a mounted sub-app inherits the root's limit.
    too_large = _error(web.HTTPRequestEntityTooLarge, f"the body exceeds {limit} bytes")
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    body = b"".join(chunks)
    try:
        parsed = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _error(web.HTTPBadRequest, f"the body is not valid JSON: {exc}") from exc
    records = parsed if isinstance(parsed, list) else [parsed]
    if len(records) > settings.api_max_batch:
        raise _error(web.HTTPRequestEntityTooLarge, f"at most {settings.api_max_batch} records per request")
    if not records:
        raise _error(web.HTTPBadRequest, "the body holds no record")
    return records


async def _ingest(request: web.Request, kind: RecordKind, records: list[object]) -> web.Response:
    app = request.app
    producer = app[_PRODUCER]
    gateway = Gateway(producer, app[_PROCESSORS][kind])
    request_name = f"http:{request.path}#{uuid.uuid4().hex[:12]}"
    results = [gateway.submit(record, Position(request_name, index)) for index, record in enumerate(records)]
    try:
        async with app[_FLUSH_LOCK]:
            await asyncio.get_running_loop().run_in_executor(None, producer.flush)
    except ProduceError as exc:
        raise _error(web.HTTPServiceUnavailable, f"Kafka did not confirm the records: {exc}") from exc
    return _response(results)


def _response(results: list[Accepted | Rejected | ParseError]) -> web.Response:
    ids = [
        str(result.record.get("alert_key") or result.record.get("event_id"))
        for result in results
        if isinstance(result, Accepted)
    ]
    errors = [
        {"index": index, "field": error.field, "reason": error.reason_code, "message": error.message}
        for index, result in enumerate(results)
        if isinstance(result, Rejected)
        for error in result.errors
    ]
    body: dict[str, object] = {"accepted": len(ids), "ids": ids}
    if errors:
        body |= {"rejected": len(results) - len(ids), "errors": errors}
    return web.json_response(body, status=422 if errors else 202)


async def _healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _metrics(_: web.Request) -> web.Response:
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


class ApiError(Exception):
    """An HTTP error with a JSON body `{"error": message}`; the middleware turns it into the response."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def _error(kind: type[web.HTTPException], message: str, **headers: str) -> ApiError:
    return ApiError(
        kind.status_code, message, {name.replace("_", "-"): value for name, value in headers.items()}
    )


def serve(settings: Settings, host: str = "127.0.0.1") -> None:
    """Run the ingest API standalone on `RISKALERT_METRICS_PORT` until interrupted."""
    web.run_app(create_api(settings), host=host, port=settings.metrics_port, access_log=None)
