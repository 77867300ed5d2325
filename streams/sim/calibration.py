"""The simulator's calibration: who warns, how urgent, which fraud, how fast each station answers.

The figures follow shared/DOMAIN.md: the source list, the ministry's top ten fraud types (88.4 % of
cases in 2024), the published outcomes (about 80 % of warnings confirmed as risk, about 99 % of
those dissuaded, 99.7 % face-to-face for fund warnings). Response times are riskalert's assumptions:
reported practice is minutes for urgent warnings, hours for low ones; some stations are slower, so
the ranking and the pages mean something.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

REGION_CODE = "330106"

# (primary source, weight): the source that warns first. Cross-source duplicates come on top.
SOURCE_MIX = {
    "MPS_FUND": 0.22,
    "JZZ": 0.20,
    "NAC_APP": 0.24,
    "BANK": 0.08,
    "TELECOM": 0.14,
    "HOTLINE_96110": 0.07,
    "CALL_110": 0.05,
}

# Level mix per source (CRITICAL, HIGH, MEDIUM, LOW): money moving is urgent, app and carrier
# signals less so. Overall about 14 % critical, 30 % high, 33 % medium, 23 % low.
LEVEL_MIX = {
    "MPS_FUND": (0.30, 0.45, 0.20, 0.05),
    "BANK": (0.35, 0.45, 0.15, 0.05),
    "CALL_110": (0.40, 0.40, 0.15, 0.05),
    "JZZ": (0.05, 0.25, 0.45, 0.25),
    "NAC_APP": (0.05, 0.22, 0.40, 0.33),
    "TELECOM": (0.03, 0.20, 0.42, 0.35),
    "HOTLINE_96110": (0.10, 0.40, 0.35, 0.15),
}
LEVELS = ("CRITICAL", "HIGH", "MEDIUM", "LOW")

# The ministry's top ten (2024) add up to 0.884; the rest is military procurement and other.
FRAUD_MIX = {
    "ORDER_BRUSHING": 0.200,
    "FAKE_INVESTMENT": 0.160,
    "FAKE_SHOPPING": 0.100,
    "FAKE_CUSTOMER_SERVICE": 0.090,
    "FAKE_LOAN": 0.080,
    "FAKE_CREDIT_REPAIR": 0.060,
    "IMPERSONATE_ACQUAINTANCE": 0.060,
    "IMPERSONATE_AUTHORITY": 0.050,
    "ROMANCE": 0.045,
    "GAME_TRADING": 0.039,
    "MILITARY_PROCUREMENT": 0.020,
    "OTHER": 0.096,
}

# What each source knows about the person: (has ID number, has phone, has name, has account).
# Carriers and the app know a number; fund and bank warnings know the account holder.
SOURCE_IDENTIFIERS = {
    "MPS_FUND": (1.0, 0.9, 1.0, 1.0),
    "BANK": (1.0, 0.9, 1.0, 1.0),
    "JZZ": (1.0, 1.0, 1.0, 0.0),
    "NAC_APP": (0.85, 1.0, 0.7, 0.0),
    "TELECOM": (0.0, 1.0, 0.0, 0.0),
    "HOTLINE_96110": (0.6, 1.0, 0.8, 0.0),
    "CALL_110": (0.5, 0.97, 0.9, 0.2),
}
CHANNEL = {
    "MPS_FUND": "TRANSFER",
    "BANK": "TRANSFER",
    "JZZ": "CALL",
    "NAC_APP": "APP",
    "TELECOM": "CALL",
    "HOTLINE_96110": "CALL",
    "CALL_110": "CALL",
}

# Warnings per hour of the day (China time), relative: fraud follows waking hours.
HOUR_WEIGHTS = (
    0.6, 0.4, 0.3, 0.2, 0.2, 0.3, 0.7, 1.2, 1.8, 2.2, 2.4, 2.3,
    2.0, 2.1, 2.3, 2.4, 2.3, 2.1, 2.0, 2.0, 1.9, 1.6, 1.2, 0.9,
)  # fmt: skip

DUPLICATE_RATE = 0.15  # a case warned by a second source within minutes
THIRD_SOURCE_RATE = 0.20  # of those, a third source too
DUPLICATE_DELAY_SECONDS = (60, 480)
REDELIVERY_RATE = 0.03  # a warning line delivered twice (at-least-once feeds, retries)
PRIOR_VICTIM_RATE = 0.08
RELATIVE_OF_VICTIM_RATE = 0.03  # warned people whose relative has a case of their own
REWARNED_RATE = 0.03  # from the second day on: a person warned again on a later day

# Median seconds from the previous step (creation, reception, dispatch, verification) to each step.
STEP_MEDIAN_SECONDS = {
    "CRITICAL": (25, 50, 360, 2400),
    "HIGH": (100, 200, 700, 7200),
    "MEDIUM": (300, 500, 2700, 21600),
    "LOW": (900, 2000, 14400, 50000),
}
STEP_SIGMA = 0.55  # log-normal spread of each step's time
SKIP_RECEPTION_RATE = 0.03  # the first event is a dispatch: reception is implied
SKIP_DISPATCH_RATE = 0.05  # the officer verifies without a recorded dispatch
MAX_LIFECYCLE_SECONDS = 60 * 3600  # every case is fed back within 60 h, late or not

NO_RISK_RATE = 0.18  # false alarms: about 80 % of warnings are confirmed as risk
# Outcomes of the first feedback when a risk is confirmed.
CONFIRMED_OUTCOMES = {"DISSUADED": 0.975, "UNREACHABLE": 0.010, "REFUSED": 0.007, "ALREADY_DEFRAUDED": 0.008}
# After an UNREACHABLE feedback the centre asks again; the second round's outcome.
SECOND_ROUND_OUTCOMES = {"DISSUADED": 0.75, "REFUSED": 0.15, "ALREADY_DEFRAUDED": 0.10}
REFEEDBACK_RATE = 0.03  # the centre asks for a second feedback on a closed task (二次反馈)
FACE_TO_FACE = {"fund": 0.997, "CRITICAL": 0.90, "HIGH": 0.85, "MEDIUM": 0.30, "LOW": 0.15}
# Post-warning victimisation: a case filed hours after the warning, by the first feedback's outcome.
VICTIMISED_AFTER = {"ALREADY_DEFRAUDED": 0.8, "REFUSED": 0.25, "UNREACHABLE": 0.2, "DISSUADED": 0.003}

# Malformed records, cycled through in order; each must be rejected at ingest with this reason.
MALFORMED_ALERT_KINDS = ("bad_json", "bad_id_number", "bad_enum", "missing_field", "bad_phone")
MALFORMED_EVENT_KINDS = ("bad_json", "missing_field", "bad_enum", "bad_timestamp")


@dataclass(frozen=True)
class StationProfile:
    """A police station (派出所) of the district: code, name, its communities and how it performs."""

    code: str
    name: str
    villages: tuple[str, ...]
    volume: float  # relative share of the district's warnings
    slowness: float  # multiplies every response time: 1.0 is the district's norm


_STATIONS = (
    ("北山派出所", ("北山街社区", "曙光社区", "宝石社区"), 1.2, 0.75),
    ("西溪派出所", ("西溪社区", "文新社区", "古荡湾社区"), 1.4, 0.9),
    ("灵隐派出所", ("灵隐社区", "玉泉社区"), 0.6, 0.8),
    ("翠苑派出所", ("翠苑一区", "翠苑二区", "翠苑三区"), 1.3, 1.0),
    ("文新派出所", ("文新社区", "阳光社区", "桂花城社区"), 1.1, 1.05),
    ("古荡派出所", ("古荡社区", "益乐社区"), 1.0, 1.1),
    ("转塘派出所", ("转塘社区", "龙坞社区", "外桐坞村", "长埭村"), 0.8, 1.9),
    ("留下派出所", ("留下社区", "屏基社区", "杨家牌楼村"), 0.9, 1.3),
    ("蒋村派出所", ("蒋村社区", "五常社区"), 1.2, 1.0),
    ("三墩派出所", ("三墩社区", "墩余村", "绕城村"), 1.1, 2.3),
    ("双浦派出所", ("双浦社区", "杭富沿江村", "周浦村"), 0.6, 1.6),
    ("紫金港派出所", ("紫金港社区", "申花社区"), 0.8, 0.85),
)


def stations(count: int) -> tuple[StationProfile, ...]:
    """The first `count` stations (at most 12 named ones; more are numbered), codes `330106-PS01`..."""
    profiles = []
    for index in range(count):
        name, villages, volume, slowness = _STATIONS[index % len(_STATIONS)]
        if index >= len(_STATIONS):
            name = f"{name[:-3]}{index + 1}所"
        code = f"{REGION_CODE}-PS{index + 1:02d}"
        profiles.append(StationProfile(code, name, villages, volume, slowness))
    return tuple(profiles)


def grid_area(station: StationProfile, village_index: int, cell: int) -> str:
    """A community grid area's code (网格), e.g. `330106-PS03-G2-07`."""
    return f"{station.code}-G{village_index + 1}-{cell:02d}"


def choose(rng: random.Random, weights: Mapping[str, float]) -> str:
    """One key of a mix, drawn with the given relative weights."""
    return rng.choices(list(weights), weights=list(weights.values()))[0]
