"""Generate a seeded warning stream: cases, their warnings, the stations' events, victim records.

A *case* is one person in trouble on one day. One or more sources warn about them within minutes
(cross-source duplicates), some warnings are delivered twice, and the station signs for, dispatches,
verifies and feeds back on each warning instruction it was sent, addressing every event by the
warning's own (source, source_alert_id): the `alert_ref` of docs/input-format.md.

Two warnings of one case become one riskalert task only when ingest gives them the same person key
(the ID number wins over the phone), so a case whose sources know different identifiers is several
tasks, each with its own lifecycle, as on a real platform. The simulator keeps away from inputs whose
result would depend on the pipeline's timing rather than on the data (see
`streams.sim.lifecycle.GUARD_SECONDS`); the ground truth (`streams.sim.truth`) then follows from the
records alone.

This module draws the cases and the people and runs the stream out past the period; `sources` makes
the warnings and alert lines, `lifecycle` the stations' events, `victims` the victim case records.
Everything is drawn from one `random.Random(seed)` in a fixed order: the same configuration gives
byte-identical files.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from streams.sim import calibration as cal
from streams.sim import details, lifecycle, sources, victims
from streams.sim.model import CHINA, SECOND_MS, Line, SimConfig, Simulation, iso
from streams.sim.people import Person, person
from streams.sim.sources import SourceWarning

# After the period, warnings go on (handled on time) until the period's last events are past, plus
# a margin far above the replay's allowed lateness: see `_Generator._run_out`.
RUN_OUT_MARGIN_SECONDS = 12 * 3600
RUN_OUT_SECONDS = cal.MAX_LIFECYCLE_SECONDS + RUN_OUT_MARGIN_SECONDS
RUN_OUT_CASES_PER_HOUR = 4
# A person warned again on a later day: only after the last warning's merge window (24 h by default)
# and an hour after their previous case's last event, so the new warning opens a task whatever the
# pipeline's timing.
REWARN_AFTER_SECONDS = 26 * 3600


@dataclass
class _Known:
    """What the generator remembers about a person already warned."""

    person: Person
    last_warned_ms: int
    busy_until_ms: int
    victimised: bool = False
    prior_victim: bool = False


def simulate(config: SimConfig) -> Simulation:
    """Generate the whole stream for `config` (deterministic)."""
    if config.days < 1 or config.cases_per_day < 1 or config.stations < 1:
        raise ValueError("days, cases per day and stations must be at least 1")
    if not 0 <= config.malformed_rate < 1:
        raise ValueError("the malformed rate is a fraction in [0, 1)")
    return _Generator(config).run()


class _Generator:
    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)  # noqa: S311  # synthetic data: reproducible, not secret
        self.stations = cal.stations(config.stations)
        self.sim = Simulation(config)
        self.sequence: Counter[str] = Counter()
        self.known: list[_Known] = []

    def run(self) -> Simulation:
        for day in range(self.config.days):
            for created_ms in self._case_times(day):
                self._case(created_ms)
        self._run_out()
        for lines in self.sim.files().values():
            lines.sort(key=lambda line: line.at_ms)
        rate = self.config.malformed_rate
        details.insert_malformed(self.rng, self.sim.alerts, rate, cal.MALFORMED_ALERT_KINDS, self._bad_alert)
        details.insert_malformed(
            self.rng, self.sim.events, rate, cal.MALFORMED_EVENT_KINDS, details.bad_event
        )
        return self.sim

    def _case_times(self, day: int) -> list[int]:
        rng = self.rng
        count = max(1, round(self.config.cases_per_day * rng.uniform(0.9, 1.1)))
        day_ms = self.config.start_ms + day * 86_400_000
        hours = rng.choices(range(24), weights=cal.HOUR_WEIGHTS, k=count)
        return sorted(day_ms + hour * 3_600_000 + rng.randrange(3600) * SECOND_MS for hour in hours)

    def _case(self, created_ms: int) -> None:
        rng = self.rng
        station = rng.choices(self.stations, weights=[s.volume for s in self.stations])[0]
        known = self._person(created_ms)
        fraud = cal.choose(rng, cal.FRAUD_MIX)
        primary = cal.choose(rng, cal.SOURCE_MIX)
        warnings = sources.case_warnings(rng, self.sequence, primary, created_ms, known.person)
        amount_yuan = sources.amount_at_risk_yuan(rng, primary, fraud)
        village = rng.randrange(len(station.villages))
        place = {
            "village": station.villages[village],
            "grid_area": cal.grid_area(station, village, rng.randint(1, 12)),
        }
        for warning in warnings:
            self.sim.alerts.extend(
                sources.alert_lines(rng, warning, fraud, station, amount_yuan, place, known.person)
            )
        groups: dict[str, list[SourceWarning]] = {}
        for warning in warnings:
            groups.setdefault(warning.person_group, []).append(warning)
        outcomes = lifecycle.feedback_outcomes(rng)
        last_ms = created_ms
        for group in groups.values():
            events = lifecycle.lifecycle(rng, group, station, known.prior_victim, amount_yuan, outcomes)
            self.sim.events.extend(events)
            last_ms = max(last_ms, *(line.at_ms for line in events))
        known.last_warned_ms = warnings[-1].at_ms
        known.busy_until_ms = last_ms
        self._maybe_victimised(known, outcomes[-1], last_ms, fraud, station)

    def _person(self, created_ms: int) -> _Known:
        rng = self.rng
        if created_ms >= self.config.start_ms + 86_400_000 and rng.random() < cal.REWARNED_RATE:
            eligible = [
                known
                for known in self.known
                if not known.victimised
                and known.last_warned_ms <= created_ms - REWARN_AFTER_SECONDS * SECOND_MS
                and known.busy_until_ms <= created_ms - 3_600_000
            ]
            if eligible:
                return rng.choice(eligible)
        on = datetime.fromtimestamp(created_ms / 1000, tz=CHINA).date()
        known = _Known(person(rng, on), created_ms, created_ms)
        if rng.random() < cal.PRIOR_VICTIM_RATE:
            known.prior_victim = True
            self.sim.victims.extend(victims.past_cases(rng, self.sequence, known.person, on))
        elif rng.random() < cal.RELATIVE_OF_VICTIM_RATE:
            relative = person(rng, on)
            relative.relatives.append(known.person)
            self.sim.victims.extend(victims.past_cases(rng, self.sequence, relative, on))
        self.known.append(known)
        return known

    def _run_out(self) -> None:
        """Warnings after the period, each handled on time, until every period task's last event is past.

        A stream does not stop at midnight, and replay needs it not to: each partition's stream time
        is its latest input's time less the allowed lateness, so the period's last events are only
        applied once later records arrive on every partition. These cases are outside the period
        (expected.json counts the tasks created in it) and never breach: each is signed for,
        dispatched, verified and fed back within minutes.
        """
        rng = self.rng
        start = self.config.end_ms
        end = start + RUN_OUT_SECONDS * SECOND_MS
        at = start
        while True:
            at += round(rng.expovariate(RUN_OUT_CASES_PER_HOUR / 3600) * SECOND_MS)
            if at >= end:
                return
            self._run_out_case(at)

    def _run_out_case(self, at: int) -> None:
        """One run-out warning at `at`, LOW and signed for, dispatched, verified and fed back on time."""
        rng = self.rng
        station = rng.choices(self.stations, weights=[s.volume for s in self.stations])[0]
        on = datetime.fromtimestamp(at / 1000, tz=CHINA).date()
        who = person(rng, on)
        warning = sources.warning(rng, self.sequence, "JZZ", at, who)
        warning.identifiers = {"id_number": who.id_number, "phone": who.phone}
        warning.level = "LOW"
        place = {"village": station.villages[0]}
        self.sim.alerts.extend(sources.alert_lines(rng, warning, "OTHER", station, 0.0, place, who))
        steps: list[tuple[str, int, dict[str, Any]]] = [
            ("RECEIVED", 30, {}),
            ("DISPATCHED", 120, details.assignee(rng, station, "LOW")),
            ("VERIFIED", 600, details.verification(rng, "LOW", False)),
            ("FEEDBACK", 1800, details.feedback(rng, "NO_RISK", 0.0)),
        ]
        for kind, delay_seconds, detail in steps:
            event_at = at + (delay_seconds + rng.randint(0, 60)) * SECOND_MS
            record = {"alert_ref": warning.ref, "type": kind, "occurred_at": iso(event_at), **detail}
            self.sim.events.append(Line(event_at, record))

    def _bad_alert(self, model: Line, kind: str) -> Line:
        self.sequence["bad"] += 1
        return details.bad_alert(self.rng, model, kind, f"BAD-{self.sequence['bad']:05d}")

    def _maybe_victimised(
        self, known: _Known, outcome: str, last_ms: int, fraud: str, station: cal.StationProfile
    ) -> None:
        """A case filed hours after the warning: post-warning victimisation (预后被骗)."""
        if self.rng.random() >= cal.VICTIMISED_AFTER.get(outcome, 0.0):
            return
        known.victimised = True
        line = victims.case_after_warning(self.rng, self.sequence, known.person, last_ms, fraud, station)
        self.sim.victims.append(line)
        known.busy_until_ms = max(known.busy_until_ms, line.at_ms)
