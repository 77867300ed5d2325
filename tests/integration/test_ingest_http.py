"""HTTP ingest over real loopback HTTP into the real broker: auth, limits, field errors, 202 with ids."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from streams.ingest.http import create_api
from streams.settings import Settings
from tests.integration.kafka_io import read_all
from tests.support import iso_ago, make_id_number, make_phone

TOKEN = "station-feed-7f3a9c"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
Scenario = Callable[[TestClient[Any, Any]], Awaitable[None]]


def _with_client(settings: Settings, scenario: Scenario) -> None:
    async def run() -> None:
        api = create_api(
            settings.model_copy(
                update={
                    "api_tokens": SecretStr(f"other-token,{TOKEN}"),
                    "api_max_body_bytes": 64 * 1024,
                    "api_max_batch": 50,
                }
            )
        )
        async with TestClient(TestServer(api, host="127.0.0.1")) as client:
            await scenario(client)

    asyncio.run(run())


def _alert(n: int, **overrides: object) -> dict[str, object]:
    return {
        "source": "NAC_APP",
        "source_alert_id": f"H-{n}",
        "issued_at": iso_ago(3),
        "level": "HIGH",
        "fraud_type": "IMPERSONATE_AUTHORITY",
        "station_code": "S03",
        "region_code": "R330106",
        "id_number": make_id_number(sequence=n),
        "phone": make_phone(n),
        "name": "钱七",
        **overrides,
    }


def test_auth_is_required_and_checked(isolated: Settings) -> None:
    async def scenario(client: TestClient[Any, Any]) -> None:
        missing = await client.post("/v1/alerts", json=_alert(1))
        assert missing.status == 401
        assert missing.headers["WWW-Authenticate"] == "Bearer"
        wrong = await client.post("/v1/alerts", json=_alert(1), headers={"Authorization": "Bearer guess"})
        assert wrong.status == 403
        basic = await client.post("/v1/alerts", json=_alert(1), headers={"Authorization": f"Basic {TOKEN}"})
        assert basic.status == 401
        assert (await client.get("/healthz")).status == 200

    _with_client(isolated, scenario)
    assert read_all(isolated, isolated.topic("alerts.raw")) == []


def test_batch_accepted_with_ids(isolated: Settings) -> None:
    async def scenario(client: TestClient[Any, Any]) -> None:
        response = await client.post("/v1/alerts", json=[_alert(1), _alert(2), _alert(1)], headers=AUTH)
        assert response.status == 202
        assert await response.json() == {"accepted": 3, "ids": ["NAC_APP:H-1", "NAC_APP:H-2", "NAC_APP:H-1"]}

    _with_client(isolated, scenario)
    raw = read_all(isolated, isolated.topic("alerts.raw"))
    assert sorted(r.record["alert_key"] for r in raw) == ["NAC_APP:H-1", "NAC_APP:H-1", "NAC_APP:H-2"]


def test_bad_records_list_each_field_and_are_dead_lettered(isolated: Settings) -> None:
    async def scenario(client: TestClient[Any, Any]) -> None:
        bad = _alert(5, level="URGENT", amount_at_risk_fen=-1, id_number="110105199003070000")
        response = await client.post("/v1/alerts", json=[_alert(4), bad, "not an object"], headers=AUTH)
        assert response.status == 422
        body = await response.json()
        assert body["accepted"] == 1
        assert body["ids"] == ["NAC_APP:H-4"]
        assert body["rejected"] == 2
        fields = {(e["index"], e["field"], e["reason"]) for e in body["errors"]}
        assert {(1, "level", "bad_enum"), (1, "amount_at_risk_fen", "negative_amount")} <= fields
        assert any(index == 1 and field == "id_number" for index, field, _ in fields)
        assert any(index == 2 for index, _, _ in fields)
        assert "110105199003070000" not in json.dumps(body)

    _with_client(isolated, scenario)
    assert len(read_all(isolated, isolated.topic("alerts.raw"))) == 1
    letters = read_all(isolated, isolated.topic("alerts.dlq"))
    assert sorted(letter.record["input_line"] for letter in letters) == [1, 2]
    assert {letter.record["stage"] for letter in letters} == {"ingest-http"}
    assert all(str(letter.record["input_name"]).startswith("http:/v1/alerts#") for letter in letters)


def test_limits_and_malformed_bodies(isolated: Settings) -> None:
    async def scenario(client: TestClient[Any, Any]) -> None:
        huge = await client.post("/v1/alerts", data=b"[" + b" " * 70_000 + b"]", headers=AUTH)
        assert huge.status == 413
        too_many = await client.post("/v1/alerts", json=[_alert(n) for n in range(51)], headers=AUTH)
        assert too_many.status == 413
        assert "at most 50 records" in (await too_many.json())["error"]
        garbage = await client.post("/v1/alerts", data=b"\xff\xfe{{", headers=AUTH)
        assert garbage.status == 400
        assert "not valid JSON" in (await garbage.json())["error"]
        empty = await client.post("/v1/alerts", json=[], headers=AUTH)
        assert empty.status == 400

    _with_client(isolated, scenario)
    assert read_all(isolated, isolated.topic("alerts.raw")) == []


def test_task_events_route(isolated: Settings) -> None:
    async def scenario(client: TestClient[Any, Any]) -> None:
        event = {"type": "DISPATCHED", "occurred_at": iso_ago(1), "assignee": "P-0420"}
        accepted = await client.post("/v1/tasks/t-42/events", json=event, headers=AUTH)
        assert accepted.status == 202
        (event_id,) = (await accepted.json())["ids"]
        mismatch = await client.post("/v1/tasks/t-42/events", json={**event, "task_id": "t-43"}, headers=AUTH)
        assert mismatch.status == 400
        no_assignee = await client.post(
            "/v1/tasks/t-42/events", json={"type": "DISPATCHED", "occurred_at": iso_ago(1)}, headers=AUTH
        )
        assert no_assignee.status == 422
        assert (await no_assignee.json())["errors"][0]["field"] == "assignee"
        assert len(event_id) == 32

    _with_client(isolated, scenario)
    (produced,) = read_all(isolated, isolated.topic("tasks.events"))
    assert produced.key == b"t-42"
    assert produced.record["assignee"] == "P-0420"


def test_events_reported_against_a_warning_route(isolated: Settings) -> None:
    async def scenario(client: TestClient[Any, Any]) -> None:
        event = {"type": "RECEIVED", "occurred_at": iso_ago(1)}
        accepted = await client.post("/v1/alerts/JZZ/JZZ-77821/events", json=[event, event], headers=AUTH)
        assert accepted.status == 202
        assert len(set((await accepted.json())["ids"])) == 1  # the same event twice: one id
        with_task = await client.post(
            "/v1/alerts/JZZ/JZZ-77821/events", json={**event, "task_id": "t-42"}, headers=AUTH
        )
        assert with_task.status == 400
        other_ref = {"source": "JZZ", "source_alert_id": "JZZ-1"}
        mismatch = await client.post(
            "/v1/alerts/JZZ/JZZ-77821/events", json={**event, "alert_ref": other_ref}, headers=AUTH
        )
        assert mismatch.status == 400
        bad_source = await client.post("/v1/alerts/NOPE/X-1/events", json=event, headers=AUTH)
        assert bad_source.status == 422
        assert (await bad_source.json())["errors"][0]["field"] == "alert_ref.source"

    _with_client(isolated, scenario)
    produced = read_all(isolated, isolated.topic("tasks.events.by_ref"))
    assert [read.key for read in produced] == [b"JZZ:JZZ-77821"] * 2
    assert produced[0].record["alert_ref"] == {"source": "JZZ", "source_alert_id": "JZZ-77821"}
    assert produced[0].record["task_id"] == ""
    assert read_all(isolated, isolated.topic("tasks.events")) == []
