"""The pager on the real stack: warnings ingested with real identifiers become tasks, breach their
SLA, and are paged through a real Alertmanager running the shipped routes to a webhook in the test.

One scenario, in order (seconds-long SLA policy, shortened group timings):
1. five tasks at three stations: two CRITICAL and one HIGH never received (75 % warning, then
   breach), one HIGH received in time (no page), one MEDIUM never received (breach only: MEDIUM
   warnings are not paged). The webhook receives exactly the expected firing alerts, grouped per
   alert name, level, station and step, each level at its receiver.
2. the HIGH task is received late: its breach's resolved notification arrives.
3. a re-emitted BREACHED event opens no second page.
4. Alertmanager stops; a new CRITICAL task breaches while it is down (failed pushes are counted);
   Alertmanager starts again on the same state and the page arrives.
Throughout, no notification, Alertmanager alert or metric carries an ID number, phone number, name,
person key, or a task id in a label.

Then an Alertmanager pair (high availability): both instances hold every page; with one stopped the
other still pages and the stopped one is counted; after its restart the next resend reaches it.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from streams.alertmanager import AlertmanagerClient
from streams.codec import default_codec
from streams.errors import AlertmanagerError
from streams.logic.pager import task_key
from streams.producer import CheckedProducer
from streams.settings import Settings
from tests.integration.alertmanager import (
    Alertmanager,
    AlertmanagerProcess,
    Notification,
    Webhooks,
    shipped_config,
    wait_for,
    webhook_server,
)
from tests.integration.cli import riskalert_ok
from tests.integration.kafka_io import read_all
from tests.integration.workers import WorkerProcess
from tests.support import make_id_number, make_phone

POLICY = (
    "rules:\n  - name: fast\n"
    "    due: {reception: 8s, dispatch: 10m, verification: 10m, feedback: 10m}\n"
    "warn_at: [0.5, 0.75]\n"
)
GRAFANA = "https://grafana.example"
RECEIVER_OF = {"CRITICAL": "/centre-duty", "HIGH": "/station-rota", "MEDIUM": "/digest"}
GROUP_BY = {"alertname", "level", "station", "step"}
BREACH, AT_RISK = "RiskAlertSlaBreach", "RiskAlertSlaAtRisk"
# name: (level, station, full name); the person's ID number and phone follow from the position.
PEOPLE = {
    "C1": ("CRITICAL", "330106-PCS-01", "王小明"),
    "C2": ("CRITICAL", "330106-PCS-01", "李四"),
    "H1": ("HIGH", "330106-PCS-02", "欧阳娜娜"),
    "H2": ("HIGH", "330106-PCS-02", "赵六"),
    "M1": ("MEDIUM", "330106-PCS-03", "孙七"),
    "C3": ("CRITICAL", "330106-PCS-04", "周八"),
}


def _warning(name: str, run: str, issued_in_seconds: float) -> dict[str, Any]:
    level, station, full_name = PEOPLE[name]
    number = list(PEOPLE).index(name) + 1
    issued = time.time() + issued_in_seconds
    return {
        "source": "JZZ",
        "source_alert_id": f"PAGER-{run}-{name}",
        "issued_at": time.strftime("%Y-%m-%dT%H:%M:%S+08:00", time.gmtime(issued + 8 * 3600)),
        "level": level,
        "fraud_type": "IMPERSONATE_AUTHORITY",
        "station_code": station,
        "region_code": "330106",
        "id_number": make_id_number(region="330106", sequence=700 + number),
        "phone": make_phone(70_000 + number),
        "name": full_name,
        "amount_at_risk_fen": 5_000_000,
    }


def _ingest(settings: Settings, tmp_path: Path, warnings: list[dict[str, Any]]) -> None:
    path = tmp_path / f"alerts-{uuid.uuid4().hex[:6]}.jsonl"
    path.write_text("".join(json.dumps(w, ensure_ascii=False) + "\n" for w in warnings))
    riskalert_ok(settings, "ingest", "alerts", str(path))


def _tasks(settings: Settings, run: str, names: list[str]) -> dict[str, dict[str, Any]]:
    """The latest version of each named task, found by its warning's key."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found: dict[str, dict[str, Any]] = {}
        for read in read_all(settings, settings.topic("tasks")):
            task = read.record
            name = str(task["first_alert_key"]).removeprefix(f"JZZ:PAGER-{run}-")
            if name in names and task["version"] >= found.get(name, {}).get("version", 0):
                found[name] = task
        if set(found) == set(names):
            return found
        time.sleep(0.5)
    raise AssertionError(f"tasks {names} not created")


def _produce_event(settings: Settings, task_id: str, kind: str) -> None:
    now = time.time_ns() // 1_000_000
    event = {
        "event_id": uuid.uuid4().hex,
        "task_id": task_id,
        "type": kind,
        "occurred_at": now,
        "ingested_at": now,
    }
    producer = CheckedProducer(settings)
    producer.produce(
        settings.topic("tasks.events"), task_id.encode(), default_codec().encode("TaskEvent", event)
    )
    producer.flush()


def _alerts(notifications: list[Notification], status: str | None = None) -> list[tuple[str, dict[str, Any]]]:
    return [
        (n.path, alert)
        for n in notifications
        for alert in n.payload["alerts"]
        if status is None or alert["status"] == status
    ]


def _firing(webhooks: Webhooks) -> set[tuple[str, str, str]]:
    return {
        (path, alert["labels"]["alertname"], alert["labels"]["task_key"])
        for path, alert in _alerts(webhooks.snapshot(), "firing")
    }


def _metrics(worker: WorkerProcess) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{worker.port}/metrics", timeout=10) as response:
        return str(response.read().decode())


def _sample(exported: str, name: str, **labels: str) -> float:
    for line in exported.splitlines():
        if line.startswith(name + "{"):
            found = dict(re.findall(r'(\w+)="([^"]*)"', line[len(name) : line.index("}") + 1]))
            if found == labels:
                return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no sample {name}{labels}")


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[tuple[AlertmanagerProcess, Webhooks]]:
    """A private Alertmanager with the shipped routes, group timings shortened to a second or two."""
    webhooks = Webhooks()
    server = webhook_server(webhooks)
    capture = f"http://127.0.0.1:{server.server_address[1]}"
    (tmp_path / "am").mkdir()
    process = AlertmanagerProcess(
        tmp_path / "am", shipped_config(capture, group_wait="1s", group_interval="2s")
    )
    process.start()
    try:
        yield process, webhooks
    finally:
        process.stop()
        server.shutdown()


def test_breaches_are_paged_grouped_resolved_and_survive_an_alertmanager_outage(
    isolated: Settings, tmp_path: Path, alertmanager: tuple[AlertmanagerProcess, Webhooks]
) -> None:
    am_process, webhooks = alertmanager
    am = Alertmanager(am_process.url, webhooks)
    policy = tmp_path / "sla.yaml"
    policy.write_text(POLICY)
    worker = WorkerProcess(
        isolated,
        tmp_path / "worker",
        env={
            "RISKALERT_SLA_POLICY": str(policy),
            "RISKALERT_ALERTMANAGER_URL": am_process.url,
            "RISKALERT_GRAFANA_URL": GRAFANA,
            "RISKALERT_PAGER_TIMER_INTERVAL_SECONDS": "0.2",
            "RISKALERT_PAGER_RESEND_SECONDS": "5",
            "RISKALERT_PAGER_RETRY_MAX_SECONDS": "1",
        },
    )
    worker.start()
    run = uuid.uuid4().hex[:8]
    scanned: list[str] = []
    try:
        exported = _metrics(worker)
        assert _sample(exported, "riskalert_pages_total", kind="breach", outcome="failed") == 0
        assert _sample(exported, "riskalert_pages_total", kind="at_risk", outcome="failed") == 0

        # 1. Five tasks; their creation lies 4 s ahead, so the ingest run is done before any threshold.
        first = ["C1", "C2", "H1", "H2", "M1"]
        _ingest(isolated, tmp_path, [_warning(name, run, 4) for name in first])
        tasks = _tasks(isolated, run, first)
        keys = {name: task_key(task["task_id"], "reception", 1) for name, task in tasks.items()}
        wait_for(lambda: time.time() * 1000 > tasks["H2"]["created_at"] + 500, 10, "H2's task to start")
        _produce_event(isolated, tasks["H2"]["task_id"], "RECEIVED")  # in time: never paged
        expected = {
            ("/centre-duty", AT_RISK, keys["C1"]),
            ("/centre-duty", AT_RISK, keys["C2"]),
            ("/centre-duty", BREACH, keys["C1"]),
            ("/centre-duty", BREACH, keys["C2"]),
            ("/station-rota", AT_RISK, keys["H1"]),
            ("/station-rota", BREACH, keys["H1"]),
            ("/digest", BREACH, keys["M1"]),
        }
        wait_for(lambda: _firing(webhooks) >= expected, 30, "the firing notifications")
        time.sleep(2.5)  # a group interval: anything unexpected would have arrived
        assert _firing(webhooks) == expected
        for notification in webhooks.snapshot():
            group = notification.payload["groupLabels"]
            assert set(group) == GROUP_BY
            assert notification.path == RECEIVER_OF[group["level"]]
            for alert in notification.payload["alerts"]:
                assert {k: alert["labels"][k] for k in GROUP_BY} == group
        breach_c1 = next(
            a
            for _, a in _alerts(webhooks.snapshot(), "firing")
            if a["labels"]["task_key"] == keys["C1"] and a["labels"]["alertname"] == BREACH
        )
        assert breach_c1["labels"] == {
            "alertname": BREACH,
            "severity": "page",
            "level": "CRITICAL",
            "station": "330106-PCS-01",
            "region": "330106",
            "step": "reception",
            "task_key": keys["C1"],
        }
        c1 = tasks["C1"]["task_id"]
        assert breach_c1["annotations"]["task_id"] == c1
        assert breach_c1["annotations"]["masked_name"] == "王**"
        assert breach_c1["annotations"]["sources"] == "JZZ"
        assert (
            breach_c1["annotations"]["dashboard"]
            == f"{GRAFANA}/d/riskalert-ops/riskalert-ops?var-task_id={c1}"
        )

        # 2. H1 is received late: the breach resolves.
        _produce_event(isolated, tasks["H1"]["task_id"], "RECEIVED")
        resolved = ("/station-rota", BREACH, keys["H1"])

        def h1_resolved() -> bool:
            return resolved in {
                (p, a["labels"]["alertname"], a["labels"]["task_key"])
                for p, a in _alerts(webhooks.snapshot(), "resolved")
            }

        wait_for(h1_resolved, 15, "the resolved notification of H1's breach")

        # 3. A re-emitted breach (as after a crash) opens no second page.
        (c1_breach,) = [
            r.record
            for r in read_all(isolated, isolated.topic("sla.events"))
            if r.record["task_id"] == c1 and r.record["kind"] == "BREACHED"
        ]
        producer = CheckedProducer(isolated)
        producer.produce(
            isolated.topic("sla.events"), c1.encode(), default_codec().encode("SlaEvent", c1_breach)
        )
        producer.flush()
        time.sleep(1.5)
        firing_in_am = sorted((a["labels"]["alertname"], a["labels"]["task_key"]) for a in am.alerts())
        assert firing_in_am == sorted([(BREACH, keys["C1"]), (BREACH, keys["C2"]), (BREACH, keys["M1"])])
        assert _sample(_metrics(worker), "riskalert_pages_total", kind="breach", outcome="sent") == 4
        scanned += [json.dumps(am.alerts(), ensure_ascii=False)]

        # 4. Alertmanager down: a new CRITICAL task breaches meanwhile; its page arrives after the restart.
        before_outage = len(webhooks.snapshot())
        am_process.stop()
        _ingest(isolated, tmp_path, [_warning("C3", run, 0)])
        tasks |= _tasks(isolated, run, ["C3"])
        keys["C3"] = task_key(tasks["C3"]["task_id"], "reception", 1)
        c3 = tasks["C3"]["task_id"]

        def c3_breached() -> bool:
            events = read_all(isolated, isolated.topic("sla.events"))
            return any(r.record["task_id"] == c3 and r.record["kind"] == "BREACHED" for r in events)

        wait_for(c3_breached, 30, "C3's breach while Alertmanager is down")

        def failed() -> float:
            return _sample(_metrics(worker), "riskalert_pages_total", kind="breach", outcome="failed")

        # The other breaches' refreshes fail too; two more failed rounds after the breach include C3's.
        failed_at_breach = failed()
        wait_for(lambda: failed() >= failed_at_breach + 2 * 4, 15, "failed pushes of C3's breach")
        am_process.start()
        wait_for(
            lambda: ("/centre-duty", BREACH, keys["C3"]) in _firing(webhooks),
            20,
            "C3's page after the restart",
        )
        time.sleep(2.5)
        after = _alerts(webhooks.snapshot()[before_outage:], "firing")
        # Alertmanager kept its notification log: only the new page went out, and the resolved H1 never fires.
        assert {(a["labels"]["alertname"], a["labels"]["task_key"]) for _, a in after} == {
            (BREACH, keys["C3"])
        }
        scanned += [json.dumps(am.alerts(), ensure_ascii=False)]

        exported = _metrics(worker)
        assert _sample(exported, "riskalert_pages_total", kind="breach", outcome="sent") == 5
        assert _sample(exported, "riskalert_pages_total", kind="at_risk", outcome="sent") == 3
        assert _sample(exported, "riskalert_pages_total", kind="breach", outcome="resolved") == 1
        assert _sample(exported, "riskalert_open_tasks", level="CRITICAL") == 3
        assert _sample(exported, "riskalert_open_tasks", level="HIGH") == 2
        assert _sample(exported, "riskalert_open_tasks", level="MEDIUM") == 1
        assert _sample(exported, "riskalert_pager_alerts", kind="breach", state="firing") == 4
        scanned.append(exported)
    finally:
        worker.stop()
    assert "Traceback" not in worker.log()

    # Personal data: nothing raw anywhere; the task id only in annotations, never in a label.
    scanned += [n.body.decode() for n in webhooks.snapshot()]
    everything = "\n".join(scanned)
    for name in PEOPLE:
        warning = _warning(name, run, 0)
        for raw in (warning["id_number"], warning["phone"], warning["name"]):
            assert raw not in everything, f"{name}: a raw identifier reached a page or a metric"
        if name in tasks:
            assert str(tasks[name]["person_key"]) not in everything
    # Nothing that looks like an ID number or a mobile number, whoever's.
    assert not re.search(r"(?<![0-9A-Za-z.])(\d{17}[\dX]|1[3-9]\d{9})(?![0-9A-Za-z.])", everything)
    task_ids = {str(task["task_id"]) for task in tasks.values()}
    labels = [alert["labels"] for _, alert in _alerts(webhooks.snapshot())]
    labels += [n.payload["groupLabels"] for n in webhooks.snapshot()] + [
        n.payload["commonLabels"] for n in webhooks.snapshot()
    ]
    assert not any(
        task_id in value for task_id in task_ids for label_set in labels for value in label_set.values()
    )
    assert not any(task_id in exported for task_id in task_ids)
    assert any(
        tasks["C1"]["task_id"] in n.body.decode() for n in webhooks.snapshot()
    )  # the scan sees annotations


def test_the_client_tells_a_refused_alert_from_an_unreachable_alertmanager(
    alertmanager: tuple[AlertmanagerProcess, Webhooks],
) -> None:
    import asyncio

    am_process, _ = alertmanager
    probe = {"labels": {"alertname": "PagerClientProbe"}, "startsAt": "2020-01-01T00:00:00Z"}
    valid = {**probe, "endsAt": "2020-01-01T00:01:00Z"}
    invalid = {**probe, "endsAt": "2019-12-31T23:59:00Z"}  # ends before it starts

    async def post(url: str, alerts: list[dict[str, Any]]) -> AlertmanagerError | None:
        client = AlertmanagerClient(url, timeout_seconds=2)
        try:
            await client.post_alerts(alerts)
            return None
        except AlertmanagerError as exc:
            return exc
        finally:
            await client.close()

    assert asyncio.run(post(am_process.url, [valid])) is None
    refused = asyncio.run(post(am_process.url, [invalid]))
    assert refused is not None
    assert refused.rejected
    assert "answered 400" in str(refused)
    am_process.stop()
    down = asyncio.run(post(am_process.url, [valid]))
    assert down is not None
    assert not down.rejected
    assert "cannot reach Alertmanager" in str(down)


def _holds(am: Alertmanager, alertname: str, key: str) -> bool:
    """Whether the Alertmanager holds the alert (firing) for the task step `key`."""
    try:
        alerts = am.alerts()
    except OSError:
        return False
    return any(
        a["labels"].get("alertname") == alertname
        and a["labels"].get("task_key") == key
        and a["status"]["state"] != "unprocessed"
        for a in alerts
    )


def test_every_alertmanager_instance_gets_each_page_and_one_down_does_not_stop_paging(
    isolated: Settings, tmp_path: Path
) -> None:
    """An Alertmanager HA pair: both instances hold every page; with one down the other still pages,
    the failed instance is counted, and it gets the page with the next resend after its restart."""
    webhooks = Webhooks()
    server = webhook_server(webhooks)
    config = shipped_config(f"http://127.0.0.1:{server.server_address[1]}", "1s", "2s")
    processes = []
    for name in ("am-a", "am-b"):
        (tmp_path / name).mkdir()
        processes.append(AlertmanagerProcess(tmp_path / name, config))
    a, b = processes
    policy = tmp_path / "sla.yaml"
    policy.write_text(POLICY)
    worker = WorkerProcess(
        isolated,
        tmp_path / "worker",
        env={
            "RISKALERT_SLA_POLICY": str(policy),
            # Credentials in a URL never reach a metric label.
            "RISKALERT_ALERTMANAGER_URL": f"{a.url}, http://pager:secret@127.0.0.1:{b.port}",
            "RISKALERT_PAGER_TIMER_INTERVAL_SECONDS": "0.2",
            "RISKALERT_PAGER_RESEND_SECONDS": "5",
            "RISKALERT_PAGER_RETRY_MAX_SECONDS": "1",
        },
    )
    run = uuid.uuid4().hex[:8]
    try:
        a.start()
        b.start()
        worker.start()
        am_a, am_b = Alertmanager(a.url, webhooks), Alertmanager(b.url, webhooks)
        _ingest(isolated, tmp_path, [_warning("C1", run, 0)])
        c1 = task_key(_tasks(isolated, run, ["C1"])["C1"]["task_id"], "reception", 1)
        wait_for(lambda: _holds(am_a, BREACH, c1) and _holds(am_b, BREACH, c1), 40, "C1's page on both")

        b.stop()
        _ingest(isolated, tmp_path, [_warning("C2", run, 0)])
        c2 = task_key(_tasks(isolated, run, ["C2"])["C2"]["task_id"], "reception", 1)
        wait_for(lambda: ("/centre-duty", BREACH, c2) in _firing(webhooks), 40, "C2's page through a")
        exported = _metrics(worker)

        b.start()
        wait_for(lambda: _holds(am_b, BREACH, c2), 20, "C2's page on b after its restart (a resend)")
    finally:
        worker.stop()
        for process in processes:
            process.stop()
        server.shutdown()
    assert _sample(exported, "riskalert_pages_total", kind="breach", outcome="failed") == 0
    b_label = f"http://127.0.0.1:{b.port}"
    assert (
        _sample(exported, "riskalert_alertmanager_posts_total", alertmanager=b_label, outcome="failed") >= 1
    )
    assert _sample(exported, "riskalert_alertmanager_posts_total", alertmanager=a.url, outcome="failed") == 0
    assert (
        _sample(exported, "riskalert_alertmanager_posts_total", alertmanager=a.url, outcome="accepted") >= 2
    )
    assert "secret" not in exported
    assert "delivered through another Alertmanager instance" in worker.log()
    assert "secret" not in worker.log()
