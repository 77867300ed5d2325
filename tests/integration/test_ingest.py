"""File ingest into the real broker: exact counts, dead letters with positions, no raw identifiers."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from streams.partitioning import kafka_partition
from streams.settings import Settings
from tests.integration.cli import riskalert, riskalert_ok
from tests.integration.kafka_io import Read, create_prefixed_topics, delete_prefixed_topics, read_all
from tests.support import iso_ago, make_id_number, make_phone, ms_ago, raw_alert, raw_identifiers


def _mixed_input() -> tuple[list[str], dict[str, object]]:
    """Valid, invalid and duplicate lines, and what must come out of them."""
    valid = [raw_alert(n) for n in range(40)]
    lines = [json.dumps(record, ensure_ascii=False) for record in valid]
    lines += [
        json.dumps(valid[3], ensure_ascii=False),
        json.dumps(valid[7], ensure_ascii=False),
    ]  # re-deliveries
    bad = {
        "bad_id_number": raw_alert(100, id_number=make_id_number(sequence=5)[:-1] + "0"),
        "bad_enum": raw_alert(101, level="SEVERE"),
        "missing_field": {k: v for k, v in raw_alert(102).items() if k != "source_alert_id"},
        "negative_amount": raw_alert(103, amount_at_risk_yuan="-5"),
        "future_timestamp": raw_alert(104, issued_at="2099-01-01T00:00:00+08:00"),
    }
    bad_lines = {reason: json.dumps(record, ensure_ascii=False) for reason, record in bad.items()}
    bad_lines["bad_json"] = '{"source": "JZZ", "phone": "13912345678"'
    first_bad_line = len(lines) + 1
    lines += list(bad_lines.values())
    expected = {
        "accepted": 42,
        "duplicates": 2,
        "distinct_alert_keys": 40,
        "dead_letters": {reason: first_bad_line + i for i, reason in enumerate(bad_lines)},
    }
    return lines, expected


def test_mixed_file_counts_exactly(isolated: Settings, tmp_path: Path) -> None:
    lines, expected = _mixed_input()
    path = tmp_path / "alerts.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    result = riskalert(isolated, "ingest", "alerts", str(path))
    assert result.returncode == 1, result.stdout + result.stderr  # rejects without --allow-rejects
    assert "accepted" in result.stdout
    assert "42" in result.stdout

    raw = read_all(isolated, isolated.topic("alerts.raw"))
    dlq = read_all(isolated, isolated.topic("alerts.dlq"))
    assert len(raw) == expected["accepted"]
    assert len({r.record["alert_key"] for r in raw}) == expected["distinct_alert_keys"]
    assert all(r.key == r.record["person_key"].encode() for r in raw)  # type: ignore[union-attr]
    letters = {r.record["reason"]: r.record for r in dlq}
    assert {reason: letter["input_line"] for reason, letter in letters.items()} == expected["dead_letters"]
    for letter in letters.values():
        assert letter["input_name"] == "alerts.jsonl"
        assert letter["stage"] == "ingest"
        assert f"alerts.jsonl:{letter['input_line']}" in str(letter["error"])
    assert "level" in str(letters["bad_enum"]["error"])
    assert len(raw) + len(dlq) == len(lines)  # every input record is in exactly one topic


def test_allow_rejects_and_csv(isolated: Settings, tmp_path: Path) -> None:
    records = [raw_alert(n) for n in range(10)] + [raw_alert(11, issued_at="not a time")]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(records[0]))
    writer.writeheader()
    writer.writerows(records)
    path = tmp_path / "alerts.csv"
    path.write_text(buffer.getvalue(), encoding="utf-8")
    result = riskalert(isolated, "ingest", "alerts", "--allow-rejects", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(read_all(isolated, isolated.topic("alerts.raw"))) == 10
    (letter,) = read_all(isolated, isolated.topic("alerts.dlq"))
    assert (letter.record["reason"], letter.record["input_line"]) == ("bad_timestamp", 12)  # header is line 1


def test_events_and_victim_history(isolated: Settings, tmp_path: Path) -> None:
    events = [
        {"task_id": "t-1", "type": "RECEIVED", "occurred_at": iso_ago(59)},
        {"task_id": "t-1", "type": "DISPATCHED", "occurred_at": iso_ago(57), "assignee": "P-0101"},
        {"task_id": "t-1", "type": "VERIFIED", "occurred_at": iso_ago(50), "method": "FACE_TO_FACE"},
        {
            "task_id": "t-1",
            "type": "FEEDBACK",
            "occurred_at": iso_ago(20),
            "outcome": "DISSUADED",
            "amount_protected_yuan": "50000",
        },
        {"task_id": "t-1", "type": "RECEIVED", "occurred_at": iso_ago(59)},  # re-delivered
        {"task_id": "t-2", "type": "VERIFIED", "occurred_at": iso_ago(50), "method": "TELEPATHY"},
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in events) + "\n")
    result = riskalert(isolated, "ingest", "events", "--allow-rejects", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    produced = read_all(isolated, isolated.topic("tasks.events"))
    assert len(produced) == 5
    assert {r.key for r in produced} == {b"t-1"}
    assert len({r.record["event_id"] for r in produced}) == 4  # the re-delivery has the same event id
    (letter,) = read_all(isolated, isolated.topic("alerts.dlq"))
    assert letter.record["input_line"] == 6

    victims = [
        {
            "case_id": "C-1",
            "id_number": make_id_number(sequence=1),
            "case_at": iso_ago(60 * 24 * 200),
            "loss_yuan": "30000",
            "fraud_type": "ROMANCE",
            "relatives": [{"id_number": make_id_number(sequence=2)}, {"phone": make_phone(77)}],
        },
        {
            "case_id": "C-2",
            "id_number": make_id_number(sequence=1),
            "case_at": iso_ago(60 * 24 * 100),
            "loss_fen": 500000,
            "fraud_type": "FAKE_LOAN",
        },
    ]
    path = tmp_path / "victims.jsonl"
    path.write_text("\n".join(json.dumps(v) for v in victims) + "\n")
    result = riskalert(isolated, "history", "load", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    history = read_all(isolated, isolated.topic("victims.history"))
    assert len(history) == 2
    person = history[0].record["person_key"]
    assert {r.record["person_key"] for r in history} == {person}
    # One compacted key per case, both on the person's partition, so no case is compacted away.
    assert {r.key for r in history} == {f"{person}:C-1".encode(), f"{person}:C-2".encode()}
    assert {r.partition for r in history} == {kafka_partition(str(person), isolated.topic_partitions)}
    assert len(history[0].record["relative_keys"]) == 2  # type: ignore[arg-type]


def test_no_raw_identifier_reaches_any_topic_or_output(isolated: Settings, tmp_path: Path) -> None:
    """Scan every byte produced to every topic, and everything the CLI printed."""
    lines, _ = _mixed_input()
    parsed = [json.loads(line) for line in lines if line.endswith("}")]
    path = tmp_path / "alerts.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = riskalert(isolated, "ingest", "alerts", "--allow-rejects", str(path))
    assert result.returncode == 0
    identifiers = raw_identifiers(parsed) | {"13912345678"}
    assert len(identifiers) > 80
    produced: list[Read] = []
    for name in ("alerts.raw", "alerts.dlq", "tasks.events", "victims.history"):
        produced += read_all(isolated, isolated.topic(name))
    assert len(produced) == len(lines)
    blobs = [r.value for r in produced] + [r.key or b"" for r in produced]
    blobs += [result.stdout.encode(), result.stderr.encode()]
    for identifier in identifiers:
        needle = identifier.encode()
        assert not any(needle in blob for blob in blobs), "a raw identifier was written past ingest"
    # Digits-only variants too: an ID or phone split by separators must not survive either.
    for identifier in identifiers:
        if identifier.isdigit():
            assert not any(identifier[:11] in blob.decode("utf-8", "replace") for blob in blobs)


@pytest.mark.parametrize("kind", ["alerts", "events"])
def test_stdin_is_accepted(isolated: Settings, kind: str) -> None:
    record = (
        raw_alert(1) if kind == "alerts" else {"task_id": "t-9", "type": "CLOSED", "occurred_at": ms_ago(5)}
    )
    result = riskalert(isolated, "ingest", kind, "-", stdin=json.dumps(record))
    assert result.returncode == 0, result.stdout + result.stderr
    topic = "alerts.raw" if kind == "alerts" else "tasks.events"
    assert len(read_all(isolated, isolated.topic(topic))) == 1


def _positions(settings: Settings) -> list[tuple[str, int, int, bytes | None, str]]:
    """Every produced record by topic, partition and offset, with its volatile times removed."""
    rows = []
    for name in ("alerts.raw", "alerts.dlq"):
        for read in read_all(settings, settings.topic(name)):
            stable = {k: v for k, v in read.record.items() if k not in ("ingested_at", "failed_at")}
            if name == "alerts.dlq":
                stable["input_name"] = "x"
                stable["error"] = str(stable["error"]).split(":", 2)[-1]
            rows.append((name, read.partition, read.offset, read.key, json.dumps(stable, sort_keys=True)))
    return sorted(rows)


def test_worker_processes_give_the_same_output_as_one_process(
    isolated: Settings, settings: Settings, tmp_path: Path
) -> None:
    """A file bigger than one chunk goes through worker processes; order and line numbers must hold."""
    lines = []
    for n in range(2600):
        record = raw_alert(n, issued_at=iso_ago(30)) if n % 97 else raw_alert(n, level="NOPE")
        lines.append(json.dumps(record, ensure_ascii=False) if n % 401 else "{broken")
    path = tmp_path / "big.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    riskalert_ok(
        isolated, "ingest", "alerts", "--allow-rejects", str(path), env={"RISKALERT_INGEST_WORKERS": "2"}
    )

    single = settings.model_copy(update={"topic_prefix": f"{isolated.topic_prefix}one."})
    create_prefixed_topics(single)
    try:
        riskalert_ok(
            single, "ingest", "alerts", "--allow-rejects", str(path), env={"RISKALERT_INGEST_WORKERS": "1"}
        )
        parallel_rows, single_rows = _positions(isolated), _positions(single)
    finally:
        delete_prefixed_topics(single)
    assert len(parallel_rows) == 2600
    assert sum(1 for row in parallel_rows if row[0] == "alerts.dlq") == 27 + 6
    assert parallel_rows == single_rows
