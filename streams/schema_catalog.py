"""The Avro contracts on disk: the current schema of every record type and each released version of it.

`schemas/<snake_name>.avsc` holds the current schema of one record type. `schemas/history/<Name>.v<N>.avsc`
holds released version N, which is never edited again: records written under it may still sit in Kafka,
so the codec must still be able to read them, and `streams.schemas_compat` checks that the current schema
can.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastavro
from fastavro.schema import to_parsing_canonical_form

from streams.errors import SchemaError
from streams.settings import PROJECT_ROOT
from streams.topics import (
    ALERTS_DLQ,
    ALERTS_INDEX,
    ALERTS_RAW,
    PERSONS_FACTS,
    RESOLVER_TICKS,
    SLA_EVENTS,
    SLA_TICKS,
    TASKS,
    TASKS_EVENTS,
    VICTIMS_HISTORY,
)

SCHEMAS_DIR = PROJECT_ROOT / "schemas"
NAMESPACE = "cn.riskalert.v1"
_HISTORY_FILE = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)\.v(?P<version>[1-9][0-9]*)\.avsc$")
# Confluent schema ids are positive signed 32-bit ints; the local scheme stays inside that range.
_SCHEMA_ID_MASK = 0x7FFF_FFFF

# The topic each record type is written to; with a schema registry the subject is "<topic>-value".
RECORD_TOPICS: Mapping[str, str] = {
    "RawAlert": ALERTS_RAW.name,
    "Task": TASKS.name,
    "TaskEvent": TASKS_EVENTS.name,
    "SlaEvent": SLA_EVENTS.name,
    "VictimRecord": VICTIMS_HISTORY.name,
    "DeadLetter": ALERTS_DLQ.name,
    "PersonFact": PERSONS_FACTS.name,
    "SlaTick": SLA_TICKS.name,
    # TaskEvent is also written to tasks.events.by_ref; with a registry it is registered under the
    # subject of tasks.events, and a reader finds it by schema id whichever topic it sits in.
    "AlertVerdict": ALERTS_INDEX.name,
    "ResolverTick": RESOLVER_TICKS.name,
}

JsonSchema = dict[str, Any]
# What a bad file raises: unreadable, not JSON, or not Avro (fastavro raises several kinds for the last).
_PARSE_ERRORS = (OSError, ValueError, TypeError, KeyError, fastavro.schema.SchemaParseException)


@dataclass(frozen=True)
class SchemaVersion:
    """One schema file.

    Attributes:
        record_type: the record's unqualified name, e.g. `RawAlert`.
        version: the released version number, or None for the current working copy.
        path: the file it was read from.
        schema: the schema as JSON, exactly as written.
        canonical_form: its Avro Parsing Canonical Form, which decides the wire format (and the local id).
    """

    record_type: str
    version: int | None
    path: Path
    schema: JsonSchema
    canonical_form: str

    @property
    def label(self) -> str:
        """`RawAlert v1`, or `RawAlert (current)`, for messages."""
        return (
            f"{self.record_type} (current)" if self.version is None else f"{self.record_type} v{self.version}"
        )


@dataclass(frozen=True)
class Catalog:
    """Every schema riskalert knows.

    Attributes:
        current: the current schema of each record type, by record type.
        history: each record type's released versions, oldest first.
    """

    current: Mapping[str, SchemaVersion]
    history: Mapping[str, tuple[SchemaVersion, ...]]

    def versions(self) -> Iterator[SchemaVersion]:
        """Every schema: each current one, then each released version."""
        yield from self.current.values()
        for versions in self.history.values():
            yield from versions


def local_schema_id(canonical_form: str) -> int:
    """The local schema id: the first 4 bytes of sha256(Parsing Canonical Form), big-endian, as 31 bits.

    Every process derives the same id from the same schema, with no registry. Docs, defaults and logical
    types are not part of the canonical form, so a change to them alone keeps the id.
    """
    digest = hashlib.sha256(canonical_form.encode()).digest()
    return int.from_bytes(digest[:4], "big") & _SCHEMA_ID_MASK


def load_catalog(directory: Path = SCHEMAS_DIR) -> Catalog:
    """Read and check every schema file under `directory` and `directory/history`.

    Raises:
        SchemaError: naming the file that is not valid Avro, duplicates a record type, or is misnamed.
    """
    current: dict[str, SchemaVersion] = {}
    for path in sorted(directory.glob("*.avsc")):
        version = _read(path, None)
        if version.record_type in current:
            raise SchemaError(
                f"{path} and {current[version.record_type].path} both define {version.record_type}"
            )
        current[version.record_type] = version
    history: dict[str, list[SchemaVersion]] = {}
    for path in sorted((directory / "history").glob("*.avsc")):
        version = _read_history(path, current)
        history.setdefault(version.record_type, []).append(version)
    return Catalog(
        current=current,
        history={name: tuple(sorted(found, key=_version_number)) for name, found in history.items()},
    )


@functools.cache
def default_catalog() -> Catalog:
    """The catalog of the shipped `schemas/` directory, read once per process."""
    return load_catalog()


def _version_number(version: SchemaVersion) -> int:
    return version.version or 0


def _read_history(path: Path, current: Mapping[str, SchemaVersion]) -> SchemaVersion:
    match = _HISTORY_FILE.match(path.name)
    if match is None:
        raise SchemaError(f"{path}: history files are named <RecordName>.v<N>.avsc")
    version = _read(path, int(match["version"]))
    if version.record_type != match["name"]:
        raise SchemaError(f"{path} holds {version.record_type}, not {match['name']}")
    if version.record_type not in current:
        # Without a current schema there is no reader for the old records.
        raise SchemaError(f"{path}: no current schema for {version.record_type} in {path.parent.parent}")
    return version


def _read(path: Path, version: int | None) -> SchemaVersion:
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
        fastavro.parse_schema(schema)
        canonical_form = to_parsing_canonical_form(schema)
    except _PARSE_ERRORS as exc:
        raise SchemaError(f"{path}: not a valid Avro schema: {exc}") from exc
    if not isinstance(schema, dict) or schema.get("type") != "record":
        raise SchemaError(f"{path}: the top-level schema must be a record")
    return SchemaVersion(
        record_type=str(schema["name"]).rpartition(".")[2],
        version=version,
        path=path,
        schema=schema,
        canonical_form=canonical_form,
    )
