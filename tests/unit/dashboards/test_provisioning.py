"""The read-only Grafana user's grants cover exactly what the dashboards read."""

from __future__ import annotations

import re

from tests.unit.dashboards.test_dashboards import PROVISIONING, clickhouse_sql, table_columns

GRANTS = PROVISIONING / "clickhouse-grants.sql"


def grant_statements() -> list[str]:
    """The grants file's statements, comments removed."""
    text = "\n".join(
        line for line in GRANTS.read_text(encoding="utf-8").splitlines() if not line.startswith("--")
    )
    return [statement.strip() for statement in text.split(";") if statement.strip()]


def granted() -> dict[str, set[str] | None]:
    """Table: granted columns (None: every column)."""
    tables: dict[str, set[str] | None] = {}
    for statement in grant_statements():
        found = re.match(
            r"GRANT SELECT(?:\((.*?)\))? ON riskalert\.(\w+) TO riskalert_reader", statement, re.S
        )
        if found:
            columns = found.group(1)
            tables[found.group(2)] = None if columns is None else set(re.split(r",\s*", columns.strip()))
    return tables


def test_every_table_and_column_a_panel_reads_is_granted() -> None:
    grants, columns = granted(), table_columns()
    for uid, title, sql in clickhouse_sql():
        for table in re.findall(r"\b(?:FROM|JOIN)\s+(\w+)", sql):
            if table not in columns:
                continue  # a sub-query's alias
            assert table in grants, (uid, title, table)
            allowed = grants[table]
            if allowed is None:
                continue
            # Every column of the table named in the query text must be granted; names other tables share
            # (task_id, level, ...) are granted on each table the dashboards read them from.
            used = {word for word in re.findall(r"\b\w+\b", sql) if word in columns[table]}
            assert used <= allowed, (uid, title, table, used - allowed)


def test_no_identifier_or_free_text_column_is_granted() -> None:
    for table, allowed in granted().items():
        assert allowed is None or not allowed & {
            "person_key", "masked_phone", "suspect_account_hash", "relative_keys", "assignee", "note",
            "extras", "source_alert_id", "person_key_kind",
        }, table  # fmt: skip
    assert "victim_cases" not in granted()


def test_the_user_is_read_only() -> None:
    user = next(statement for statement in grant_statements() if statement.startswith("CREATE USER"))
    assert "readonly = 2" in user
    assert "max_execution_time" in user
    assert all(re.match(r"(CREATE ROLE|GRANT|CREATE USER|SET DEFAULT ROLE)\b", s) for s in grant_statements())
    assert not any(re.search(r"\b(INSERT|ALTER|CREATE TABLE|DROP)\b", s) for s in grant_statements())
