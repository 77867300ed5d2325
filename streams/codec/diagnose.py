"""Why a record does not fit its schema: the first field at fault, described without quoting any value."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastavro.validation import validate


@dataclass(frozen=True, slots=True)
class FieldCheck:
    """One top-level field of a record schema, parsed for validation."""

    name: str
    schema: Any
    has_default: bool


def diagnose(record: Any, checks: tuple[FieldCheck, ...]) -> tuple[str | None, str | None]:
    """The first field at fault and what is wrong with it, without quoting any value."""
    if not isinstance(record, Mapping):
        return None, f"expected a mapping of fields, got {type(record).__name__}"
    unexpected = sorted(set(record) - {check.name for check in checks})
    if unexpected:
        return unexpected[0], f"unexpected field(s) {', '.join(map(str, unexpected))}"
    for check in checks:
        if check.name not in record:
            if not check.has_default:
                return check.name, f"field {check.name!r} is missing"
        elif not validate(record[check.name], check.schema, raise_errors=False):
            value_type = type(record[check.name]).__name__
            return (
                check.name,
                f"field {check.name!r} does not fit {_describe(check.schema)} (got {value_type})",
            )
    return None, None


def _describe(schema: Any) -> str:
    """A short type name for messages: `enum Level`, `union[null, string]`, `long(timestamp-millis)`."""
    if isinstance(schema, list):
        return "union[" + ", ".join(_describe(branch) for branch in schema) + "]"
    if not isinstance(schema, dict):
        return str(schema).rpartition(".")[2]
    kind = schema["type"]
    if "name" in schema:
        return f"{kind} {str(schema['name']).rpartition('.')[2]}"
    if kind == "array":
        return f"array<{_describe(schema['items'])}>"
    if kind == "map":
        return f"map<{_describe(schema['values'])}>"
    logical = schema.get("logicalType")
    return f"{_describe(kind)}({logical})" if logical else _describe(kind)
