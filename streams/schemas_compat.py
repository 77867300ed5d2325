"""Avro schema compatibility, by the schema-resolution rules of the Avro specification.

Data written with a *writer* schema can be read with a *reader* schema when the reader resolves it:

- records match by (unqualified) name or reader alias; reader fields match writer fields by name or
  reader field alias; a reader field the writer lacks needs a default; writer fields the reader lacks
  are skipped;
- enums match by name; a writer symbol the reader lacks needs the reader's enum `default`;
- fixed types match by name and size; arrays by items; maps by values;
- a writer union needs every branch readable; a reader union takes the first branch that matches the
  writer (an exact type first, then a promotion);
- primitives match themselves or promote: int to long, float or double; long to float or double; float
  to double; string to bytes and bytes to string;
- logical types resolve on their underlying types.

`check_backward(reader=new, writer=old)` is the Confluent registry's BACKWARD check: new code reads old data.
Forward compatibility (old code reads new data, as during a rolling upgrade) is the same check reversed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import fastavro

from streams.errors import SchemaError
from streams.schema_catalog import Catalog, default_catalog

_PROMOTIONS: dict[str, frozenset[str]] = {
    "int": frozenset({"long", "float", "double"}),
    "long": frozenset({"float", "double"}),
    "float": frozenset({"double"}),
    "string": frozenset({"bytes"}),
    "bytes": frozenset({"string"}),
}
_NAMED = frozenset({"record", "error", "enum", "fixed"})
_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})


def check_backward(reader: Any, writer: Any) -> list[str]:
    """Why data written with `writer` cannot be read with `reader`.

    Args:
        reader: the schema that reads (as JSON), typically the new one.
        writer: the schema the data was written with (as JSON), typically the old one.

    Returns:
        One human-readable line per incompatibility, naming the path to it; empty when compatible.

    Raises:
        SchemaError: when either schema is not valid Avro.
    """
    reader_names: dict[str, Any] = {}
    writer_names: dict[str, Any] = {}
    parsed_reader = _parse(reader, reader_names, "reader")
    parsed_writer = _parse(writer, writer_names, "writer")
    walk = _Resolution(reader_names, writer_names)
    walk.check(parsed_reader, parsed_writer, _root_path(parsed_reader))
    return walk.problems


def check_forward(new: Any, old: Any) -> list[str]:
    """Why code still reading with `old` cannot read data written with `new` (empty: it can)."""
    return check_backward(reader=old, writer=new)


def check_history(catalog: Catalog | None = None, *, forward: bool = False) -> dict[str, list[str]]:
    """Check every current schema against every released version of it.

    Args:
        catalog: the schemas to check; the shipped `schemas/` directory by default.
        forward: also check that each released version can read data written with the current schema.

    Returns:
        For each version with problems, e.g. `Task v1`, the problems; empty when all are compatible.
    """
    catalog = catalog or default_catalog()
    report: dict[str, list[str]] = {}
    for record_type, versions in catalog.history.items():
        current = catalog.current[record_type].schema
        for version in versions:
            problems = check_backward(reader=current, writer=version.schema)
            if forward:
                problems += [f"forward: {line}" for line in check_forward(new=current, old=version.schema)]
            if problems:
                report[version.label] = problems
    return report


def unreleased(catalog: Catalog | None = None) -> list[str]:
    """Record types whose current schema differs from its latest snapshot in `schemas/history/`.

    A changed schema must be snapshotted as a new version when it is released, so that every schema that
    ever wrote data stays known to the codec and to `check_history`.
    """
    catalog = catalog or default_catalog()
    changed = []
    for record_type, current in sorted(catalog.current.items()):
        versions = catalog.history.get(record_type, ())
        if not versions or versions[-1].schema != current.schema:
            changed.append(record_type)
    return changed


def _parse(schema: Any, names: dict[str, Any], role: str) -> Any:
    try:
        return fastavro.parse_schema(schema, names)
    except (ValueError, TypeError, KeyError, fastavro.schema.SchemaParseException) as exc:
        raise SchemaError(f"the {role} schema is not valid Avro: {exc}") from exc


def _root_path(schema: Any) -> str:
    return _short(schema["name"]) if isinstance(schema, dict) and "name" in schema else _describe(schema)


@dataclass
class _Resolution:
    """One reader-against-writer walk, collecting problems."""

    reader_names: dict[str, Any]
    writer_names: dict[str, Any]
    problems: list[str] = field(default_factory=list)
    # Named pairs already being checked: recursive types would otherwise loop forever.
    seen: set[tuple[str, str]] = field(default_factory=set)

    def check(self, reader: Any, writer: Any, path: str) -> None:
        reader = _deref(reader, self.reader_names)
        writer = _deref(writer, self.writer_names)
        if isinstance(writer, list):
            for branch in writer:
                self.check(reader, branch, path)
        elif isinstance(reader, list):
            self._check_reader_union(reader, writer, path)
        elif _kind(reader) != _kind(writer):
            if _kind(reader) not in _PROMOTIONS.get(_kind(writer), ()):
                self._problem(path, f"writer type {_describe(writer)} cannot be read as {_describe(reader)}")
        else:
            self._check_same_kind(reader, writer, path)

    def _check_reader_union(self, reader: list[Any], writer: Any, path: str) -> None:
        branches = [_deref(branch, self.reader_names) for branch in reader]
        exact = [
            branch for branch in branches if _kind(branch) == _kind(writer) and _names_match(branch, writer)
        ]
        promoted = [branch for branch in branches if _kind(branch) in _PROMOTIONS.get(_kind(writer), ())]
        chosen = (exact or promoted or [None])[0]
        if chosen is None:
            self._problem(path, f"writer type {_describe(writer)} matches no branch of {_describe(reader)}")
        else:
            self.check(chosen, writer, path)

    def _check_same_kind(self, reader: Any, writer: Any, path: str) -> None:
        kind = _kind(reader)
        if kind in _NAMED and not _names_match(reader, writer):
            self._problem(
                path, f"writer {kind} {_short(writer['name'])} is not reader {_short(reader['name'])}"
            )
        elif kind in ("record", "error"):
            self._check_record(reader, writer, path)
        elif kind == "enum":
            self._check_enum(reader, writer, path)
        elif kind == "fixed" and reader["size"] != writer["size"]:
            self._problem(path, f"fixed size {writer['size']} cannot be read as size {reader['size']}")
        elif kind == "array":
            self.check(reader["items"], writer["items"], f"{path}[]")
        elif kind == "map":
            self.check(reader["values"], writer["values"], f"{path}{{}}")

    def _check_record(self, reader: dict[str, Any], writer: dict[str, Any], path: str) -> None:
        pair = (reader["name"], writer["name"])
        if pair in self.seen:
            return
        self.seen.add(pair)
        writer_fields = {writer_field["name"]: writer_field for writer_field in writer["fields"]}
        for reader_field in reader["fields"]:
            field_path = f"{path}.{reader_field['name']}"
            names = [reader_field["name"], *reader_field.get("aliases", ())]
            match = next((writer_fields[name] for name in names if name in writer_fields), None)
            if match is not None:
                self.check(reader_field["type"], match["type"], field_path)
            elif "default" not in reader_field:
                self._problem(field_path, "the writer has no such field and the reader field has no default")

    def _check_enum(self, reader: dict[str, Any], writer: dict[str, Any], path: str) -> None:
        missing = [symbol for symbol in writer["symbols"] if symbol not in reader["symbols"]]
        if missing and "default" not in reader:
            shown = ", ".join(missing)
            self._problem(
                path,
                f"writer symbol(s) {shown} not in reader enum {_short(reader['name'])}, which has no default",
            )

    def _problem(self, path: str, message: str) -> None:
        line = f"{path}: {message}"
        # A problem reached through several union branches is still one problem.
        if line not in self.problems:
            self.problems.append(line)


def _deref(schema: Any, names: dict[str, Any]) -> Any:
    """A named type's definition for a reference; a primitive's name for `{"type": "long", ...}`."""
    if isinstance(schema, str):
        return schema if schema in _PRIMITIVES else names[schema]
    if isinstance(schema, dict) and not _is_complex(schema):
        return _deref(schema["type"], names)
    return schema


def _is_complex(schema: dict[str, Any]) -> bool:
    return schema.get("type") in (_NAMED | {"array", "map"})


def _kind(schema: Any) -> str:
    if isinstance(schema, list):
        return "union"
    if isinstance(schema, dict):
        return str(schema["type"])
    return str(schema)


def _names_match(reader: Any, writer: Any) -> bool:
    """Named types match on unqualified name, or on one of the reader's aliases; others always match."""
    if not isinstance(reader, dict) or "name" not in reader:
        return True
    wanted = _short(writer["name"])
    return wanted in {_short(name) for name in (reader["name"], *reader.get("aliases", ()))}


def _short(name: str) -> str:
    return name.rpartition(".")[2]


def _describe(schema: Any) -> str:
    if isinstance(schema, list):
        return "union[" + ", ".join(_describe(branch) for branch in schema) + "]"
    if isinstance(schema, dict):
        if "name" in schema:
            return f"{schema['type']} {_short(schema['name'])}"
        if schema.get("type") == "array":
            return f"array<{_describe(schema['items'])}>"
        if schema.get("type") == "map":
            return f"map<{_describe(schema['values'])}>"
        return _describe(schema["type"])
    return _short(str(schema))
