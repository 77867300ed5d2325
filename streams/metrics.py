"""Every Prometheus metric riskalert exports, declared in one place.

Labels are bounded: kinds, outcomes, stages, reason codes, stations and levels. Never a person, a
task id or any free text. Counters carry the `_total` suffix; durations are in seconds.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

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
ALERTS = Counter(
    "riskalert_alerts_total",
    "Warnings seen by the dedup stage, by outcome: new (opened a task), merged (joined an open task), "
    "duplicate (same source alert id seen before), replayed (re-processed after a restart; its task was "
    "re-emitted), dead_letter.",
    ["outcome"],
)
TASKS_EMITTED = Counter(
    "riskalert_tasks_emitted_total",
    "Task versions emitted by the dedup stage, by cause (new, merged, closed, reopened, replayed).",
    ["cause"],
)
VICTIM_RECORDS = Counter(
    "riskalert_victim_records_total",
    "Victim case records folded into history, and post-warning victimisations found.",
    ["outcome"],
)
AGENT_EVENTS = Counter(
    "riskalert_agent_events_total",
    "Events handled by each agent, by outcome (ok, dead_letter).",
    ["agent", "outcome"],
)
AGENT_SECONDS = Histogram(
    "riskalert_agent_processing_seconds",
    "Time to handle one event in an agent, retries included.",
    ["agent"],
    buckets=(0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0, 5.0),
)
SLA_EVENTS = Counter(
    "riskalert_sla_events_total",
    "SLA events emitted by the SLA stage, by kind (AT_RISK_50, AT_RISK_75, BREACHED, MET, MET_LATE), step, "
    "level and station.",
    ["kind", "step", "level", "station"],
)
SLA_BREACH_DETECTION_SECONDS = Histogram(
    "riskalert_sla_breach_detection_delay_seconds",
    "Live clock: how long after a step's due time the SLA stage emitted its BREACHED event.",
    buckets=(0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0, 10.0, 30.0, 60.0),
)
SLA_TICKS = Counter(
    "riskalert_sla_ticks_total",
    "Check commands the SLA timer sent to sla.ticks for due deadlines on its active partitions.",
)
SLA_SCHEDULED = Gauge(
    "riskalert_sla_scheduled_tasks",
    "Tasks on this worker's active partitions with a deadline, hold or purge pending (the timer's index).",
)
TASK_EVENTS_HELD = Counter(
    "riskalert_task_events_held_total",
    "Task events that arrived before their task, by outcome: held, released (their task arrived), "
    "dead_letter (the grace period passed).",
    ["outcome"],
)
SLA_POLICY_RELOADS = Counter(
    "riskalert_sla_policy_reloads_total",
    "SLA policy reloads (SIGHUP or POST /v1/sla-policy/reload), by result: applied (new tasks get it), "
    "unchanged (same file content), refused (invalid file; the policy in force stays).",
    ["result"],
)
SLA_POLICY_LAST_RELOAD_OK = Gauge(
    "riskalert_sla_policy_last_reload_successful",
    "1 if the last SLA policy reload (or the start-up load) was applied or unchanged, 0 if it was refused.",
)
SLA_POLICY_LOADED_AT = Gauge(
    "riskalert_sla_policy_last_reload_success_timestamp_seconds",
    "When the SLA policy in force was loaded (start-up or the last applied reload), Unix time.",
)
SLA_REPLAYED_INPUTS = Counter(
    "riskalert_sla_replayed_inputs_total",
    "Inputs the SLA stage processed again after a restart; their remembered outputs were re-emitted.",
)
REF_EVENTS = Counter(
    "riskalert_alert_ref_events_total",
    "Task events addressed by warning (alert_ref), by outcome: resolved (forwarded to their task at once), "
    "held (waiting for their warning's verdict), released (forwarded after waiting), dead_letter (the "
    'grace period passed, or too many held; by reason in riskalert_dead_letters_total{stage="resolver"}).',
    ["outcome"],
)
REF_VERDICTS = Counter(
    "riskalert_alert_ref_verdicts_total",
    "Dedup verdicts the resolver read, by result: bound (the alert ref now resolves to its task), repeat "
    "(same task again: a duplicate or replay), conflict (another task than the bound one; ignored).",
    ["result"],
)
RESOLVER_SCHEDULED = Gauge(
    "riskalert_resolver_scheduled_refs",
    "Alert refs on this worker's active partitions with a hold expiry or purge pending (the timer's index).",
)
CONSUMER_LAG = Gauge(
    "riskalert_consumer_lag_records",
    "Records between the committed offset and the high-water mark, per input partition this worker "
    "actively owns.",
    ["stage", "topic", "partition"],
)
SINK_ROWS = Counter(
    "riskalert_sink_rows_total",
    "Rows the ClickHouse sink inserted, by table (a replayed batch ClickHouse dropped as a repeat counts "
    "again; ClickHouse holds it once).",
    ["table"],
)
SINK_BATCHES = Counter(
    "riskalert_sink_batches_total",
    "Batches the sink inserted, by table and cut: fresh, or journaled (re-cut after a restart at the "
    "offsets planned before it).",
    ["table", "cut"],
)
SINK_FAILURES = Counter(
    "riskalert_sink_failures_total",
    "Failed ClickHouse inserts, by table (sink_batches: the batch journal); each is retried, never dropped.",
    ["table"],
)
SINK_INSERT_SECONDS = Histogram(
    "riskalert_sink_insert_seconds",
    "Time one successful batch insert took, by table.",
    ["table"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
SINK_LAST_SUCCESS = Gauge(
    "riskalert_sink_last_success_timestamp_seconds",
    "Unix time of the last successful insert per table (the worker's start time until the first one).",
    ["table"],
)
SINK_PAUSED = Gauge(
    "riskalert_sink_paused",
    "1 while the sink has paused consumption (ClickHouse is failing, or inserts are behind by more than "
    "4 full batches); 0 otherwise.",
)
SINK_DECODED_BATCHES = Counter(
    "riskalert_sink_decoded_batches_total",
    "Batches the sink decoded in Python instead of handing ClickHouse an Avro block, by table: records "
    "under an older or mixed schema, or a block ClickHouse could not read (a corrupt record in it).",
    ["table"],
)
SINK_ROUNDS_GIVEN_UP = Counter(
    "riskalert_sink_rounds_given_up_total",
    "Rounds of batches the sink gave up while ClickHouse failed, because it was stopping or its "
    "partitions were revoked; their records are read again (by it or the partitions' next owner).",
)
END_TO_END_SECONDS = Histogram(
    "riskalert_end_to_end_seconds",
    "From a warning's issued_at to its row landing in ClickHouse (alerts table); observed for the first "
    "(longest-waiting) warning of each batch.",
    buckets=(0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0),
)
ALERTMANAGER_POSTS = Counter(
    "riskalert_alertmanager_posts_total",
    "The pager's pushes to each Alertmanager instance (scheme://host:port), by outcome: accepted, refused "
    "(400: an invalid alert), failed (unreachable, timed out or another error). A push is delivered when "
    "any instance accepted it.",
    ["alertmanager", "outcome"],
)
PAGES = Counter(
    "riskalert_pages_total",
    "SLA alerts the pager pushed to Alertmanager, by kind (breach, at_risk) and outcome: sent (a firing "
    "alert accepted for the first time by this worker), refreshed (a firing alert pushed again), resolved "
    "(its resolution accepted), failed (in a push Alertmanager did not accept; retried).",
    ["kind", "outcome"],
)
OPEN_TASKS = Gauge(
    "riskalert_open_tasks",
    "Open tasks (latest version not CLOSED) on the partitions this worker's pager actively owns, by level.",
    ["level"],
)
PAGER_ALERTS = Gauge(
    "riskalert_pager_alerts",
    "SLA alerts the pager holds on its active partitions, by kind and state (firing, resolved: kept until "
    "its task is purged).",
    ["kind", "state"],
)
PAGER_PURGED = Counter(
    "riskalert_pager_purged_tasks_total",
    "Task entries the pager deleted from its table (closed and resolved, or idle).",
)


# Series that alerts and dashboards read exist from the start, at 0.
for _outcome in ("resolved", "held", "released", "dead_letter"):
    REF_EVENTS.labels(_outcome)
for _result in ("bound", "repeat", "conflict"):
    REF_VERDICTS.labels(_result)
for _reason in ("unknown_alert_ref", "too_many_held"):
    DEAD_LETTERS.labels("resolver", _reason)
