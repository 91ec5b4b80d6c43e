"""Known answers per jurisdiction: month ends, leap years, member-state holidays, business days,
time zones around midnight. Sources are given per row where a regulator published the example."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ferry.domain.deadlines import local_day, parse_zone
from ferry.domain.errors import InvalidInput
from ferry.jurisdictions import deadlines_for, known_codes, rule_for
from ferry.services.clock import deadline, parse_received

ISSUE_CODES = [
    "EU-DE",
    "EU-FR",
    "EU-IE",
    "GB",
    "US-CA",
    "US-VA",
    "US-CO",
    "US-CT",
    "BR",
    "CA",
    "CA-QC",
    "SG",
    "AU",
    "JP",
    "IN",
    "CN",
]


def test_every_code_of_the_issue_is_known_and_cited() -> None:
    codes = known_codes()
    assert len([c for c in codes if c.startswith("EU-")]) == 27
    for code in ISSUE_CODES:
        rule = rule_for(code)
        assert code in codes
        assert len(rule.citation) > 10 and rule.data.clock.citation
        assert rule.data.rejection.complaint


@pytest.mark.parametrize(
    ("code", "received", "due", "extended", "ack"),
    [
        # ICO right-of-access guidance: received 3 September -> respond by 3 October
        ("GB", date(2024, 9, 3), date(2024, 10, 3), date(2024, 12, 3), None),
        # ICO: no corresponding date -> last day of the next month (31 March -> 30 April)
        ("GB", date(2025, 3, 31), date(2025, 4, 30), date(2025, 6, 30), None),
        # England's Summer bank holiday Mon 31 Aug 2026 -> Tue 1 Sep
        ("GB", date(2026, 7, 31), date(2026, 9, 1), date(2026, 11, 2), None),
        # 1182/71 month end: 31 Jan 2026 -> 28 Feb (Sat) -> Mon 2 Mar; extension ends 30 Apr
        ("EU-DE", date(2026, 1, 31), date(2026, 3, 2), date(2026, 4, 30), None),
        # leap year: 31 Jan 2028 -> Tue 29 Feb 2028
        ("EU-DE", date(2028, 1, 31), date(2028, 2, 29), date(2028, 5, 2), None),
        # non-leap year ending on a Sunday: 28 Feb 2027 -> Mon 1 Mar
        ("EU-IE", date(2027, 1, 31), date(2027, 3, 1), date(2027, 4, 30), None),
        # member-state holidays differ: 8 May (Victoire 1945) is a holiday in France only
        ("EU-DE", date(2026, 4, 8), date(2026, 5, 8), date(2026, 7, 8), None),
        ("EU-FR", date(2026, 4, 8), date(2026, 5, 11), date(2026, 7, 8), None),
        # 3 October (Tag der Deutschen Einheit) is a holiday in Germany only
        ("EU-DE", date(2025, 9, 3), date(2025, 10, 6), date(2025, 12, 3), None),
        ("EU-FR", date(2025, 9, 3), date(2025, 10, 3), date(2025, 12, 3), None),
        # 15 August (Assomption) in France; not a national holiday in Germany
        ("EU-FR", date(2025, 7, 15), date(2025, 8, 18), date(2025, 10, 15), None),
        ("EU-DE", date(2025, 7, 15), date(2025, 8, 15), date(2025, 10, 15), None),
        # CCPA: 45 calendar days (no roll-over: 15 Feb 2026 is a Sunday), +45 days, 10 business days
        ("US-CA", date(2026, 1, 1), date(2026, 2, 15), date(2026, 4, 1), date(2026, 1, 15)),
        # CCPA acknowledgement skips Thanksgiving and the day after (a California state holiday)
        ("US-CA", date(2026, 11, 20), date(2027, 1, 4), date(2027, 2, 18), date(2026, 12, 8)),
        ("US-VA", date(2026, 1, 1), date(2026, 2, 15), date(2026, 4, 1), None),
        ("US-CO", date(2026, 1, 1), date(2026, 2, 15), date(2026, 4, 1), None),
        ("US-CT", date(2026, 1, 1), date(2026, 2, 15), date(2026, 4, 1), None),
        ("BR", date(2026, 1, 1), date(2026, 1, 16), None, None),  # LGPD Art. 19(II): 15 days
        ("CA", date(2026, 6, 1), date(2026, 7, 1), date(2026, 7, 31), None),  # PIPEDA s.8(3)-(4)
        ("CA-QC", date(2026, 6, 1), date(2026, 7, 1), None, None),  # P-39.1 s.32: no extension
        ("SG", date(2026, 1, 1), date(2026, 1, 31), None, None),  # extension has no cap
        ("AU", date(2026, 1, 1), date(2026, 1, 31), None, None),  # OAIC: 30 days target
        ("JP", date(2026, 1, 1), date(2026, 1, 15), None, None),  # internal target 14 days
        ("IN", date(2026, 1, 1), date(2026, 4, 1), None, None),  # 90 days
        ("CN", date(2026, 1, 1), date(2026, 1, 31), None, None),  # GB/T 35273: 30 days
    ],
)
def test_known_answers(
    code: str, received: date, due: date, extended: date | None, ack: date | None
) -> None:
    found = deadlines_for(code, received)
    assert (found.due, found.extended_due, found.acknowledge_by) == (due, extended, ack)


def test_statutory_or_internal_target() -> None:
    assert rule_for("EU-DE").statutory and rule_for("US-CA").statutory
    assert not rule_for("AU").statutory and not rule_for("JP").statutory


@pytest.mark.parametrize(
    ("moment", "zone", "local"),
    [
        # 23:30 in Los Angeles on 30 Jan is 07:30 UTC on 31 Jan: it counts on 30 Jan
        (datetime(2026, 1, 31, 7, 30), "America/Los_Angeles", date(2026, 1, 30)),
        # 23:30 UTC on 31 Jan is already 1 Feb in Berlin
        (datetime(2026, 1, 31, 23, 30), "Europe/Berlin", date(2026, 2, 1)),
        (datetime(2026, 1, 31, 22, 59), "Europe/Berlin", date(2026, 1, 31)),
        # summer time: 22:30 UTC on 30 Jun is 00:30 on 1 Jul in Paris (UTC+2)
        (datetime(2026, 6, 30, 22, 30), "Europe/Paris", date(2026, 7, 1)),
        (datetime(2026, 6, 30, 14, 59), "Asia/Tokyo", date(2026, 6, 30)),
        (datetime(2026, 6, 30, 15, 0), "Asia/Tokyo", date(2026, 7, 1)),
    ],
)
def test_receipt_counts_on_the_local_date(moment: datetime, zone: str, local: date) -> None:
    assert local_day(moment, ZoneInfo(zone)) == local


def test_time_zone_changes_the_due_date_around_midnight() -> None:
    la = deadline("US-CA", "2026-01-30T23:30", "America/Los_Angeles")
    utc = deadline("US-CA", "2026-01-31T07:30Z", "UTC")
    assert la.received == date(2026, 1, 30) and la.due == date(2026, 3, 16)
    assert utc.received == date(2026, 1, 31) and utc.due == date(2026, 3, 17)
    # an offset is converted into the tenant's zone
    assert deadline("US-CA", "2026-01-31T07:30+00:00", "America/Los_Angeles").due == la.due
    assert deadline("EU-FR", "2026-01-31T23:30Z", "Europe/Paris").received == date(2026, 2, 1)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "yesterday",
        "2026-13-01",
        "2026-02-30",
        "2026-01-31T25:00",
        "x" * 5000,
        "2026-01-31T23:30+99:00",
        "\x00",
    ],
)
def test_hostile_receipt_times_are_refused(bad: str) -> None:
    with pytest.raises(InvalidInput):
        parse_received(bad, "UTC")


@pytest.mark.parametrize("zone", ["Mars/Base", "", "../../etc/passwd", "x" * 300, "UTC\x00"])
def test_unknown_time_zones_are_refused(zone: str) -> None:
    with pytest.raises(InvalidInput):
        parse_zone(zone)


def test_pauses_move_the_due_date_but_not_the_acknowledgement() -> None:
    plain = deadlines_for("GB", date(2026, 3, 2))
    paused = deadlines_for("GB", date(2026, 3, 2), paused_days=5)
    assert plain.due == date(2026, 4, 2)
    assert paused.due == date(2026, 4, 7)  # five days later: Tue 7 Apr, the day after Easter Monday
    assert deadlines_for("US-CA", date(2026, 1, 1), 3).acknowledge_by == date(2026, 1, 15)
    with pytest.raises(InvalidInput):
        deadlines_for("GB", date(2026, 3, 2), paused_days=-1)


def test_unit_words_and_periods() -> None:
    assert deadlines_for("US-CA", date(2026, 1, 1)).due - date(2026, 1, 1) == timedelta(45)
