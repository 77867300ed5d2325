"""Victim case records: a warned person's past cases, and a case filed after a warning (预后被骗).

Every function draws from the generator's `random.Random` in a fixed order, so a seed gives the same lines.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import date, datetime, time, timedelta

from streams.sim import calibration as cal
from streams.sim.model import CHINA, SECOND_MS, Line, iso
from streams.sim.people import Person, person


def past_cases(rng: random.Random, sequence: Counter[str], victim: Person, on: date) -> list[Line]:
    """One or two past cases of the victim, naming one to three relatives (added to `victim.relatives`)."""
    while len(victim.relatives) < rng.randint(1, 3):
        victim.relatives.append(person(rng, on))
    lines = []
    for _ in range(1 if rng.random() < 0.8 else 2):
        case_day = on - timedelta(days=rng.randint(180, 5 * 365))
        at_ms = int(datetime.combine(case_day, time(), CHINA).timestamp()) * 1000
        relatives: list[dict[str, str] | str] = [
            {"id_number": r.id_number} if rng.random() < 0.7 else {"phone": r.phone} for r in victim.relatives
        ]
        record = {
            "case_id": _case_id(sequence, case_day),
            "id_number": victim.id_number,
            "phone": victim.phone,
            "name": victim.name,
            "relatives": relatives,
            "case_at": case_day.isoformat(),
            "loss_yuan": f"{rng.randint(800, 300_000)}.{rng.randrange(100):02d}",
            "fraud_type": cal.choose(rng, cal.FRAUD_MIX),
        }
        lines.append(Line(at_ms, record))
    return lines


def case_after_warning(
    rng: random.Random,
    sequence: Counter[str],
    who: Person,
    last_ms: int,
    fraud: str,
    station: cal.StationProfile,
) -> Line:
    """The case `who` files hours after the last event of their warning: they were defrauded after all."""
    at_ms = last_ms + rng.randint(3600, 12 * 3600) * SECOND_MS
    on = datetime.fromtimestamp(at_ms / 1000, tz=CHINA).date()
    record = {
        "case_id": _case_id(sequence, on),
        "id_number": who.id_number,
        "phone": who.phone,
        "case_at": iso(at_ms),
        "loss_yuan": f"{rng.randint(1000, 200_000)}.00",
        "fraud_type": fraud,
        "station_code": station.code,
    }
    return Line(at_ms, record)


def _case_id(sequence: Counter[str], on: date) -> str:
    sequence["case"] += 1
    return f"A{cal.REGION_CODE}{on:%Y%m%d}{sequence['case']:05d}"
