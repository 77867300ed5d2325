"""Faust's Prometheus sensor, filled at scrape time: exact counts, nothing per event, rebalance-proof."""

from __future__ import annotations

from faust.sensors.prometheus import FaustMetrics
from faust.types import TP
from prometheus_client import CollectorRegistry, generate_latest

from streams.faust_sensor import ScrapedPrometheusMonitor


class _Message:
    time_in = time_out = time_total = None


class _Owner:
    pass


class _Stream:
    shortlabel = "Stream: Topic: riskalert.alerts.raw"
    task_owner = _Owner()


class _Table:
    name = "persons"


def _events(monitor: ScrapedPrometheusMonitor, count: int, stream: _Stream) -> None:
    tp = TP("riskalert.alerts.raw", 3)
    for offset in range(count):
        message = _Message()
        monitor.on_message_in(tp, offset, message)  # type: ignore[arg-type]
        state = monitor.on_stream_event_in(tp, offset, stream, None)  # type: ignore[arg-type]
        monitor.on_table_set(_Table(), "key", 1)  # type: ignore[arg-type]
        monitor.on_stream_event_out(tp, offset, stream, None, state)  # type: ignore[arg-type]
        monitor.on_message_out(tp, offset, message)  # type: ignore[arg-type]


def _sample(registry: CollectorRegistry, line_start: str) -> float:
    for line in generate_latest(registry).decode().splitlines():
        if line.startswith(line_start + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no {line_start}")


def test_series_follow_faust_counts_at_scrape_time_and_survive_a_rebalance() -> None:
    registry = CollectorRegistry()
    monitor = ScrapedPrometheusMonitor(FaustMetrics.create(registry, "t"))
    stream = _Stream()
    received = 't_messages_received_per_topic_total{topic="riskalert.alerts.raw"}'
    updated = 't_table_operations_total{operation="keys_updated",table="table.persons"}'
    per_stream = 't_total_events_per_stream_total{stream="stream.topic_riskalert.alerts.raw.events"}'
    _events(monitor, 250, stream)
    assert _sample(registry, "t_messages_received_total") == 0  # nothing per event
    monitor.sync()
    assert _sample(registry, "t_messages_received_total") == 250
    assert _sample(registry, received) == 250
    assert _sample(registry, updated) == 250
    assert _sample(registry, per_stream) == 250
    assert _sample(registry, "t_events_runtime_ms_count") == 100  # the runtimes Faust still holds
    monitor._clear_partition_related_metrics()  # what a rebalance does
    _events(monitor, 50, stream)
    monitor.sync()
    monitor.sync()  # idempotent
    assert _sample(registry, "t_messages_received_total") == 300
    assert _sample(registry, received) == 300
    assert _sample(registry, updated) == 300
    assert _sample(registry, "t_events_runtime_ms_count") == 150
