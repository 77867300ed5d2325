"""What a simulation is: its configuration, its lines, and the time helpers the files use."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

CHINA = timezone(timedelta(hours=8))
SECOND_MS = 1000


@dataclass(frozen=True)
class SimConfig:
    """What to simulate.

    Attributes:
        days: how many days of warnings.
        seed: the random seed; the same configuration gives the same files.
        start: the first day (China time).
        cases_per_day: people warned per day, on average (±10 % per day).
        malformed_rate: the share of lines, per file, that are malformed on purpose.
        stations: how many police stations the district has.
    """

    days: int
    seed: int
    start: date
    cases_per_day: int = 600
    malformed_rate: float = 0.005
    stations: int = 12

    @property
    def start_ms(self) -> int:
        """Midnight of the first day, China time, in epoch ms."""
        return int(datetime.combine(self.start, time(), CHINA).timestamp()) * 1000

    @property
    def end_ms(self) -> int:
        """Midnight after the last day."""
        return self.start_ms + self.days * 86_400_000

    def as_json(self) -> dict[str, Any]:
        """The configuration as written to expected.json."""
        return {
            "days": self.days,
            "seed": self.seed,
            "start": self.start.isoformat(),
            "cases_per_day": self.cases_per_day,
            "malformed_rate": self.malformed_rate,
            "stations": self.stations,
        }


@dataclass
class Line:
    """One input line: its time in the stream and its record, or raw text for a malformed line.

    Attributes:
        at_ms: the record's own time (issued_at, occurred_at, case_at): where it falls in the stream.
        record: the JSON object written.
        raw: the text written instead, for a line that is not JSON.
        malformed: for a malformed line, which defect it has (a `calibration.MALFORMED_*` kind).
    """

    at_ms: int
    record: dict[str, Any] | None
    raw: str | None = None
    malformed: str | None = None

    def text(self) -> str:
        """The line as written (no newline)."""
        if self.raw is not None:
            return self.raw
        return json.dumps(self.record, ensure_ascii=False)


@dataclass
class Simulation:
    """The generated lines of each file, each sorted by time."""

    config: SimConfig
    alerts: list[Line] = field(default_factory=list)
    events: list[Line] = field(default_factory=list)
    victims: list[Line] = field(default_factory=list)

    def files(self) -> dict[str, list[Line]]:
        """File name -> lines."""
        return {"victims.jsonl": self.victims, "alerts.jsonl": self.alerts, "events.jsonl": self.events}


def default_start(days: int) -> date:
    """The default first day: far enough back that every event (up to 60 h after its warning) is past."""
    today = datetime.now(CHINA).date()
    return today - timedelta(days=days + 3)


def iso(epoch_ms: int) -> str:
    """China time with its offset, to the second: `2025-03-01T09:15:23+08:00`."""
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).astimezone(CHINA).isoformat(timespec="seconds")
