"""Property-based tests of the period arithmetic (hypothesis)."""

from __future__ import annotations

import calendar
from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from ferry.domain.deadlines import Period, PeriodUnit, add_period, is_working_day
from ferry.jurisdictions import deadlines_for, rule_for

DAYS = st.dates(min_value=date(2000, 1, 1), max_value=date(2060, 12, 31))
ROLLING = st.sampled_from(["EU-DE", "EU-FR", "EU-IT", "EU-PL", "EU-SE", "GB"])
ANY_CODE = st.sampled_from(
    ["EU-DE", "GB", "US-CA", "US-VA", "BR", "CA", "CA-QC", "SG", "AU", "JP", "IN", "CN"]
)


@settings(max_examples=300, deadline=None)
@given(code=ANY_CODE, a=DAYS, b=DAYS)
def test_later_receipt_never_gives_an_earlier_due_date(code: str, a: date, b: date) -> None:
    first, second = sorted((a, b))
    assert deadlines_for(code, first).due <= deadlines_for(code, second).due


@settings(max_examples=300, deadline=None)
@given(code=ROLLING, received=DAYS)
def test_month_periods_end_on_the_same_date_or_month_end_then_a_working_day(
    code: str, received: date
) -> None:
    rule = rule_for(code)
    due = deadlines_for(code, received).due
    year, month = (received.year + received.month // 12, received.month % 12 + 1)
    last = calendar.monthrange(year, month)[1]
    nominal = date(year, month, min(received.day, last))
    assert due >= nominal
    assert is_working_day(due, rule.holidays)  # never a weekend or a public holiday
    day = nominal  # every day skipped was not a working day
    while day < due:
        assert not is_working_day(day, rule.holidays)
        day += timedelta(days=1)


@settings(max_examples=200, deadline=None)
@given(received=DAYS, n=st.integers(min_value=1, max_value=60))
def test_business_days_count_exactly_n_working_days(received: date, n: int) -> None:
    holidays = rule_for("US-CA").holidays
    end = add_period(received, Period(n, PeriodUnit.BUSINESS_DAYS), holidays)
    assert is_working_day(end, holidays)
    counted = sum(
        is_working_day(received + timedelta(days=i), holidays)
        for i in range(1, (end - received).days + 1)
    )
    assert counted == n


@settings(max_examples=200, deadline=None)
@given(code=ANY_CODE, received=DAYS, paused=st.integers(min_value=0, max_value=60))
def test_pausing_never_brings_the_deadline_forward(code: str, received: date, paused: int) -> None:
    plain, held = deadlines_for(code, received), deadlines_for(code, received, paused)
    assert held.due >= plain.due
    if plain.extended_due and held.extended_due:
        assert held.extended_due >= held.due and held.extended_due >= plain.extended_due
