"""The stream order: the files' lines merged by their own time. The demo produces records in this
order, and the ground truth replays the same order, so both see one sequence.

Each file is sorted by time; lines of equal time keep their file order, and at equal times victim
records come before warnings and warnings before events. A line whose time cannot be read (a
malformed one) takes the time of the line before it in its file.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from pathlib import Path

from streams.ingest.gateway import RecordKind

CHINA = timezone(timedelta(hours=8))
FILES = {
    "victims.jsonl": RecordKind.VICTIM,
    "alerts.jsonl": RecordKind.ALERT,
    "events.jsonl": RecordKind.EVENT,
}
TIME_FIELD = {RecordKind.VICTIM: "case_at", RecordKind.ALERT: "issued_at", RecordKind.EVENT: "occurred_at"}
_RANK = {kind: rank for rank, kind in enumerate(FILES.values())}


@dataclass(frozen=True, order=True)
class StreamLine:
    """One input line in stream order.

    Attributes:
        at_ms: its time in the stream.
        rank: victim records, warnings, events: the order among equal times.
        line: its 1-based line number in its file (dead letters name it).
        file: the file name.
        data: the line's bytes, without the newline.
    """

    at_ms: int
    rank: int
    line: int
    file: str
    data: bytes

    @property
    def kind(self) -> RecordKind:
        """What the line holds."""
        return FILES[self.file]


def stream_lines(directory: Path) -> Iterator[StreamLine]:
    """Every line of the simulation's files in `directory`, in stream order."""
    return heapq.merge(
        *(_file_lines(directory / name, name) for name in FILES if (directory / name).exists())
    )


def _file_lines(path: Path, name: str) -> Iterator[StreamLine]:
    kind = FILES[name]
    previous = 0
    with path.open("rb") as stream:
        for number, raw in enumerate(stream, start=1):
            data = raw.rstrip(b"\r\n")
            if not data.strip():
                continue
            previous = line_time(data, kind) or previous
            yield StreamLine(previous, _RANK[kind], number, name, data)


def line_time(data: bytes, kind: RecordKind) -> int | None:
    """The record's own time in epoch ms, or None when it cannot be read."""
    try:
        value = json.loads(data)[TIME_FIELD[kind]]
        if isinstance(value, int):
            return value
        text = str(value)
        if len(text) == 10:  # a bare date: midnight, China time
            return int(
                datetime.combine(datetime.fromisoformat(text).date(), time(), CHINA).timestamp() * 1000
            )
        parsed = datetime.fromisoformat(text)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=CHINA)
        return int(parsed.timestamp() * 1000)
    except (ValueError, TypeError, KeyError, IndexError):
        return None
