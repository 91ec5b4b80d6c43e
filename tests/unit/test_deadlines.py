"""Due dates: GDPR one month per Regulation 1182/71 with weekend roll-over; CCPA 45 days."""

from __future__ import annotations

from datetime import date

import pytest

from ferry.domain.deadlines import Period, PeriodUnit, add_period
from ferry.domain.errors import InvalidInput
from ferry.jurisdictions import due_date, known_codes, rule_for


@pytest.mark.parametrize(
    ("received", "due"),
    [
        (date(2026, 3, 10), date(2026, 4, 10)),  # Friday -> same date next month
        (date(2026, 1, 31), date(2026, 3, 2)),  # no 31 Feb: 28 Feb 2026 is a Saturday -> Mon 2 Mar
        (date(2028, 1, 31), date(2028, 2, 29)),  # leap year: last day of February (a Tuesday)
        (date(2026, 4, 4), date(2026, 5, 4)),  # Monday
        (date(2026, 9, 5), date(2026, 10, 5)),  # Sat receipt -> Mon 5 Oct (a working day)
        (date(2026, 10, 3), date(2026, 11, 3)),  # Tuesday
        (date(2026, 2, 28), date(2026, 3, 30)),  # 28 Mar 2026 is Saturday -> Monday 30 Mar
    ],
)
def test_gdpr_one_month(received: date, due: date) -> None:
    assert due_date("EU-DE", received) == due
    assert due_date("GB", received) == due


@pytest.mark.parametrize(
    ("received", "due"),
    [
        (date(2026, 1, 1), date(2026, 2, 15)),  # 45 calendar days, weekends not skipped
        (date(2026, 12, 20), date(2027, 2, 3)),
    ],
)
def test_ccpa_45_calendar_days(received: date, due: date) -> None:
    assert due_date("US-CA", received) == due


def test_business_days_skip_weekends_and_holidays() -> None:
    period = Period(10, PeriodUnit.BUSINESS_DAYS)
    assert add_period(date(2026, 12, 18), period) == date(2027, 1, 1)
    holidays = {date(2026, 12, 25), date(2027, 1, 1)}
    assert add_period(date(2026, 12, 18), period, holidays) == date(2027, 1, 5)


def test_roll_forward_skips_holidays() -> None:
    period = Period(1, PeriodUnit.MONTHS, roll_to_working_day=True)
    assert add_period(date(2026, 11, 25), period, {date(2026, 12, 25)}) == date(2026, 12, 28)


def test_codes_are_normalised_and_unknown_ones_refused() -> None:
    assert rule_for(" eu-fr ").code == "EU-FR"
    assert "EU-DE" in known_codes() and "US-CA" in known_codes()
    for bad in ("EU-XX", "US-TX", "", "EU-", "GDPR"):
        with pytest.raises(InvalidInput):
            rule_for(bad)


def test_periods_must_be_positive() -> None:
    with pytest.raises(InvalidInput):
        Period(0, PeriodUnit.CALENDAR_DAYS)
