"""Stream a simulation into the pipeline through ingest, in stream order, accelerated.

Every line goes through the same validation, pseudonymisation and dead-lettering as
`riskalert ingest` (a `Gateway` per record kind, dead letters naming the file and line), one line at
a time in `streams.sim.order`'s order. Victim records dated before the simulated period (the
history) go first, as a batch; the period then plays at `speed` simulated seconds per wall second,
and the tail after it (late feedback, the run-out) ten times faster; warnings go a second ahead (see
`Feeder.schedule`). No pause is longer than `MAX_PAUSE_SECONDS`, so no input topic of the workers
falls idle in the middle of the stream.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from streams.codec import default_codec
from streams.ingest.gateway import Gateway, Position, RecordKind, RecordProcessor, partitions_for
from streams.producer import CheckedProducer
from streams.settings import Settings
from streams.sim.order import TIME_FIELD, StreamLine, line_time, stream_lines

MAX_PAUSE_SECONDS = 0.25
TAIL_SPEEDUP = 10.0
WARNING_LEAD_SECONDS = 1.0
PROGRESS_SECONDS = 0.5


@dataclass
class FeedProgress:
    """What has been fed so far."""

    accepted: Counter[str] = field(default_factory=Counter)
    rejected: int = 0
    simulated_ms: int = 0
    # Live mode: when the first warning after the period was stamped (the period's end in wall time).
    period_end_stamp_ms: int | None = None
    total_lines: int = 0
    lines_done: int = 0


class Feeder:
    """Produces a simulation's lines through ingest, tracking what was accepted and rejected."""

    def __init__(self, settings: Settings, directory: Path) -> None:
        # A short linger: the demo shows records moving, not the last word in batching.
        self.producer = CheckedProducer(settings, **{"linger.ms": 5})
        codec = default_codec()
        self.gateways = {
            kind: Gateway(
                self.producer,
                RecordProcessor(settings, codec, kind, "file", partitions_for(settings, self.producer, kind)),
            )
            for kind in RecordKind
        }
        self.lines = list(stream_lines(directory))
        self.progress = FeedProgress(total_lines=len(self.lines))

    def history(self, before_ms: int) -> int:
        """Feed every line dated before `before_ms` at once; returns how many were accepted."""
        history = [line for line in self.lines if line.at_ms < before_ms]
        self.lines = self.lines[len(history) :]
        accepted_before = sum(self.progress.accepted.values())
        for line in history:
            self._feed(line)
        self.producer.flush()
        return sum(self.progress.accepted.values()) - accepted_before

    def stream(
        self,
        speed: float,
        period_end_ms: int,
        on_progress: Callable[[FeedProgress], None],
        retime: bool = False,
    ) -> None:
        """Feed the remaining lines paced by their time, calling `on_progress` a few times a second.

        Args:
            speed: simulated seconds per wall-clock second.
            period_end_ms: where the simulated period ends and the faster tail begins.
            on_progress: called with the progress.
            retime: stamp each record with the wall-clock instant it is fed instead of its simulated
                time (live mode: the SLA clock is the wall clock).
        """
        last_report = 0.0
        started = time.monotonic()
        for offset, _, line in self.schedule(speed, period_end_ms):
            # Sleeping until each line's slot (not for the gap) absorbs the time spent validating,
            # producing and drawing, so the stream takes the time asked for.
            wait = started + offset - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            if retime:
                stamp = time.time_ns() // 1_000_000
                after = line.kind is RecordKind.ALERT and line.at_ms >= period_end_ms
                if after and self.progress.period_end_stamp_ms is None:
                    self.progress.period_end_stamp_ms = stamp
                line = retimed(line, stamp)
            self._feed(line)
            if time.monotonic() - last_report >= PROGRESS_SECONDS:
                last_report = time.monotonic()
                on_progress(self.progress)
        self.producer.flush()
        on_progress(self.progress)

    def schedule(self, speed: float, period_end_ms: int) -> list[tuple[float, int, StreamLine]]:
        """(wall-clock offset in seconds, sequence, line) of the remaining lines, in feeding order.

        A line's slot follows its time at `speed` (the tail after `period_end_ms` `TAIL_SPEEDUP` times
        faster), no gap longer than `MAX_PAUSE_SECONDS`. Warnings go `WARNING_LEAD_SECONDS` ahead of
        their slot: at hundreds of times real speed, a station's first event comes milliseconds after
        the warning, less than the pipeline takes to turn the warning into a task, and the resolver
        would hold most events. Real warnings come minutes ahead; the lead keeps that order without
        changing any record.
        """
        slots: list[tuple[float, int, StreamLine]] = []
        offset = 0.0
        previous_ms = self.lines[0].at_ms if self.lines else 0
        for sequence, line in enumerate(self.lines):
            pace = speed if line.at_ms < period_end_ms else speed * TAIL_SPEEDUP
            offset += min((line.at_ms - previous_ms) / 1000 / pace, MAX_PAUSE_SECONDS)
            previous_ms = line.at_ms
            lead = WARNING_LEAD_SECONDS if line.kind is RecordKind.ALERT else 0.0
            slots.append((offset - lead, sequence, line))
        return sorted(slots, key=lambda slot: (slot[0], slot[1]))

    def _feed(self, line: StreamLine) -> None:
        """Validate and produce one line, counting it; the simulated clock follows the file's times."""
        gateway = self.gateways[line.kind]
        rejected_before = sum(gateway.summary.rejected.values())
        gateway.submit(line.data, Position(line.file, line.line))
        if sum(gateway.summary.rejected.values()) > rejected_before:
            self.progress.rejected += 1
        else:
            self.progress.accepted[line.kind.value] += 1
        self.progress.simulated_ms = max(self.progress.simulated_ms, line.at_ms)
        self.progress.lines_done += 1


def retimed(line: StreamLine, now_ms: int) -> StreamLine:
    """The line with its record's time field set to `now_ms`.

    A line that is not JSON, or whose time does not read (a malformed line), stays as it is: it must
    still be dead-lettered.
    """
    if line_time(line.data, line.kind) is None:
        return line
    record = json.loads(line.data)
    record[TIME_FIELD[line.kind]] = now_ms
    return replace(line, data=json.dumps(record, ensure_ascii=False).encode())
