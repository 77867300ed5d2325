"""Migration files: naming, order, checksums, and the rules every statement must follow."""

from __future__ import annotations

import hashlib
import re

import pytest

from streams.db.errors import MigrationError
from streams.db.migrate import (
    MIGRATIONS_DIR,
    AppliedMigration,
    Migration,
    load_migrations,
    parse_migrations,
    pending_migrations,
    plan_sql,
    statements,
)

SHIPPED = load_migrations()


def _all_statements() -> list[tuple[str, str]]:
    return [
        (migration.name, sql)
        for migration in SHIPPED
        for sql in statements(migration.text, database="rk", ttl_days=1095)
    ]


def test_shipped_migrations_are_numbered_from_one_in_order() -> None:
    assert [migration.version for migration in SHIPPED] == list(range(1, len(SHIPPED) + 1))
    assert [migration.name for migration in SHIPPED] == sorted(
        path.name for path in MIGRATIONS_DIR.glob("*.sql")
    )
    assert SHIPPED[0].name == "001_tables.sql"


def test_checksum_is_sha256_of_the_file_text() -> None:
    migration = SHIPPED[0]
    assert migration.checksum == hashlib.sha256((MIGRATIONS_DIR / migration.name).read_bytes()).hexdigest()


def test_bad_file_names_gaps_and_repeats_name_the_file() -> None:
    with pytest.raises(MigrationError, match=r"m/1_tables\.sql: migration files are named NNN_name\.sql"):
        parse_migrations({"1_tables.sql": ""}, where="m")
    with pytest.raises(MigrationError, match=r"003_c\.sql: expected version 002"):
        parse_migrations({"001_a.sql": "", "003_c.sql": ""})
    with pytest.raises(MigrationError, match="expected version 002"):
        parse_migrations({"001_a.sql": "", "001_b.sql": ""})


def test_files_are_ordered_by_version_not_by_listing() -> None:
    parsed = parse_migrations({"002_b.sql": "B", "001_a.sql": "A"})
    assert [(migration.version, migration.text) for migration in parsed] == [(1, "A"), (2, "B")]


def _applied(*migrations: Migration) -> dict[int, AppliedMigration]:
    return {m.version: AppliedMigration(m.version, m.name, m.checksum) for m in migrations}


def test_pending_are_the_unapplied_in_order() -> None:
    first, second, third = parse_migrations({"001_a.sql": "A", "002_b.sql": "B", "003_c.sql": "C"})
    assert pending_migrations([first, second, third], _applied(first)) == [second, third]
    assert pending_migrations([first, second, third], _applied(first, second, third)) == []


def test_a_changed_applied_migration_is_refused_by_name() -> None:
    original = Migration(1, "001_a.sql", "CREATE TABLE a")
    edited = Migration(1, "001_a.sql", "CREATE TABLE a -- edited")
    with pytest.raises(MigrationError, match=r"migration 001_a.sql was changed after it was applied"):
        pending_migrations([edited], _applied(original))


def test_a_database_ahead_of_the_code_is_refused() -> None:
    first, second = parse_migrations({"001_a.sql": "A", "002_b.sql": "B"})
    with pytest.raises(
        MigrationError, match=r"has migration 002_b\.sql .* that this riskalert does not ship"
    ):
        pending_migrations([first], _applied(first, second))


def test_placeholders_are_filled_and_unknown_ones_name_the_file() -> None:
    [sql] = statements("CREATE TABLE {database}.t TTL d + INTERVAL {ttl_days} DAY", database="x", ttl_days=7)
    assert sql == "CREATE TABLE x.t TTL d + INTERVAL 7 DAY"
    with pytest.raises(MigrationError, match=r"009_x\.sql: no value for placeholder.*shard"):
        statements("SELECT '{shard}'", database="x", ttl_days=7, source="009_x.sql")


def test_every_statement_is_idempotent() -> None:
    for name, sql in _all_statements():
        body = re.sub(r"^(\s*--[^\n]*\n)*", "", sql)
        assert re.match(
            r"(CREATE (TABLE|MATERIALIZED VIEW|VIEW|DATABASE) IF NOT EXISTS|DROP (TABLE|VIEW) IF EXISTS) ",
            body,
        ), (name, body[:60])


def test_every_table_has_the_retention_ttl_and_insert_deduplication() -> None:
    tables = [(name, sql) for name, sql in _all_statements() if "CREATE TABLE" in sql]
    assert len(tables) == 17
    # The sink's batch journal keeps offset ranges, not data: 30 days, far past any uncommitted batch.
    (journal,) = [sql for _, sql in tables if ".sink_batches\n" in sql]
    assert re.search(r"\nTTL toDateTime\(planned_at\) \+ INTERVAL 30 DAY\n", journal), journal
    for name, sql in [(name, sql) for name, sql in tables if sql != journal]:
        assert re.search(r"\nTTL .* \+ INTERVAL 1095 DAY\n", sql), (name, sql[:60])
        assert "non_replicated_deduplication_window = 1000" in sql, (name, sql[:60])


def test_timestamps_are_china_time_milliseconds() -> None:
    for name, sql in _all_statements():
        for column_type in re.findall(r"\bDateTime(?:64)?\([^)]*\)|\bDateTime\b(?!64)", sql):
            assert column_type == "DateTime64(3, 'Asia/Shanghai')", (name, column_type)


IDEMPOTENT_AGGREGATES = {
    "uniqExactState",
    "uniqExactIfState",
    "argMaxState",
    "argMaxIfState",
    "max",
    "maxIf",
    "min",
    "minIf",
    "groupBitOr",
}


def _views(refreshable: bool) -> list[str]:
    bodies = [re.sub(r"^(\s*--[^\n]*\n)*", "", sql) for _, sql in _all_statements()]
    views = [sql for sql in bodies if sql.startswith("CREATE MATERIALIZED VIEW")]
    return [sql for sql in views if bool(re.search(r"\sREFRESH\s", sql.split(" AS\n", 1)[0])) == refreshable]


def test_views_use_only_idempotent_aggregates() -> None:
    """A view sees replays and every task version: count() or sum() would count them twice."""
    views = _views(refreshable=False)
    assert len(views) == 12
    for sql in views:
        used = set(re.findall(r"\b([A-Za-z]+)\(", sql.split(" AS\n", 1)[1]))
        aggregates = {name for name in used if re.match(r"(uniq|argM|max|min|sum|count|avg|any|group)", name)}
        assert aggregates <= IDEMPOTENT_AGGREGATES, sql


def test_refreshable_views_count_only_merged_tasks() -> None:
    """A refreshable view recomputes its table from scratch; it may count, over one row per task."""
    views = _views(refreshable=True)
    assert len(views) == 4  # 004's, then 005's
    for sql in views:
        read = set(re.findall(r"\bFROM rk\.(\w+)( FINAL)?", sql))
        allowed = {("kpi_tasks", " FINAL"), ("kpi_task_attrs_by_day", ""), ("kpi_task_facts_by_day", "")}
        assert read <= allowed, sql
        if "kpi_task_attrs_by_day" in sql:  # both sides are grouped per task before anything is counted
            assert "GROUP BY day, task_id" in sql, sql
            assert "GROUP BY task_id\n) AS facts USING task_id" in sql, sql


def test_plan_starts_with_the_bootstrap() -> None:
    plan = plan_sql(SHIPPED, database="rk", ttl_days=30, cluster="prod")
    assert [name for name, _ in plan] == ["bootstrap", *(migration.name for migration in SHIPPED)]
    assert plan[0][1][0] == "CREATE DATABASE IF NOT EXISTS rk ON CLUSTER prod"
    assert any("schema_migrations_local" in sql for sql in plan[0][1])


# A released migration is never edited: its checksum is in every database it was applied to, and the
# runner refuses to go on. Add a new migration instead, and add its checksum here when it is released.
RELEASED = {
    "001_tables.sql": "083dd89150b847b58ccfdc4b881a2e20ddcbe6c9ad666156356ef3c4a66dd862",
    "002_kpi_rollups.sql": "802657fe18bc500ab3380fe9d243c19a9b8ed89d1276a3b803ae26f8879db389",
}


def test_released_migrations_are_unchanged() -> None:
    shipped = {migration.name: migration.checksum for migration in SHIPPED}
    for name, checksum in RELEASED.items():
        assert shipped[name] == checksum, (
            f"{name} was edited after release: put the change in a new migration"
        )
