"""docs/input-format.md tells the truth: its examples are accepted, and it lists every reason code."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from streams.ingest.context import Accepted, IngestContext
from streams.ingest.fields import Reason
from streams.ingest.readers import ParseReason, read_records
from streams.ingest.validate import validate_alert, validate_task_event, validate_victim
from tests.unit.ingest.support import HMAC_KEY, NOW_MS

DOC = (Path(__file__).parents[3] / "docs" / "input-format.md").read_text(encoding="utf-8")
EXAMPLES = re.findall(r"<!-- example: (\w+) -->\n```(jsonl|csv)\n(.*?)```", DOC, re.DOTALL)
VALIDATORS = {"alert": validate_alert, "event": validate_task_event, "victim": validate_victim}


def test_the_document_has_examples_of_every_kind_in_both_formats() -> None:
    assert {(kind, fmt) for kind, fmt, _ in EXAMPLES} == {
        (kind, fmt) for kind in VALIDATORS for fmt in ("jsonl", "csv")
    }


@pytest.mark.parametrize(("kind", "fmt", "text"), EXAMPLES)
def test_every_example_record_is_accepted(kind: str, fmt: str, text: str) -> None:
    context = IngestContext(HMAC_KEY)
    items = list(read_records(io.BytesIO(text.encode()), fmt=fmt))
    assert items
    for _, record in items:
        assert isinstance(record, dict), record
        result = VALIDATORS[kind](record, context, NOW_MS)
        assert isinstance(result, Accepted), result


def test_every_reason_code_is_documented() -> None:
    documented = set(re.findall(r"^\| `(\w+)` \|", DOC, re.MULTILINE))
    assert {reason.value for reason in Reason} | {reason.value for reason in ParseReason} <= documented
