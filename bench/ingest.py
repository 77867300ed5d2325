"""File ingest throughput: validated, pseudonymised, Avro-encoded alerts into the local broker.

Compares, in one run, `riskalert ingest alerts` (in-process) with a bare loop that reads the same file
and produces each line unchanged with the same producer settings.

Usage (from the repository root, with the stack up): .venv/bin/python -m bench.ingest [--records 200000]
Target (issue 3): >= 20,000 alerts/s.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

from bench.common import header, private_topics
from streams.ingest.files import ingest_file
from streams.ingest.gateway import RecordKind
from streams.producer import CheckedProducer
from streams.settings import Settings
from tests.support import iso_ago, make_id_number, make_phone

SOURCES = ["MPS_FUND", "JZZ", "NAC_APP", "BANK", "TELECOM", "HOTLINE_96110", "CALL_110"]
LEVELS = ["CRITICAL", "HIGH", "MEDIUM", "LOW"]
FRAUD = ["ORDER_BRUSHING", "FAKE_INVESTMENT", "FAKE_SHOPPING", "FAKE_CUSTOMER_SERVICE", "FAKE_LOAN"]
NAMES = ["张三", "李四", "王五", "赵六", "欧阳娜娜", "孙七"]


def generate(path: Path, records: int, seed: int = 7) -> None:
    """Realistic alerts: 1 in 10 re-delivers an earlier one; most carry an ID number and a phone."""
    rng = random.Random(seed)
    issued = iso_ago(30)
    lines = []
    for n in range(records):
        if n and rng.random() < 0.1:
            lines.append(lines[rng.randrange(len(lines))])
            continue
        person = rng.randrange(records // 2)
        record = {
            "source": rng.choice(SOURCES),
            "source_alert_id": f"B{n:08d}",
            "issued_at": issued,
            "level": rng.choice(LEVELS),
            "fraud_type": rng.choice(FRAUD),
            "station_code": f"S{rng.randrange(12):02d}",
            "region_code": "R330106",
            "id_number": make_id_number(birth=f"19{50 + person % 50:02d}0101", sequence=person % 1000),
            "phone": make_phone(person),
            "name": rng.choice(NAMES),
            "amount_at_risk_fen": rng.randrange(0, 10_000_000),
            "channel": "CALL",
        }
        lines.append(json.dumps(record, ensure_ascii=False))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def bare_loop(settings: Settings, path: Path) -> float:
    """Read lines and produce them unchanged: the floor any ingest pays. Returns records/s."""
    producer = CheckedProducer(settings)
    topic = settings.topic("alerts.raw")
    start = time.perf_counter()
    with path.open("rb") as stream:
        for line in stream:
            producer.produce(topic, None, line)
    delivered = producer.flush()
    return delivered / (time.perf_counter() - start)


def pipeline(settings: Settings, path: Path) -> tuple[float, int]:
    """`riskalert ingest alerts` in-process. Returns records/s and the accepted count."""
    start = time.perf_counter()
    summary = ingest_file(settings, RecordKind.ALERT, str(path))
    elapsed = time.perf_counter() - start
    assert summary.total == summary.accepted, summary.rejected
    return summary.total / elapsed, summary.accepted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=200_000)
    args = parser.parse_args()
    header("ingest: file -> validate/pseudonymise/encode -> alerts.raw", "bench.ingest")
    with tempfile.TemporaryDirectory() as tmp, private_topics() as settings:
        path = Path(tmp) / "alerts.jsonl"
        generate(path, args.records)
        print(f"input: {args.records} alerts, {path.stat().st_size / 2**20:.1f} MiB JSON Lines")
        bare = bare_loop(settings, path)
        rate, accepted = pipeline(settings, path)
    print(f"bare read+produce loop : {bare:10,.0f} records/s")
    print(f"riskalert ingest alerts: {rate:10,.0f} alerts/s  ({accepted} accepted)")
    print(f"ratio pipeline/bare    : {rate / bare:10.2f}")
    print(f"target >= 20,000 alerts/s: {'MET' if rate >= 20_000 else 'NOT MET'}")


if __name__ == "__main__":
    main()
