"""The SLA policy: ordered rules matched on level (and optionally source or fraud type).

Loaded at start-up from `deploy/config/sla.yaml` (or `RISKALERT_SLA_POLICY`). An invalid policy
stops the worker with a message naming the rule and the field. A running worker reloads the file on
SIGHUP or `POST /v1/sla-policy/reload` (`PolicyFile.reload`): a valid policy applies to tasks created
from then on; an invalid one is refused and the policy in force stays.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from streams.errors import RiskAlertError

STEPS = ("reception", "dispatch", "verification", "feedback")
LEVELS = ("CRITICAL", "HIGH", "MEDIUM", "LOW")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_UNIT_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_MATCH_KEYS = ("level", "source", "fraud_type")


class PolicyError(RiskAlertError):
    """The SLA policy file is invalid; the message names the file, the rule and the field."""


@dataclass(frozen=True)
class Rule:
    """One policy rule.

    Attributes:
        name: shown in SLA events and docs.
        match: field -> accepted values; an empty mapping matches every task.
        due_ms: step -> allowance from task creation, in milliseconds.
        warn_at: the two fractions of each allowance at which AT_RISK_50 and AT_RISK_75 fire.
    """

    name: str
    match: Mapping[str, frozenset[str]]
    due_ms: Mapping[str, int]
    warn_at: tuple[float, ...]

    def matches(self, task: Mapping[str, Any]) -> bool:
        """True if every match field accepts the task's value (a task matches on any of its sources)."""
        for field, accepted in self.match.items():
            values = task.get("sources", ()) if field == "source" else (task.get(field),)
            if not any(value in accepted for value in values):
                return False
        return True


@dataclass(frozen=True)
class Policy:
    """The ordered rules; the last one matches every task."""

    rules: tuple[Rule, ...]

    def rule_for(self, task: Mapping[str, Any]) -> Rule:
        """The first rule that matches the task."""
        return next(rule for rule in self.rules if rule.matches(task))


def parse_duration_ms(text: object) -> int:
    """`90s`, `15m`, `2h`, `3d` -> milliseconds.

    Raises:
        ValueError: for anything else, or a zero duration.
    """
    match = _DURATION.match(str(text))
    if match is None:
        raise ValueError(f"{text!r} is not a duration like 90s, 15m, 2h or 3d")
    value = int(float(match.group(1)) * _UNIT_MS[match.group(2)])
    if value <= 0:
        raise ValueError(f"{text!r} must be longer than zero")
    return value


def load_policy(path: Path) -> Policy:
    """Read and check a policy file.

    Raises:
        PolicyError: naming the file, the rule and the field at fault.
    """
    return _read(path)[0]


def parse_policy(document: object) -> Policy:
    """Build a policy from its parsed YAML.

    Raises:
        ValueError: naming the rule and the field at fault.
    """
    if (
        not isinstance(document, Mapping)
        or not isinstance(document.get("rules"), list)
        or not document["rules"]
    ):
        raise ValueError("expected a mapping with a non-empty `rules` list")
    default_warn = _warn_at(document.get("warn_at", [0.5, 0.75]), "warn_at")
    rules = tuple(_rule(raw, index, default_warn) for index, raw in enumerate(document["rules"], start=1))
    if rules[-1].match:
        raise ValueError(f"the last rule ({rules[-1].name}) is the fallback and must have no `match`")
    names = [rule.name for rule in rules]
    if len(set(names)) != len(names):
        raise ValueError(f"rule names must be unique: {names}")
    return Policy(rules)


def _rule(raw: object, index: int, default_warn: tuple[float, ...]) -> Rule:
    if not isinstance(raw, Mapping):
        raise ValueError(f"rule {index}: expected a mapping")
    name = str(raw.get("name") or f"rule-{index}")
    where = f"rule {index} ({name})"
    return Rule(
        name=name,
        match=_match(raw.get("match") or {}, where),
        due_ms=_due(raw.get("due"), where),
        warn_at=_warn_at(raw["warn_at"], f"{where}: warn_at") if "warn_at" in raw else default_warn,
    )


def _match(raw: object, where: str) -> dict[str, frozenset[str]]:
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where}: match must be a mapping")
    unknown = set(raw) - set(_MATCH_KEYS)
    if unknown:
        raise ValueError(
            f"{where}: match on {sorted(unknown)} is not supported; use {', '.join(_MATCH_KEYS)}"
        )
    match = {
        str(key): frozenset(map(str, value if isinstance(value, list) else [value]))
        for key, value in raw.items()
    }
    bad_levels = match.get("level", frozenset()) - set(LEVELS)
    if bad_levels:
        raise ValueError(f"{where}: unknown level {sorted(bad_levels)}; use {', '.join(LEVELS)}")
    return match


def _due(raw: object, where: str) -> dict[str, int]:
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where}: due must map each of {', '.join(STEPS)} to a duration")
    missing = [step for step in STEPS if step not in raw]
    if missing or set(raw) - set(STEPS):
        raise ValueError(f"{where}: due needs exactly {', '.join(STEPS)}; missing {missing}")
    try:
        return {step: parse_duration_ms(raw[step]) for step in STEPS}
    except ValueError as exc:
        raise ValueError(f"{where}: due: {exc}") from exc


def _warn_at(raw: object, where: str) -> tuple[float, ...]:
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        raise ValueError(f"{where}: expected a list of fractions such as [0.5, 0.75]")
    try:
        fractions = tuple(float(value) for value in raw)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: {exc}") from exc
    # Two thresholds: their events are AT_RISK_50 and AT_RISK_75, named after the defaults.
    if len(fractions) != 2 or not 0 < fractions[0] < fractions[1] < 1:
        raise ValueError(f"{where}: expected two ascending fractions between 0 and 1, e.g. [0.5, 0.75]")
    return fractions


@dataclass(frozen=True)
class Reload:
    """What a reload did: `applied` (a new policy is in force), `unchanged` (same file content) or
    `refused` (the file is invalid; the policy in force stays); `message` says which, naming the file."""

    result: str
    digest: str
    message: str


class PolicyFile:
    """The policy in force, read from a file and reloadable while the worker runs.

    Each task keeps the deadlines computed when it started, so a reload applies to tasks created after
    it; a merge that raises a task's level applies the stricter rule of the policy in force then.
    """

    def __init__(self, path: Path) -> None:
        """Raises PolicyError: the file is missing or invalid (the worker does not start)."""
        self.path = path
        self.current, self.digest = _read(path)

    def reload(self) -> Reload:
        """Read the file again; keep the policy in force if the new one is invalid."""
        try:
            policy, digest = _read(self.path)
        except PolicyError as exc:
            return Reload("refused", self.digest, f"{exc}; the policy in force ({self.digest}) stays")
        if digest == self.digest:
            return Reload("unchanged", digest, f"SLA policy {self.path} unchanged ({digest})")
        previous, self.current, self.digest = self.digest, policy, digest
        return Reload(
            "applied",
            digest,
            f"SLA policy {self.path} reloaded: {digest} (was {previous}), {len(policy.rules)} rules,"
            " for tasks created from now on",
        )


def _read(path: Path) -> tuple[Policy, str]:
    """The policy in `path` and the first 12 hex digits of the file's SHA-256 (names a version), from
    one read of the file.

    Raises:
        PolicyError: naming the file, the rule and the field at fault.
    """
    try:
        content = path.read_bytes()
        document = yaml.safe_load(content)
    except (OSError, yaml.YAMLError) as exc:
        raise PolicyError(f"SLA policy {path}: cannot read it: {exc}") from exc
    try:
        policy = parse_policy(document)
    except ValueError as exc:
        raise PolicyError(f"SLA policy {path}: {exc}") from exc
    return policy, hashlib.sha256(content).hexdigest()[:12]
