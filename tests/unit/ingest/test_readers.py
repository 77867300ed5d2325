"""Readers: JSON Lines and CSV streams to numbered records or parse errors, never an exception."""

from __future__ import annotations

import io
from typing import IO, cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.errors import IngestError
from streams.ingest.readers import ParseError, detect_format, read_records


def read(
    data: bytes, fmt: str | None = None, name: str | None = None, limit: int = 1024
) -> list[tuple[int, object]]:
    return list(read_records(io.BytesIO(data), fmt=fmt, name=name, max_record_bytes=limit))


def reasons(items: list[tuple[int, object]]) -> list[tuple[int, str]]:
    """(line, reason code or 'ok') for each item."""
    return [(line, item.reason_code if isinstance(item, ParseError) else "ok") for line, item in items]


# --- Format detection -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "first", "fmt"),
    [
        ("alerts.jsonl", b"source,level", "jsonl"),  # the name wins
        ("alerts.NDJSON", b"", "jsonl"),
        ("alerts.csv", b'{"a": 1}', "csv"),
        (None, b'  {"a": 1}', "jsonl"),
        (None, b'\xef\xbb\xbf{"a": 1}', "jsonl"),
        ("-", b"source,level", "csv"),
        (None, b"", "csv"),
    ],
)
def test_the_format_comes_from_the_name_else_the_first_character(
    name: str | None, first: bytes, fmt: str
) -> None:
    assert detect_format(name, first) == fmt


def test_detection_looks_past_blank_lines() -> None:
    assert reasons(read(b'\n\n  \n{"a": 1}\n')) == [(4, "ok")]


def test_an_unknown_format_override_fails_at_once() -> None:
    with pytest.raises(IngestError, match="xml"):
        read_records(io.BytesIO(b""), fmt="xml")


# --- JSON Lines -------------------------------------------------------------------------------------


def test_json_lines_give_one_record_per_line_with_its_number() -> None:
    data = b'\xef\xbb\xbf{"a": 1}\r\n\n{"b": "\xe5\xbc\xa0"}\n{"c": [1, {"d": null}]}'
    assert read(data) == [(1, {"a": 1}), (3, {"b": "张"}), (4, {"c": [1, {"d": None}]})]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b'{"a": 1', "bad_json"),
        (b"not json", "bad_json"),
        (b'{"a": NaN}', "bad_json"),
        (b'{"a": -Infinity}', "bad_json"),
        (b'{"a": 1} {"b": 2}', "bad_json"),
        (b'{"a": ' + b"1" * 5000 + b"}", "bad_json"),  # Python refuses int literals this long
        (b"[1, 2]", "not_an_object"),
        (b'"text"', "not_an_object"),
        (b"null", "not_an_object"),
        (b'{"a": "\xff\xfe"}', "decode_error"),
        (b'{"a": "\xed\xa0\x80"}', "decode_error"),  # an encoded surrogate is not UTF-8
        (b'{"a": ' + b"[" * 17 + b"]" * 17 + b"}", "too_deep"),
        (b'{"a": ' + b"[" * 500 + b"]" * 500 + b"}", "too_deep"),
        (b"[" * 1000, "too_deep"),  # unclosed, but the nesting is found first
    ],
)
def test_each_bad_json_line_is_an_error_and_reading_goes_on(line: bytes, reason: str) -> None:
    items = read(b'{"ok": 1}\n' + line + b'\n{"ok": 2}\n', fmt="jsonl", limit=100_000)
    assert reasons(items) == [(1, "ok"), (2, reason), (3, "ok")]
    error = items[1][1]
    assert isinstance(error, ParseError)
    assert str(error).startswith("line 2: ")


def test_sixteen_levels_of_nesting_are_fine() -> None:
    assert reasons(read(b'{"a": ' + b"[" * 15 + b"]" * 15 + b"}")) == [(1, "ok")]


def test_deep_nesting_beyond_the_recursion_limit_is_an_error() -> None:
    line = b"[" * 200_000 + b"]" * 200_000
    assert reasons(read(line, fmt="jsonl", limit=1_000_000)) == [(1, "too_deep")]


def test_a_line_over_the_limit_is_skipped_without_holding_it() -> None:
    huge = b'{"a": "' + b"x" * 10_000 + b'"}'
    items = read(b'{"ok": 1}\n' + huge + b'\n{"ok": 2}\n', limit=1024)
    assert reasons(items) == [(1, "ok"), (2, "record_too_large"), (3, "ok")]
    error = items[1][1]
    assert isinstance(error, ParseError)
    assert isinstance(error.payload, bytes)
    assert len(error.payload) <= 4096


def test_the_limit_counts_the_record_not_its_line_ending() -> None:
    exact = b'{"a": "' + b"x" * 1015 + b'"}'
    assert len(exact) == 1024
    assert reasons(read(exact + b"\n" + exact, limit=1024)) == [(1, "ok"), (2, "ok")]
    assert reasons(read(exact + b"\r\n" + exact + b"\r\n", limit=1024)) == [(1, "ok"), (2, "ok")]
    assert reasons(read(exact + b"x\n", fmt="jsonl", limit=1024)) == [(1, "record_too_large")]


class CountingStream(io.RawIOBase):
    """An endless stream of records that counts the bytes handed out."""

    def __init__(self, line: bytes) -> None:
        self.line = line
        self.handed_out = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]  # bytearray-compatible
        chunk = (self.line * (len(buffer) // len(self.line) + 1))[: len(buffer)]
        buffer[: len(chunk)] = chunk
        self.handed_out += len(chunk)
        return len(chunk)


def test_reading_is_lazy_and_streams() -> None:
    raw = CountingStream(b'{"a": 1}\n')
    records = read_records(cast(IO[bytes], io.BufferedReader(raw)), name="endless.jsonl")
    for _ in range(10):
        next(records)
    assert raw.handed_out < 64 * 1024  # an endless input is read a buffer at a time


# --- CSV ----------------------------------------------------------------------------------------------


def test_csv_rows_become_records_keyed_by_the_header() -> None:
    data = (
        "\ufeffSource , source_alert_id,name,note\r\n"
        'JZZ,1,张三,"hello, ""world"""\r\n'
        "\r\n"
        'JZZ,2,,"two\nlines"\r\n'
        ",,,\r\n"
        "JZZ,3,李四,plain,,\r\n"
    ).encode()
    assert read(data, name="alerts.csv") == [
        (2, {"source": "JZZ", "source_alert_id": "1", "name": "张三", "note": 'hello, "world"'}),
        (4, {"source": "JZZ", "source_alert_id": "2", "note": "two\nlines"}),  # an empty cell is absent
        (7, {"source": "JZZ", "source_alert_id": "3", "name": "李四", "note": "plain"}),  # trailing empties
    ]


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (b"JZZ,1", "wrong_column_count"),
        (b"JZZ,1,x,y", "wrong_column_count"),
        (b'JZZ,"1"x,y', "bad_csv"),
        (b"JZZ,\xff,x", "decode_error"),
    ],
)
def test_each_bad_csv_row_is_an_error_and_reading_goes_on(row: bytes, reason: str) -> None:
    items = read(b"a,b,c\nJZZ,0,x\n" + row + b"\nJZZ,2,x\n", fmt="csv")
    assert reasons(items) == [(2, "ok"), (3, reason), (4, "ok")]


def test_a_bad_row_keeps_its_cells_by_column_for_redaction() -> None:
    items = read("source,name,phone\nJZZ,张三,13812345678,extra\n".encode())
    error = items[0][1]
    assert isinstance(error, ParseError)
    assert error.payload == {"source": "JZZ", "name": "张三", "phone": "13812345678", "_extra_1": "extra"}
    assert "13812345678" not in repr(error)  # the payload stays out of logs


def test_a_stray_quote_inside_a_cell_does_not_swallow_the_next_lines() -> None:
    items = read(b'a,b\nx,say "hi\ny,z\n', fmt="csv")
    assert [item for _, item in items][1:] == [{"a": "y", "b": "z"}]


def test_an_unclosed_quote_is_an_error_at_the_end_or_at_the_limit() -> None:
    assert reasons(read(b'a,b\nx,"open\nmore\n', fmt="csv")) == [(2, "bad_csv")]
    long_open = b'a,b\nx,"open\n' + b"more\n" * 400 + b'",y\nok,1\n'
    assert reasons(read(long_open, fmt="csv", limit=1024))[0] == (2, "record_too_large")


@pytest.mark.parametrize(
    "header",
    [b"a,,c", b"a,b,A", b"\xff,b", b'"a,b', b"x" * 2000],
)
def test_a_bad_header_is_one_error_and_ends_the_input(header: bytes) -> None:
    items = read(header + b"\n1,2,3\n4,5,6\n", fmt="csv")
    assert reasons(items) in ([(1, "bad_header")], [(1, "record_too_large")])
    assert len(items) == 1


def test_an_empty_input_has_no_records() -> None:
    assert read(b"") == []
    assert read(b"\n\n", fmt="csv") == []
    assert read(b"a,b\n", fmt="csv") == []


# --- Fuzzing ------------------------------------------------------------------------------------------


def _check_items(items: list[tuple[int, object]]) -> None:
    lines = [line for line, _ in items]
    assert lines == sorted(lines)
    for line, item in items:
        assert line >= 1
        assert isinstance(item, dict | ParseError)
        if isinstance(item, ParseError):
            assert item.line == line
            assert item.reason_code
            assert item.message


@given(data=st.binary(max_size=2000), fmt=st.sampled_from([None, "jsonl", "csv"]))
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_random_bytes_never_raise(data: bytes, fmt: str | None) -> None:
    _check_items(read(data, fmt=fmt, limit=256))


_PIECES = st.sampled_from(
    [
        b"{",
        b"}",
        b"[",
        b"]",
        b'"',
        b",",
        b":",
        b"\n",
        b"\r\n",
        b"\\",
        b"a",
        b"1",
        b"NaN",
        b"null",
        b"\xef\xbb\xbf",
        b"\xff",
        b"\xe5\xbc\xa0",
        b"\x00",
        b" ",
        b'"a":',
        b"'; DROP TABLE x; --",
        b"%s%n",
    ]
)


@given(pieces=st.lists(_PIECES, max_size=200), fmt=st.sampled_from(["jsonl", "csv"]))
@settings(max_examples=300)
def test_structured_garbage_never_raises(pieces: list[bytes], fmt: str) -> None:
    _check_items(read(b"".join(pieces), fmt=fmt, limit=128))
