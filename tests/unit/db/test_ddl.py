"""Splitting migration text into statements and filling in placeholders."""

from __future__ import annotations

import pytest

from streams.db.ddl import is_blank, placeholders, render, split_statements


def test_split_ignores_semicolons_in_strings_identifiers_and_comments() -> None:
    text = """
    -- a comment; with a semicolon
    CREATE TABLE a (x String COMMENT 'one; two', `we;ird` UInt8) ENGINE = MergeTree ORDER BY x;
    /* block; comment */
    SELECT 'it''s; fine', "quoted;ident", 'back\\'slash;' FROM b
    -- trailing comment only
    ;
    -- nothing but comments here;
    """
    statements = split_statements(text)
    assert len(statements) == 2
    assert statements[0].startswith("-- a comment; with a semicolon\n")
    assert statements[0].endswith("ORDER BY x")
    assert "'it''s; fine'" in statements[1]
    assert "'back\\'slash;'" in statements[1]


def test_split_keeps_comments_inside_a_statement() -> None:
    [statement] = split_statements(
        "CREATE TABLE t (x UInt8) ENGINE = MergeTree ORDER BY x\n-- shard by: x\n;"
    )
    assert statement.endswith("-- shard by: x")


def test_unclosed_quotes_and_comments_are_errors() -> None:
    with pytest.raises(ValueError, match="unclosed ' quote"):
        split_statements("SELECT 'open")
    with pytest.raises(ValueError, match="unclosed /"):
        split_statements("SELECT 1 /* open")


def test_is_blank() -> None:
    assert is_blank("  -- only a comment\n\n   -- another\n")
    assert not is_blank("-- comment\nSELECT 1")


def test_render_fills_placeholders_and_names_missing_ones() -> None:
    assert render("TTL x + INTERVAL {ttl_days} DAY -- {database}", {"ttl_days": 30, "database": "rk"}) == (
        "TTL x + INTERVAL 30 DAY -- rk"
    )
    with pytest.raises(ValueError, match=r"no value for placeholder.*ttl_days"):
        render("{database}.t TTL {ttl_days}", {"database": "rk"})


def test_placeholders() -> None:
    assert placeholders("{database}.t {ttl_days} {database}") == {"database", "ttl_days"}
