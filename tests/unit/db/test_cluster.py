"""The generated cluster variant of single-node DDL."""

from __future__ import annotations

import re

import pytest

from streams.db.cluster import cluster_statements, shard_key
from streams.db.migrate import BOOTSTRAP_SQL, load_migrations, statements


def test_merge_tree_table_becomes_replicated_local_table_behind_a_distributed_one() -> None:
    ddl = """-- doc comment
CREATE TABLE IF NOT EXISTS rk.tasks
(
    task_id String,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY task_id
SETTINGS non_replicated_deduplication_window = 1000
-- shard by: cityHash64(task_id)"""
    local, distributed = cluster_statements(ddl, "prod")
    assert local.startswith(
        "CREATE TABLE IF NOT EXISTS rk.tasks_local ON CLUSTER prod\n(\n    task_id String,"
    )
    path = "'/clickhouse/tables/{shard}/rk/tasks_local'"
    assert f"ENGINE = ReplicatedReplacingMergeTree({path}, '{{replica}}', version)" in local
    assert "SETTINGS replicated_deduplication_window = 1000" in local
    assert "non_replicated" not in local
    assert distributed == (
        "CREATE TABLE IF NOT EXISTS rk.tasks ON CLUSTER prod AS rk.tasks_local\n"
        "ENGINE = Distributed(prod, rk, tasks_local, cityHash64(task_id))"
    )


def test_engine_without_arguments_and_without_shard_hint() -> None:
    local, distributed = cluster_statements(
        "CREATE TABLE IF NOT EXISTS rk.a (x UInt8) ENGINE = MergeTree ORDER BY x", "c1"
    )
    assert (
        "ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/rk/a_local', '{replica}') ORDER BY x"
        in local
    )
    assert distributed.endswith("ENGINE = Distributed(c1, rk, a_local, rand())")


def test_materialized_view_reads_and_writes_local_tables() -> None:
    [view] = cluster_statements(
        "CREATE MATERIALIZED VIEW IF NOT EXISTS rk.daily_mv TO rk.daily AS\n"
        "SELECT station_code, uniqExactState(task_id) AS tasks FROM rk.sla_events GROUP BY station_code",
        "prod",
    )
    assert view == (
        "CREATE MATERIALIZED VIEW IF NOT EXISTS rk.daily_mv ON CLUSTER prod TO rk.daily_local AS\n"
        "SELECT station_code, uniqExactState(task_id) AS tasks FROM rk.sla_events_local GROUP BY station_code"
    )


def test_refreshable_view_keeps_its_refresh_clause() -> None:
    [view] = cluster_statements(
        "CREATE MATERIALIZED VIEW IF NOT EXISTS rk.cells_mv\nREFRESH EVERY 1 MINUTE TO rk.cells AS\n"
        "SELECT day, count() AS tasks FROM rk.kpi_tasks FINAL GROUP BY day",
        "prod",
    )
    assert view == (
        "CREATE MATERIALIZED VIEW IF NOT EXISTS rk.cells_mv ON CLUSTER prod REFRESH EVERY 1 MINUTE "
        "TO rk.cells_local AS\nSELECT day, count() AS tasks FROM rk.kpi_tasks_local FINAL GROUP BY day"
    )


def test_plain_view_reads_the_distributed_tables() -> None:
    [view] = cluster_statements(
        "CREATE VIEW IF NOT EXISTS rk.joined AS\n"
        "SELECT a.x, v.y FROM rk.a AS a LEFT JOIN rk.v AS v ON a.k = v.k\n"
        "SETTINGS distributed_product_mode = 'local'",
        "prod",
    )
    assert view == (
        "CREATE VIEW IF NOT EXISTS rk.joined ON CLUSTER prod AS\n"
        "SELECT a.x, v.y FROM rk.a AS a LEFT JOIN rk.v AS v ON a.k = v.k\n"
        "SETTINGS distributed_product_mode = 'local'"
    )


def test_tables_joined_by_the_verdict_view_share_the_shard_key() -> None:
    """alerts_with_verdict joins alerts and alert_verdicts on each shard: they must shard alike."""
    keys = {
        table: shard_key(migration_sql)
        for migration in load_migrations()
        for migration_sql in statements(migration.text, database="rk", ttl_days=30)
        for table in re.findall(r"^CREATE TABLE IF NOT EXISTS rk\.(\w+)", migration_sql, re.M)
    }
    assert keys["alerts"] == keys["alert_verdicts"] == "cityHash64(alert_key)"


def test_database_alter_and_drop() -> None:
    assert cluster_statements("CREATE DATABASE IF NOT EXISTS rk", "prod") == [
        "CREATE DATABASE IF NOT EXISTS rk ON CLUSTER prod"
    ]
    assert cluster_statements("ALTER TABLE rk.tasks ADD COLUMN IF NOT EXISTS x UInt8", "prod") == [
        "ALTER TABLE rk.tasks_local ON CLUSTER prod ADD COLUMN IF NOT EXISTS x UInt8",
        "ALTER TABLE rk.tasks ON CLUSTER prod ADD COLUMN IF NOT EXISTS x UInt8",
    ]
    assert cluster_statements(
        "ALTER TABLE rk.tasks MODIFY TTL toDateTime(created_at) + INTERVAL 9 DAY", "p"
    ) == ["ALTER TABLE rk.tasks_local ON CLUSTER p MODIFY TTL toDateTime(created_at) + INTERVAL 9 DAY"]
    assert cluster_statements("DROP TABLE IF EXISTS rk.old", "p") == [
        "DROP TABLE IF EXISTS rk.old ON CLUSTER p SYNC",
        "DROP TABLE IF EXISTS rk.old_local ON CLUSTER p SYNC",
    ]
    assert cluster_statements("DROP VIEW IF EXISTS rk.old_mv", "p") == [
        "DROP VIEW IF EXISTS rk.old_mv ON CLUSTER p SYNC"
    ]


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO rk.tasks SELECT * FROM rk.old",
        "CREATE TABLE rk.t (x UInt8) ENGINE = MergeTree ORDER BY x",  # no IF NOT EXISTS: not idempotent
        "CREATE TABLE IF NOT EXISTS rk.t (x UInt8) ENGINE = Memory",
    ],
)
def test_statements_without_a_cluster_variant_are_refused(sql: str) -> None:
    with pytest.raises(ValueError, match=r"(cluster|replicated) variant"):
        cluster_statements(sql, "prod")


def test_cluster_name_must_be_an_identifier() -> None:
    with pytest.raises(ValueError, match="not a cluster name"):
        cluster_statements("CREATE DATABASE IF NOT EXISTS rk", "prod; DROP DATABASE rk")


def _shipped_cluster_ddl() -> list[str]:
    texts = [BOOTSTRAP_SQL, *(migration.text for migration in load_migrations())]
    return [sql for text in texts for sql in statements(text, database="rk", ttl_days=30, cluster="prod")]


def test_every_shipped_statement_has_a_cluster_variant_on_local_tables() -> None:
    ddl = _shipped_cluster_ddl()
    assert all(" ON CLUSTER prod" in sql for sql in ddl)
    for sql in ddl:
        if sql.startswith("CREATE MATERIALIZED VIEW"):
            view = re.search(r"VIEW IF NOT EXISTS rk\.(\w+)", sql)
            assert view is not None
            referenced = set(re.findall(r"\brk\.(\w+)", sql)) - {view[1]}
            assert referenced, sql
            assert all(name.endswith("_local") for name in referenced), sql
        if "ENGINE = " in sql and "Distributed" not in sql:
            assert "ENGINE = Replicated" in sql, sql


def test_tables_joined_on_task_id_share_the_shard_key() -> None:
    """task_facts joins tasks and task_events per task on each shard: they must shard alike."""
    keys = {
        table: shard_key(migration_sql)
        for migration in load_migrations()
        for migration_sql in statements(migration.text, database="rk", ttl_days=30)
        for table in re.findall(r"^CREATE TABLE IF NOT EXISTS rk\.(\w+)", migration_sql, re.M)
    }
    assert keys["tasks"] == keys["task_events"] == keys["sla_events"] == keys["task_facts"]
    assert keys["tasks"] == "cityHash64(task_id)"
    assert keys["kpi_task_attrs_by_day"] == keys["kpi_task_facts_by_day"] == keys["tasks"]
