"""Guessing, enumeration and code hygiene: brute force locks out and alerts; known and unknown
people get the same answer after the same work; expired, reused and foreign codes are refused."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from ferry.connectors.sql import SqlConnector
from ferry.db import get_engine
from ferry.domain.clock import utcnow
from ferry.domain.errors import FerryError
from ferry.domain.models import Identity
from ferry.services import requests, verification, verify_guard
from ferry.verify import knowledge
from tests.verify.support import AGENTS, client, seed, submit


def alerts(shop: Any) -> list[str]:
    return [str(m["Subject"]) for m in shop.outbox.to(AGENTS)]


def test_hundreds_of_guesses_lock_the_request_and_alert(ferry_env: Path) -> None:
    shop = seed(ferry_env)
    person = shop.person(0)
    with client() as c:
        rid = submit(c, {"email": person})
        real = shop.outbox.last_code(person)
        statuses: Counter[int] = Counter()
        guesses = [f"{g:06d}" for g in range(301) if f"{g:06d}" != real][:300]
        for guess in guesses:
            answer = c.post(f"/api/v1/requests/{rid}/verify", json={"code": guess})
            statuses[answer.status_code] += 1
        assert statuses[200] == 0
        assert statuses[400] <= 5 and statuses[423] >= 1 and statuses[429] >= 200
        status = c.get(f"/api/v1/requests/{rid}/status").json()
        assert status["verification_locked"] is True
        # even the right code is refused now; an agent must verify another way
        assert c.post(f"/api/v1/requests/{rid}/verify", json={"code": real}).status_code in (
            423,
            429,
        )
    assert alerts(shop) == [f"Verification locked: request {rid}"]
    events = [e["action"] for e in requests.show(rid).events]
    assert "verification.locked" in events


def _guess(rid: str, client_ip: str) -> str:
    try:
        verification.check_code(rid, "999999", client_ip)
    except FerryError as err:
        return err.code
    return "verified"


def test_one_address_guessing_across_many_requests_is_locked_out(ferry_env_any: Path) -> None:
    shop = seed(ferry_env_any)
    ids = [
        requests.submit("acme", "access", [Identity.parse("email", f"p{i}@example.org")]).id
        for i in range(60)
    ]
    codes = [_guess(rid, "203.0.113.9") for rid in ids]
    assert codes[: verify_guard.IP_LIMIT - 1] == ["invalid_code"] * (verify_guard.IP_LIMIT - 1)
    assert set(codes[verify_guard.IP_LIMIT :]) == {"verification_locked"}
    # another address is not affected; the locked one is refused even with the right code
    fresh = requests.submit("acme", "access", [Identity.parse("email", "q@example.org")]).id
    right = shop.outbox.last_code("q@example.org")
    with pytest.raises(verify_guard.VerificationLocked):
        verification.check_code(fresh, right, "203.0.113.9")
    assert verification.check_code(fresh, right, "198.51.100.7")
    assert any("Verification locked" in s for s in alerts(shop))


def test_guessing_for_one_identity_from_many_addresses_is_locked_out(ferry_env: Path) -> None:
    shop = seed(ferry_env)
    victim = Identity.parse("email", "victim@example.org")
    results = []
    for i in range(verify_guard.IDENTITY_LIMIT + 5):
        rid = requests.submit("acme", "access", [victim]).id
        results.append(_guess(rid, f"10.0.{i}.1"))
    assert results[-1] == "verification_locked"
    latest = requests.submit("acme", "access", [victim]).id
    with pytest.raises(verify_guard.VerificationLocked):
        verification.check_code(latest, shop.outbox.last_code("victim@example.org"), "10.9.9.9")


def test_expired_reused_and_cross_request_codes_are_refused(
    ferry_env_any: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop = seed(ferry_env_any)
    a = requests.submit("acme", "access", [Identity.parse("email", "a@example.org")]).id
    b = requests.submit("acme", "access", [Identity.parse("email", "b@example.org")]).id
    code_a, code_b = shop.outbox.last_code("a@example.org"), shop.outbox.last_code("b@example.org")
    while code_a == code_b:  # a one-in-a-million draw: ask for another code for b
        verification.resend_code(b)
        code_b = shop.outbox.last_code("b@example.org")
    with pytest.raises(FerryError) as cross:
        verification.check_code(b, code_a)
    assert cross.value.code == "invalid_code"

    later = utcnow() + timedelta(minutes=16)
    monkeypatch.setattr(verification, "utcnow", lambda: later)
    with pytest.raises(FerryError) as expired:
        verification.check_code(b, code_b)
    assert expired.value.code == "code_expired"
    monkeypatch.undo()

    assert verification.check_code(a, code_a)
    with pytest.raises(FerryError) as reused:
        verification.check_code(a, code_a)
    assert reused.value.code == "no_active_code"


class Work:
    """Counts connector fetches and keyed hashes made during one call."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.fetches = 0
        self.hashes = 0
        fetch, keyed = SqlConnector.fetch, knowledge.keyed_hash

        def counted_fetch(conn: SqlConnector, ds: Any, col: str, values: Sequence[object]) -> Any:
            self.fetches += 1
            return fetch(conn, ds, col, values)

        def counted_hash(*parts: str) -> str:
            self.hashes += 1
            return keyed(*parts)

        monkeypatch.setattr(SqlConnector, "fetch", counted_fetch)
        monkeypatch.setattr(knowledge, "keyed_hash", counted_hash)

    def during(self, call: Callable[[], Any]) -> tuple[Any, int, int]:
        self.fetches = self.hashes = 0
        result = call()
        return result, self.fetches, self.hashes


def test_known_and_unknown_people_get_the_same_answer_after_the_same_work(
    ferry_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop = seed(ferry_env)
    known, unknown = shop.person(3), "no.such.person@example.org"
    guess = {"points": {"postcode": "ZZ1 1ZZ", "date_of_birth": "1970-01-01", "last_order": "1"}}
    work = Work(monkeypatch)
    with client() as c:
        rk, ru = submit(c, {"email": known}), submit(c, {"email": unknown})
        url = "/api/v1/requests/{}/verify/knowledge"
        a, fetch_a, hash_a = work.during(lambda: c.post(url.format(rk), json=guess))
        b, fetch_b, hash_b = work.during(lambda: c.post(url.format(ru), json=guess))
        assert a.status_code == b.status_code == 400
        assert a.json() == b.json()  # same code and message, word for word
        assert fetch_a == fetch_b > 0 and hash_a == hash_b > 0
        # sending codes and links: the same answer too
        for rid in (rk, ru):
            sent = c.post(f"/api/v1/requests/{rid}/verify/magic-link/start")
            assert (sent.status_code, sent.json()) == (202, {"status": "sent"})
        # TOTP with nobody enrolled: the same failure as a wrong code
        t1 = c.post(url.format(rk).replace("knowledge", "totp"), json={"code": "000000"})
        t2 = c.post(url.format(ru).replace("knowledge", "totp"), json={"code": "000000"})
        assert (t1.status_code, t1.json().keys()) == (t2.status_code, t2.json().keys())
        assert t1.json()["code"] == t2.json()["code"]


def test_every_verification_endpoint_is_rate_limited(ferry_env: Path) -> None:
    shop = seed(ferry_env)
    with client() as c:
        rid = submit(c, {"email": shop.person(0)})
        codes = [
            c.get(f"/api/v1/requests/{rid}/verification").status_code
            for _ in range(verify_guard.RATE_PER_MINUTE + 3)
        ]
        assert codes[: verify_guard.RATE_PER_MINUTE] == [200] * verify_guard.RATE_PER_MINUTE
        assert set(codes[verify_guard.RATE_PER_MINUTE :]) == {429}
        limited = c.post(f"/api/v1/requests/{rid}/verify/knowledge", json={"points": {}})
        assert limited.status_code == 429 and limited.json()["code"] == "rate_limited"


@pytest.mark.parametrize(
    "body",
    [
        {"points": {"postcode": "x" * 5000}},
        {"code": "1" * 500},
        {"points": {f"p{i}": "1" for i in range(50)}},
        {"unexpected": True},
        {"token": ""},
    ],
)
def test_hostile_answers_are_refused_cleanly(ferry_env: Path, body: dict[str, Any]) -> None:
    shop = seed(ferry_env, customers=10)
    with client() as c:
        rid = submit(c, {"email": shop.person(0)})
        answer = c.post(f"/api/v1/requests/{rid}/verify/knowledge", json=body)
        assert answer.status_code in (400, 422), answer.text
        assert set(answer.json()) >= {"code", "message"}
        assert c.post("/api/v1/requests/nope/verify/knowledge", json={}).status_code == 404
        assert c.post(f"/api/v1/requests/{rid}/verify/telepathy", json={}).status_code == 422
        raw = c.post(
            f"/api/v1/requests/{rid}/verify/knowledge",
            content=b"{nope",
            headers={"content-type": "application/json"},
        )
        assert raw.status_code == 400


def test_evidence_never_holds_raw_values(ferry_env: Path) -> None:
    shop = seed(ferry_env)
    person = shop.person(2)
    facts = shop.facts(person)
    with client() as c:
        rid = submit(c, {"email": person})
        ok = c.post(f"/api/v1/requests/{rid}/verify/knowledge", json={"points": facts})
        assert ok.status_code == 200
    with get_engine().connect() as conn:
        dump = json.dumps(
            [
                list(map(str, r))
                for t in ("verification_evidence", "audit_events", "attempt_counters")
                for r in conn.execute(sa.text(f"select * from {t}"))
            ]
        )
    assert facts["postcode"] not in dump and facts["date_of_birth"] not in dump
    assert all(name in dump for name in facts)  # the names of the points only


@pytest.mark.parametrize("jurisdiction", ["GB", "EU-DE", "US-CA"])
def test_verification_alone_never_moves_the_due_date(
    ferry_env: Path, monkeypatch: pytest.MonkeyPatch, jurisdiction: str
) -> None:
    """The clock service owns the deadline: waiting for identity counts only as a lawful pause."""
    from ferry.services import verify_policy

    seed(ferry_env, customers=10)
    view = requests.submit(
        "acme", "access", [Identity.parse("email", "late@example.org")], jurisdiction=jurisdiction
    )
    later = utcnow() + timedelta(days=12)
    monkeypatch.setattr(verify_policy, "utcnow", lambda: later)
    verification.attest(view.id, "Sam", "checked the passport in person", level=3)
    shown = requests.show(view.id)
    assert shown.state == "verified" and shown.due_date == view.due_date


def test_the_portal_is_rate_limited_and_counts_failures_by_address(ferry_env: Path) -> None:
    shop = seed(ferry_env, customers=10)
    with client() as c:
        rid = submit(c, {"email": shop.person(0)})
        answers = [
            c.post(f"/p/acme/r/{rid}/verify", data={"code": "000000"}).status_code
            for _ in range(verify_guard.RATE_PER_MINUTE + 2)
        ]
        assert 429 in answers and 200 not in answers
        assert c.get(f"/api/v1/requests/{rid}/status").json()["verification_locked"] is True
