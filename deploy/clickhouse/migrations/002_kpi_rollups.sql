-- Pre-aggregated KPI inputs, kept up to date by materialized views on insert.
--
-- The rule that keeps them correct: a materialized view sees every inserted block, including a replayed
-- batch with a new token, every version of a task (tasks is a ReplacingMergeTree), and in this
-- ClickHouse even a block that insert deduplication dropped from the source table. So these views use
-- only idempotent aggregates, where adding the same input twice changes nothing: uniqExact over
-- deterministic ids (a set), argMax keyed by version or by (occurred_at, event_id), and max of flags.
-- Never count() or sum() in a view here: a replay would count twice.

-- SLA step units per station per day of their due time. A unit is one step of one task (one feedback
-- cycle for FEEDBACK): "<task_id>:<step>:<cycle>". A unit is due (its due time has passed) once it has
-- MET, MET_LATE or BREACHED; it was done on time when it has MET (the first completing event came by
-- its due time, even if a breach page went out before that event was reported).
CREATE TABLE IF NOT EXISTS {database}.kpi_sla_daily
(
    day Date,
    region_code LowCardinality(String),
    station_code LowCardinality(String),
    step LowCardinality(String),
    due_units AggregateFunction(uniqExact, String),
    met_units AggregateFunction(uniqExact, String),
    breached_units AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (station_code, day, step, region_code)
TTL day + INTERVAL {ttl_days} DAY
SETTINGS non_replicated_deduplication_window = 1000, ttl_only_drop_parts = 1
-- shard by: rand()
;

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.kpi_sla_daily_mv TO {database}.kpi_sla_daily AS
SELECT
    toDate(due_at) AS day,
    region_code,
    station_code,
    step,
    uniqExactIfState(
        concat(task_id, ':', step, ':', toString(cycle)) AS unit, kind IN ('MET', 'MET_LATE', 'BREACHED')
    ) AS due_units,
    uniqExactIfState(unit, kind = 'MET') AS met_units,
    uniqExactIfState(unit, kind = 'BREACHED') AS breached_units
FROM {database}.sla_events
GROUP BY day, region_code, station_code, step;

-- Warnings per station per day of issue, source and level: distinct warnings, persons and tasks.
CREATE TABLE IF NOT EXISTS {database}.kpi_alerts_daily
(
    day Date,
    region_code LowCardinality(String),
    station_code LowCardinality(String),
    source LowCardinality(String),
    level LowCardinality(String),
    alerts AggregateFunction(uniqExact, String),
    persons AggregateFunction(uniqExact, String),
    tasks AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (station_code, day, source, level, region_code)
TTL day + INTERVAL {ttl_days} DAY
SETTINGS non_replicated_deduplication_window = 1000, ttl_only_drop_parts = 1
-- shard by: rand()
;

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.kpi_alerts_daily_mv TO {database}.kpi_alerts_daily AS
SELECT
    toDate(issued_at) AS day,
    region_code,
    station_code,
    source,
    level,
    uniqExactState(alert_key) AS alerts,
    uniqExactIfState(ifNull(person_key, ''), person_key IS NOT NULL) AS persons,
    uniqExactIfState(task_id, task_id != '') AS tasks
FROM {database}.alerts
GROUP BY day, region_code, station_code, source, level;

-- One row per task (after merge) with what the task-level KPIs need, fed from two sources: the task
-- versions (station, level, person, creation time) and the task events (feedback, face-to-face
-- verification, final outcome, victimisation). Task events carry no station, so they cannot be rolled
-- up per station per day on insert; this table joins both on task_id instead, on insert, whatever the
-- order in which the two arrive. The task-level KPIs group it by task, then by station.
CREATE TABLE IF NOT EXISTS {database}.task_facts
(
    task_id String,
    station_code AggregateFunction(argMax, String, UInt64),
    region_code AggregateFunction(argMax, String, UInt64),
    level AggregateFunction(argMax, String, UInt64),
    person_key SimpleAggregateFunction(max, String) COMMENT 'empty: the task has no person key',
    created_at SimpleAggregateFunction(max, DateTime64(3, 'Asia/Shanghai')) COMMENT '1970: task not seen yet',
    has_feedback SimpleAggregateFunction(max, UInt8),
    face_to_face SimpleAggregateFunction(max, UInt8),
    outcome AggregateFunction(argMax, String, Tuple(DateTime64(3, 'Asia/Shanghai'), String))
        COMMENT 'the latest feedback outcome, by (occurred_at, event_id)',
    amount_protected_fen AggregateFunction(argMax, Int64, Tuple(DateTime64(3, 'Asia/Shanghai'), String))
        COMMENT 'amount_protected_fen of the latest feedback',
    victimised SimpleAggregateFunction(max, UInt8),
    victimised_after_dissuasion SimpleAggregateFunction(max, UInt8),
    last_seen_at SimpleAggregateFunction(max, DateTime64(3, 'Asia/Shanghai'))
)
ENGINE = AggregatingMergeTree
ORDER BY task_id
TTL toDateTime(last_seen_at) + INTERVAL {ttl_days} DAY
SETTINGS non_replicated_deduplication_window = 1000
-- shard by: cityHash64(task_id)
;

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.task_facts_tasks_mv TO {database}.task_facts AS
SELECT
    task_id,
    argMaxState(toString(station_code), version) AS station_code,
    argMaxState(toString(region_code), version) AS region_code,
    argMaxState(toString(level), version) AS level,
    max(ifNull(person_key, '')) AS person_key,
    max(created_at) AS created_at,
    max(updated_at) AS last_seen_at
FROM {database}.tasks
GROUP BY task_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.task_facts_events_mv TO {database}.task_facts AS
SELECT
    task_id,
    max(type = 'FEEDBACK') AS has_feedback,
    max(type = 'VERIFIED' AND ifNull(verify_method, '') = 'FACE_TO_FACE') AS face_to_face,
    argMaxIfState(ifNull(toString(outcome), 'UNKNOWN'), (occurred_at, event_id), type = 'FEEDBACK') AS outcome,
    argMaxIfState(ifNull(amount_protected_fen, 0), (occurred_at, event_id), type = 'FEEDBACK')
        AS amount_protected_fen,
    max(type = 'VICTIMISED_AFTER_WARNING') AS victimised,
    max(type = 'VICTIMISED_AFTER_WARNING' AND ifNull(was_dissuaded, false)) AS victimised_after_dissuasion,
    max(occurred_at) AS last_seen_at
FROM {database}.task_events
GROUP BY task_id;
