"""Deadline maths. Rules come in as data (see ``ferry.jurisdictions``); this module only counts.

Month periods follow Regulation (EEC, Euratom) No 1182/71 (art. 3): the day of receipt is not
counted; a period in months ends on the same date of the last month, or on that month's last day
if there is no such date; a period ending on a Saturday, Sunday or public holiday ends at the end
of the next working day.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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
    """The last day of ``period`` from ``start`` (the day of receipt, itself not counted)."""
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


def roll(day: date, period: Period, holidays: Container[date]) -> date:
    """``day`` moved to the next working day if ``period`` rolls over non-working days."""
    return next_working_day(day, holidays) if period.roll_to_working_day else day


def local_day(moment: datetime, zone: ZoneInfo) -> date:
    """The date ``moment`` falls on in ``zone``; a naive ``moment`` is UTC (Ferry's store)."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(zone).date()


def parse_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: absurdly long names
        raise InvalidInput(
            f"unknown time zone {name!r}; use an IANA name such as Europe/Berlin or UTC"
        ) from None


@dataclass(frozen=True)
class ClockRule:
    """What the counting needs from a jurisdiction: periods only, no prose."""

    period: Period
    extension: Period | None = None
    acknowledgement: Period | None = None


@dataclass(frozen=True)
class Deadlines:
    due: date
    extended_due: date | None
    acknowledge_by: date | None


def longest_extension(
    received: date, rule: ClockRule, holidays: Container[date], paused_days: int = 0
) -> date | None:
    """The latest date an extension can reach: one period of the same unit spans both parts."""
    ext = rule.extension
    if ext is None:
        return None
    start = received + timedelta(days=paused_days)
    if ext.unit is rule.period.unit:
        whole = Period(rule.period.length + ext.length, ext.unit, rule.period.roll_to_working_day)
        return add_period(start, whole, holidays)
    raw = add_period(start, Period(rule.period.length, rule.period.unit), holidays)
    return roll(add_period(raw, Period(ext.length, ext.unit), holidays), rule.period, holidays)


def deadlines(
    received: date, rule: ClockRule, holidays: Container[date], paused_days: int = 0
) -> Deadlines:
    """Due date, latest extension and acknowledgement for a request received on ``received``.

    Paused days move the due date (the clock stopped); the acknowledgement is not moved.
    """
    if paused_days < 0:
        raise InvalidInput("paused days cannot be negative")
    start = received + timedelta(days=paused_days)
    ack = rule.acknowledgement
    return Deadlines(
        due=add_period(start, rule.period, holidays),
        extended_due=longest_extension(received, rule, holidays, paused_days),
        acknowledge_by=add_period(received, ack, holidays) if ack else None,
    )
