"""The SLA policy file: defaults from DOMAIN.md, first match wins, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from streams.logic.sla_policy import (
    PolicyError,
    PolicyFile,
    load_policy,
    parse_duration_ms,
    parse_policy,
)
from streams.settings import PROJECT_ROOT

SHIPPED = PROJECT_ROOT / "deploy" / "config" / "sla.yaml"
MINUTE = 60_000


def test_shipped_policy_has_the_domain_defaults() -> None:
    policy = load_policy(SHIPPED)
    expected = {
        "CRITICAL": (1, 3, 15, 120),
        "HIGH": (5, 10, 30, 360),
        "MEDIUM": (15, 30, 120, 1440),
        "LOW": (60, 120, 1440, 4320),
    }
    for level, minutes in expected.items():
        rule = policy.rule_for({"level": level, "sources": ["JZZ"], "fraud_type": "OTHER"})
        assert (
            tuple(
                rule.due_ms[step] // MINUTE for step in ("reception", "dispatch", "verification", "feedback")
            )
            == minutes
        )
        assert rule.warn_at == (0.5, 0.75)


def test_first_match_wins_with_source_and_fraud_type() -> None:
    policy = parse_policy(
        {
            "rules": [
                {
                    "name": "fund",
                    "match": {"level": ["CRITICAL", "HIGH"], "source": "MPS_FUND"},
                    "due": {"reception": "30s", "dispatch": "2m", "verification": "9m", "feedback": "1h"},
                },
                {
                    "name": "romance",
                    "match": {"fraud_type": "ROMANCE"},
                    "warn_at": [0.6, 0.9],
                    "due": {"reception": "10m", "dispatch": "20m", "verification": "1h", "feedback": "12h"},
                },
                {
                    "name": "rest",
                    "due": {"reception": "1h", "dispatch": "2h", "verification": "1d", "feedback": "3d"},
                },
            ]
        }
    )
    assert (
        policy.rule_for({"level": "HIGH", "sources": ["JZZ", "MPS_FUND"], "fraud_type": "ROMANCE"}).name
        == "fund"
    )
    assert (
        policy.rule_for({"level": "LOW", "sources": ["MPS_FUND"], "fraud_type": "ROMANCE"}).name == "romance"
    )
    assert policy.rule_for({"level": "LOW", "sources": ["JZZ"], "fraud_type": "OTHER"}).name == "rest"
    assert policy.rule_for({"level": "LOW", "sources": [], "fraud_type": "ROMANCE"}).warn_at == (0.6, 0.9)


@pytest.mark.parametrize(
    ("text", "ms"), [("90s", 90_000), ("15m", 900_000), ("2h", 7_200_000), ("1.5d", 129_600_000)]
)
def test_durations(text: str, ms: int) -> None:
    assert parse_duration_ms(text) == ms


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["rules"].pop(), "the last rule (medium) is the fallback and must have no `match`"),
        (
            lambda d: d["rules"][0]["due"].update(dispatch="soon"),
            "rule 1 (critical): due: 'soon' is not a duration",
        ),
        (lambda d: d["rules"][1]["due"].pop("feedback"), "rule 2 (high): due needs exactly"),
        (
            lambda d: d["rules"][0]["match"].update(level="URGENT"),
            "rule 1 (critical): unknown level ['URGENT']",
        ),
        (lambda d: d["rules"][0]["match"].update(station="S01"), "match on ['station'] is not supported"),
        (lambda d: d.update(warn_at=[0.75, 0.5]), "warn_at: expected two ascending fractions"),
        (lambda d: d["rules"][0]["due"].update(reception="0m"), "must be longer than zero"),
        (lambda d: d.update(rules=[]), "non-empty `rules` list"),
    ],
)
def test_invalid_policies_fail_with_a_clear_message(tmp_path: Path, change: object, message: str) -> None:
    document = yaml.safe_load(SHIPPED.read_text())
    change(document)  # type: ignore[operator]  # each case edits the document in place
    path = tmp_path / "sla.yaml"
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert str(path) in str(caught.value)
    assert message in str(caught.value)


def test_unreadable_policy(tmp_path: Path) -> None:
    path = tmp_path / "sla.yaml"
    path.write_text("rules: [unclosed")
    with pytest.raises(PolicyError, match="cannot read it"):
        load_policy(path)


def _with_reception(path: Path, reception: str) -> None:
    document = yaml.safe_load(SHIPPED.read_text())
    for rule in document["rules"]:
        rule["due"]["reception"] = reception
    path.write_text(yaml.safe_dump(document))


def _reception_ms(policy: PolicyFile) -> int:
    return policy.current.rule_for({"level": "LOW", "sources": [], "fraud_type": "OTHER"}).due_ms["reception"]


def test_reload_applies_a_valid_edit_and_names_the_version(tmp_path: Path) -> None:
    path = tmp_path / "sla.yaml"
    _with_reception(path, "7m")
    policy = PolicyFile(path)
    first = policy.digest
    _with_reception(path, "9m")
    outcome = policy.reload()
    assert (outcome.result, outcome.digest) == ("applied", policy.digest)
    assert policy.digest != first
    assert len(policy.digest) == 12
    assert f"(was {first})" in outcome.message
    assert str(path) in outcome.message
    assert _reception_ms(policy) == 9 * MINUTE


def test_reload_of_the_same_content_is_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "sla.yaml"
    _with_reception(path, "7m")
    policy = PolicyFile(path)
    in_force = policy.current
    path.write_bytes(path.read_bytes())  # touched, same bytes
    assert policy.reload().result == "unchanged"
    assert policy.current is in_force


@pytest.mark.parametrize("content", ["rules: [unclosed", "rules: []\n", None])
def test_reload_refuses_an_invalid_or_missing_file_and_keeps_the_policy_in_force(
    tmp_path: Path, content: str | None
) -> None:
    path = tmp_path / "sla.yaml"
    _with_reception(path, "7m")
    policy = PolicyFile(path)
    digest, in_force = policy.digest, policy.current
    if content is None:
        path.unlink()
    else:
        path.write_text(content)
    outcome = policy.reload()
    assert outcome.result == "refused"
    assert str(path) in outcome.message
    assert f"the policy in force ({digest}) stays" in outcome.message
    assert (policy.current, policy.digest, outcome.digest) == (in_force, digest, digest)
    assert _reception_ms(policy) == 7 * MINUTE


def test_a_worker_does_not_start_on_an_invalid_policy(tmp_path: Path) -> None:
    path = tmp_path / "sla.yaml"
    path.write_text("rules: []\n")
    with pytest.raises(PolicyError, match="non-empty `rules` list"):
        PolicyFile(path)
