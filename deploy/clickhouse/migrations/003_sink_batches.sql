-- The sink's batch journal: the offset range of every batch, written before the batch is inserted.
--
-- A batch's insert_deduplication_token is "topic:partition:first-last", so a re-sent batch is dropped
-- only if it is cut at exactly the same offsets. After a crash the sink reads the ranges it planned
-- past the committed offset and cuts its first batches at those same offsets, whatever the timing of
-- the replay; then every replayed batch carries the token of the original. Ranges older than the TTL
-- are long committed. See docs/architecture.md, "ClickHouse sink".
CREATE TABLE IF NOT EXISTS {database}.sink_batches
(
    topic LowCardinality(String),
    partition UInt32,
    first_offset UInt64,
    last_offset UInt64,
    rows UInt32,
    planned_at DateTime64(3, 'Asia/Shanghai')
)
ENGINE = ReplacingMergeTree
ORDER BY (topic, partition, first_offset)
TTL toDateTime(planned_at) + INTERVAL 30 DAY
-- shard by: cityHash64(topic, partition)
;
