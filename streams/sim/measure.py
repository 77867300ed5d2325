"""What the demo measures, and the comparison with the ground truth that fails it.

Measured after the workers stopped: ClickHouse (the demo's chDB store) for tasks, merged warnings,
re-deliveries and breaches, counted over the tasks created (warnings issued) in the simulated period,
as `expected.json` counts them; Kafka for dead letters (every record in the demo's `alerts.dlq`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, TopicPartition
from rich.table import Table

from streams.settings import Settings

STEPS = ("reception", "dispatch", "verification", "feedback")
# What the demo measures, over the tasks created (warnings issued) before {end} (epoch ms).
MEASURE_SQL = {
    "tasks": "SELECT uniqExact(task_id) FROM tasks WHERE toUnixTimestamp64Milli(created_at) < {end:Int64}",
    "merges": "SELECT sum(n) FROM (SELECT length(argMax(alert_keys, version)) - 1 AS n FROM tasks "
    "GROUP BY task_id HAVING toUnixTimestamp64Milli(min(created_at)) < {end:Int64})",
    "duplicates": "SELECT count() - uniqExact(alert_key) FROM alerts "
    "WHERE toUnixTimestamp64Milli(issued_at) < {end:Int64}",
    "breaches": "SELECT lower(step), uniqExact(event_id) FROM sla_events "
    "WHERE kind = 'BREACHED' AND task_id IN "
    "(SELECT task_id FROM tasks WHERE toUnixTimestamp64Milli(created_at) < {end:Int64}) GROUP BY step",
}


@dataclass
class Comparison:
    """Expected against measured, row by row."""

    rows: list[tuple[str, int, int]]

    @property
    def ok(self) -> bool:
        return all(expected == measured for _, expected, measured in self.rows)

    def table(self, strict: bool = True) -> Table:
        """The rows; a difference is a MISMATCH when `strict`, else (live mode) only marked."""
        table = Table(title="measured by the pipeline vs the simulator's ground truth")
        for column in ("figure", "expected", "measured", ""):
            table.add_column(column, justify="right" if column in ("expected", "measured") else "left")
        for name, expected, measured in self.rows:
            differs = "[red]MISMATCH[/red]" if strict else "[yellow]differs[/yellow]"
            mark = "[green]ok[/green]" if expected == measured else differs
            table.add_row(name, str(expected), str(measured), mark)
        return table


def sink_lag(settings: Settings) -> int:
    """Records in the sink's input topics past its consumer group's committed offsets."""
    from streams.agents.sink import INPUTS

    consumer = Consumer(
        {**settings.kafka_client_config(), "group.id": f"{settings.topic_prefix}riskalert-sink"}
    )
    try:
        lag = 0
        for logical in INPUTS:
            topic = settings.topic(logical)
            partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
            for tp in consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=10):
                _, high = consumer.get_watermark_offsets(tp, timeout=10)
                lag += high - max(tp.offset, 0)
        return lag
    finally:
        consumer.close()


def measure(settings: Settings, period_end_ms: int) -> dict[str, Any]:
    """The figures the pipeline produced for the tasks created (warnings issued) before `period_end_ms`:
    ClickHouse for tasks and SLA events, Kafka for dead letters (all of them).
    """
    from streams.db.client import connect

    client = connect(settings)
    in_period = {"end": period_end_ms}
    try:

        def scalar(name: str) -> int:
            return int(client.query(MEASURE_SQL[name], parameters=in_period).result_rows[0][0])

        rows = client.query(MEASURE_SQL["breaches"], parameters=in_period).result_rows
        breaches = {str(step): int(count) for step, count in rows}
        return {
            "tasks": scalar("tasks"),
            "merges": scalar("merges"),
            "duplicates": scalar("duplicates"),
            "breaches": {step: int(breaches.get(step, 0)) for step in STEPS},
            "dead_letters": dead_letter_count(settings),
        }
    finally:
        client.close()


def dead_letter_count(settings: Settings) -> int:
    """Records in the dead-letter topic."""
    consumer = Consumer({**settings.kafka_client_config(), "group.id": f"{settings.topic_prefix}demo-count"})
    try:
        topic = settings.topic("alerts.dlq")
        total = 0
        for partition in consumer.list_topics(topic, timeout=10).topics[topic].partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            total += high - low
        return total
    finally:
        consumer.close()


def compare(expected: dict[str, Any], measured: dict[str, Any]) -> Comparison:
    """Row by row: tasks, merges, re-deliveries, breaches per step, dead letters."""
    rows = [
        ("tasks", int(expected["tasks"]), int(measured["tasks"])),
        ("warnings merged into a task", int(expected["merges"]), int(measured["merges"])),
        ("re-delivered warnings", int(expected["duplicates"]), int(measured["duplicates"])),
        *(
            (f"breaches: {step}", int(expected["breaches"][step]), int(measured["breaches"][step]))
            for step in STEPS
        ),
        ("dead letters (alerts.dlq)", int(expected["dead_letters"]["total"]), int(measured["dead_letters"])),
    ]
    return Comparison(rows)
