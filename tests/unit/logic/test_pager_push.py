"""What the pager's timer pushes, when, and how an alert looks on Alertmanager's API."""

from __future__ import annotations

from streams.logic.pager import PagerTask, on_sla_event, on_task, task_key
from streams.logic.pager_push import (
    Delivery,
    PagerIndex,
    PushConfig,
    duration,
    grafana_task_url,
    local_time,
    outgoing,
    render,
    rfc3339,
)
from tests.unit.logic.test_pager import CONFIG, MIN, T0, TASK_ID, sla, version

PUSH = PushConfig(
    resend_ms=60_000, ttl_ms=240_000, retry_base_ms=500, retry_max_ms=4_000, unknown_task_grace_ms=5_000
)


def breached_task(known: bool = True) -> PagerTask:
    state = PagerTask()
    if known:
        on_task(state, version(1), T0)
    on_sla_event(state, sla("BREACHED"), T0 + MIN, CONFIG)
    return state


def test_a_new_alert_is_pushed_then_refreshed_every_resend_interval() -> None:
    delivery = Delivery(PUSH)
    (item,) = outgoing(TASK_ID, breached_task())
    now = T0 + MIN
    assert delivery.due(item, now)
    assert delivery.outcome(item) == "sent"
    delivery.accepted([item], now)
    assert not delivery.due(item, now + 59_999)
    assert delivery.due(item, now + 60_000)
    assert delivery.outcome(item) == "refreshed"


def test_a_resolution_is_pushed_until_accepted_once() -> None:
    delivery = Delivery(PUSH)
    state = breached_task()
    (firing,) = outgoing(TASK_ID, state)
    delivery.accepted([firing], T0 + MIN)
    on_sla_event(state, sla("MET_LATE"), T0 + 2 * MIN, CONFIG)
    (resolved,) = outgoing(TASK_ID, state)
    assert resolved.alert_id == firing.alert_id
    assert delivery.due(resolved, T0 + 2 * MIN)
    assert delivery.outcome(resolved) == "resolved"
    delivery.accepted([resolved], T0 + 2 * MIN)
    assert not delivery.due(resolved, T0 + 600 * MIN)


def test_an_alert_waits_briefly_for_its_task_then_goes_without_a_masked_name() -> None:
    delivery = Delivery(PUSH)
    state = breached_task(known=False)
    (item,) = outgoing(TASK_ID, state)
    assert not delivery.due(item, T0 + MIN + 4_999)
    assert delivery.due(item, T0 + MIN + 5_000)
    assert render(item, T0 + MIN + 5_000, PUSH, None)["annotations"]["masked_name"] == "(unknown)"
    delivery.accepted([item], T0 + MIN + 5_000)
    on_task(state, version(1), T0 + MIN + 6_000)  # the task arrives: its masked name is pushed at once
    (update,) = outgoing(TASK_ID, state)
    assert delivery.due(update, T0 + MIN + 6_000)
    assert render(update, T0 + MIN + 6_000, PUSH, None)["annotations"]["masked_name"] == "张*"


def test_failures_back_off_exponentially_up_to_the_cap_and_a_success_resets() -> None:
    delivery = Delivery(PUSH)
    assert [delivery.failed(T0) for _ in range(6)] == [500, 1_000, 2_000, 4_000, 4_000, 4_000]
    assert not delivery.ready(T0 + 3_999)
    assert delivery.ready(T0 + 4_000)
    delivery.accepted([], T0 + 4_000)
    assert delivery.failed(T0 + 5_000) == 500


def test_bookkeeping_of_alerts_gone_from_the_index_is_dropped() -> None:
    delivery = Delivery(PUSH)
    (item,) = outgoing(TASK_ID, breached_task())
    delivery.accepted([item], T0)
    delivery.forget_except({item.alert_id})
    assert len(delivery) == 1
    delivery.forget_except(set())
    assert len(delivery) == 0
    assert delivery.due(item, T0 + 1)


def test_the_index_keeps_pushable_tasks_and_open_levels_per_partition() -> None:
    index = PagerIndex(lambda task_id: int(task_id[-1]))
    quiet, paged, closed = PagerTask(), breached_task(), PagerTask()
    on_task(quiet, version(1, level="HIGH"), T0)
    on_task(closed, version(2, status="CLOSED"), T0)
    index.put("A1", quiet)
    index.put("B1", paged)
    index.put("C2", closed)
    assert [task_id for task_id, _ in index.tasks(1)] == ["B1"]
    assert index.open_by_level([1, 2]) == {"HIGH": 1, "CRITICAL": 1}
    assert index.open_by_level([2]) == {}
    index.put("B1", None)
    assert list(index.tasks(1)) == []
    index.replace_all([("B2", paged)])
    assert [task_id for task_id, _ in index.tasks(2)] == ["B2"]
    assert index.open_by_level([1, 2]) == {"CRITICAL": 1}


def test_a_breach_renders_with_bounded_labels_and_the_task_in_annotations() -> None:
    (item,) = outgoing(TASK_ID, breached_task())
    now = T0 + MIN + 125_000
    alert = render(item, now, PUSH, "https://grafana.example/")
    assert alert["labels"] == {
        "alertname": "RiskAlertSlaBreach",
        "severity": "page",
        "level": "CRITICAL",
        "station": "330106-PCS-01",
        "region": "330106",
        "step": "reception",
        "task_key": task_key(TASK_ID, "reception", 1),
    }
    assert not any(TASK_ID in value for value in alert["labels"].values())
    link = f"https://grafana.example/d/riskalert-ops/riskalert-ops?var-task_id={TASK_ID}"
    assert alert["annotations"] == {
        "summary": f"task {TASK_ID} (张*): reception overdue by 2m05s, due {local_time(T0 + MIN)}",
        "task_id": TASK_ID,
        "masked_name": "张*",
        "due_at": local_time(T0 + MIN),
        "overdue_by": "2m05s",
        "sources": "MPS_FUND,JZZ",
        "runbook": "docs/alerts.md#riskalertslabreach",
        "dashboard": link,
    }
    assert alert["generatorURL"] == link
    assert alert["startsAt"] == rfc3339(T0 + MIN + 200)
    assert alert["endsAt"] == rfc3339(now + PUSH.ttl_ms)


def test_a_resolved_alert_ends_when_it_was_resolved_and_overdue_stops_there() -> None:
    state = breached_task()
    on_sla_event(state, sla("MET_LATE"), T0 + 3 * MIN, CONFIG)
    (item,) = outgoing(TASK_ID, state)
    alert = render(item, T0 + 10 * MIN, PUSH, None)
    assert alert["endsAt"] == rfc3339(T0 + 3 * MIN)
    assert alert["annotations"]["overdue_by"] == "2m00s"
    assert "generatorURL" not in alert
    assert "dashboard" not in alert["annotations"]


def test_an_at_risk_warning_and_a_later_feedback_cycle_render_as_such() -> None:
    state = PagerTask()
    on_task(state, version(1, level="HIGH"), T0)
    on_sla_event(state, sla("AT_RISK_75", step="FEEDBACK", cycle=2, level="HIGH"), T0, CONFIG)
    (item,) = outgoing(TASK_ID, state)
    alert = render(item, T0, PUSH, None)
    assert (alert["labels"]["alertname"], alert["labels"]["severity"]) == ("RiskAlertSlaAtRisk", "warning")
    assert alert["labels"]["task_key"] == task_key(TASK_ID, "feedback", 2)
    assert alert["annotations"]["feedback_cycle"] == "2"
    assert alert["annotations"]["summary"].endswith(
        "feedback (cycle 2) due 2023-11-15 06:14:20 +08:00, at risk"
    )


def test_suppressed_alerts_are_never_pushed() -> None:
    state = PagerTask()
    on_task(state, version(1, status="CLOSED"), T0)
    on_sla_event(state, sla("BREACHED"), T0, CONFIG)
    assert outgoing(TASK_ID, state) == []
    index = PagerIndex(lambda _: 0)
    index.put(TASK_ID, state)
    assert list(index.tasks(0)) == []


def test_formats() -> None:
    assert rfc3339(T0 + 5) == "2023-11-14T22:13:20.005Z"
    assert local_time(T0) == "2023-11-15 06:13:20 +08:00"
    assert [duration(ms) for ms in (0, 999, 45_000, 125_000, 3 * 3600_000 + 125_000)] == [
        "0s",
        "0s",
        "45s",
        "2m05s",
        "3h02m05s",
    ]
    assert grafana_task_url(None, "T1") is None
    assert (
        grafana_task_url("http://g:3000", "T1")
        == "http://g:3000/d/riskalert-ops/riskalert-ops?var-task_id=T1"
    )
