"""Every Prometheus metric riskalert exports, declared in one place.

Labels are bounded: kinds, outcomes, stages, reason codes, stations and levels. Never a person, a
task id or any free text. Counters carry the `_total` suffix; durations are in seconds.
"""

from __future__ import annotations

from prometheus_client import Counter

INGEST_RECORDS = Counter(
    "riskalert_ingest_records_total",
    "Records seen by ingest, by record kind (alert, event, victim), channel (file, http) and outcome "
    "(accepted, rejected).",
    ["kind", "channel", "outcome"],
)
INGEST_DUPLICATES = Counter(
    "riskalert_ingest_duplicates_in_batch_total",
    "Accepted records that repeat an earlier record of the same file or request (forwarded; the dedup "
    "stage drops them).",
    ["kind", "channel"],
)
DEAD_LETTERS = Counter(
    "riskalert_dead_letters_total",
    "Records written to the dead-letter topic, by pipeline stage and reason code.",
    ["stage", "reason"],
)
