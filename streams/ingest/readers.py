"""Readers: a binary stream in; numbered records, or parse errors naming the line, out.

Two formats: JSON Lines (one object per line) and CSV with a header row. The readers stream: they hold
one record at a time, at most `max_record_bytes` of it. A longer line is skipped to its end without
being read into memory. They never raise on bad input. Invalid UTF-8, non-objects, NaN, deep nesting,
wrong column counts and unterminated quotes each give a `ParseError` for that record, and reading goes
on with the next one. Blank lines are skipped. A UTF-8 BOM at the start is ignored. Empty CSV cells are
absent fields.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from enum import StrEnum
from itertools import chain
from pathlib import PurePath
from typing import IO, Literal

from streams.errors import IngestError

Format = Literal["jsonl", "csv"]
FORMATS: tuple[Format, ...] = ("jsonl", "csv")
MAX_RECORD_BYTES = 64 * 1024
MAX_JSON_DEPTH = 16
JSONL_SUFFIXES = frozenset({".jsonl", ".ndjson", ".json"})
CSV_SUFFIXES = frozenset({".csv"})
# How much of an unreadable record is kept for its dead letter (redact_payload truncates it further).
PAYLOAD_PREFIX_BYTES = 4096

_BOM = b"\xef\xbb\xbf"
_SKIP_CHUNK_BYTES = 64 * 1024
_CSV_SPECIALS = re.compile('[",]')
_IDENTIFIER_BYTES = b"0123456789Xx+-() "


class ParseReason(StrEnum):
    """The bounded reason codes of a record that could not be read."""

    DECODE_ERROR = "decode_error"
    BAD_JSON = "bad_json"
    NOT_AN_OBJECT = "not_an_object"
    TOO_DEEP = "too_deep"
    RECORD_TOO_LARGE = "record_too_large"
    BAD_CSV = "bad_csv"
    BAD_HEADER = "bad_header"
    WRONG_COLUMN_COUNT = "wrong_column_count"


@dataclass(frozen=True, slots=True)
class ParseError:
    """A record that could not be read.

    Attributes:
        line: the 1-based line where the record starts.
        reason_code: a `ParseReason` value.
        message: what is wrong, for people; never quotes the data.
        payload: the raw record (bytes, or CSV cells by column name) for `redact_payload`. It holds
            personal data: never log it unredacted.
    """

    line: int
    reason_code: str
    message: str
    payload: bytes | dict[str, object] = field(repr=False)

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


Record = dict[str, object]
Item = tuple[int, Record | ParseError | bytes]  # bytes: an unparsed JSON line (`defer_json`)


@dataclass(frozen=True, slots=True)
class _TooLong:
    prefix: bytes


_Line = tuple[int, bytes | _TooLong]


def detect_format(name: str | None, first_line: bytes) -> Format:
    """JSON Lines or CSV, from the file name's suffix, else from the first non-blank line's first char."""
    suffix = PurePath(name).suffix.lower() if name else ""
    if suffix in JSONL_SUFFIXES:
        return "jsonl"
    if suffix in CSV_SUFFIXES:
        return "csv"
    return "jsonl" if first_line.removeprefix(_BOM).lstrip().startswith(b"{") else "csv"


def read_records(
    stream: IO[bytes],
    *,
    fmt: str | None = None,
    name: str | None = None,
    max_record_bytes: int = MAX_RECORD_BYTES,
    defer_json: bool = False,
) -> Iterator[Item]:
    """Read (line number, record or ParseError) pairs from a binary stream, lazily.

    Args:
        stream: an open binary file, pipe or BytesIO.
        fmt: "jsonl" or "csv"; None detects it (see `detect_format`).
        name: the input's file name, for format detection.
        max_record_bytes: the largest record accepted; longer ones give `record_too_large`.
        defer_json: yield JSON Lines records as their raw line (bytes) for `parse_json_record` to parse
            later, e.g. in a worker process; CSV records are parsed either way.

    Raises:
        IngestError: at once, when `fmt` is not a known format. Bad input never raises.
    """
    if fmt is not None and fmt not in FORMATS:
        raise IngestError(f"unknown input format {fmt!r}; use one of {', '.join(FORMATS)}")
    return _read(stream, fmt, name, max_record_bytes, defer_json)


def _read(
    stream: IO[bytes], fmt: str | None, name: str | None, max_record_bytes: int, defer_json: bool
) -> Iterator[Item]:
    lines = _physical_lines(stream, max_record_bytes)
    head: list[_Line] = []
    for line in lines:
        head.append(line)
        if isinstance(line[1], _TooLong) or line[1].strip():
            break
    first = head[-1][1] if head else b""
    chosen = fmt or detect_format(name, first.prefix if isinstance(first, _TooLong) else first)
    body = chain(head, lines)
    if chosen == "csv":
        yield from read_csv_lines(body, max_record_bytes)
    else:
        yield from read_jsonl_lines(body, parse=not defer_json)


def _physical_lines(stream: IO[bytes], max_bytes: int) -> Iterator[_Line]:
    number = 0
    # Two bytes over the limit leave room for a CRLF: the limit counts the record, not its line end.
    while line := stream.readline(max_bytes + 2):
        number += 1
        if len(line) > max_bytes and len(line.rstrip(b"\r\n")) > max_bytes:
            yield number, _TooLong(line)
            if not line.endswith(b"\n"):
                _skip_to_line_end(stream)
        else:
            yield number, line.removeprefix(_BOM) if number == 1 else line


def _skip_to_line_end(stream: IO[bytes]) -> None:
    while (chunk := stream.readline(_SKIP_CHUNK_BYTES)) and not chunk.endswith(b"\n"):
        pass


def _too_large(number: int, data: bytes) -> ParseError:
    # The cut may fall inside an ID number; its first half would escape the scrubber, so it goes.
    prefix = data[:PAYLOAD_PREFIX_BYTES].rstrip(_IDENTIFIER_BYTES)
    return ParseError(number, ParseReason.RECORD_TOO_LARGE, "the record is longer than the limit", prefix)


# --- JSON Lines -------------------------------------------------------------------------------------


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def read_jsonl_lines(lines: Iterable[_Line], parse: bool = True) -> Iterator[Item]:
    """Parse JSON Lines; each non-blank line must hold one JSON object (or, unparsed, its bytes)."""
    for number, data in lines:
        if isinstance(data, _TooLong):
            yield number, _too_large(number, data.prefix)
        elif data.strip():
            yield number, parse_json_record(number, data) if parse else data


def parse_json_record(number: int, data: bytes) -> Record | ParseError:
    """One JSON object from one line, or the reason it is not one."""
    try:
        value = _DECODER.decode(data.decode())
    except UnicodeDecodeError as exc:
        return ParseError(number, ParseReason.DECODE_ERROR, f"not UTF-8 (byte {exc.start})", data)
    except RecursionError:
        return ParseError(number, ParseReason.TOO_DEEP, "JSON nested too deep", data[:PAYLOAD_PREFIX_BYTES])
    except ValueError as exc:
        # JSONDecodeError names the position and the expectation, never the data.
        return ParseError(number, ParseReason.BAD_JSON, f"not valid JSON: {exc}", data)
    if not isinstance(value, dict):
        return ParseError(number, ParseReason.NOT_AN_OBJECT, "a record must be a JSON object", data)
    # Counting brackets is cheap and bounds the depth, so the walk runs only for suspicious lines.
    if data.count(b"{") + data.count(b"[") > MAX_JSON_DEPTH and _depth(value) > MAX_JSON_DEPTH:
        return ParseError(number, ParseReason.TOO_DEEP, f"JSON nested deeper than {MAX_JSON_DEPTH}", data)
    return value


def _depth(value: object) -> int:
    deepest = 0
    stack = [(value, 1)]
    while stack and deepest <= MAX_JSON_DEPTH:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is not None:
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in children)
    return deepest


# --- CSV --------------------------------------------------------------------------------------------


def read_csv_lines(lines: Iterable[_Line], max_record_bytes: int) -> Iterator[Item]:
    """Parse CSV with a header row; a quoted cell may span lines. A bad header stops the reading."""
    records = _csv_records(lines, max_record_bytes)
    for number, text in records:
        header = _header(number, text)
        if isinstance(header, ParseError):
            yield number, header
            return
        break
    else:
        return
    for number, text in records:
        row = _csv_row(number, text, header)
        if row is not None:
            yield number, row


def _header(number: int, text: str | ParseError) -> list[str] | ParseError:
    rule = "the first line must be a header of unique, non-empty column names"
    if isinstance(text, ParseError):
        message = f"the header cannot be read ({text.message}); nothing after it was read"
        return ParseError(number, ParseReason.BAD_HEADER, message, text.payload)
    cells = _split_cells(number, text)
    names = [] if isinstance(cells, ParseError) else [cell.strip().lower() for cell in cells]
    if not names or not all(names) or len(set(names)) != len(names):
        return ParseError(number, ParseReason.BAD_HEADER, rule, text.encode())
    return names


def _csv_row(number: int, text: str | ParseError, header: list[str]) -> Record | ParseError | None:
    if isinstance(text, ParseError):
        return _with_columns(text, header)
    cells = _split_cells(number, text)
    if isinstance(cells, ParseError):
        return _with_columns(cells, header)
    return _row(number, header, cells)


def _with_columns(error: ParseError, header: list[str]) -> ParseError:
    """The error with its raw payload split into named cells, so that redaction masks personal columns."""
    if not isinstance(error.payload, bytes):
        return error
    text = error.payload.decode("utf-8", "replace").rstrip("\r\n")
    # The lenient parser accepts what the strict one refused; only the payload's shape depends on it.
    try:
        cells = next(csv.reader((text,)), [])
    except csv.Error:
        cells = text.split(",")
    return replace(error, payload=_by_column(header, cells))


def _csv_records(lines: Iterable[_Line], max_bytes: int) -> Iterator[tuple[int, str | ParseError]]:
    """Logical CSV records: physical lines joined while a quoted cell is open."""
    pending: list[str] = []
    start = size = 0
    for number, data in lines:
        if isinstance(data, _TooLong):
            yield (start or number), _too_large(start or number, data.prefix)
            pending, start, size = [], 0, 0
            continue
        try:
            text = data.decode().rstrip("\r\n")
        except UnicodeDecodeError as exc:
            message = f"not UTF-8 (line {number}, byte {exc.start})"
            yield (start or number), ParseError(start or number, ParseReason.DECODE_ERROR, message, data)
            pending, start, size = [], 0, 0
            continue
        if not pending and not text.strip():
            continue
        pending.append(text)
        start, size = start or number, size + len(data)
        if not _ends_in_open_quote(pending):
            yield start, "\n".join(pending)
            pending, start, size = [], 0, 0
        elif size > max_bytes:
            yield start, _too_large(start, "\n".join(pending).encode())
            pending, start, size = [], 0, 0
    if pending:
        message = "a quoted cell is not closed before the end of the input"
        yield start, ParseError(start, ParseReason.BAD_CSV, message, "\n".join(pending).encode())


def _ends_in_open_quote(pending: list[str]) -> bool:
    """Whether the record so far ends inside a quoted cell, following the CSV quoting rules.

    A quote opens a quoted cell only as a cell's first character; inside one, `""` is a literal quote.
    Only quotes and commas change the state, so only they are visited.
    """
    text = pending[-1] if len(pending) == 1 else "\n".join(pending)
    if '"' not in text:
        return False
    quoted, cell_start, closing_quote_at = False, 0, -2
    for match in _CSV_SPECIALS.finditer(text):
        at, char = match.start(), match.group()
        if quoted:
            if char == '"':
                quoted, closing_quote_at = False, at
        elif char == ",":
            cell_start = at + 1
        elif at == closing_quote_at + 1 or at == cell_start:
            quoted = True  # an escaped quote ("") re-enters the cell; a leading one opens it
    return quoted


def _split_cells(number: int, text: str) -> list[str] | ParseError:
    if '"' not in text:
        return text.split(",")
    try:
        return next(csv.reader((text,), strict=True))
    except csv.Error as exc:
        return ParseError(number, ParseReason.BAD_CSV, f"bad CSV quoting: {exc}", text.encode())


def _row(number: int, header: list[str], cells: list[str]) -> Record | ParseError | None:
    width = len(header)
    if len(cells) > width and not any(cell.strip() for cell in cells[width:]):
        cells = cells[:width]  # trailing empty cells, as spreadsheets export them
    if len(cells) != width:
        message = f"{len(cells)} cells where the header has {width}"
        return ParseError(number, ParseReason.WRONG_COLUMN_COUNT, message, _by_column(header, cells))
    row: Record = {name: cell for name, cell in zip(header, cells, strict=True) if cell.strip()}
    return row or None


def _by_column(header: list[str], cells: list[str]) -> dict[str, object]:
    """Cells under their column names (extra ones as `_extra_<n>`), so redaction knows which are personal."""
    named: dict[str, object] = dict(zip(header, cells, strict=False))
    named.update({f"_extra_{index}": cell for index, cell in enumerate(cells[len(header) :], 1)})
    return named
