"""The deterministic id of a task event, shared by ingest and the resolver. Pure.

"The same event" is the same thing happening to the same task: the same task, type, time (ms) and step
detail (assignee, verify method, outcome or measure). An event addressed by warning (alert_ref) is given
its final id by the resolver once it knows the task, with this same rule, so an event reported once by
task_id and once by alert_ref, or against two warnings merged into one task, has one id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

# The field each event type cannot do without; it is also the step detail hashed into event_id.
STEP_DETAIL_FIELD = {
    "DISPATCHED": "assignee",
    "VERIFIED": "verify_method",
    "FEEDBACK": "outcome",
    "PROTECTIVE_MEASURE": "measure",
}


def event_id(address: str, event_type: str, occurred_at_ms: int, detail: str) -> str:
    """The deterministic TaskEvent id, so that a re-delivered event gets the same id.

    The first 32 hex characters of sha256 over the UTF-8 of the address (the task id; before resolution
    the alert key), type, occurred_at (decimal epoch ms) and the step detail (assignee, verify_method,
    outcome or measure; else empty), joined by U+001F.
    """
    material = "\x1f".join((address, event_type, str(occurred_at_ms), detail))
    return hashlib.sha256(material.encode()).hexdigest()[:32]


def event_id_of(event: Mapping[str, object], address: str) -> str:
    """The id of a TaskEvent record under an address (its task id, or its alert key before resolution)."""
    event_type = str(event["type"])
    detail = event.get(STEP_DETAIL_FIELD.get(event_type, ""))
    occurred_at = int(event["occurred_at"])  # type: ignore[call-overload]  # epoch ms in a TaskEvent
    return event_id(address, event_type, occurred_at, detail if isinstance(detail, str) else "")


def alert_key_of(alert_ref: Mapping[str, object]) -> str:
    """`<source>:<source_alert_id>`: the warning's identity, as the dedup stage keys it."""
    return f"{alert_ref['source']}:{alert_ref['source_alert_id']}"
