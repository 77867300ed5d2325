"""Generate a seeded warning stream: cases, their warnings, the stations' events, victim records.

A *case* is one person in trouble on one day. One or more sources warn about them within minutes
(cross-source duplicates), some warnings are delivered twice, and the station signs for, dispatches,
verifies and feeds back on each warning instruction it was sent, addressing every event by the
warning's own (source, source_alert_id): the `alert_ref` of docs/input-format.md.

Two warnings of one case become one riskalert task only when ingest gives them the same person key
(the ID number wins over the phone), so a case whose sources know different identifiers is several
tasks, each with its own lifecycle, as on a real platform. The simulator keeps away from inputs whose
result would depend on the pipeline's timing rather than on the data (see `GUARD_SECONDS`); the
ground truth (`streams.sim.truth`) then follows from the records alone.

Everything is drawn from one `random.Random(seed)` in a fixed order: the same configuration gives
byte-identical files.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from streams.sim import calibration as cal
from streams.sim import details
from streams.sim.model import CHINA, SECOND_MS, Line, SimConfig, Simulation, iso
from streams.sim.people import Person, person, spaced_phone

# No step event of a task falls within this of a later warning that joins it (a merge), and no
# feedback within FEEDBACK_AFTER_MERGE_SECONDS after one. In replay, a merge (on `tasks`) and a step
# event (on `tasks.events`) travel on different topics and may be applied in either order when they
# are seconds apart; a merge that raises the level shortens the open deadlines, so the order would
# decide MET against MET_LATE. Real data has such races too; a self-checking demo must not.
GUARD_SECONDS = 180
FEEDBACK_AFTER_MERGE_SECONDS = 600
# After the period, warnings go on (handled on time) until the period's last events are past, plus
# a margin far above the replay's allowed lateness: see `_Generator._run_out`.
RUN_OUT_MARGIN_SECONDS = 12 * 3600
RUN_OUT_SECONDS = cal.MAX_LIFECYCLE_SECONDS + RUN_OUT_MARGIN_SECONDS
RUN_OUT_CASES_PER_HOUR = 4
# A person warned again on a later day: only after the last warning's merge window (24 h by default)
# and an hour after their previous case's last event, so the new warning opens a task whatever the
# pipeline's timing.
REWARN_AFTER_SECONDS = 26 * 3600
ID_PREFIX = {
    "MPS_FUND": "MPS",
    "BANK": "BK",
    "JZZ": "JZZ",
    "NAC_APP": "NAC",
    "TELECOM": "TEL",
    "HOTLINE_96110": "96110",
    "CALL_110": "110",
}


@dataclass
class _Warning:
    source: str
    source_alert_id: str
    at_ms: int
    level: str
    identifiers: dict[str, str]

    @property
    def ref(self) -> dict[str, str]:
        return {"source": self.source, "source_alert_id": self.source_alert_id}

    @property
    def person_group(self) -> str:
        """What ingest will key the warning by: the ID number wins over the phone."""
        if "id_number" in self.identifiers:
            return "id:" + self.identifiers["id_number"]
        if "phone" in self.identifiers:
            return "phone:" + self.identifiers["phone"]
        return "anon:" + self.source + ":" + self.source_alert_id


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


def choose(rng: random.Random, weights: Mapping[str, float]) -> str:
    """One key, drawn with the given relative weights."""
    return rng.choices(list(weights), weights=list(weights.values()))[0]


class _Generator:
    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)  # noqa: S311  # synthetic data: reproducible, not secret
        self.stations = cal.stations(config.stations)
        self.sim = Simulation(config)
        self.sequence: Counter[str] = Counter()
        self.known: list[_Known] = []
        self.cases = 0

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

    # --- Cases ------------------------------------------------------------------------------------

    def _case_times(self, day: int) -> list[int]:
        rng = self.rng
        count = max(1, round(self.config.cases_per_day * rng.uniform(0.9, 1.1)))
        day_ms = self.config.start_ms + day * 86_400_000
        hours = rng.choices(range(24), weights=cal.HOUR_WEIGHTS, k=count)
        return sorted(day_ms + hour * 3_600_000 + rng.randrange(3600) * SECOND_MS for hour in hours)

    def _case(self, created_ms: int) -> None:
        rng = self.rng
        self.cases += 1
        station = rng.choices(self.stations, weights=[s.volume for s in self.stations])[0]
        known = self._person(created_ms)
        fraud = choose(rng, cal.FRAUD_MIX)
        primary = choose(rng, cal.SOURCE_MIX)
        warnings = [self._warning(primary, created_ms, known.person)]
        if rng.random() < cal.DUPLICATE_RATE:
            others = [source for source in cal.SOURCE_MIX if source != primary]
            count = 2 if rng.random() < cal.THIRD_SOURCE_RATE else 1
            for source in rng.sample(others, count):
                at = created_ms + rng.randint(*cal.DUPLICATE_DELAY_SECONDS) * SECOND_MS
                warnings.append(self._warning(source, at, known.person))
        warnings.sort(key=lambda warning: warning.at_ms)
        amount_yuan = self._amount(primary, fraud)
        village = rng.randrange(len(station.villages))
        place = {
            "village": station.villages[village],
            "grid_area": cal.grid_area(station, village, rng.randint(1, 12)),
        }
        for warning in warnings:
            self._alert_lines(warning, fraud, station, amount_yuan, place, known.person)
        groups: dict[str, list[_Warning]] = {}
        for warning in warnings:
            groups.setdefault(warning.person_group, []).append(warning)
        outcomes = self._outcome()
        last_ms = created_ms
        for group in groups.values():
            last_ms = max(last_ms, self._lifecycle(group, station, known, fraud, amount_yuan, outcomes))
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
            self._history(known.person, on)
        elif rng.random() < cal.RELATIVE_OF_VICTIM_RATE:
            relative = person(rng, on)
            relative.relatives.append(known.person)
            self._history(relative, on)
        self.known.append(known)
        return known

    def _history(self, victim: Person, on: date) -> None:
        """One or two past cases of the victim, naming one to three relatives."""
        rng = self.rng
        while len(victim.relatives) < rng.randint(1, 3):
            victim.relatives.append(person(rng, on))
        for _ in range(1 if rng.random() < 0.8 else 2):
            case_day = on - timedelta(days=rng.randint(180, 5 * 365))
            at_ms = int(datetime.combine(case_day, time(), CHINA).timestamp()) * 1000
            relatives: list[dict[str, str] | str] = [
                {"id_number": r.id_number} if rng.random() < 0.7 else {"phone": r.phone}
                for r in victim.relatives
            ]
            record = {
                "case_id": self._case_id(case_day),
                "id_number": victim.id_number,
                "phone": victim.phone,
                "name": victim.name,
                "relatives": relatives,
                "case_at": case_day.isoformat(),
                "loss_yuan": f"{rng.randint(800, 300_000)}.{rng.randrange(100):02d}",
                "fraud_type": choose(rng, cal.FRAUD_MIX),
            }
            self.sim.victims.append(Line(at_ms, record))

    def _case_id(self, on: date) -> str:
        self.sequence["case"] += 1
        return f"A{cal.REGION_CODE}{on:%Y%m%d}{self.sequence['case']:05d}"

    def _warning(self, source: str, at_ms: int, who: Person) -> _Warning:
        rng = self.rng
        self.sequence[source] += 1
        day = datetime.fromtimestamp(at_ms / 1000, tz=CHINA)
        alert_id = f"{ID_PREFIX[source]}-{day:%Y%m%d}-{self.sequence[source]:06d}"
        has_id, has_phone, has_name, _ = cal.SOURCE_IDENTIFIERS[source]
        identifiers = {}
        if rng.random() < has_id:
            identifiers["id_number"] = who.id_number
        if rng.random() < has_phone:
            identifiers["phone"] = who.phone
        if rng.random() < has_name:
            identifiers["name"] = who.name
        level = cal.LEVELS[rng.choices(range(4), weights=cal.LEVEL_MIX[source])[0]]
        return _Warning(source, alert_id, at_ms, level, identifiers)

    def _amount(self, source: str, fraud: str) -> float:
        rng = self.rng
        if source in ("MPS_FUND", "BANK") or fraud == "FAKE_INVESTMENT":
            return round(rng.lognormvariate(10.0, 1.1), 2)  # median ~22,000 yuan
        return round(rng.lognormvariate(8.5, 1.2), 2) if rng.random() < 0.4 else 0.0

    def _alert_lines(
        self,
        warning: _Warning,
        fraud: str,
        station: cal.StationProfile,
        amount_yuan: float,
        place: dict[str, str],
        who: Person,
    ) -> None:
        rng = self.rng
        record: dict[str, Any] = {
            "source": warning.source,
            "source_alert_id": warning.source_alert_id,
            "issued_at": iso(warning.at_ms),
            "level": warning.level,
            "fraud_type": fraud,
            "station_code": station.code,
            "region_code": cal.REGION_CODE,
        }
        if "id_number" in warning.identifiers:
            record["id_number"] = warning.identifiers["id_number"]
        else:
            record["age"] = who.age
        if "phone" in warning.identifiers:
            record["phone"] = spaced_phone(rng, warning.identifiers["phone"])
        if "name" in warning.identifiers:
            record["name"] = warning.identifiers["name"]
        record["resident_type"] = who.resident_type
        if amount_yuan:
            record["amount_at_risk_yuan"] = f"{amount_yuan:.2f}"
        if rng.random() < cal.SOURCE_IDENTIFIERS[warning.source][3]:
            record["suspect_account"] = "62" + "".join(str(rng.randrange(10)) for _ in range(17))
        record["channel"] = cal.CHANNEL[warning.source]
        record.update(place)
        line = Line(warning.at_ms, record)
        self.sim.alerts.append(line)
        if rng.random() < cal.REDELIVERY_RATE:
            self.sim.alerts.append(Line(warning.at_ms, dict(record)))

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
            station = rng.choices(self.stations, weights=[s.volume for s in self.stations])[0]
            on = datetime.fromtimestamp(at / 1000, tz=CHINA).date()
            who = person(rng, on)
            warning = self._warning("JZZ", at, who)
            warning.identifiers = {"id_number": who.id_number, "phone": who.phone}
            warning.level = "LOW"
            self._alert_lines(warning, "OTHER", station, 0.0, {"village": station.villages[0]}, who)
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

    # --- Lifecycle --------------------------------------------------------------------------------

    def _outcome(self) -> list[str]:
        """The feedback outcomes of the case's rounds: one, or two when the centre asks again."""
        rng = self.rng
        first = "NO_RISK" if rng.random() < cal.NO_RISK_RATE else choose(rng, cal.CONFIRMED_OUTCOMES)
        if first == "UNREACHABLE":
            return [first, choose(rng, cal.SECOND_ROUND_OUTCOMES)]
        if rng.random() < cal.REFEEDBACK_RATE:
            return [first, first]
        return [first]

    def _lifecycle(
        self,
        group: list[_Warning],
        station: cal.StationProfile,
        known: _Known,
        fraud: str,
        amount_yuan: float,
        outcomes: list[str],
    ) -> int:
        """The station's events for one task (warnings ingest keys alike); returns the last time."""
        rng = self.rng
        created = group[0].at_ms
        level = _urgency(group, known.prior_victim)
        medians = cal.STEP_MEDIAN_SECONDS[level]
        steps: list[int] = []
        at = created
        for median in medians:
            at += max(5, round(rng.lognormvariate(0, cal.STEP_SIGMA) * median * station.slowness)) * SECOND_MS
            steps.append(at)
        merges = [warning.at_ms for warning in group[1:]]
        steps = _guarded(steps, merges, rng)
        limit = created + cal.MAX_LIFECYCLE_SECONDS * SECOND_MS
        feedback_floor = max(merges, default=created) + FEEDBACK_AFTER_MERGE_SECONDS * SECOND_MS
        steps[3] = min(max(steps[3], feedback_floor), limit - 12 * 3_600_000)
        for index in range(1, 4):  # clamping may have pulled feedback before verification
            steps[index] = max(steps[index], steps[index - 1] + SECOND_MS)
        received, dispatched, verified, fed_back = steps
        events: list[tuple[int, str, dict[str, Any]]] = []
        if rng.random() >= cal.SKIP_RECEPTION_RATE:
            events.append((received, "RECEIVED", {}))
            signed_too = [w for w in group[1:] if w.at_ms + GUARD_SECONDS * SECOND_MS < received]
            if signed_too and rng.random() < 0.3:
                # The other platform's instruction is signed for too: recorded, counted once.
                ref = rng.choice(signed_too).ref
                events.append((received + rng.randint(20, 90) * SECOND_MS, "RECEIVED", {"alert_ref": ref}))
        if rng.random() >= cal.SKIP_DISPATCH_RATE:
            events.append((dispatched, "DISPATCHED", details.assignee(rng, station, level)))
        fund = any(w.source in ("MPS_FUND", "BANK") for w in group)
        events.append((verified, "VERIFIED", details.verification(rng, level, fund)))
        events.append((fed_back, "FEEDBACK", details.feedback(rng, outcomes[0], amount_yuan)))
        last = fed_back
        if outcomes[0] == "REFUSED":
            events.append(
                (
                    fed_back + rng.randint(60, 600) * SECOND_MS,
                    "PROTECTIVE_MEASURE",
                    details.measure(rng, fund),
                )
            )
        if len(outcomes) > 1:
            request = fed_back + rng.randint(600, 4 * 3600) * SECOND_MS
            second = request + max(60, round(rng.lognormvariate(0, 0.6) * medians[3] * 0.5)) * SECOND_MS
            second = min(second, limit)
            events.append((request, "REFEEDBACK_REQUESTED", {"note": "请补充核查和劝阻情况"}))
            events.append((second, "FEEDBACK", details.feedback(rng, outcomes[1], amount_yuan)))
            if outcomes[1] == "REFUSED":
                events.append(
                    (
                        second + rng.randint(60, 600) * SECOND_MS,
                        "PROTECTIVE_MEASURE",
                        details.measure(rng, fund),
                    )
                )
            last = second
        system = f"{station.code}-JW"
        for at_ms, kind, detail in events:
            ref = detail.pop("alert_ref", None) or self._ref_for(group, at_ms)
            record = {
                "alert_ref": ref,
                "type": kind,
                "occurred_at": iso(at_ms),
                "source_system": system,
                **detail,
            }
            self.sim.events.append(Line(at_ms, record))
        return max(last, *(at_ms for at_ms, _, _ in events))

    def _ref_for(self, group: list[_Warning], at_ms: int) -> dict[str, str]:
        """The instruction the station reports against: usually the first, else one it already had."""
        received = [w for w in group if w.at_ms + GUARD_SECONDS * SECOND_MS <= at_ms]
        if len(received) > 1 and self.rng.random() < 0.3:
            return self.rng.choice(received[1:]).ref
        return group[0].ref

    def _bad_alert(self, model: Line, kind: str) -> Line:
        self.sequence["bad"] += 1
        return details.bad_alert(self.rng, model, kind, f"BAD-{self.sequence['bad']:05d}")

    def _maybe_victimised(
        self, known: _Known, outcome: str, last_ms: int, fraud: str, station: cal.StationProfile
    ) -> None:
        """A case filed hours after the warning: post-warning victimisation (预后被骗)."""
        rng = self.rng
        if rng.random() >= cal.VICTIMISED_AFTER.get(outcome, 0.0):
            return
        known.victimised = True
        at_ms = last_ms + rng.randint(3600, 12 * 3600) * SECOND_MS
        on = datetime.fromtimestamp(at_ms / 1000, tz=CHINA).date()
        who = known.person
        record = {
            "case_id": self._case_id(on),
            "id_number": who.id_number,
            "phone": who.phone,
            "case_at": iso(at_ms),
            "loss_yuan": f"{rng.randint(1000, 200_000)}.00",
            "fraud_type": fraud,
            "station_code": station.code,
        }
        self.sim.victims.append(Line(at_ms, record))
        known.busy_until_ms = max(known.busy_until_ms, at_ms)


def _urgency(group: list[_Warning], prior_victim: bool) -> str:
    """The level a station sees: the highest warning's, one step up for a prior victim."""
    level = min(group, key=lambda warning: cal.LEVELS.index(warning.level)).level
    if prior_victim and "id_number" in group[0].identifiers:
        level = cal.LEVELS[max(0, cal.LEVELS.index(level) - 1)]
    return level


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
