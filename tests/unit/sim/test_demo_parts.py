"""The demo's pure parts: reading worker metrics, and the comparison that fails the demo."""

from __future__ import annotations

from streams.sim.measure import compare
from streams.sim.processes import metric, parse_metrics

METRICS = """# HELP riskalert_sla_events_total SLA events
# TYPE riskalert_sla_events_total counter
riskalert_sla_events_total{kind="BREACHED",step="RECEPTION",level="HIGH",station="S1"} 3.0
riskalert_sla_events_total{kind="BREACHED",step="RECEPTION",level="LOW",station="S2"} 2.0
riskalert_sla_events_total{kind="MET",step="RECEPTION",level="LOW",station="S2"} 7.0
riskalert_sla_events_created{kind="BREACHED",step="RECEPTION",level="HIGH",station="S1"} 1.7e9
riskalert_open_tasks{level="HIGH"} 4.0
python_gc_objects_collected_total{generation="0"} 99.0
"""


def test_metrics_are_summed_over_the_labels_not_named() -> None:
    samples = parse_metrics(METRICS)
    assert metric(samples, "riskalert_sla_events_total", kind="BREACHED", step="RECEPTION") == 5
    assert metric(samples, "riskalert_sla_events_total", step="RECEPTION") == 12
    assert metric(samples, "riskalert_open_tasks") == 4
    assert metric(samples, "python_gc_objects_collected_total") == 0  # not riskalert's


EXPECTED = {
    "tasks": 10,
    "merges": 2,
    "duplicates": 1,
    "breaches": {"reception": 3, "dispatch": 2, "verification": 1, "feedback": 0},
    "dead_letters": {"total": 4},
}
MEASURED = {
    "tasks": 10,
    "merges": 2,
    "duplicates": 1,
    "breaches": {"reception": 3, "dispatch": 2, "verification": 1, "feedback": 0},
    "dead_letters": 4,
}


def test_equal_figures_pass() -> None:
    comparison = compare(EXPECTED, MEASURED)
    assert comparison.ok
    assert len(comparison.rows) == 8


def test_any_single_difference_fails() -> None:
    for changed in (
        {**MEASURED, "tasks": 11},
        {**MEASURED, "dead_letters": 3},
        {**MEASURED, "breaches": {**MEASURED["breaches"], "feedback": 1}},
    ):
        assert not compare(EXPECTED, changed).ok
