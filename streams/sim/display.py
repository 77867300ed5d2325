"""The demo's live view: what went in, what the workers did with it, read from their /metrics."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

from rich.console import Group
from rich.table import Table
from rich.text import Text

from streams.sim.feed import FeedProgress
from streams.sim.processes import metric

CHINA = timezone(timedelta(hours=8))
STEPS = ("reception", "dispatch", "verification", "feedback")


@dataclass
class Throughput:
    """Records per second over the last few seconds."""

    window_seconds: float = 3.0
    samples: list[tuple[float, int]] = field(default_factory=list)

    def rate(self, done: int) -> float:
        now = time.monotonic()
        self.samples.append((now, done))
        self.samples = [(at, count) for at, count in self.samples if now - at <= self.window_seconds]
        first_at, first_count = self.samples[0]
        return (done - first_count) / (now - first_at) if now > first_at else 0.0


def live_view(
    progress: FeedProgress, worker: Mapping[str, float], sink: Mapping[str, float], rate: float
) -> Group:
    """The live display: the feed, warnings and tasks, open tasks by stage, breaches, pages, DLQ."""
    clock = datetime.fromtimestamp(progress.simulated_ms / 1000, tz=UTC).astimezone(CHINA)
    head = Text.from_markup(
        f"[bold]simulated time[/bold] {clock:%Y-%m-%d %H:%M} (China)   "
        f"[bold]fed[/bold] {progress.lines_done}/{progress.total_lines} lines   "
        f"[bold]throughput[/bold] {rate:,.0f} records/s"
    )
    flow = Table(title="pipeline", title_justify="left", show_header=True)
    for column in ("warnings in", "new tasks", "merged", "re-deliveries", "task events in", "sink rows"):
        flow.add_column(column, justify="right")
    flow.add_row(
        str(progress.accepted["alert"]),
        _n(metric(worker, "riskalert_alerts_total", outcome="new")),
        _n(metric(worker, "riskalert_alerts_total", outcome="merged")),
        _n(metric(worker, "riskalert_alerts_total", outcome="duplicate")),
        str(progress.accepted["event"]),
        _n(metric(sink, "riskalert_sink_rows_total")),
    )
    stages = Table(title="open tasks by stage (waiting for ...)", title_justify="left")
    tasks = metric(worker, "riskalert_alerts_total", outcome="new")
    done = {step: _completed(worker, step) for step in STEPS}
    for column in ("reception", "dispatch", "verification", "feedback", "open (pager)"):
        stages.add_column(column, justify="right")
    stages.add_row(
        _n(tasks - done["reception"]),
        _n(done["reception"] - done["dispatch"]),
        _n(done["dispatch"] - done["verification"]),
        # Re-feedback cycles add feedback completions: the count can dip below zero, shown as 0.
        _n(done["verification"] - done["feedback"]),
        _n(metric(worker, "riskalert_open_tasks")),
    )
    alarms = Table(title="SLA", title_justify="left")
    for column in (*(f"breached: {step}" for step in STEPS), "pages sent", "dead letters"):
        alarms.add_column(column, justify="right")
    dead = progress.rejected + metric(worker, "riskalert_dead_letters_total")
    alarms.add_row(
        *(
            _n(metric(worker, "riskalert_sla_events_total", kind="BREACHED", step=step.upper()))
            for step in STEPS
        ),
        _n(metric(worker, "riskalert_pages_total", outcome="sent")),
        _n(dead),
    )
    return Group(head, flow, stages, alarms)


def _completed(worker: Mapping[str, float], step: str) -> float:
    name = "riskalert_sla_events_total"
    return metric(worker, name, kind="MET", step=step.upper()) + metric(
        worker, name, kind="MET_LATE", step=step.upper()
    )


def _n(value: float) -> str:
    return f"{max(value, 0):,.0f}"
