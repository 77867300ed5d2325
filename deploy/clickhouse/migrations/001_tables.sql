-- riskalert's ClickHouse tables: one per record type the sink writes.
--
-- Written for one node. `riskalert db migrate --cluster NAME` generates the cluster variant from this
-- same text (ON CLUSTER, Replicated* engines as <table>_local, a Distributed <table> in front); the
-- `-- shard by:` line of each table is its Distributed sharding key. Every statement is idempotent
-- (IF NOT EXISTS), so a migration interrupted half-way can simply be run again.
-- Placeholders filled by the runner: {database}, {ttl_days}.
--
-- Timestamps are DateTime64(3, 'Asia/Shanghai'): epoch milliseconds, shown and bucketed in China time.
-- Codes (enums of the Avro contracts) are LowCardinality(String), so a new enum symbol needs no migration.
-- Only the pseudonymised and masked fields of the contracts exist here: no name, ID or phone number.

-- One row per warning read from alerts.raw, with the dedup stage's verdict and the Kafka position.
-- Plain MergeTree: the sink's insert_deduplication_token (non_replicated_deduplication_window) drops a
-- re-sent batch; counts use uniqExact(alert_key) or the position, so a re-batched replay cannot inflate them.
CREATE TABLE IF NOT EXISTS {database}.alerts
(
    alert_key String,
    source LowCardinality(String),
    source_alert_id String,
    issued_at DateTime64(3, 'Asia/Shanghai'),
    ingested_at DateTime64(3, 'Asia/Shanghai'),
    level LowCardinality(String),
    fraud_type LowCardinality(String),
    station_code LowCardinality(String),
    region_code LowCardinality(String),
    person_key Nullable(String),
    person_key_kind LowCardinality(String),
    masked_name Nullable(String),
    masked_phone Nullable(String),
    age_band LowCardinality(String),
    resident_type LowCardinality(String),
    amount_at_risk_fen Int64,
    suspect_account_hash Nullable(String),
    channel LowCardinality(Nullable(String)),
    extras Map(String, String),
    dedup_outcome LowCardinality(String) COMMENT 'new | merged | duplicate | replayed | unknown',
    task_id String COMMENT 'the task the warning created or joined; empty when unknown',
    kafka_topic LowCardinality(String),
    kafka_partition UInt32,
    kafka_offset UInt64
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(issued_at)
ORDER BY (station_code, issued_at, alert_key)
TTL toDateTime(issued_at) + INTERVAL {ttl_days} DAY
SETTINGS non_replicated_deduplication_window = 1000, ttl_only_drop_parts = 1
-- shard by: cityHash64(alert_key)
;

-- Every version of every task; the newest version of a task replaces the older ones on merge.
-- Read the current state with FINAL or argMax(..., version); never count rows.
CREATE TABLE IF NOT EXISTS {database}.tasks
(
    task_id String,
    version UInt64,
    person_key Nullable(String),
    person_flagged Bool,
    level LowCardinality(String),
    base_level LowCardinality(String),
    level_raised_for_prior_victim Bool,
    fraud_type LowCardinality(String),
    station_code LowCardinality(String),
    region_code LowCardinality(String),
    sources Array(LowCardinality(String)),
    alert_keys Array(String),
    first_alert_key String,
    created_at DateTime64(3, 'Asia/Shanghai'),
    updated_at DateTime64(3, 'Asia/Shanghai'),
    status LowCardinality(String),
    closed_at Nullable(DateTime64(3, 'Asia/Shanghai')),
    amount_at_risk_fen Int64,
    masked_name Nullable(String),
    masked_phone Nullable(String),
    age_band LowCardinality(String),
    resident_type LowCardinality(String),
    prior_victim Bool,
    prior_case_count UInt32,
    prior_loss_total_fen Int64,
    last_case_at Nullable(DateTime64(3, 'Asia/Shanghai')),
    relatives_with_history UInt32,
    prior_warnings_90d UInt32,
    prior_fraud_types Array(LowCardinality(String))
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(created_at)
ORDER BY task_id
TTL toDateTime(created_at) + INTERVAL {ttl_days} DAY
SETTINGS non_replicated_deduplication_window = 1000, ttl_only_drop_parts = 1
-- shard by: cityHash64(task_id)
;

-- One row per lifecycle event (签收, 派发, 核查, 反馈, 二次反馈, measures, closure, victimisation).
-- Insert-only; event_id is deterministic, so a replayed event has the same id as the original.
CREATE TABLE IF NOT EXISTS {database}.task_events
(
    event_id String,
    task_id String,
    type LowCardinality(String),
    occurred_at DateTime64(3, 'Asia/Shanghai'),
    ingested_at DateTime64(3, 'Asia/Shanghai'),
    source_system LowCardinality(Nullable(String)),
    assignee Nullable(String),
    assignee_type LowCardinality(Nullable(String)),
    verify_method LowCardinality(Nullable(String)),
    verify_result Nullable(String),
    outcome LowCardinality(Nullable(String)),
    amount_protected_fen Nullable(Int64),
    amount_lost_fen Nullable(Int64),
    measure LowCardinality(Nullable(String)),
    was_dissuaded Nullable(Bool),
    note Nullable(String),
    extras Map(String, String)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (task_id, occurred_at, event_id)
TTL toDateTime(occurred_at) + INTERVAL {ttl_days} DAY
SETTINGS non_replicated_deduplication_window = 1000, ttl_only_drop_parts = 1
-- shard by: cityHash64(task_id)
;

-- One row per SLA event. The id "<task_id>:<step>:<cycle>:<kind>" is the sorting key, so a replayed
-- event collapses into the original on merge; KPIs count distinct ids and never depend on the merge.
CREATE TABLE IF NOT EXISTS {database}.sla_events
(
    event_id String,
    task_id String,
    step LowCardinality(String),
    cycle UInt16,
    kind LowCardinality(String),
    due_at DateTime64(3, 'Asia/Shanghai'),
    detected_at DateTime64(3, 'Asia/Shanghai'),
    completed_at Nullable(DateTime64(3, 'Asia/Shanghai')),
    implied Bool,
    overdue_by_ms UInt64,
    level LowCardinality(String),
    station_code LowCardinality(String),
    region_code LowCardinality(String),
    fraud_type LowCardinality(String),
    sources Array(LowCardinality(String))
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(due_at)
ORDER BY event_id
TTL toDateTime(due_at) + INTERVAL {ttl_days} DAY
SETTINGS non_replicated_deduplication_window = 1000, ttl_only_drop_parts = 1
-- shard by: cityHash64(task_id)
;

-- Fraud cases (立案) from the case system. A re-sent case replaces itself (the latest ingest wins).
-- Not partitioned: a corrected case_at must still replace the original row.
CREATE TABLE IF NOT EXISTS {database}.victim_cases
(
    case_id String,
    person_key String,
    relative_keys Array(String),
    case_at DateTime64(3, 'Asia/Shanghai'),
    loss_fen Int64,
    fraud_type LowCardinality(String),
    station_code LowCardinality(Nullable(String)),
    ingested_at DateTime64(3, 'Asia/Shanghai')
)
ENGINE = ReplacingMergeTree(ingested_at)
ORDER BY case_id
TTL toDateTime(case_at) + INTERVAL {ttl_days} DAY
SETTINGS non_replicated_deduplication_window = 1000
-- shard by: cityHash64(case_id)
;
