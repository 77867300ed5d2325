"""A task's life at its station: the feedback outcomes, the step times, and the events the station sends.

The station signs for, dispatches, verifies and feeds back on each task, addressing every event by a
warning's own (source, source_alert_id). Step times keep clear of merges (see `GUARD_SECONDS`), so the
ground truth follows from the records alone. Every function draws from the generator's `random.Random`
in a fixed order, so a seed gives the same events.
"""

from __future__ import annotations

import random
from typing import Any

from streams.sim import calibration as cal
from streams.sim import details
from streams.sim.model import SECOND_MS, Line, iso
from streams.sim.sources import SourceWarning

# No step event of a task falls within this of a later warning that joins it (a merge), and no
# feedback within FEEDBACK_AFTER_MERGE_SECONDS after one. In replay, a merge (on `tasks`) and a step
# event (on `tasks.events`) travel on different topics and may be applied in either order when they
# are seconds apart; a merge that raises the level shortens the open deadlines, so the order would
# decide MET against MET_LATE. Real data has such races too; a self-checking demo must not.
GUARD_SECONDS = 180
FEEDBACK_AFTER_MERGE_SECONDS = 600

# An event before it is a line: its time, its type and its details.
_Event = tuple[int, str, dict[str, Any]]


def feedback_outcomes(rng: random.Random) -> list[str]:
    """The feedback outcomes of the case's rounds: one, or two when the centre asks again."""
    first = "NO_RISK" if rng.random() < cal.NO_RISK_RATE else cal.choose(rng, cal.CONFIRMED_OUTCOMES)
    if first == "UNREACHABLE":
        return [first, cal.choose(rng, cal.SECOND_ROUND_OUTCOMES)]
    if rng.random() < cal.REFEEDBACK_RATE:
        return [first, first]
    return [first]


def lifecycle(
    rng: random.Random,
    group: list[SourceWarning],
    station: cal.StationProfile,
    prior_victim: bool,
    amount_yuan: float,
    outcomes: list[str],
) -> list[Line]:
    """The station's events for one task (warnings ingest keys alike), as events.jsonl lines."""
    level = _urgency(group, prior_victim)
    received, dispatched, verified, fed_back = _step_times(rng, group, station, level)
    events = _reception_and_dispatch(rng, group, station, level, received, dispatched)
    fund = any(w.source in ("MPS_FUND", "BANK") for w in group)
    events.append((verified, "VERIFIED", details.verification(rng, level, fund)))
    events.append((fed_back, "FEEDBACK", details.feedback(rng, outcomes[0], amount_yuan)))
    events.extend(_protective_measure(rng, fed_back, outcomes[0], fund))
    if len(outcomes) > 1:
        limit = group[0].at_ms + cal.MAX_LIFECYCLE_SECONDS * SECOND_MS
        median = cal.STEP_MEDIAN_SECONDS[level][3]
        events.extend(_second_round(rng, fed_back, limit, median, outcomes[1], amount_yuan, fund))
    return _lines(rng, group, station, events)


def _urgency(group: list[SourceWarning], prior_victim: bool) -> str:
    """The level a station sees: the highest warning's, one step up for a prior victim."""
    level = min(group, key=lambda warning: cal.LEVELS.index(warning.level)).level
    if prior_victim and "id_number" in group[0].identifiers:
        level = cal.LEVELS[max(0, cal.LEVELS.index(level) - 1)]
    return level


def _step_times(
    rng: random.Random, group: list[SourceWarning], station: cal.StationProfile, level: str
) -> list[int]:
    """When the station signs for, dispatches, verifies and feeds back: in order, clear of the merges."""
    created = group[0].at_ms
    steps: list[int] = []
    at = created
    for median in cal.STEP_MEDIAN_SECONDS[level]:
        at += max(5, round(rng.lognormvariate(0, cal.STEP_SIGMA) * median * station.slowness)) * SECOND_MS
        steps.append(at)
    merges = [warning.at_ms for warning in group[1:]]
    steps = _guarded(steps, merges, rng)
    limit = created + cal.MAX_LIFECYCLE_SECONDS * SECOND_MS
    feedback_floor = max(merges, default=created) + FEEDBACK_AFTER_MERGE_SECONDS * SECOND_MS
    steps[3] = min(max(steps[3], feedback_floor), limit - 12 * 3_600_000)
    for index in range(1, 4):  # clamping may have pulled feedback before verification
        steps[index] = max(steps[index], steps[index - 1] + SECOND_MS)
    return steps


def _guarded(steps: list[int], merges: list[int], rng: random.Random) -> list[int]:
    """Move step times out of the guard band around each merge, keeping them in order."""
    guard = GUARD_SECONDS * SECOND_MS
    moved: list[int] = []
    for at_ms in steps:
        if moved and at_ms <= moved[-1]:
            at_ms = moved[-1] + rng.randint(1, 30) * SECOND_MS
        # Each move goes forward past a merge, so this ends after at most one move per merge.
        while (near := next((m for m in merges if abs(at_ms - m) < guard), None)) is not None:
            at_ms = near + guard + rng.randint(1, 60) * SECOND_MS
        moved.append(at_ms)
    return moved


def _reception_and_dispatch(
    rng: random.Random,
    group: list[SourceWarning],
    station: cal.StationProfile,
    level: str,
    received: int,
    dispatched: int,
) -> list[_Event]:
    """The RECEIVED and DISPATCHED events, each of which a station sometimes leaves out."""
    events: list[_Event] = []
    if rng.random() >= cal.SKIP_RECEPTION_RATE:
        events.append((received, "RECEIVED", {}))
        signed_too = [w for w in group[1:] if w.at_ms + GUARD_SECONDS * SECOND_MS < received]
        if signed_too and rng.random() < 0.3:
            # The other platform's instruction is signed for too: recorded, counted once.
            ref = rng.choice(signed_too).ref
            events.append((received + rng.randint(20, 90) * SECOND_MS, "RECEIVED", {"alert_ref": ref}))
    if rng.random() >= cal.SKIP_DISPATCH_RATE:
        events.append((dispatched, "DISPATCHED", details.assignee(rng, station, level)))
    return events


def _protective_measure(rng: random.Random, fed_back: int, outcome: str, fund: bool) -> list[_Event]:
    """The PROTECTIVE_MEASURE that follows a REFUSED feedback within minutes; none after another outcome."""
    if outcome != "REFUSED":
        return []
    return [(fed_back + rng.randint(60, 600) * SECOND_MS, "PROTECTIVE_MEASURE", details.measure(rng, fund))]


def _second_round(
    rng: random.Random,
    fed_back: int,
    limit: int,
    median_seconds: float,
    outcome: str,
    amount_yuan: float,
    fund: bool,
) -> list[_Event]:
    """The centre asks for feedback again (REFEEDBACK_REQUESTED); the station feeds back by `limit`."""
    request = fed_back + rng.randint(600, 4 * 3600) * SECOND_MS
    second = request + max(60, round(rng.lognormvariate(0, 0.6) * median_seconds * 0.5)) * SECOND_MS
    second = min(second, limit)
    return [
        (request, "REFEEDBACK_REQUESTED", {"note": "请补充核查和劝阻情况"}),
        (second, "FEEDBACK", details.feedback(rng, outcome, amount_yuan)),
        *_protective_measure(rng, second, outcome, fund),
    ]


def _lines(
    rng: random.Random, group: list[SourceWarning], station: cal.StationProfile, events: list[_Event]
) -> list[Line]:
    """The events as lines from the station's system, each addressed to one of the task's warnings."""
    system = f"{station.code}-JW"
    lines = []
    for at_ms, kind, detail in events:
        ref = detail.pop("alert_ref", None) or _ref_for(rng, group, at_ms)
        record = {
            "alert_ref": ref,
            "type": kind,
            "occurred_at": iso(at_ms),
            "source_system": system,
            **detail,
        }
        lines.append(Line(at_ms, record))
    return lines


def _ref_for(rng: random.Random, group: list[SourceWarning], at_ms: int) -> dict[str, str]:
    """The instruction the station reports against: usually the first, else one it already had."""
    received = [w for w in group if w.at_ms + GUARD_SECONDS * SECOND_MS <= at_ms]
    if len(received) > 1 and rng.random() < 0.3:
        return rng.choice(received[1:]).ref
    return group[0].ref
