"""Each verification method end to end through the REST API, on the demo shop."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pyotp
import pytest
import sqlalchemy as sa

from ferry.db import get_engine
from ferry.settings import reset_settings
from tests.verify.support import client, link_token, seed, submit

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def test_magic_link_verifies_once(ferry_env: Path) -> None:
    shop = seed(ferry_env)
    person = shop.person(0)
    with client() as c:
        rid = submit(c, {"email": person})
        assert c.post(f"/api/v1/requests/{rid}/verify/magic-link/start").status_code == 202
        token = link_token(shop.outbox, person)
        ok = c.post(f"/api/v1/requests/{rid}/verify/magic-link", json={"token": token})
        assert ok.status_code == 200, ok.text
        assert ok.json()["state"] == "verified" and ok.json()["level"] == 1
        again = c.post(f"/api/v1/requests/{rid}/verify/magic-link", json={"token": token})
        assert again.status_code == 400 and again.json()["code"] == "no_active_code"


class FakeTwilio(BaseHTTPRequestHandler):
    """Plays the provider: records form posts with their basic auth; ``fail`` answers 500."""

    received: list[dict[str, object]] = []
    fail = False

    def do_POST(self) -> None:
        size = int(self.headers["Content-Length"])
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(size).decode()).items()}
        self.received.append({"path": self.path, "auth": self.headers["Authorization"], **form})
        status, body = (500, b"{}") if self.fail else (201, json.dumps({"sid": "SM1"}).encode())
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def twilio(monkeypatch: pytest.MonkeyPatch, ferry_env: Path) -> Iterator[type[FakeTwilio]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeTwilio)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    FakeTwilio.received, FakeTwilio.fail = [], False
    monkeypatch.setenv("FERRY_SMS_PROVIDER", "twilio")
    monkeypatch.setenv("FERRY_SMS_URL", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("FERRY_SMS_ACCOUNT", "AC123")
    monkeypatch.setenv("FERRY_SMS_TOKEN", "secret-token")
    monkeypatch.setenv("FERRY_SMS_FROM", "+15550000")
    reset_settings()
    yield FakeTwilio
    server.shutdown()
    server.server_close()


def test_sms_code_through_a_twilio_style_provider(
    ferry_env: Path, twilio: type[FakeTwilio]
) -> None:
    seed(ferry_env)
    with client() as c:
        rid = submit(c, {"phone": "+44 7700 900123"})
        assert c.post(f"/api/v1/requests/{rid}/verify/sms-code/start").status_code == 202
        (sent,) = twilio.received
        assert sent["path"] == "/2010-04-01/Accounts/AC123/Messages.json"
        assert sent["To"] == "+44 7700 900123" and sent["From"] == "+15550000"
        assert sent["auth"] == "Basic " + base64.b64encode(b"AC123:secret-token").decode()
        code = str(sent["Body"]).split("code is ")[1][:6]
        wrong = c.post(f"/api/v1/requests/{rid}/verify/sms-code", json={"code": "000000"})
        assert wrong.status_code == 400
        ok = c.post(f"/api/v1/requests/{rid}/verify/sms-code", json={"code": code})
        assert ok.status_code == 200 and ok.json()["state"] == "verified"


def test_sms_provider_failure_is_reported_and_recorded(
    ferry_env: Path, twilio: type[FakeTwilio]
) -> None:
    shop = seed(ferry_env)
    twilio.fail = True
    with client() as c:
        rid = submit(c, {"phone": "+44 7700 900124"})
        failed = c.post(f"/api/v1/requests/{rid}/verify/sms-code/start")
        assert failed.status_code == 502 and failed.json()["code"] == "sms_failed"
        detail = c.get(f"/api/v1/requests/{rid}", headers=shop.auth).json()
        assert detail["state"] == "awaiting_verification"  # the request itself is kept


def test_totp_enrol_then_verify_a_later_request(ferry_env_any: Path) -> None:
    shop = seed(ferry_env_any)
    person = shop.person(1)
    with client() as c:
        first = submit(c, {"email": person})
        token = c.post(
            f"/api/v1/requests/{first}/verify", json={"code": shop.outbox.last_code(person)}
        ).json()["access_token"]
        bearer = {"Authorization": f"Bearer {token}"}
        assert c.post(f"/api/v1/requests/{first}/totp/enrol").status_code == 403
        enrolled = c.post(f"/api/v1/requests/{first}/totp/enrol", headers=bearer)
        assert enrolled.status_code == 200, enrolled.text
        secret = enrolled.json()["secret"]
        assert enrolled.json()["uri"].startswith("otpauth://totp/")
        totp = pyotp.TOTP(secret)
        confirm = c.post(
            f"/api/v1/requests/{first}/totp/confirm", headers=bearer, json={"code": totp.now()}
        )
        assert confirm.status_code == 204, confirm.text
        with get_engine().connect() as conn:
            sealed = conn.execute(sa.text("select secret_sealed from totp_enrolments")).scalar()
        assert secret not in str(sealed)  # stored sealed, never in clear

        second = submit(c, {"email": person})
        bad = c.post(f"/api/v1/requests/{second}/verify/totp", json={"code": "123456"})
        assert bad.status_code == 400
        # the confirmation used this step; the app's next code (or a later step) is needed
        code = totp.at(int(time.time()) + 30)
        ok = c.post(f"/api/v1/requests/{second}/verify/totp", json={"code": code})
        assert ok.status_code == 200, ok.text
        third = submit(c, {"email": person})
        replay = c.post(f"/api/v1/requests/{third}/verify/totp", json={"code": code})
        assert replay.status_code == 400  # one code, one use

        stranger = submit(c, {"email": "nobody@example.org"})
        unknown = c.post(f"/api/v1/requests/{stranger}/verify/totp", json={"code": code})
        assert unknown.status_code == bad.status_code
        assert unknown.json().keys() == bad.json().keys()
        assert unknown.json()["code"] == bad.json()["code"]


def test_knowledge_levels_follow_ccpa(ferry_env_any: Path) -> None:
    shop = seed(ferry_env_any)
    person = shop.person(2)
    facts = shop.facts(person)
    with client() as c:
        rid = submit(c, {"email": person}, jurisdiction="US-CA")
        progress = c.get(f"/api/v1/requests/{rid}/verification").json()
        assert progress["required_level"] == 2 and "knowledge" in progress["methods"]
        assert progress["asks"] == ["postcode", "date_of_birth", "last_order"]
        assert "evidence" not in progress or progress["evidence"] is None  # not for the public
        by_code = c.post(
            f"/api/v1/requests/{rid}/verify", json={"code": shop.outbox.last_code(person)}
        )
        assert by_code.json()["state"] == "awaiting_verification"  # level 1 is not enough
        two = {
            "postcode": facts["postcode"].lower().replace(" ", ""),
            "date_of_birth": facts["date_of_birth"],
            "last_order": "1",
        }
        ok = c.post(f"/api/v1/requests/{rid}/verify/knowledge", json={"points": two})
        assert ok.status_code == 200, ok.text
        assert ok.json()["state"] == "verified" and ok.json()["level"] == 2
        assert sorted(ok.json()["points"]) == ["date_of_birth", "postcode"]
        detail = c.get(f"/api/v1/requests/{rid}", headers=shop.auth).json()
        evidence = c.get(f"/api/v1/requests/{rid}/verification", headers=shop.auth).json()
        trail = json.dumps([detail["events"], evidence])
        assert facts["postcode"] not in trail and facts["date_of_birth"] not in trail
        assert evidence["evidence"][-1]["points"] == ["postcode", "date_of_birth"]

        # a reasonably high degree needs three points and a signed declaration
        policy = c.put(
            "/api/v1/tenants/acme/verification-policy",
            headers=shop.auth,
            json={"jurisdiction": "US-CA", "rules": {"level": 3}},
        )
        assert policy.status_code == 200, policy.text
        high = submit(c, {"email": person}, jurisdiction="US-CA")
        three = c.post(f"/api/v1/requests/{high}/verify/knowledge", json={"points": facts})
        assert three.json()["level"] == 2 and three.json()["state"] == "awaiting_verification"
        signed = c.post(
            f"/api/v1/requests/{high}/verify/knowledge",
            json={"points": facts, "declaration": "Signed, the person"},
        )
        assert signed.json()["level"] == 3 and signed.json()["state"] == "verified"


def test_document_review_deletes_the_file_after_the_decision(ferry_env: Path) -> None:
    shop = seed(ferry_env)
    with client() as c:
        rid = submit(c, {"email": shop.person(3)})
        bad = c.post(f"/api/v1/requests/{rid}/documents", files={"file": ("id.png", b"GIF89a")})
        assert bad.status_code == 422 and bad.json()["code"] == "unsupported_document"
        empty = c.post(f"/api/v1/requests/{rid}/documents", files={"file": ("id.png", b"")})
        assert empty.status_code == 422
        up = c.post(f"/api/v1/requests/{rid}/documents", files={"file": ("id.png", PNG)})
        assert up.status_code == 201, up.text
        doc = up.json()["id"]
        stored = list((ferry_env / "documents").rglob("*.sealed"))
        assert len(stored) == 1 and PNG not in stored[0].read_bytes()  # sealed at rest
        seen = c.get(f"/api/v1/requests/{rid}/documents/{doc}/content", headers=shop.auth)
        assert seen.content == PNG and seen.headers["content-type"] == "image/png"
        decided = c.post(
            f"/api/v1/requests/{rid}/documents/{doc}/decision",
            headers=shop.auth,
            json={"approve": True, "reason": "photo matches the name on file"},
        )
        assert decided.status_code == 200 and decided.json()["status"] == "approved"
        assert not stored[0].exists() and decided.json()["stored"] is False
        gone = c.get(f"/api/v1/requests/{rid}/documents/{doc}/content", headers=shop.auth)
        assert gone.status_code == 409
        detail = c.get(f"/api/v1/requests/{rid}", headers=shop.auth).json()
        assert detail["state"] == "verified" and detail["verified_method"] == "document"
        assert "verification.document_deleted" in [e["action"] for e in detail["events"]]


def test_high_risk_document_needs_a_second_agent_and_rejection_deletes(ferry_env_any: Path) -> None:
    shop = seed(ferry_env_any)
    first, second = shop.key("reviewer-1"), shop.key("reviewer-2")
    with client() as c:
        rid = submit(
            c, {"email": shop.person(4)}, kind="transfer", jurisdiction="US-CA"
        )  # CCPA base 2 + third party 1 = high
        assert c.get(f"/api/v1/requests/{rid}/verification").json()["required_level"] == 3
        doc = c.post(f"/api/v1/requests/{rid}/documents", files={"file": ("id.png", PNG)}).json()
        assert doc["approvals_needed"] == 2
        url = f"/api/v1/requests/{rid}/documents/{doc['id']}/decision"
        yes = {"approve": True, "reason": "matches"}
        assert c.post(url, headers=first, json=yes).json()["status"] == "pending"
        twice = c.post(url, headers=first, json=yes)
        assert twice.status_code == 409 and twice.json()["code"] == "same_reviewer"
        assert c.post(url, headers=second, json=yes).json()["status"] == "approved"
        assert c.get(f"/api/v1/requests/{rid}/status").json()["state"] == "verified"

        other = submit(c, {"email": shop.person(5)})
        doc2 = c.post(
            f"/api/v1/requests/{other}/documents", files={"file": ("id.pdf", b"%PDF-1.7 test")}
        ).json()
        no = c.post(
            f"/api/v1/requests/{other}/documents/{doc2['id']}/decision",
            headers=first,
            json={"approve": False, "reason": "name does not match"},
        )
        assert no.json()["status"] == "rejected" and no.json()["stored"] is False
        assert not list((ferry_env_any / "documents").rglob("*.sealed"))


def test_authorized_agent_then_the_person_confirms(ferry_env_any: Path) -> None:
    shop = seed(ferry_env_any)
    person = shop.person(6)
    permission = base64.b64encode(b"%PDF-1.7 I authorise Agency Ltd").decode()
    with client() as c:
        rid = submit(c, {"email": person})
        bad = c.post(
            f"/api/v1/requests/{rid}/authorized-agent",
            json={
                "name": "Agency Ltd",
                "kind": "company",
                "signed_by": "the person",
                "signed_on": "2026-01-02",
                "permission": "not base64!",
            },
        )
        assert bad.status_code == 422
        sent = c.post(
            f"/api/v1/requests/{rid}/authorized-agent",
            json={
                "name": "Agency Ltd",
                "kind": "company",
                "signed_by": "the person",
                "signed_on": "2026-01-02",
                "permission": permission,
            },
        )
        assert sent.status_code == 202, sent.text
        body = shop.outbox.to(person)[-1].get_payload(decode=True)
        assert isinstance(body, bytes) and b"Agency Ltd asked" in body
        code = shop.outbox.last_code(person)
        ok = c.post(f"/api/v1/requests/{rid}/verify/authorized-agent", json={"code": code})
        assert ok.status_code == 200, ok.text
        assert ok.json()["points"] == ["signed_permission", "person_confirmed"]
        with get_engine().connect() as conn:
            row = conn.execute(sa.text("select name, confirmed_at from authorized_agents")).one()
        assert row[0] == "Agency Ltd" and row[1] is not None


def test_agent_attestation_is_for_allowed_roles_only(ferry_env: Path) -> None:
    shop = seed(ferry_env)
    with client() as c:
        rid = submit(c, {"email": shop.person(7)})
        body = {"agent": "Sam", "note": "called back on the number on file"}
        refused = c.post(f"/api/v1/requests/{rid}/attest", headers=shop.key("clerk"), json=body)
        assert refused.status_code == 403 and refused.json()["code"] == "role_not_allowed"
        boss = shop.key("lead", role="supervisor")
        ok = c.post(f"/api/v1/requests/{rid}/attest", headers=boss, json=body)
        assert ok.status_code == 200 and ok.json()["state"] == "verified"


def test_policy_limits_methods_and_rejects_nonsense(ferry_env: Path) -> None:
    shop = seed(ferry_env)
    with client() as c:
        bad = c.put(
            "/api/v1/tenants/acme/verification-policy",
            headers=shop.auth,
            json={"rules": {"methods": ["telepathy"]}},
        )
        assert bad.status_code == 422
        clerk = c.put(
            "/api/v1/tenants/acme/verification-policy",
            headers=shop.key("clerk"),
            json={"rules": {"level": 1}},
        )
        assert clerk.status_code == 403 and clerk.json()["code"] == "role_not_allowed"
        set_ = c.put(
            "/api/v1/tenants/acme/verification-policy",
            headers=shop.auth,
            json={"kind": "access", "rules": {"methods": ["knowledge", "document"]}},
        )
        assert set_.status_code == 200, set_.text
        rid = submit(c, {"email": shop.person(8)})
        nope = c.post(f"/api/v1/requests/{rid}/verify/magic-link/start")
        assert nope.status_code == 403 and nope.json()["code"] == "method_not_allowed"
        assert not shop.outbox.to(shop.person(8))  # no code sent at submission
        risk = c.post(
            f"/api/v1/requests/{rid}/risk", headers=shop.auth, json={"signals": ["address_differs"]}
        )
        assert risk.status_code == 200 and risk.json()["required_level"] == 2
        assert (
            c.post(
                f"/api/v1/requests/{rid}/risk", headers=shop.auth, json={"signals": ["moon_phase"]}
            ).status_code
            == 422
        )


def test_magic_link_page_needs_a_press_not_just_a_visit(ferry_env: Path) -> None:
    shop = seed(ferry_env)
    person = shop.person(9)
    with client() as c:
        rid = submit(c, {"email": person})
        c.post(f"/api/v1/requests/{rid}/verify/magic-link/start")
        token = link_token(shop.outbox, person)
        page = c.get(f"/p/acme/r/{rid}/verify/link?t={token}")
        assert page.status_code == 200 and "Yes, it is me" in page.text
        assert c.get(f"/api/v1/requests/{rid}/status").json()["state"] == "awaiting_verification"
        wrong = c.post(f"/p/acme/r/{rid}/verify/link", data={"t": "forged"})
        assert wrong.status_code == 400 and "not right" in wrong.text
        done = c.post(f"/p/acme/r/{rid}/verify/link", data={"t": token}, follow_redirects=False)
        assert done.status_code == 303 and done.headers["set-cookie"].startswith("ferry_")
        assert c.get(f"/api/v1/requests/{rid}/status").json()["state"] == "verified"


def test_hostile_uploads_and_agent_claims_are_refused(ferry_env: Path) -> None:
    shop = seed(ferry_env, customers=10)
    with client() as c:
        rid = submit(c, {"email": shop.person(0)})
        huge = b"%PDF-" + b"0" * (10 * 1024 * 1024)
        big = c.post(f"/api/v1/requests/{rid}/documents", files={"file": ("a.pdf", huge)})
        assert big.status_code == 422 and "10 MB" in big.json()["message"]
        none = c.post(f"/api/v1/requests/{rid}/documents")
        assert none.status_code == 422
        for _ in range(3):
            assert (
                c.post(
                    f"/api/v1/requests/{rid}/documents", files={"file": ("a.png", PNG)}
                ).status_code
                == 201
            )
        extra = c.post(f"/api/v1/requests/{rid}/documents", files={"file": ("a.png", PNG)})
        assert extra.status_code == 409 and extra.json()["code"] == "too_many_documents"
        agent = {"name": "X", "kind": "company", "signed_by": "Y", "permission": "aGk="}
        future = c.post(
            f"/api/v1/requests/{rid}/authorized-agent", json={**agent, "signed_on": "2999-01-01"}
        )
        assert future.status_code == 422
        robot = c.post(
            f"/api/v1/requests/{rid}/authorized-agent",
            json={**agent, "kind": "robot", "signed_on": "2026-01-01"},
        )
        assert robot.status_code == 422
        decision = c.post(
            f"/api/v1/requests/{rid}/documents/999/decision",
            headers=shop.auth,
            json={"approve": True, "reason": "fine"},
        )
        assert decision.status_code == 404
        anonymous = c.post(
            f"/api/v1/requests/{rid}/documents/1/decision", json={"approve": True, "reason": "fine"}
        )
        assert anonymous.status_code == 401
