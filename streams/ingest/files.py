"""File ingest: `riskalert ingest alerts|events FILE|-` and `riskalert history load FILE`."""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import IO

from streams.codec import default_codec
from streams.ingest.gateway import Gateway, Position, RecordKind, Summary
from streams.ingest.readers import read_records
from streams.producer import CheckedProducer
from streams.settings import Settings

PROGRESS_EVERY_RECORDS = 2000
Progress = Callable[[int], None]


def ingest_file(
    settings: Settings,
    kind: RecordKind,
    source: str,
    *,
    fmt: str | None = None,
    progress: Progress | None = None,
) -> Summary:
    """Ingest every record of a file (or `-` for stdin); returns once every record is confirmed.

    Args:
        settings: where to produce.
        kind: what the file holds.
        source: a path, or `-` for standard input.
        fmt: `jsonl` or `csv`; None detects it from the name or the first line.
        progress: called with the bytes read so far, every few thousand records.

    Raises:
        ProduceError: if Kafka did not confirm every record (nothing is reported as accepted then).
        IngestError: for an unknown format.
        OSError: if the file cannot be opened.
    """
    producer = CheckedProducer(settings)
    gateway = Gateway(settings, producer, default_codec(), kind, channel="file")
    name = "-" if source == "-" else Path(source).name
    with ExitStack() as stack:
        stream: IO[bytes] = sys.stdin.buffer if source == "-" else stack.enter_context(open(source, "rb"))
        for count, (line, item) in enumerate(read_records(stream, fmt=fmt, name=name), start=1):
            gateway.submit(item, Position(name, line))
            if progress is not None and count % PROGRESS_EVERY_RECORDS == 0:
                progress(_tell(stream))
        producer.flush()
        if progress is not None:
            progress(_tell(stream))
    return gateway.summary


def _tell(stream: IO[bytes]) -> int:
    try:
        return stream.tell()
    except OSError:  # a pipe has no position
        return 0
