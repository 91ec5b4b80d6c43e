"""The request clock in the store: pauses, extensions, limits, rejection, SLA ticks, transfers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from ferry.db import unit_of_work
from ferry.domain.clock import utcnow
from ferry.domain.errors import Conflict, FerryError, InvalidInput
from ferry.domain.models import Identity
from ferry.jurisdictions import deadlines_for
from ferry.services import (
    audit,
    clock,
    extension,
    rejection,
    requests,
    sla,
    tenants,
    transfers,
    verification,
)
from ferry.store.tables import RequestClock
from tests.conftest import Outbox

Submit = Callable[..., str]
T0 = datetime(2026, 3, 2, 9, 0)  # a Monday, naive UTC


@pytest.fixture
def at(monkeypatch: pytest.MonkeyPatch) -> Submit:
    """Submit requests as if received at a given UTC moment."""

    def submit(
        slug: str,
        code: str,
        moment: datetime = T0,
        email: str | None = "ana@example.org",
        kind: str = "access",
    ) -> str:
        monkeypatch.setattr("ferry.services.requests.utcnow", lambda: moment)
        ident = Identity.parse("email", email) if email else Identity.parse("phone", "+1 555 0100")
        return requests.submit(slug, kind, [ident], jurisdiction=code).id

    return submit


def _actions(slug: str, rid: str) -> list[str]:
    return [e["action"] for e in requests.show(rid).events]


def test_submit_uses_the_tenant_time_zone(ferry_env_any: Path, at: Submit) -> None:
    tenants.create_tenant("west", "West Co", ["US-CA"])
    sla.set_settings(sla.SlaSettings("west", "America/Los_Angeles"), "admin")
    late = datetime(2026, 1, 31, 7, 30)  # 23:30 on 30 Jan in Los Angeles
    rid = at("west", "US-CA", late)
    view = clock.show(rid, now=late)
    assert view["received"] == "2026-01-30" and view["due"] == "2026-03-16"
    assert view["acknowledge_by"] == "2026-02-13" and view["acknowledged"]
    shown = requests.show(rid)  # the request and its receipt event carry the clock's due date
    assert shown.due_date == date(2026, 3, 16)
    received = next(e for e in shown.events if e["action"] == "request.received")
    assert received["data"]["due_date"] == "2026-03-16"
    assert audit.verify_tenant("west").ok


def test_acknowledgement_without_email_is_chased_then_recorded(
    ferry_env: Path, at: Submit, outbox: Outbox
) -> None:
    tenants.create_tenant("west", "West Co", ["US-CA"], agent_email="agents@west.test")
    rid = at("west", "US-CA", email=None)
    assert not clock.show(rid)["acknowledged"]
    assert sla.run_due_reminders(T0).reminders == 1
    assert sla.run_due_reminders(T0).reminders == 0
    assert "Acknowledge by hand" in outbox.to("agents@west.test")[0]["Subject"]
    with pytest.raises(InvalidInput):
        clock.acknowledge(rid, "agent", "")
    assert clock.acknowledge(rid, "agent", "letter posted 3 March")["acknowledged"]
    with pytest.raises(Conflict):
        clock.acknowledge(rid, "agent", "letter posted 3 March")


def test_gdpr_pause_moves_the_due_date_by_the_paused_days(ferry_env: Path, at: Submit) -> None:
    tenants.create_tenant("acme", "Acme", ["EU-DE"])
    rid = at("acme", "EU-DE")
    assert requests.show(rid).due_date == date(2026, 4, 2)
    paused = clock.pause(rid, "agent", "clarification", "which account?", now=T0 + timedelta(2))
    assert paused["state"] == "paused" and paused["paused"]
    with pytest.raises(Conflict, match="already paused"):
        clock.pause(rid, "agent", "identity", now=T0 + timedelta(3))
    resumed = clock.resume(rid, "agent", now=T0 + timedelta(days=9))
    assert resumed["paused_days"] == 7 and resumed["state"] == "awaiting_verification"
    assert resumed["due"] == deadlines_for("EU-DE", date(2026, 3, 2), 7).due.isoformat()
    assert resumed["due"] == "2026-04-09"
    with pytest.raises(Conflict, match="not paused"):
        clock.resume(rid, "agent")
    assert "request.paused" in _actions("acme", rid)


def test_a_pause_ends_however_the_request_leaves_paused(ferry_env: Path, at: Submit) -> None:
    tenants.create_tenant("acme", "Acme", ["EU-DE"])
    rid = at("acme", "EU-DE", utcnow() - timedelta(days=5))
    before = requests.show(rid).due_date
    clock.pause(rid, "agent", "identity", now=utcnow() - timedelta(days=3))
    # extending while paused keeps the request paused
    ext = extension.extend(rid, "agent", "many systems to search", now=utcnow())
    assert ext["state"] == "paused" and ext["paused"]
    extended = date.fromisoformat(ext["due"])
    # the agent verifies the person by phone straight from paused: the clock restarts
    verification.attest(rid, "agent-7", "called the number on file")
    shown = clock.show(rid)
    assert shown["state"] == "verified" and not shown["paused"]
    assert shown["paused_days"] == 3 and extended > before
    assert date.fromisoformat(shown["due"]) >= extended + timedelta(days=3)
    assert "clock.resumed" in _actions("acme", rid)


def test_pipl_clock_starts_once_the_person_is_verified(ferry_env: Path, at: Submit) -> None:
    tenants.create_tenant("shanghai", "Shanghai Co", ["CN"])
    received = utcnow() - timedelta(days=10)
    rid = at("shanghai", "CN", received)
    waiting = clock.show(rid)
    assert waiting["paused"] and waiting["pause_reason"] == "identity"
    assert sla.run_due_reminders(received + timedelta(days=40)).reminders == 0
    verification.attest(rid, "agent-7", "video call with the person")
    shown = clock.show(rid)
    assert not shown["paused"] and shown["paused_days"] == 10
    assert shown["due"] == (received.date() + timedelta(days=40)).isoformat()


def test_requests_from_before_clocks_get_one_quietly(
    ferry_env: Path, at: Submit, outbox: Outbox
) -> None:
    tenants.create_tenant("globex", "Globex", ["US-CA"])
    rid = at("globex", "US-CA")
    with unit_of_work() as session:  # as if taken in before migration 0002
        session.execute(sa.delete(RequestClock).where(RequestClock.request_id == rid))
    mails = len(outbox.messages())
    shown = clock.show(rid)
    assert shown["due"] == "2026-04-16" and shown["acknowledged"]
    assert len(outbox.messages()) == mails  # no late acknowledgement mail
    assert "clock.backfilled" in _actions("globex", rid)


def test_ccpa_refuses_to_pause(ferry_env: Path, at: Submit) -> None:
    tenants.create_tenant("globex", "Globex", ["US-CA"])
    rid = at("globex", "US-CA")
    with pytest.raises(Conflict) as err:
        clock.pause(rid, "agent", "identity", now=T0 + timedelta(1))
    assert err.value.code == "pause_not_allowed" and "§7021(b)" in err.value.message
    assert requests.show(rid).state == "awaiting_verification"
    with pytest.raises(InvalidInput, match="allows a pause only for"):
        tenants.create_tenant("acme", "Acme", ["EU-DE"])
        clock.pause(at("acme", "EU-DE"), "agent", "holiday", now=T0)


def test_extension_rules(ferry_env: Path, at: Submit, outbox: Outbox) -> None:
    tenants.create_tenant("acme", "Acme", ["EU-DE"])
    rid = at("acme", "EU-DE")
    soon = T0 + timedelta(days=10)
    for reason, code in [
        (None, "reason_required"),
        ("   ", "reason_required"),
        ("busy", "reason_required"),
    ]:
        with pytest.raises(InvalidInput) as err:
            extension.extend(rid, "agent", reason, now=soon)
        assert err.value.code == code
    with pytest.raises(InvalidInput) as err:
        extension.extend(rid, "agent", "many systems to search", until=date(2026, 6, 3), now=soon)
    assert err.value.code == "extension_too_long" and "2026-06-02" in err.value.message
    with pytest.raises(InvalidInput) as err:
        extension.extend(rid, "agent", "many systems to search", until=date(2026, 4, 1), now=soon)
    assert err.value.code == "extension_too_short"
    done = extension.extend(rid, "agent", "many systems to search", now=soon)
    assert done["due"] == "2026-06-02" and done["extended"]
    assert done["state"] == "awaiting_verification"  # work goes on after the extension
    notice = outbox.to("ana@example.org")[-1]
    assert "more time" in notice["Subject"].lower()
    assert "many systems to search" in notice.get_payload(decode=True).decode()
    with pytest.raises(Conflict) as twice:
        extension.extend(rid, "agent", "still more systems to search", now=soon)
    assert twice.value.code == "already_extended"
    actions = _actions("acme", rid)
    assert actions.index("notice.sent") < actions.index("request.extended")


def test_extension_after_the_deadline_is_too_late(ferry_env: Path, at: Submit) -> None:
    tenants.create_tenant("acme", "Acme", ["EU-DE"])
    rid = at("acme", "EU-DE")
    with pytest.raises(Conflict) as err:
        extension.extend(rid, "agent", "many systems to search", now=datetime(2026, 4, 3, 1))
    assert err.value.code == "extension_too_late"
    # on the due day itself it is still in time
    ok = extension.extend(rid, "agent", "many systems to search", now=datetime(2026, 4, 2, 20))
    assert ok["extended"]


def test_extension_needs_a_notice_and_laws_without_one(ferry_env: Path, at: Submit) -> None:
    tenants.create_tenant("acme", "Acme", ["GB"])
    rid = at("acme", "GB", email=None)
    with pytest.raises(InvalidInput) as err:
        extension.extend(rid, "agent", "many systems to search", now=T0)
    assert err.value.code == "extension_notice_required"
    done = extension.extend(
        rid, "agent", "many systems to search", notified="letter posted", now=T0
    )
    assert done["extended"] and "notice.recorded" in _actions("acme", rid)
    quebec = at("acme", "CA-QC")
    with pytest.raises(Conflict, match="allows no extension"):
        extension.extend(quebec, "agent", "many systems to search", now=T0)
    singapore = at("acme", "SG")
    with pytest.raises(InvalidInput) as sg:
        extension.extend(singapore, "agent", "many systems to search", now=T0)
    assert sg.value.code == "extension_date_required"
    assert (
        extension.extend(
            singapore, "agent", "many systems to search", until=date(2026, 5, 1), now=T0
        )["due"]
        == "2026-05-01"
    )


def test_ccpa_access_twice_in_twelve_months(ferry_env: Path, at: Submit) -> None:
    tenants.create_tenant("globex", "Globex", ["US-CA"])
    first = at("globex", "US-CA", datetime(2025, 6, 1))
    at("globex", "US-CA", datetime(2025, 12, 1))
    third = at("globex", "US-CA", datetime(2026, 3, 1))
    other_person = at("globex", "US-CA", datetime(2026, 3, 1), email="bo@example.org")
    assert clock.show(first)["over_limit"] is None
    assert "limit 2" in clock.show(third)["over_limit"]
    assert clock.show(other_person)["over_limit"] is None
    assert "request.over_limit" in _actions("globex", third)
    # 30 Nov 2026: Dec 2025 and Mar 2026 are inside the 12 months; the June one fell out
    assert clock.show(at("globex", "US-CA", datetime(2026, 11, 30)))["over_limit"] is not None
    # 2 Dec 2026: only Mar 2026 (and 30 Nov, which is itself over the limit) remain
    assert clock.show(at("globex", "US-CA", datetime(2026, 12, 2)))["over_limit"] is not None
    with pytest.raises(Conflict) as err:
        rejection.reject(first, "agent", "asked too often this year", ground="over_limit")
    assert err.value.code == "within_limit"
    done = rejection.reject(third, "agent", "third request in twelve months", ground="over_limit")
    assert done["state"] == "rejected" and "cppa.ca.gov" in done["notice"]


def test_rejection_needs_a_reason_and_states_the_right_to_complain(
    ferry_env: Path,
    at: Submit,
    outbox: Outbox,
) -> None:
    tenants.create_tenant("acme", "Acme", ["EU-FR"])
    rid = at("acme", "EU-FR")
    for bad in (None, "", "no"):
        with pytest.raises(InvalidInput):
            rejection.reject(rid, "agent", bad, ground="unfounded")
    with pytest.raises(InvalidInput):
        rejection.reject(rid, "agent", "a proper reason here", ground="because")
    done = rejection.reject(
        rid, "agent", "the 40th identical request this month", ground="unfounded"
    )
    assert done["state"] == "rejected"
    body = outbox.to("ana@example.org")[-1].get_payload(decode=True).decode()
    assert "manifestly unfounded or excessive" in body
    assert "the 40th identical request this month" in body
    assert "right to lodge a complaint with a supervisory authority" in body
    assert "Art. 12(5)" in body
    with pytest.raises(FerryError):
        rejection.reject(rid, "agent", "rejecting it a second time", ground="other")
    pipeda = at("acme", "CA")
    with pytest.raises(Conflict) as err:
        rejection.reject(pipeda, "agent", "seems excessive to us", ground="unfounded")
    assert err.value.code == "ground_not_available"


def test_reminders_escalation_and_overdue_fire_once(
    ferry_env: Path, at: Submit, outbox: Outbox
) -> None:
    tenants.create_tenant("acme", "Acme", ["GB"], agent_email="agents@acme.test")
    sla.set_settings(
        sla.SlaSettings(
            "acme",
            "Europe/London",
            internal_days=20,
            reminders=[0.5, 0.75],
            supervisor_email="boss@acme.test",
        ),
        "admin",
    )
    rid = at("acme", "GB")  # received 2 Mar, internal target 22 Mar, due 2 Apr
    assert clock.show(rid)["internal_due"] == "2026-03-22"

    def tick(day: int) -> tuple[int, int, int]:
        r = sla.run_due_reminders(T0 + timedelta(days=day))
        assert not r.errors
        return r.reminders, r.escalations, r.overdue

    assert tick(4) == (0, 0, 0)
    assert tick(10) == (1, 0, 0)  # half of the 20 days
    assert tick(10) == (0, 0, 0)  # idempotent
    assert tick(15) == (1, 0, 0)  # three quarters
    assert tick(20) == (0, 1, 0)  # internal target reached: escalate to the supervisor
    assert tick(25) == (0, 0, 0)
    assert tick(32) == (0, 0, 1)  # 3 Apr: past the statutory date
    assert tick(40) == (0, 0, 0)
    assert len(outbox.to("agents@acme.test")) == 2
    assert len(outbox.to("boss@acme.test")) == 2
    assert [v.id for v in sla.overdue("acme", T0 + timedelta(days=32))] == [rid]
    assert sla.overdue("acme", T0 + timedelta(days=31)) == []
    assert [v.id for v in sla.due_within("acme", 7, T0 + timedelta(days=25))] == [rid]
    assert sla.due_within("acme", 7, T0) == []
    assert clock.show(rid)["escalated"] and audit.verify_tenant("acme").ok


def test_paused_and_closed_requests_get_no_reminders(ferry_env: Path, at: Submit) -> None:
    tenants.create_tenant("acme", "Acme", ["EU-DE"])
    paused = at("acme", "EU-DE")
    clock.pause(paused, "agent", "identity", now=T0)
    withdrawn = at("acme", "EU-DE")
    requests.withdraw(withdrawn, "subject", "changed my mind")
    report = sla.run_due_reminders(T0 + timedelta(days=60))
    assert (report.reminders, report.escalations, report.overdue) == (0, 0, 0)


def test_sla_settings_are_validated(ferry_env: Path) -> None:
    tenants.create_tenant("acme", "Acme", ["EU-DE"])
    for bad in [
        sla.SlaSettings("acme", "Nowhere/City"),
        sla.SlaSettings("acme", internal_days=0),
        sla.SlaSettings("acme", reminders=[1.5]),
        sla.SlaSettings("acme", reminders=[0.1] * 11),
        sla.SlaSettings("acme", escalate_at=0),
        sla.SlaSettings("acme", supervisor_email="not-an-address"),
    ]:
        with pytest.raises(InvalidInput):
            sla.set_settings(bad, "admin")
    assert sla.parse_days("7d") == 7 and sla.parse_days("2w") == 14
    with pytest.raises(InvalidInput):
        sla.parse_days("soon")


def test_transfer_checks_record_the_basis(ferry_env: Path, at: Submit) -> None:
    tenants.create_tenant("acme", "Acme", ["EU-DE"])
    rid = at("acme", "EU-DE")
    assert transfers.check(rid, "fr", None, "agent").outcome == "allowed"
    assert transfers.check(rid, "JP", None, "agent").outcome == "allowed"
    us = transfers.check(rid, "US", None, "agent")
    assert us.outcome == "ask_supervisor" and "Data Privacy Framework" in us.basis
    blocked = transfers.check(rid, "CN", None, "agent")
    assert blocked.outcome == "blocked" and "standard contractual clauses" in blocked.basis
    with pytest.raises(Conflict):
        transfers.approve(rid, "CN", "supervisor", "we trust them a lot")
    asked = transfers.check(rid, "CN", "SCCs signed 2026-01-10", "agent")
    assert asked.outcome == "ask_supervisor"
    approved = transfers.approve(rid, "CN", "supervisor", "SCC module 1 reviewed by legal")
    assert approved.outcome == "allowed"
    for bad in ("China", "", "1A", "ZZZ"):
        with pytest.raises(InvalidInput):
            transfers.check(rid, bad, None, "agent")
    events = [e for e in requests.show(rid).events if e["action"].startswith("transfer.")]
    assert [e["data"].get("outcome") for e in events][:4] == [
        "allowed",
        "allowed",
        "ask_supervisor",
        "blocked",
    ]
    ca = at("acme", "US-CA")
    assert transfers.check(ca, "CN", None, "agent").outcome == "allowed"
