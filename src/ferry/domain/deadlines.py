"""Deadline maths. Rules come in as data (see ``ferry.jurisdictions``); this module only counts.

Month periods follow Regulation (EEC, Euratom) No 1182/71 (art. 3): the day of receipt is not
counted; a period in months ends on the same date of the last month, or on that month's last day
if there is no such date; a period ending on a Saturday, Sunday or public holiday ends at the end
of the next working day.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from dateutil.relativedelta import relativedelta

from ferry.domain.errors import InvalidInput


class PeriodUnit(StrEnum):
    MONTHS = "months"
    CALENDAR_DAYS = "calendar_days"
    BUSINESS_DAYS = "business_days"


@dataclass(frozen=True)
class Period:
    length: int
    unit: PeriodUnit
    roll_to_working_day: bool = False

    def __post_init__(self) -> None:
        if self.length <= 0:
            raise InvalidInput(f"a period must be positive, got {self.length}")


def is_working_day(day: date, holidays: Container[date]) -> bool:
    return day.weekday() < 5 and day not in holidays


def next_working_day(day: date, holidays: Container[date]) -> date:
    while not is_working_day(day, holidays):
        day += timedelta(days=1)
    return day


def add_period(start: date, period: Period, holidays: Container[date] = frozenset()) -> date:
    """The last day of ``period`` counted from ``start`` (the day of receipt: not counted)."""
    if period.unit is PeriodUnit.MONTHS:
        end = start + relativedelta(months=period.length)
    elif period.unit is PeriodUnit.CALENDAR_DAYS:
        end = start + timedelta(days=period.length)
    else:
        end, left = start, period.length
        while left:
            end += timedelta(days=1)
            if is_working_day(end, holidays):
                left -= 1
    if period.roll_to_working_day:
        end = next_working_day(end, holidays)
    return end
