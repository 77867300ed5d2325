"""Faust's own Prometheus sensor (`faust.sensors.prometheus`), hooked in without a per-event cost.

Faust's `PrometheusMonitor` updates about a dozen Prometheus series (resolving their labels, and a
regular expression over the stream's label) on every message, event, table operation and send: ~50 µs
an event on this machine, several percent of a stage that spends ~800 µs an event. Faust's base
`Monitor`, which every app runs anyway, already counts the same things in plain integers. So this
subclass keeps `PrometheusMonitor`'s metrics (names, labels, help) and its infrequent hooks (commits,
rebalances, assignment, send errors), gives the per-event hooks back to `Monitor`, and brings the
series up to date from `Monitor`'s counters when `/metrics` is scraped (`sync`).

Two series are therefore sampled rather than complete: `riskalert_faust_events_runtime_ms` and
`riskalert_faust_producer_send_latency` observe, per scrape, the runtimes `Monitor` still holds (its
last 100). Counters and gauges are exact. Exported as `riskalert_faust_*` (docs/operations.md,
"Metrics").
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import faust
from faust.sensors.monitor import Monitor
from faust.sensors.prometheus import FaustMetrics, PrometheusMonitor
from prometheus_client import REGISTRY

PREFIX = "riskalert_faust"
# Sync keys of the series Faust removes at a rebalance.
_TOPIC_KEYS = ("topic", "sent_topic")
_METRICS: FaustMetrics | None = None


def faust_metrics() -> FaustMetrics:
    """The metrics, registered once per process (tests build several apps in one)."""
    global _METRICS
    if _METRICS is None:
        _METRICS = FaustMetrics.create(REGISTRY, PREFIX)
    return _METRICS


class ScrapedPrometheusMonitor(PrometheusMonitor):
    """`PrometheusMonitor` whose per-event series are filled from `Monitor`'s counters at scrape time."""

    # Per message, event, table operation and send: Monitor's plain bookkeeping only.
    on_message_in = Monitor.on_message_in
    on_stream_event_in = Monitor.on_stream_event_in
    on_stream_event_out = Monitor.on_stream_event_out
    on_message_out = Monitor.on_message_out
    on_table_get = Monitor.on_table_get
    on_table_set = Monitor.on_table_set
    on_table_del = Monitor.on_table_del
    on_send_initiated = Monitor.on_send_initiated
    on_send_completed = Monitor.on_send_completed

    def __init__(self, metrics: FaustMetrics, **kwargs: Any) -> None:
        super().__init__(metrics, **kwargs)
        self._synced: dict[tuple[str, ...], int] = {}

    def sync(self) -> None:
        """Bring the Prometheus series up to `Monitor`'s counts (called before each scrape)."""
        metrics = self._metrics
        events = self._advance(("events",), self.events_total, metrics.total_events)
        sent = self._advance(("sent",), self.messages_sent, metrics.total_sent_messages)
        self._advance(("received",), self.messages_received_total, metrics.messages_received)
        metrics.active_messages.set(self.messages_active)
        metrics.total_active_events.set(self.events_active)
        for topic, count in self.messages_received_by_topic.items():
            child = metrics.messages_received_per_topics.labels(topic=topic)
            self._advance(("topic", topic), count, child)
        for tp, offset in list(self.tp_read_offsets.items()):
            metrics.messages_received_per_topics_partition.labels(topic=tp.topic, partition=tp.partition).set(
                offset
            )
        # Monitor counts events per str(stream) (an object repr); label them by the stream's short label.
        labels = {key: self._stream_label(stream) for stream, key in list(self.stream_lookup.items())}
        for key, count in self.events_by_stream.items():
            label = f"stream.{labels.get(key, 'unknown')}.events"
            self._advance(("stream", key), count, metrics.total_events_per_stream.labels(stream=label))
        for name, table in self.tables.items():
            for operation, count in (
                (self.KEYS_RETRIEVED, table.keys_retrieved),
                (self.KEYS_UPDATED, table.keys_updated),
                (self.KEYS_DELETED, table.keys_deleted),
            ):
                child = metrics.table_operations.labels(table=f"table.{name}", operation=operation)
                self._advance(("table", name, operation), count, child)
        for topic, count in self.messages_sent_by_topic.items():
            child = metrics.topic_messages_sent.labels(topic=f"topic.{topic}")
            self._advance(("sent_topic", topic), count, child)
        _observe_ms(metrics.events_runtime_latency, _newest(self.events_runtime, events))
        _observe_ms(metrics.producer_send_latency, _newest(self.send_latency, sent))

    def _clear_partition_related_metrics(self) -> None:
        # Faust removes the per-topic series at a rebalance; Monitor's counts go on, so the next sync
        # makes them again at Monitor's totals (a series never goes backwards once it reappears).
        super()._clear_partition_related_metrics()
        self._synced = {key: count for key, count in self._synced.items() if key[0] not in _TOPIC_KEYS}

    def _advance(self, key: tuple[str, ...], total: int, counter: Any) -> int:
        """Increment `counter` by what `total` grew since the last sync; returns the growth."""
        grown = total - self._synced.get(key, 0)
        if grown > 0:
            counter.inc(grown)
        self._synced[key] = total
        return max(grown, 0)


def _newest(values: Any, count: int) -> list[float]:
    """The last `count` of a bounded history (all it holds, if fewer)."""
    kept = list(values)
    return kept[len(kept) - min(count, len(kept)) :]


def _observe_ms(histogram: Any, seconds: Iterable[float]) -> None:
    for value in seconds:
        histogram.observe(value * 1000)


def hook(app: faust.App) -> None:
    """Make the app's monitor Faust's Prometheus sensor (scraped)."""
    app.monitor = ScrapedPrometheusMonitor(metrics=faust_metrics())


def sync(app: faust.App) -> None:
    """Update the Faust series before a scrape (no-op for another monitor)."""
    monitor = app.monitor
    if isinstance(monitor, ScrapedPrometheusMonitor):
        monitor.sync()
