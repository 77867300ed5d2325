"""The KPIs as SQL, defined once. `riskalert kpi`, the tests and the dashboards run these texts.

Every query takes ClickHouse query parameters:
- `{since:Date}`, `{until:Date}`: the period, whole days in China time, `until` excluded;
- `{station:String}`: one station's code, or '' for every station;
- the ranking also takes the card thresholds (`CardThresholds`).

Periods. SLA rates count the step units whose due time falls in the period (DOMAIN.md); task rates count
the tasks created (warned) in the period, the closest a task has to "the relevant due time", since a
task's due times all follow its creation by minutes to hours.

Counting. Every figure counts distinct deterministic ids (step units, tasks, persons), never rows, so
replays, re-sent batches and task versions cannot inflate it (docs/clickhouse.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from streams.settings import Settings

STEPS = ("RECEPTION", "DISPATCH", "VERIFICATION", "FEEDBACK")
# The steps pooled into a station's step compliance for the ranking; feedback is ranked on its own.
RANKED_STEPS = ("RECEPTION", "DISPATCH", "VERIFICATION")
# Feedback outcomes that confirm a risk: everything but NO_RISK (UNKNOWN, an unreadable new symbol, is
# left out of both sides of the dissuasion rate).
RISK_CONFIRMED_OUTCOMES = ("DISSUADED", "ALREADY_DEFRAUDED", "UNREACHABLE", "REFUSED")

_STATION_FILTER = "({station:String} = '' OR station_code = {station:String})"


def _compose(template: str, **parts: str) -> str:
    """`template` with each `<<NAME>>` replaced by a part: sub-queries and lists, all constants here."""
    for name, text in parts.items():
        template = template.replace(f"<<{name}>>", text.strip())
    if "<<" in template:
        raise ValueError(f"unfilled part in {template!r}")
    return template


# Step units per station and step: `due` = due time passed (MET, MET_LATE or BREACHED seen),
# `met` = done by the due time (MET seen). Merging the states over days is a set union, so a unit whose
# events fell on two days is still one unit.
SLA_UNITS = _compose(
    """
SELECT
    station_code,
    step,
    uniqExactMerge(due_units) AS due,
    uniqExactMerge(met_units) AS met
FROM kpi_sla_daily
WHERE day >= {since:Date} AND day < {until:Date} AND <<STATION_FILTER>>
GROUP BY station_code, step
""",
    STATION_FILTER=_STATION_FILTER,
)

# 签收/派发/核查/反馈及时率: per station and step.
STEP_COMPLIANCE = _compose(
    """
SELECT
    station_code,
    step,
    due,
    met,
    if(due = 0, NULL, met / due) AS compliance
FROM (<<SLA_UNITS>>)
ORDER BY station_code, step
""",
    SLA_UNITS=SLA_UNITS,
)


def _step_columns(step: str) -> str:
    name = step.lower()
    return (
        f"sumIf(due, step = '{step}') AS {name}_due,\n"
        f"    sumIf(met, step = '{step}') AS {name}_met,\n"
        f"    if({name}_due = 0, NULL, {name}_met / {name}_due) AS {name}_compliance"
    )


_RANKED = ", ".join(f"'{step}'" for step in RANKED_STEPS)
_STEP_COLUMNS = ",\n    ".join(_step_columns(step) for step in STEPS)

# Per station: each step's compliance, the pooled step compliance (reception, dispatch, verification:
# unit keys include the step, so summing per-step distinct counts is exact) and the overdue feedback
# rate (超期反馈率): feedback units whose due time passed without a feedback by then.
STATION_SLA = _compose(
    """
SELECT
    station_code,
    <<STEP_COLUMNS>>,
    feedback_due - feedback_met AS feedback_overdue,
    if(feedback_due = 0, NULL, feedback_overdue / feedback_due) AS overdue_feedback_rate,
    sumIf(due, step IN (<<RANKED>>)) AS steps_due,
    sumIf(met, step IN (<<RANKED>>)) AS steps_met,
    if(steps_due = 0, NULL, steps_met / steps_due) AS step_compliance
FROM (<<SLA_UNITS>>)
GROUP BY station_code
""",
    STEP_COLUMNS=_STEP_COLUMNS,
    RANKED=_RANKED,
    SLA_UNITS=SLA_UNITS,
)

# 红黄牌: a station past a yellow threshold gets a yellow card, past a red one a red card. Ranked on the
# overdue feedback rate (lower is better), then step compliance (higher is better); a station with
# nothing due yet ranks last. Equal figures share a rank.
STATION_RANKING = _compose(
    """
SELECT
    *,
    multiIf(
        ifNull(overdue_feedback_rate > {red_overdue:Float64}, 0)
            OR ifNull(step_compliance < {red_compliance:Float64}, 0), 'red',
        ifNull(overdue_feedback_rate > {yellow_overdue:Float64}, 0)
            OR ifNull(step_compliance < {yellow_compliance:Float64}, 0), 'yellow',
        ''
    ) AS card,
    rank() OVER (ORDER BY ifNull(overdue_feedback_rate, 2) ASC, ifNull(step_compliance, -1) DESC) AS rank
FROM (<<STATION_SLA>>)
ORDER BY rank, station_code
""",
    STATION_SLA=STATION_SLA,
)

_CONFIRMED = ", ".join(f"'{outcome}'" for outcome in RISK_CONFIRMED_OUTCOMES)

# One row per task created in the period, from the per-task facts (task versions and task events).
TASKS_IN_PERIOD = """
SELECT
    task_id,
    argMaxMerge(station_code) AS station,
    max(created_at) AS created,
    max(person_key) AS person,
    max(has_feedback) AS feedback,
    max(face_to_face) AS met_face_to_face,
    argMaxMerge(outcome) AS final_outcome,
    argMaxMerge(amount_protected_fen) AS protected_fen,
    max(victimised) AS victim,
    max(victimised_after_dissuasion) AS victim_after_dissuasion
FROM task_facts
GROUP BY task_id
HAVING created >= toDateTime64({since:Date}, 3, 'Asia/Shanghai')
    AND created < toDateTime64({until:Date}, 3, 'Asia/Shanghai')
    AND ({station:String} = '' OR station = {station:String})
"""

# 见面率 (face-to-face ÷ tasks with feedback), 劝阻成功率 (DISSUADED ÷ risk confirmed, by the latest
# feedback of each task), 挽损 (amount protected by the latest feedback of each task), and 预后被骗率:
# warned persons who became victims within 30 days (the dedup stage's VICTIMISED_AFTER_WARNING events) ÷
# warned persons, split into after dissuasion (劝阻后发案) and never dissuaded (未劝阻发案); the two parts
# add up to the whole. Persons without a person key cannot be traced to a case and are left out.
TASK_OUTCOMES = _compose(
    """
SELECT
    station AS station_code,
    count() AS tasks,
    countIf(feedback) AS tasks_with_feedback,
    countIf(feedback AND met_face_to_face) AS face_to_face,
    if(tasks_with_feedback = 0, NULL, face_to_face / tasks_with_feedback) AS face_to_face_rate,
    countIf(feedback AND final_outcome IN (<<CONFIRMED>>)) AS risk_confirmed,
    countIf(feedback AND final_outcome = 'DISSUADED') AS dissuaded,
    if(risk_confirmed = 0, NULL, dissuaded / risk_confirmed) AS dissuasion_rate,
    sumIf(protected_fen, feedback) AS amount_protected_fen,
    uniqExactIf(person, person != '') AS warned_persons,
    uniqExactIf(person, person != '' AND victim) AS victimised_persons,
    uniqExactIf(person, person != '' AND victim_after_dissuasion) AS victimised_after_dissuasion,
    victimised_persons - victimised_after_dissuasion AS victimised_never_dissuaded,
    if(warned_persons = 0, NULL, victimised_persons / warned_persons) AS victimisation_rate,
    if(warned_persons = 0, NULL, victimised_after_dissuasion / warned_persons)
        AS victimisation_after_dissuasion_rate,
    if(warned_persons = 0, NULL, victimised_never_dissuaded / warned_persons)
        AS victimisation_never_dissuaded_rate
FROM (<<TASKS_IN_PERIOD>>)
GROUP BY station
ORDER BY station
""",
    CONFIRMED=_CONFIRMED,
    TASKS_IN_PERIOD=TASKS_IN_PERIOD,
)

# Warnings per station issued in the period: distinct warnings, and the persons and tasks they concern.
WARNINGS = _compose(
    """
SELECT
    station_code,
    uniqExactMerge(alerts) AS warnings,
    uniqExactMerge(persons) AS warnings_persons,
    uniqExactMerge(tasks) AS warnings_tasks
FROM kpi_alerts_daily
WHERE day >= {since:Date} AND day < {until:Date} AND <<STATION_FILTER>>
GROUP BY station_code
ORDER BY station_code
""",
    STATION_FILTER=_STATION_FILTER,
)


@dataclass(frozen=True)
class CardThresholds:
    """When a station gets a card: overdue feedback rate above, or step compliance below, a threshold."""

    yellow_overdue: float
    red_overdue: float
    yellow_compliance: float
    red_compliance: float

    @classmethod
    def from_settings(cls, settings: Settings) -> CardThresholds:
        """The thresholds configured by `RISKALERT_KPI_*`."""
        return cls(
            yellow_overdue=settings.kpi_yellow_overdue_feedback_rate,
            red_overdue=settings.kpi_red_overdue_feedback_rate,
            yellow_compliance=settings.kpi_yellow_step_compliance,
            red_compliance=settings.kpi_red_step_compliance,
        )

    def parameters(self) -> dict[str, float]:
        """The ranking query's threshold parameters."""
        return {
            "yellow_overdue": self.yellow_overdue,
            "red_overdue": self.red_overdue,
            "yellow_compliance": self.yellow_compliance,
            "red_compliance": self.red_compliance,
        }


def period_parameters(since: date, until: date, station: str | None = None) -> dict[str, Any]:
    """The common query parameters: the period (dates, `until` excluded) and the station filter."""
    return {"since": since, "until": until, "station": station or ""}
