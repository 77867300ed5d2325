"""Generate the cluster variant of single-node DDL: a pure text transformation, never hand-copied DDL.

For a cluster named `c`, each statement of a migration becomes:

- `CREATE DATABASE IF NOT EXISTS db` -> the same `ON CLUSTER c`.
- `CREATE TABLE IF NOT EXISTS db.t (...) ENGINE = XMergeTree(args) ...` -> two tables on every node:
  `db.t_local` with `ReplicatedXMergeTree('/clickhouse/tables/{shard}/db/t_local', '{replica}', args)`
  (holding the data), and `db.t` with `ENGINE = Distributed(c, db, t_local, <shard key>)` in front of it,
  so readers and writers keep using the name `t`. The shard key is the statement's
  `-- shard by: <expr>` line (default `rand()`); tables joined by a view must share it.
  `non_replicated_deduplication_window` becomes `replicated_deduplication_window`.
- `CREATE MATERIALIZED VIEW IF NOT EXISTS db.v [REFRESH ...] TO db.t AS SELECT ... FROM db.s` ->
  `ON CLUSTER c`, reading and writing the `_local` tables, so each shard aggregates the rows it holds
  (a refreshable view's REFRESH clause is kept).
- `CREATE VIEW IF NOT EXISTS db.v AS SELECT ...` (a plain view) -> the same `ON CLUSTER c`, reading the
  Distributed tables (a join of tables sharded alike should say `distributed_product_mode = 'local'`).
- `ALTER TABLE db.t ...` -> the same on `db.t_local`; column changes also on the Distributed `db.t`.
- `DROP TABLE IF EXISTS db.t` -> both tables; `DROP VIEW IF EXISTS db.v` -> the view; all `ON CLUSTER c`.

Anything else has no generated variant and raises ValueError, so a migration never half-applies on a
cluster.
"""

from __future__ import annotations

import re

LOCAL_SUFFIX = "_local"
DEFAULT_SHARD_KEY = "rand()"

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_CLUSTER_NAME = re.compile(rf"^{_IDENT}$")
_LEADING_COMMENTS = re.compile(r"^(?:\s*--[^\n]*\n)*\s*")
_CREATE_DATABASE = re.compile(rf"^CREATE\s+DATABASE\s+IF\s+NOT\s+EXISTS\s+(?P<db>{_IDENT})\s*$", re.I)
_CREATE_TABLE = re.compile(
    rf"^CREATE\s+TABLE\s+IF\s+NOT\s+EXISTS\s+(?P<db>{_IDENT})\.(?P<table>{_IDENT})(?P<rest>\s.*)$",
    re.I | re.S,
)
_CREATE_VIEW = re.compile(
    rf"^CREATE\s+MATERIALIZED\s+VIEW\s+IF\s+NOT\s+EXISTS\s+(?P<db>{_IDENT})\.(?P<view>{_IDENT})\s+"
    rf"(?:(?P<refresh>REFRESH\s.*?)\s+)?TO\s+(?P=db)\.(?P<target>{_IDENT})\s+AS\s+(?P<body>.*)$",
    re.I | re.S,
)
_CREATE_PLAIN_VIEW = re.compile(
    rf"^CREATE\s+VIEW\s+IF\s+NOT\s+EXISTS\s+(?P<db>{_IDENT})\.(?P<view>{_IDENT})\s+AS\s+(?P<body>.*)$",
    re.I | re.S,
)
_ALTER = re.compile(rf"^ALTER\s+TABLE\s+(?P<db>{_IDENT})\.(?P<table>{_IDENT})\s+(?P<rest>.*)$", re.I | re.S)
_COLUMN_CHANGE = re.compile(r"^(ADD|DROP|MODIFY|RENAME|COMMENT)\s+COLUMN\b", re.I)
_DROP = re.compile(
    rf"^DROP\s+(?P<kind>TABLE|VIEW)\s+IF\s+EXISTS\s+(?P<db>{_IDENT})\.(?P<name>{_IDENT})\s*$", re.I
)
_ENGINE = re.compile(
    r"ENGINE\s*=\s*(?P<engine>(?:Replacing|Aggregating|Summing|Collapsing|VersionedCollapsing)?MergeTree)\b"
    r"(?:\s*\((?P<args>[^()]*)\))?",
    re.I,
)
_SHARD_HINT = re.compile(r"^\s*--\s*shard by:\s*(?P<key>\S.*?)\s*$", re.M | re.I)
_NON_REPLICATED_WINDOW = re.compile(r"\bnon_replicated_deduplication_window\b")


def cluster_statements(statement: str, cluster: str) -> list[str]:
    """The statements that replace one single-node DDL `statement` on `cluster`.

    Raises:
        ValueError: `cluster` is not a plain identifier, or the statement has no cluster variant; the
            message quotes the statement's first line.
    """
    if not _CLUSTER_NAME.match(cluster):
        raise ValueError(f"{cluster!r} is not a cluster name (letters, digits and '_')")
    sql = _LEADING_COMMENTS.sub("", statement, count=1).strip()
    for pattern, build in _RULES:
        match = pattern.match(sql)
        if match:
            return build(match, cluster)
    first_line = sql.splitlines()[0] if sql else ""
    raise ValueError(f"no cluster variant is generated for this statement: {first_line!r}")


def local_name(table: str) -> str:
    """The name of the replicated table that holds a Distributed table's data."""
    return f"{table}{LOCAL_SUFFIX}"


def shard_key(statement: str) -> str:
    """The statement's `-- shard by: <expr>` sharding key, or `rand()`."""
    match = _SHARD_HINT.search(statement)
    return match.group("key") if match else DEFAULT_SHARD_KEY


def replicated_engine(match: re.Match[str], database: str, table: str) -> str:
    """`ENGINE = ReplicatedXMergeTree(path, replica, args)` for an `ENGINE = XMergeTree(args)` match."""
    path = f"'/clickhouse/tables/{{shard}}/{database}/{table}'"
    args = [path, "'{replica}'"]
    if match.group("args") and match.group("args").strip():
        args.append(match.group("args").strip())
    return f"ENGINE = Replicated{match.group('engine')}({', '.join(args)})"


def _create_database(match: re.Match[str], cluster: str) -> list[str]:
    return [f"CREATE DATABASE IF NOT EXISTS {match['db']} ON CLUSTER {cluster}"]


def _create_table(match: re.Match[str], cluster: str) -> list[str]:
    database, table, rest = match["db"], match["table"], match["rest"]
    engine = _ENGINE.search(rest)
    if engine is None:
        raise ValueError(f"{database}.{table}: only MergeTree-family engines get a replicated variant")
    local = local_name(table)
    local_rest = rest[: engine.start()] + replicated_engine(engine, database, local) + rest[engine.end() :]
    local_rest = _NON_REPLICATED_WINDOW.sub("replicated_deduplication_window", local_rest)
    return [
        f"CREATE TABLE IF NOT EXISTS {database}.{local} ON CLUSTER {cluster}{local_rest}",
        f"CREATE TABLE IF NOT EXISTS {database}.{table} ON CLUSTER {cluster} AS {database}.{local}\n"
        f"ENGINE = Distributed({cluster}, {database}, {local}, {shard_key(rest)})",
    ]


def _create_view(match: re.Match[str], cluster: str) -> list[str]:
    database = match["db"]
    body = re.sub(
        rf"\b{re.escape(database)}\.({_IDENT})\b",
        lambda ref: f"{database}.{local_name(ref[1])}",
        match["body"],
    )
    refresh = f"{match['refresh']} " if match["refresh"] else ""
    return [
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.{match['view']} ON CLUSTER {cluster} "
        f"{refresh}TO {database}.{local_name(match['target'])} AS\n{body}"
    ]


def _create_plain_view(match: re.Match[str], cluster: str) -> list[str]:
    return [
        f"CREATE VIEW IF NOT EXISTS {match['db']}.{match['view']} ON CLUSTER {cluster} AS\n{match['body']}"
    ]


def _alter(match: re.Match[str], cluster: str) -> list[str]:
    database, table, rest = match["db"], match["table"], match["rest"]
    statements = [f"ALTER TABLE {database}.{local_name(table)} ON CLUSTER {cluster} {rest}"]
    if _COLUMN_CHANGE.match(rest):
        statements.append(f"ALTER TABLE {database}.{table} ON CLUSTER {cluster} {rest}")
    return statements


def _drop(match: re.Match[str], cluster: str) -> list[str]:
    kind, database, name = match["kind"].upper(), match["db"], match["name"]
    statements = [f"DROP {kind} IF EXISTS {database}.{name} ON CLUSTER {cluster} SYNC"]
    if kind == "TABLE":
        statements.append(f"DROP TABLE IF EXISTS {database}.{local_name(name)} ON CLUSTER {cluster} SYNC")
    return statements


_RULES = (
    (_CREATE_DATABASE, _create_database),
    (_CREATE_TABLE, _create_table),
    (_CREATE_VIEW, _create_view),
    (_CREATE_PLAIN_VIEW, _create_plain_view),
    (_ALTER, _alter),
    (_DROP, _drop),
)
