"""Live mode's re-stamping of records as they are fed."""

from __future__ import annotations

import json

from streams.sim.feed import retimed
from streams.sim.order import StreamLine

ALERT = {"source": "JZZ", "source_alert_id": "J-1", "issued_at": "2025-03-01T09:00:00+08:00", "level": "HIGH"}


def test_a_record_is_stamped_with_the_feed_instant_and_keeps_its_place_in_the_stream() -> None:
    line = StreamLine(1_740_790_800_000, 1, 7, "alerts.jsonl", json.dumps(ALERT).encode())
    stamped = retimed(line, 1_767_000_000_123)
    assert json.loads(stamped.data) == {**ALERT, "issued_at": 1_767_000_000_123}
    assert (stamped.at_ms, stamped.line, stamped.file) == (line.at_ms, 7, "alerts.jsonl")


def test_a_line_that_is_not_json_is_fed_as_it_is() -> None:
    line = StreamLine(1, 2, 3, "events.jsonl", b'{"alert_ref": {"source": "JZ')
    assert retimed(line, 99) is line


def test_a_malformed_time_is_not_repaired_by_the_stamp() -> None:
    event = {
        "alert_ref": {"source": "JZZ", "source_alert_id": "J-1"},
        "type": "RECEIVED",
        "occurred_at": "昨天下午",
    }
    line = StreamLine(1, 2, 3, "events.jsonl", json.dumps(event, ensure_ascii=False).encode())
    assert retimed(line, 99) is line  # still dead-lettered as bad_timestamp
