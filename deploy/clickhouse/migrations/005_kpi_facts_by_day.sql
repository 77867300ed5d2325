-- The KPI model, second version: the per-task facts are joined when the cells are refreshed, not on
-- insert (docs/kpi.md, "How it is computed"; measured in docs/benchmarks.md, "KPI queries").
--
-- 004 joined each task's attrs and facts on insert, through lookups by task id. Task ids are hashes,
-- so a batch of 10,000 events looked up ~9,000 random ids and read more than half of a 10-million-row
-- lookup table: ~0.7 s per batch, which held the sink to ~10,000 rows/s. Here both tables are sorted by
-- a day their rows know without a lookup, and inserts only group their own block:
--
--   tasks ──────────────────► kpi_task_attrs_by_day   (by China day of creation, task)
--   task_events, sla_events ─► kpi_task_facts_by_day   (by China day of the event or due time, task)
--
-- The refreshable views join the two per task over their window (a task's events and due times are
-- never before it was created, give or take a clock's skew: the facts window starts a day earlier)
-- and count per cell, as 004's did. Cells, queries and results are unchanged.
--
-- The insert-time views see replays and every task version, so they use only idempotent aggregates
-- (002's rule): max and min of flags, times and (version, value) tuples, groupBitOr of step bits.
-- Assumptions (docs/kpi.md): a task's station and creation time never change, and its level only rises.
--
-- A database whose sink wrote rows under 004 gets these tables filled by
-- streams.kpi.cells.backfill_kpi_tables (docs/kpi.md, "Backfill"): the cluster generator refuses INSERT.

-- 004's views and per-task tables, replaced below (the cell tables stay: same columns).
DROP VIEW IF EXISTS {database}.kpi_cells_recent_mv;
DROP VIEW IF EXISTS {database}.kpi_cells_history_mv;
DROP VIEW IF EXISTS {database}.kpi_tasks_from_attrs_mv;
DROP VIEW IF EXISTS {database}.kpi_tasks_from_facts_mv;
DROP VIEW IF EXISTS {database}.kpi_task_attrs_mv;
DROP VIEW IF EXISTS {database}.kpi_task_facts_events_mv;
DROP VIEW IF EXISTS {database}.kpi_task_facts_sla_mv;
DROP TABLE IF EXISTS {database}.kpi_tasks;
DROP TABLE IF EXISTS {database}.kpi_task_attrs;
DROP TABLE IF EXISTS {database}.kpi_task_facts;

-- Per task, from its versions, by the China day it was created. level_rank: LOW 1, MEDIUM 2, HIGH 3,
-- CRITICAL 4 (0: unknown).
CREATE TABLE IF NOT EXISTS {database}.kpi_task_attrs_by_day
(
    day Date COMMENT 'China day of created_at',
    task_id String,
    created_at SimpleAggregateFunction(max, DateTime64(3, 'Asia/Shanghai')),
    station SimpleAggregateFunction(max, Tuple(UInt64, String)) COMMENT '(version, station_code)',
    level_rank SimpleAggregateFunction(max, UInt8),
    person SimpleAggregateFunction(max, UInt64) COMMENT 'cityHash64(person_key); 0: no person key',
    warnings SimpleAggregateFunction(max, UInt32) COMMENT 'distinct warnings merged into the task'
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (day, task_id)
TTL day + INTERVAL {ttl_days} DAY
SETTINGS non_replicated_deduplication_window = 1000, ttl_only_drop_parts = 1
-- shard by: cityHash64(task_id)
;

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.kpi_task_attrs_by_day_mv TO {database}.kpi_task_attrs_by_day AS
SELECT
    toDate(max(task.created_at)) AS day,
    task_id,
    max(task.created_at) AS created_at,
    max((version, toString(station_code))) AS station,
    max(indexOf(['LOW', 'MEDIUM', 'HIGH', 'CRITICAL'], toString(level))) AS level_rank,
    max(if(person_key IS NULL, 0, cityHash64(assumeNotNull(person_key)))) AS person,
    max(length(alert_keys)) AS warnings
FROM {database}.tasks AS task -- qualified: the alias created_at would otherwise name the maximum
GROUP BY task_id;

-- Per task and China day of the event (lifecycle events) or of the due time (SLA events). A later
-- step's event completes the earlier steps too (the SLA stage's implied completion), so a step's time
-- is the earliest event of that step or a later one. SLA step bits: 1 reception, 2 dispatch,
-- 4 verification; feedback cycle n is bit n-1 of the feedback masks (cycles past 64 fold into bit 63).
CREATE TABLE IF NOT EXISTS {database}.kpi_task_facts_by_day
(
    day Date COMMENT 'China day of occurred_at (events) or due_at (SLA events)',
    task_id String,
    has_feedback SimpleAggregateFunction(max, UInt8),
    face_to_face SimpleAggregateFunction(max, UInt8),
    latest_feedback SimpleAggregateFunction(max, Tuple(DateTime64(3, 'Asia/Shanghai'), UInt64, String, Int64))
        COMMENT '(occurred_at, cityHash64(event_id), outcome, amount_protected_fen) of the latest FEEDBACK',
    victimised SimpleAggregateFunction(max, UInt8),
    victimised_after_dissuasion SimpleAggregateFunction(max, UInt8),
    reception_at SimpleAggregateFunction(min, Nullable(DateTime64(3, 'Asia/Shanghai'))),
    dispatch_at SimpleAggregateFunction(min, Nullable(DateTime64(3, 'Asia/Shanghai'))),
    verification_at SimpleAggregateFunction(min, Nullable(DateTime64(3, 'Asia/Shanghai'))),
    feedback_at SimpleAggregateFunction(min, Nullable(DateTime64(3, 'Asia/Shanghai'))),
    steps_due SimpleAggregateFunction(groupBitOr, UInt8) COMMENT 'settled steps: MET, MET_LATE or BREACHED',
    steps_met SimpleAggregateFunction(groupBitOr, UInt8) COMMENT 'steps done by their due time: MET',
    feedback_due SimpleAggregateFunction(groupBitOr, UInt64) COMMENT 'settled feedback cycles',
    feedback_met SimpleAggregateFunction(groupBitOr, UInt64) COMMENT 'feedback cycles fed back in time'
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (day, task_id)
TTL day + INTERVAL {ttl_days} DAY
SETTINGS non_replicated_deduplication_window = 1000, ttl_only_drop_parts = 1
-- shard by: cityHash64(task_id)
;

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.kpi_task_facts_by_day_events_mv TO {database}.kpi_task_facts_by_day AS
SELECT
    toDate(occurred_at) AS day,
    task_id,
    max(type = 'FEEDBACK') AS has_feedback,
    max(type = 'VERIFIED' AND ifNull(verify_method, '') = 'FACE_TO_FACE') AS face_to_face,
    maxIf(
        (occurred_at, cityHash64(event_id), ifNull(toString(outcome), 'UNKNOWN'), ifNull(amount_protected_fen, 0)),
        type = 'FEEDBACK'
    ) AS latest_feedback,
    max(type = 'VICTIMISED_AFTER_WARNING') AS victimised,
    max(type = 'VICTIMISED_AFTER_WARNING' AND ifNull(was_dissuaded, false)) AS victimised_after_dissuasion,
    minIf(toNullable(occurred_at), type IN ('RECEIVED', 'DISPATCHED', 'VERIFIED', 'FEEDBACK')) AS reception_at,
    minIf(toNullable(occurred_at), type IN ('DISPATCHED', 'VERIFIED', 'FEEDBACK')) AS dispatch_at,
    minIf(toNullable(occurred_at), type IN ('VERIFIED', 'FEEDBACK')) AS verification_at,
    minIf(toNullable(occurred_at), type = 'FEEDBACK') AS feedback_at
FROM {database}.task_events
GROUP BY day, task_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.kpi_task_facts_by_day_sla_mv TO {database}.kpi_task_facts_by_day AS
SELECT
    toDate(due_at) AS day,
    task_id,
    groupBitOr(if(kind IN ('MET', 'MET_LATE', 'BREACHED'), transform(toString(step),
        ['RECEPTION', 'DISPATCH', 'VERIFICATION'], [1, 2, 4], 0), 0)) AS steps_due,
    groupBitOr(if(kind = 'MET', transform(toString(step),
        ['RECEPTION', 'DISPATCH', 'VERIFICATION'], [1, 2, 4], 0), 0)) AS steps_met,
    groupBitOr(if(step = 'FEEDBACK' AND kind IN ('MET', 'MET_LATE', 'BREACHED'),
        bitShiftLeft(toUInt64(1), least(greatest(cycle, 1), 64) - 1), 0)) AS feedback_due,
    groupBitOr(if(step = 'FEEDBACK' AND kind = 'MET',
        bitShiftLeft(toUInt64(1), least(greatest(cycle, 1), 64) - 1), 0)) AS feedback_met
FROM {database}.sla_events
GROUP BY day, task_id;

-- Every minute, the cells of the last 40 China days (queries read them from here for the last 35; the
-- margin covers a few missed refreshes). A refresh replaces the table's contents at once.
CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.kpi_cells_recent_mv
REFRESH EVERY 1 MINUTE TO {database}.kpi_cells_recent AS
SELECT
    day,
    station_code,
    level_rank,
    count() AS tasks,
    sum(warnings) AS warnings,
    countIf(bitTest(steps_due, 0)) AS reception_due,
    countIf(bitTest(steps_met, 0)) AS reception_met,
    countIf(bitTest(steps_due, 1)) AS dispatch_due,
    countIf(bitTest(steps_met, 1)) AS dispatch_met,
    countIf(bitTest(steps_due, 2)) AS verification_due,
    countIf(bitTest(steps_met, 2)) AS verification_met,
    sum(bitCount(feedback_due)) AS feedback_due,
    sum(bitCount(feedback_met)) AS feedback_met,
    countIf(has_feedback) AS tasks_with_feedback,
    countIf(has_feedback AND face_to_face) AS face_to_face,
    countIf(has_feedback AND tupleElement(latest_feedback, 3) IN ('DISSUADED', 'ALREADY_DEFRAUDED', 'UNREACHABLE', 'REFUSED'))
        AS risk_confirmed,
    countIf(has_feedback AND tupleElement(latest_feedback, 3) = 'DISSUADED') AS dissuaded,
    sumIf(tupleElement(latest_feedback, 4), has_feedback) AS amount_protected_fen,
    uniqExactStateIf(person, person != 0) AS warned_persons,
    uniqExactStateIf(person, person != 0 AND victimised) AS victimised_persons,
    uniqExactStateIf(person, person != 0 AND victimised_after_dissuasion) AS victimised_after_dissuasion,
    countIf(reception_at IS NOT NULL) AS reception_timed,
    countIf(dispatch_at IS NOT NULL) AS dispatch_timed,
    countIf(verification_at IS NOT NULL) AS verification_timed,
    countIf(feedback_at IS NOT NULL) AS feedback_timed,
    quantilesExactStateIf(0.5, 0.9)(toUInt32(greatest(0, dateDiff('second', created_at, assumeNotNull(reception_at)))), reception_at IS NOT NULL)
        AS reception_seconds,
    quantilesExactStateIf(0.5, 0.9)(toUInt32(greatest(0, dateDiff('second', created_at, assumeNotNull(dispatch_at)))), dispatch_at IS NOT NULL)
        AS dispatch_seconds,
    quantilesExactStateIf(0.5, 0.9)(toUInt32(greatest(0, dateDiff('second', created_at, assumeNotNull(verification_at)))), verification_at IS NOT NULL)
        AS verification_seconds,
    quantilesExactStateIf(0.5, 0.9)(toUInt32(greatest(0, dateDiff('second', created_at, assumeNotNull(feedback_at)))), feedback_at IS NOT NULL)
        AS feedback_seconds
FROM
(
    SELECT
        day,
        task_id,
        max(created_at) AS created_at,
        tupleElement(max(station), 2) AS station_code,
        max(level_rank) AS level_rank,
        max(person) AS person,
        max(warnings) AS warnings
    FROM {database}.kpi_task_attrs_by_day
    WHERE day >= toDate(now(), 'Asia/Shanghai') - 40
    GROUP BY day, task_id
) AS attrs
LEFT JOIN
(
    SELECT
        task_id,
        max(has_feedback) AS has_feedback,
        max(face_to_face) AS face_to_face,
        max(latest_feedback) AS latest_feedback,
        max(victimised) AS victimised,
        max(victimised_after_dissuasion) AS victimised_after_dissuasion,
        min(reception_at) AS reception_at,
        min(dispatch_at) AS dispatch_at,
        min(verification_at) AS verification_at,
        min(feedback_at) AS feedback_at,
        groupBitOr(steps_due) AS steps_due,
        groupBitOr(steps_met) AS steps_met,
        groupBitOr(feedback_due) AS feedback_due,
        groupBitOr(feedback_met) AS feedback_met
    FROM {database}.kpi_task_facts_by_day
    WHERE day >= toDate(now(), 'Asia/Shanghai') - 41
    GROUP BY task_id
) AS facts USING task_id
GROUP BY day, station_code, level_rank;

-- Every day, the cells of the days before the last 30 (queries read them from here before the last
-- 35). Facts of older tasks rarely change (victimisation is reported within 30 days); a backfill of old
-- data shows after the next daily refresh, or at once after SYSTEM REFRESH VIEW {database}.kpi_cells_history_mv.
CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.kpi_cells_history_mv
REFRESH EVERY 1 DAY OFFSET 2 HOUR TO {database}.kpi_cells_history AS
SELECT
    day,
    station_code,
    level_rank,
    count() AS tasks,
    sum(warnings) AS warnings,
    countIf(bitTest(steps_due, 0)) AS reception_due,
    countIf(bitTest(steps_met, 0)) AS reception_met,
    countIf(bitTest(steps_due, 1)) AS dispatch_due,
    countIf(bitTest(steps_met, 1)) AS dispatch_met,
    countIf(bitTest(steps_due, 2)) AS verification_due,
    countIf(bitTest(steps_met, 2)) AS verification_met,
    sum(bitCount(feedback_due)) AS feedback_due,
    sum(bitCount(feedback_met)) AS feedback_met,
    countIf(has_feedback) AS tasks_with_feedback,
    countIf(has_feedback AND face_to_face) AS face_to_face,
    countIf(has_feedback AND tupleElement(latest_feedback, 3) IN ('DISSUADED', 'ALREADY_DEFRAUDED', 'UNREACHABLE', 'REFUSED'))
        AS risk_confirmed,
    countIf(has_feedback AND tupleElement(latest_feedback, 3) = 'DISSUADED') AS dissuaded,
    sumIf(tupleElement(latest_feedback, 4), has_feedback) AS amount_protected_fen,
    uniqExactStateIf(person, person != 0) AS warned_persons,
    uniqExactStateIf(person, person != 0 AND victimised) AS victimised_persons,
    uniqExactStateIf(person, person != 0 AND victimised_after_dissuasion) AS victimised_after_dissuasion,
    countIf(reception_at IS NOT NULL) AS reception_timed,
    countIf(dispatch_at IS NOT NULL) AS dispatch_timed,
    countIf(verification_at IS NOT NULL) AS verification_timed,
    countIf(feedback_at IS NOT NULL) AS feedback_timed,
    quantilesExactStateIf(0.5, 0.9)(toUInt32(greatest(0, dateDiff('second', created_at, assumeNotNull(reception_at)))), reception_at IS NOT NULL)
        AS reception_seconds,
    quantilesExactStateIf(0.5, 0.9)(toUInt32(greatest(0, dateDiff('second', created_at, assumeNotNull(dispatch_at)))), dispatch_at IS NOT NULL)
        AS dispatch_seconds,
    quantilesExactStateIf(0.5, 0.9)(toUInt32(greatest(0, dateDiff('second', created_at, assumeNotNull(verification_at)))), verification_at IS NOT NULL)
        AS verification_seconds,
    quantilesExactStateIf(0.5, 0.9)(toUInt32(greatest(0, dateDiff('second', created_at, assumeNotNull(feedback_at)))), feedback_at IS NOT NULL)
        AS feedback_seconds
FROM
(
    SELECT
        day,
        task_id,
        max(created_at) AS created_at,
        tupleElement(max(station), 2) AS station_code,
        max(level_rank) AS level_rank,
        max(person) AS person,
        max(warnings) AS warnings
    FROM {database}.kpi_task_attrs_by_day
    WHERE day < toDate(now(), 'Asia/Shanghai') - 30
    GROUP BY day, task_id
) AS attrs
LEFT JOIN
(
    SELECT
        task_id,
        max(has_feedback) AS has_feedback,
        max(face_to_face) AS face_to_face,
        max(latest_feedback) AS latest_feedback,
        max(victimised) AS victimised,
        max(victimised_after_dissuasion) AS victimised_after_dissuasion,
        min(reception_at) AS reception_at,
        min(dispatch_at) AS dispatch_at,
        min(verification_at) AS verification_at,
        min(feedback_at) AS feedback_at,
        groupBitOr(steps_due) AS steps_due,
        groupBitOr(steps_met) AS steps_met,
        groupBitOr(feedback_due) AS feedback_due,
        groupBitOr(feedback_met) AS feedback_met
    FROM {database}.kpi_task_facts_by_day
    GROUP BY task_id
) AS facts USING task_id
GROUP BY day, station_code, level_rank;
