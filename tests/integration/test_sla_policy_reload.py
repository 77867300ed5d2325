"""Reloading the SLA policy in a running worker (live clock, real broker): SIGHUP applies a valid edit
to tasks created afterwards only; an invalid file, reloaded over HTTP, is refused with its reason and
the policy in force stays; the metrics say which."""

from __future__ import annotations

import json
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from streams.policy_reload import RELOAD_PATH
from streams.settings import Settings
from tests.integration.test_worker_sla import produce, sla_events
from tests.integration.workers import WorkerProcess
from tests.support import task_record

SLOW = "rules:\n  - name: slow\n    due: {reception: 1h, dispatch: 2h, verification: 3h, feedback: 4h}\n"
FAST = "rules:\n  - name: fast\n    due: {reception: 3s, dispatch: 2h, verification: 3h, feedback: 4h}\n"


def _metrics(worker: WorkerProcess) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{worker.port}/metrics", timeout=10) as response:
        return str(response.read().decode())


def _wait_for_metric(worker: WorkerProcess, line: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        worker.assert_running()
        if line in _metrics(worker):
            return
        time.sleep(0.2)
    raise AssertionError(f"{line!r} not exported after {timeout}s:\n{worker.tail()}")


def _post_reload(worker: WorkerProcess) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(f"http://127.0.0.1:{worker.port}{RELOAD_PATH}", method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _create(settings: Settings, task_id: str) -> int:
    created = time.time_ns() // 1_000_000
    produce(settings, [(0, "tasks", "Task", task_record(task_id, created))])
    return created


def _breaches(settings: Settings, task_id: str, timeout: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [e for e in sla_events(settings) if e["task_id"] == task_id and e["kind"] == "BREACHED"]
        if found:
            return found
        time.sleep(0.5)
    return []


def test_reload_applies_to_new_tasks_and_a_refused_one_keeps_the_policy(
    isolated: Settings, tmp_path: Path
) -> None:
    policy = tmp_path / "sla.yaml"
    policy.write_text(SLOW)
    worker = WorkerProcess(isolated, tmp_path / "worker", env={"RISKALERT_SLA_POLICY": str(policy)})
    worker.start()
    try:
        _wait_for_metric(worker, "riskalert_sla_policy_last_reload_successful 1.0")
        _create(isolated, "BEFORE")
        time.sleep(2)  # the task is in the SLA stage under the slow policy

        policy.write_text(FAST)
        assert worker.process is not None
        worker.process.send_signal(signal.SIGHUP)
        _wait_for_metric(worker, 'riskalert_sla_policy_reloads_total{result="applied"} 1.0')
        created = _create(isolated, "AFTER")
        after = _breaches(isolated, "AFTER", timeout=30)

        policy.write_text(FAST.replace("name: fast", "name: broken").replace("3s", "soon"))
        status, body = _post_reload(worker)
        exported = _metrics(worker)
        refused_at = _create(isolated, "REFUSED")
        refused = _breaches(isolated, "REFUSED", timeout=30)
        before = _breaches(isolated, "BEFORE", timeout=1)
        worker.assert_running()
        log = worker.log()
    finally:
        worker.stop()

    # The edit applies to the task created after it: reception due 3 s after creation.
    assert [(e["step"], e["due_at"] - created) for e in after] == [("RECEPTION", 3_000)]
    # The task created before keeps its deadlines (1 h): nothing has breached.
    assert before == []
    # The broken file is refused with its reason; the fast policy stays in force for new tasks.
    assert status == 422
    assert body["result"] == "refused"
    assert str(policy) in body["message"]
    assert "soon" in body["message"]
    assert 'riskalert_sla_policy_reloads_total{result="refused"} 1.0' in exported
    assert "riskalert_sla_policy_last_reload_successful 0.0" in exported
    assert [(e["step"], e["due_at"] - refused_at) for e in refused] == [("RECEPTION", 3_000)]
    assert "reloaded" in log
    assert "the policy in force" in log
