"""Versioned, idempotent ClickHouse migrations through clickhouse-connect (chDB and servers alike).

Migrations are `deploy/clickhouse/migrations/NNN_name.sql`, numbered from 001 without gaps. Each is
applied once, in order, and recorded in `<database>.schema_migrations` with the sha256 of its file text.
A file whose text changed after it was applied is refused: a released migration is never edited; a
change is a new migration. Placeholders (`{database}`, `{ttl_days}`) are filled in after the checksum
is taken, so retention is a setting, not an edit. Every statement must be idempotent (IF NOT EXISTS), so
a run interrupted half-way is finished by running it again.

With a cluster name, each statement is replaced by its generated cluster variant (`streams.db.cluster`).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from clickhouse_connect.driver.client import Client

from streams.db.cluster import cluster_statements
from streams.db.ddl import render, split_statements
from streams.db.errors import MigrationError
from streams.settings import PROJECT_ROOT

MIGRATIONS_DIR = PROJECT_ROOT / "deploy" / "clickhouse" / "migrations"
MIGRATIONS_TABLE = "schema_migrations"
_FILE_NAME = re.compile(r"^(?P<version>\d{3})_(?P<slug>[a-z0-9_]+)\.sql$")
_DATABASE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# The runner's own bookkeeping, created before any migration (and through the same cluster transform).
BOOTSTRAP_SQL = """
CREATE DATABASE IF NOT EXISTS {database};

CREATE TABLE IF NOT EXISTS {database}.schema_migrations
(
    version UInt32,
    name String,
    checksum String,
    applied_at DateTime64(3, 'Asia/Shanghai')
)
ENGINE = MergeTree
ORDER BY version
-- shard by: version
;
"""


@dataclass(frozen=True)
class Migration:
    """One migration file.

    Attributes:
        version: the file's number (001 is 1).
        name: the file name, e.g. `001_tables.sql`.
        text: the file's text, placeholders unfilled.
    """

    version: int
    name: str
    text: str

    @property
    def checksum(self) -> str:
        """sha256 hex of the file text: what `schema_migrations` remembers."""
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class AppliedMigration:
    """A row of `schema_migrations`."""

    version: int
    name: str
    checksum: str


@dataclass(frozen=True)
class MigrationReport:
    """What one run did: the migrations it applied and those that were already applied."""

    applied: list[str] = field(default_factory=list)
    already_applied: list[str] = field(default_factory=list)


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Read every `*.sql` file of `directory` as a migration, in version order.

    Raises:
        MigrationError: a file name is not `NNN_name.sql`, or the versions are not 1, 2, 3, ...
    """
    files = {path.name: path.read_text(encoding="utf-8") for path in directory.glob("*.sql")}
    return parse_migrations(files, where=str(directory))


def parse_migrations(files: Mapping[str, str], where: str = "migrations") -> list[Migration]:
    """Turn `{file name: text}` into migrations in version order, checking names and numbering.

    Raises:
        MigrationError: naming the offending file.
    """
    migrations = []
    for name, text in files.items():
        match = _FILE_NAME.match(name)
        if match is None:
            raise MigrationError(
                f"{where}/{name}: migration files are named NNN_name.sql (e.g. 003_add_x.sql)"
            )
        migrations.append(Migration(int(match["version"]), name, text))
    migrations.sort(key=lambda migration: (migration.version, migration.name))
    for expected, migration in enumerate(migrations, start=1):
        if migration.version != expected:
            raise MigrationError(
                f"{where}/{migration.name}: expected version {expected:03d} here; migrations are numbered "
                "from 001 without gaps or repeats"
            )
    return migrations


def pending_migrations(
    migrations: Sequence[Migration], applied: Mapping[int, AppliedMigration]
) -> list[Migration]:
    """The migrations not yet applied, after checking the applied ones still match their files.

    Raises:
        MigrationError: an applied migration's file changed or is missing.
    """
    known = {migration.version: migration for migration in migrations}
    for version, row in sorted(applied.items()):
        migration = known.get(version)
        if migration is None:
            raise MigrationError(
                f"the database has migration {row.name} (version {version:03d}) that this riskalert does not "
                "ship: run the riskalert release that applied it, or a newer one"
            )
        if migration.checksum != row.checksum:
            raise MigrationError(
                f"migration {migration.name} was changed after it was applied (checksum {row.checksum[:12]} "
                f"in {MIGRATIONS_TABLE}, {migration.checksum[:12]} on disk): restore the file and put the "
                "change in a new migration"
            )
    return [migration for migration in migrations if migration.version not in applied]


def statements(text: str, *, database: str, ttl_days: int, cluster: str = "", source: str = "") -> list[str]:
    """The statements to run for one migration text: rendered, split, and for a cluster transformed.

    Raises:
        MigrationError: naming `source` (the file) and the statement at fault.
    """
    try:
        rendered = render(text, {"database": database, "ttl_days": ttl_days})
        single_node = split_statements(rendered)
    except ValueError as exc:
        raise MigrationError(f"{source}: {exc}") from exc
    if not cluster:
        return single_node
    return [
        out for number, sql in enumerate(single_node, 1) for out in _clustered(sql, cluster, source, number)
    ]


def _clustered(sql: str, cluster: str, source: str, number: int) -> list[str]:
    try:
        return cluster_statements(sql, cluster)
    except ValueError as exc:
        raise MigrationError(f"{source}, statement {number}: {exc}") from exc


def plan_sql(
    migrations: Iterable[Migration], *, database: str, ttl_days: int, cluster: str = ""
) -> list[tuple[str, list[str]]]:
    """Every statement a fresh database runs, per migration, the bootstrap first: for review."""
    sources = [("bootstrap", BOOTSTRAP_SQL), *((migration.name, migration.text) for migration in migrations)]
    return [
        (name, statements(text, database=database, ttl_days=ttl_days, cluster=cluster, source=name))
        for name, text in sources
    ]


def migrate(
    client: Client,
    *,
    database: str,
    ttl_days: int,
    cluster: str = "",
    migrations: Sequence[Migration] | None = None,
) -> MigrationReport:
    """Apply the pending migrations to `database`, in order, recording each one when it is done.

    Args:
        client: a client whose session may have no current database (the database may not exist yet).
        database: the database to create and migrate.
        ttl_days: row retention of every table, in days (set when a table is created).
        cluster: a cluster name for `ON CLUSTER` and replicated tables; empty for one node.
        migrations: the migrations to apply; default: `load_migrations()`.

    Raises:
        MigrationError: a changed or unknown migration, or a statement ClickHouse refused (named).
    """
    if not _DATABASE_NAME.match(database):
        raise MigrationError(f"{database!r} is not a database name (letters, digits and '_')")
    migrations = load_migrations() if migrations is None else migrations
    bootstrap = statements(
        BOOTSTRAP_SQL, database=database, ttl_days=ttl_days, cluster=cluster, source="bootstrap"
    )
    for sql in bootstrap:
        _run(client, sql, "bootstrap")
    applied = applied_migrations(client, database)
    report = MigrationReport(already_applied=[applied[version].name for version in sorted(applied)])
    for migration in pending_migrations(migrations, applied):
        sqls = statements(
            migration.text, database=database, ttl_days=ttl_days, cluster=cluster, source=migration.name
        )
        for sql in sqls:
            _run(client, sql, migration.name)
        _record(client, database, migration)
        report.applied.append(migration.name)
    return report


def applied_migrations(client: Client, database: str) -> dict[int, AppliedMigration]:
    """The rows of `schema_migrations` by version (the first row of a version if two runs raced)."""
    result = client.query(
        f"SELECT version, argMin(name, applied_at), argMin(checksum, applied_at) "  # noqa: S608  # database is from settings, not input
        f"FROM {database}.{MIGRATIONS_TABLE} GROUP BY version ORDER BY version"
    )
    return {
        int(version): AppliedMigration(int(version), name, checksum)
        for version, name, checksum in result.result_rows
    }


def _run(client: Client, sql: str, source: str) -> None:
    try:
        client.command(sql)
    except Exception as exc:  # clickhouse-connect raises several kinds; each means the statement failed
        first_line = next((line for line in sql.splitlines() if line.strip()), "")
        raise MigrationError(f"{source}: ClickHouse refused {first_line.strip()!r}: {exc}") from exc


def _record(client: Client, database: str, migration: Migration) -> None:
    row = [migration.version, migration.name, migration.checksum, int(time.time() * 1000)]
    try:
        client.insert(
            MIGRATIONS_TABLE,
            [row],
            database=database,
            column_names=["version", "name", "checksum", "applied_at"],
            settings={"insert_distributed_sync": 1},  # on a cluster, visible to the next run at once
        )
    except Exception as exc:  # as in _run
        raise MigrationError(f"{migration.name}: applied, but recording it failed: {exc}") from exc
