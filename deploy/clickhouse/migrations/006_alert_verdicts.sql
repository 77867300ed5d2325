-- The dedup stage's verdict on each warning delivery (AlertVerdict, topic alerts.index), and the
-- warnings with their verdicts.
--
-- The sink writes alerts from alerts.raw when they are read, before the dedup stage has decided, so
-- alerts.dedup_outcome and alerts.task_id stay 'unknown' and empty there. The verdict arrives later on
-- alerts.index, naming the delivery by its alerts.raw position; it lands here, and the view
-- alerts_with_verdict joins the two: one row per warning delivery, with its outcome (new, merged,
-- duplicate, or pending while the dedup stage has not decided) and its task.
--
-- A delivery the dedup stage processes again after a crash republishes its first verdict exactly, so
-- the replacing engine, keyed by the delivery's position, keeps one row per delivery.
CREATE TABLE IF NOT EXISTS {database}.alert_verdicts
(
    alert_key String,
    source LowCardinality(String),
    source_alert_id String,
    task_id String,
    outcome LowCardinality(String) COMMENT 'NEW | MERGED | DUPLICATE',
    decided_at DateTime64(3, 'Asia/Shanghai'),
    raw_partition UInt32,
    raw_offset UInt64
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(decided_at)
ORDER BY (alert_key, raw_partition, raw_offset)
TTL toDateTime(decided_at) + INTERVAL {ttl_days} DAY
SETTINGS non_replicated_deduplication_window = 1000, ttl_only_drop_parts = 1
-- shard by: cityHash64(alert_key)
;

-- Both tables are sharded by cityHash64(alert_key), so on a cluster each shard joins its own rows
-- (distributed_product_mode = 'local').
CREATE VIEW IF NOT EXISTS {database}.alerts_with_verdict AS
SELECT
    a.* EXCEPT (dedup_outcome, task_id),
    if(v.alert_key = '', 'pending', lower(v.outcome)) AS dedup_outcome,
    v.task_id AS task_id,
    if(v.alert_key = '', NULL, v.decided_at) AS decided_at
FROM {database}.alerts AS a
LEFT JOIN (SELECT * FROM {database}.alert_verdicts FINAL) AS v
    ON a.alert_key = v.alert_key AND a.kafka_partition = v.raw_partition AND a.kafka_offset = v.raw_offset
SETTINGS distributed_product_mode = 'local'
;
