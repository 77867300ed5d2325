"""The simulator: deterministic per seed, calibrated mixes, valid records, a consistent ground truth."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from streams.ingest.identity import check_id_number
from streams.settings import Settings
from streams.sim import calibration as cal
from streams.sim.generate import simulate
from streams.sim.model import SimConfig, default_start
from streams.sim.output import write_simulation

# Recent enough for ingest's 400-day window, old enough that every event is in the past.
START = default_start(10)


@pytest.fixture(scope="module")
def big() -> Any:
    return simulate(SimConfig(days=2, seed=7, start=START, cases_per_day=3000))


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    directory = tmp_path_factory.mktemp("sim")
    config = SimConfig(days=2, seed=11, start=START, cases_per_day=400, malformed_rate=0.02)
    return directory, write_simulation(simulate(config), directory, Settings())


def _texts(simulation: Any) -> dict[str, list[str]]:
    return {name: [line.text() for line in lines] for name, lines in simulation.files().items()}


def test_the_same_seed_gives_the_same_lines_and_another_seed_others() -> None:
    config = SimConfig(days=1, seed=3, start=START, cases_per_day=200)
    assert _texts(simulate(config)) == _texts(simulate(config))
    other = SimConfig(days=1, seed=4, start=START, cases_per_day=200)
    assert _texts(simulate(config))["alerts.jsonl"] != _texts(simulate(other))["alerts.jsonl"]


def test_files_and_expected_are_byte_identical_across_runs(tmp_path: Path) -> None:
    config = SimConfig(days=1, seed=5, start=START, cases_per_day=150)
    for run in ("a", "b"):
        write_simulation(simulate(config), tmp_path / run, Settings())
    for name in ("alerts.jsonl", "events.jsonl", "victims.jsonl", "expected.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_source_level_and_fraud_mixes_follow_the_calibration(big: Any) -> None:
    alerts = [line.record for line in big.alerts if not line.malformed]
    sources = Counter(alert["source"] for alert in alerts)
    total = sum(sources.values())
    assert set(sources) == set(cal.SOURCE_MIX)
    levels = Counter(alert["level"] for alert in alerts)
    assert 0.08 < levels["CRITICAL"] / total < 0.22
    assert 0.15 < levels["LOW"] / total < 0.32
    fraud = Counter(alert["fraud_type"] for alert in alerts)
    top_ten = sum(fraud[name] for name in list(cal.FRAUD_MIX)[:10]) / total
    assert 0.85 < top_ten < 0.92  # the ministry's top ten: 88.4 %
    assert fraud.most_common(1)[0][0] == "ORDER_BRUSHING"


def test_duplicates_prior_victims_and_outcomes_are_near_the_published_figures(big: Any) -> None:
    alerts = [line.record for line in big.alerts if not line.malformed]
    keys = Counter((alert["source"], alert["source_alert_id"]) for alert in alerts)
    redelivered = sum(count - 1 for count in keys.values())
    assert 0.015 < redelivered / len(keys) < 0.05
    first_warnings = Counter(alert["issued_at"][:10] for alert in alerts)
    assert sum(first_warnings.values()) > 5000
    events = [line.record for line in big.events if not line.malformed]
    first_feedback: dict[str, str] = {}
    for event in events:
        if event["type"] == "FEEDBACK":
            first_feedback.setdefault(json.dumps(event["alert_ref"]), event["outcome"])
    outcomes = Counter(first_feedback.values())
    confirmed = sum(outcomes.values()) - outcomes["NO_RISK"]
    assert 0.75 < confirmed / sum(outcomes.values()) < 0.86  # about 80 % confirmed as risk
    assert 0.96 < outcomes["DISSUADED"] / confirmed < 0.99  # first round; re-feedback adds more
    prior_cases = [line for line in big.victims if line.record["case_at"] < START.isoformat()]
    victims = {line.record["id_number"] for line in prior_cases}
    people = {alert.get("id_number") for alert in alerts} - {None}
    assert 0.06 < len(victims & people) / len(people) < 0.10  # about 8 % prior victims
    assert all(line.record["relatives"] for line in prior_cases)


def test_twelve_stations_are_warned(big: Any) -> None:
    assert len({alert.record["station_code"] for alert in big.alerts if not alert.malformed}) == 12


def test_identifiers_are_synthetic_but_valid(big: Any) -> None:
    for line in big.alerts:
        if line.malformed or "id_number" not in (line.record or {}):
            continue
        assert check_id_number(line.record["id_number"]).normalised == line.record["id_number"]


def test_expected_counts_add_up(written: tuple[Path, dict[str, Any]]) -> None:
    _, expected = written
    assert expected["open_clocks_at_end"] == 0  # every clock ends in an event: nothing hangs on the horizon
    assert expected["tasks"] == expected["new"]
    # Warnings issued in the period: each opened a task, joined one or repeated one. A duplicate issued
    # after midnight may still join a period task, so merges count the period tasks' extra warnings.
    assert (
        expected["warnings"]
        <= expected["new"] + expected["merges"] + expected["duplicates"]
        <= (expected["warnings"] + 5)
    )
    assert 0.05 < expected["merges"] / expected["tasks"] < 0.25
    assert expected["breaches"] == expected["sla_events"]["BREACHED"]
    # Every step completes: a breach is followed by its MET_LATE, and each task's reception once.
    assert expected["sla_events"]["BREACHED"] == expected["sla_events"]["MET_LATE"]
    met = expected["sla_events"]["MET"]
    late = expected["sla_events"]["MET_LATE"]
    for step in ("reception", "dispatch", "verification"):
        assert met[step] + late[step] == expected["tasks"]
    assert met["feedback"] + late["feedback"] > expected["tasks"]  # re-feedback cycles
    assert sum(s["tasks"] for s in expected["stations"].values()) == expected["tasks"]
    assert sum(s["breaches"] for s in expected["stations"].values()) == sum(expected["breaches"].values())
    assert expected["prior_victim_tasks"] > expected["level_raised_for_prior_victim"] > 0  # CRITICAL stays


def test_every_malformed_line_and_only_those_is_a_dead_letter(written: tuple[Path, dict[str, Any]]) -> None:
    _, expected = written
    assert expected["malformed"] > 10
    assert expected["dead_letters"]["total"] == expected["malformed"]


def test_slow_stations_breach_more(written: tuple[Path, dict[str, Any]]) -> None:
    _, expected = written
    rate = {code: s["breaches"] / s["tasks"] for code, s in expected["stations"].items()}
    slowest = max(cal.stations(12), key=lambda station: station.slowness).code
    fastest = min(cal.stations(12), key=lambda station: station.slowness).code
    assert rate[slowest] > 2 * rate[fastest]


def test_events_address_warnings_by_alert_ref(written: tuple[Path, dict[str, Any]]) -> None:
    directory, _ = written
    alert_ids = {
        (record["source"], record["source_alert_id"]) for record in _records(directory / "alerts.jsonl", 200)
    }
    events = _records(directory / "events.jsonl", 400)
    refs = [e for e in events if isinstance(e, dict) and "alert_ref" in e]
    assert len(refs) > 300
    assert all("task_id" not in e for e in refs)
    assert sum((e["alert_ref"]["source"], e["alert_ref"]["source_alert_id"]) in alert_ids for e in refs) > 100


def _records(path: Path, count: int) -> list[dict[str, Any]]:
    records = []
    for text in path.read_text().splitlines()[:count]:
        try:
            records.append(json.loads(text))
        except ValueError:
            continue  # a malformed line
    return records


def test_the_stream_runs_on_past_every_period_task_s_last_event(big: Any) -> None:
    config = big.config
    last_period_event = max(
        line.at_ms for line in big.events if not line.malformed and line.at_ms < config.end_ms + 60 * 3600_000
    )
    after = [line for line in big.alerts if line.at_ms >= last_period_event + 3 * 3600_000]
    assert len(after) > 10  # hours of run-out beyond the last event a period task can have
    assert all(line.record["level"] == "LOW" for line in after if not line.malformed)
