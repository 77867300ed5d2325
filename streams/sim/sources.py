"""What the sources send about a case: each source's warning, and the alert lines it is delivered as.

Every function draws from the generator's `random.Random` in a fixed order, so a seed gives the same lines.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from streams.sim import calibration as cal
from streams.sim.model import CHINA, SECOND_MS, Line, iso
from streams.sim.people import Person, spaced_phone

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
class SourceWarning:
    """One source's warning about a person: its id, time, level and the identifiers it knows."""

    source: str
    source_alert_id: str
    at_ms: int
    level: str
    identifiers: dict[str, str]

    @property
    def ref(self) -> dict[str, str]:
        """The warning's `alert_ref`, by which the station's events address it."""
        return {"source": self.source, "source_alert_id": self.source_alert_id}

    @property
    def person_group(self) -> str:
        """What ingest will key the warning by: the ID number wins over the phone."""
        if "id_number" in self.identifiers:
            return "id:" + self.identifiers["id_number"]
        if "phone" in self.identifiers:
            return "phone:" + self.identifiers["phone"]
        return "anon:" + self.source + ":" + self.source_alert_id


def case_warnings(
    rng: random.Random, sequence: Counter[str], primary: str, created_ms: int, who: Person
) -> list[SourceWarning]:
    """The primary source's warning and, for some cases, one or two other sources' minutes later, by time."""
    warnings = [warning(rng, sequence, primary, created_ms, who)]
    if rng.random() < cal.DUPLICATE_RATE:
        others = [source for source in cal.SOURCE_MIX if source != primary]
        count = 2 if rng.random() < cal.THIRD_SOURCE_RATE else 1
        for source in rng.sample(others, count):
            at = created_ms + rng.randint(*cal.DUPLICATE_DELAY_SECONDS) * SECOND_MS
            warnings.append(warning(rng, sequence, source, at, who))
    warnings.sort(key=lambda each: each.at_ms)
    return warnings


def warning(
    rng: random.Random, sequence: Counter[str], source: str, at_ms: int, who: Person
) -> SourceWarning:
    """A warning from `source` about `who`, numbered by `sequence`, with the identifiers that source knows."""
    sequence[source] += 1
    day = datetime.fromtimestamp(at_ms / 1000, tz=CHINA)
    alert_id = f"{ID_PREFIX[source]}-{day:%Y%m%d}-{sequence[source]:06d}"
    has_id, has_phone, has_name, _ = cal.SOURCE_IDENTIFIERS[source]
    identifiers = {}
    if rng.random() < has_id:
        identifiers["id_number"] = who.id_number
    if rng.random() < has_phone:
        identifiers["phone"] = who.phone
    if rng.random() < has_name:
        identifiers["name"] = who.name
    level = cal.LEVELS[rng.choices(range(4), weights=cal.LEVEL_MIX[source])[0]]
    return SourceWarning(source, alert_id, at_ms, level, identifiers)


def amount_at_risk_yuan(rng: random.Random, source: str, fraud: str) -> float:
    """The money at risk a case's warnings name; 0.0 when they name none."""
    if source in ("MPS_FUND", "BANK") or fraud == "FAKE_INVESTMENT":
        return round(rng.lognormvariate(10.0, 1.1), 2)  # median ~22,000 yuan
    return round(rng.lognormvariate(8.5, 1.2), 2) if rng.random() < 0.4 else 0.0


def alert_lines(
    rng: random.Random,
    warning: SourceWarning,
    fraud: str,
    station: cal.StationProfile,
    amount_yuan: float,
    place: dict[str, str],
    who: Person,
) -> list[Line]:
    """The warning as an alerts.jsonl line; twice for a warning the source re-delivers."""
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
    lines = [Line(warning.at_ms, record)]
    if rng.random() < cal.REDELIVERY_RATE:
        lines.append(Line(warning.at_ms, dict(record)))
    return lines
