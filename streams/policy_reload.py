"""Reloading the SLA policy in a running worker: on SIGHUP, or `POST /v1/sla-policy/reload` on the
worker's HTTP port (`RISKALERT_METRICS_PORT`).

A valid file applies to tasks created from then on (each task keeps the deadlines it started with); an
invalid one is refused with a message naming the rule and the field, and the policy in force stays.
Every reload is logged and counted (`riskalert_sla_policy_reloads_total`), and
`riskalert_sla_policy_last_reload_successful` drops to 0 on a refused one, which `RiskAlertSlaPolicy-
ReloadFailed` pages on: whoever edited the file learns the edit is not in force.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time

import faust

from streams import metrics
from streams.logic.sla_policy import PolicyFile, Reload

log = logging.getLogger(__name__)

RELOAD_PATH = "/v1/sla-policy/reload"


def loaded(policy: PolicyFile) -> None:
    """Export the start-up load as a successful one."""
    metrics.SLA_POLICY_LAST_RELOAD_OK.set(1)
    metrics.SLA_POLICY_LOADED_AT.set(time.time())
    log.info("SLA policy %s loaded: %s, %d rules", policy.path, policy.digest, len(policy.current.rules))


def reload(policy: PolicyFile) -> Reload:
    """Reload the file; log, count and export what happened."""
    outcome = policy.reload()
    metrics.SLA_POLICY_RELOADS.labels(outcome.result).inc()
    if outcome.result == "refused":
        metrics.SLA_POLICY_LAST_RELOAD_OK.set(0)
        log.error("%s", outcome.message)
        return outcome
    metrics.SLA_POLICY_LAST_RELOAD_OK.set(1)
    if outcome.result == "applied":
        metrics.SLA_POLICY_LOADED_AT.set(time.time())
    log.warning("%s", outcome.message)
    return outcome


def attach(app: faust.App, policy: PolicyFile) -> None:
    """Reload on SIGHUP (once the worker runs) and on `POST /v1/sla-policy/reload`."""
    loaded(policy)

    async def reload_on_hangup() -> None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, reload, policy)

    app.task(reload_on_hangup)

    @app.page(RELOAD_PATH)
    class PolicyReload(faust.web.View):
        async def post(self, request: faust.web.Request) -> faust.web.Response:
            outcome = reload(policy)
            body = {"result": outcome.result, "digest": outcome.digest, "message": outcome.message}
            return self.json(body, status=422 if outcome.result == "refused" else 200)
