"""What a KPI report is asked for: periods, defaults and the refusals the command and the API share."""

from __future__ import annotations

from datetime import date

import pytest

from streams.kpi.request import KpiRequest, Period, parse_request, period_of

TODAY = date(2026, 3, 10)


def test_period_defaults_to_the_last_week_including_today() -> None:
    assert period_of(None, None, today=TODAY) == Period(date(2026, 3, 4), TODAY)
    assert period_of(date(2026, 1, 1), None, today=TODAY) == Period(date(2026, 1, 1), TODAY)
    assert period_of(None, date(2026, 2, 1), today=TODAY) == Period(date(2026, 1, 26), date(2026, 2, 1))


def test_a_one_day_period_is_fine_but_not_one_that_ends_before_it_starts() -> None:
    assert Period(TODAY, TODAY).as_json() == {"from": "2026-03-10", "to": "2026-03-10"}
    with pytest.raises(ValueError, match=r"ends \(2026-01-01\) before it starts \(2026-01-02\)"):
        Period(date(2026, 1, 2), date(2026, 1, 1))


def test_parse_request_fills_defaults_and_normalises_filters() -> None:
    assert parse_request(None, "", " ", "high", today=TODAY) == KpiRequest(
        Period(date(2026, 3, 4), TODAY), None, "HIGH"
    )
    request = parse_request("2025-03-01", "2025-03-31", "370202-PS01", None, today=TODAY)
    assert request.parameters() == {
        "first_day": date(2025, 3, 1),
        "last_day": date(2025, 3, 31),
        "station": "370202-PS01",
        "level": "",
    }


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("2025-3-1", None, None, None), r"from must be a date as YYYY-MM-DD, got '2025-3-1'"),
        ((None, "yesterday", None, None), r"to must be a date as YYYY-MM-DD, got 'yesterday'"),
        ((None, None, None, "urgent"), r"level must be one of CRITICAL, HIGH, MEDIUM, LOW, got 'urgent'"),
        (("2025-04-01", "2025-03-01", None, None), r"ends \(2025-03-01\) before it starts"),
    ],
)
def test_bad_arguments_are_refused_by_name(arguments: tuple[str | None, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_request(*arguments, today=TODAY)
