"""The verification plugins on their own: registry, codes, knowledge probe, TOTP, documents,
policy levels, the sealed box and the SMS providers (with httpx's MockTransport)."""

from __future__ import annotations

import time

import httpx
import pyotp
import pytest

from ferry.collect.datamap import load_datamap
from ferry.connectors.testing import InMemoryConnector
from ferry.crypto.box import SealBroken, seal, unseal
from ferry.domain.errors import InvalidInput
from ferry.domain.models import Identity
from ferry.verify import registry
from ferry.verify.base import Attempt, Level, VerificationMethod
from ferry.verify.codes import EmailCode, code_hash
from ferry.verify.document import DocumentReview
from ferry.verify.knowledge import DEFAULT_POINTS, Knowledge, normalise, probe
from ferry.verify.policy import PolicyRules, initial_signals, required_level
from ferry.verify.sms import SmsError, TwilioConfig, TwilioSms
from ferry.verify.testing import FixedMethod, RecordingSms
from ferry.verify.totp import Totp

MAP = """
system: shop
datasets:
  customers:
    primary_key: id
    identities: {email: email}
    fields: {id: user.unique_id, email: user.contact.email, postcode: user.contact.address,
             date_of_birth: user.demographic.date_of_birth}
  orders:
    primary_key: id
    timestamp: placed_at
    references: [{field: customer_id, to: customers.id}]
    fields: {id: user.behavior, customer_id: user.unique_id, placed_at: user.behavior}
"""
DATA = {
    "customers": [
        {
            "id": 1,
            "email": "ana@example.org",
            "postcode": "SW1A 1AA",
            "date_of_birth": "1980-02-03",
        },
        {"id": 2, "email": "bo@example.org", "postcode": "EC1 2BB", "date_of_birth": "1990-01-01"},
    ],
    "orders": [
        {"id": 10, "customer_id": 1, "placed_at": "2025-01-01"},
        {"id": 11, "customer_id": 1, "placed_at": "2026-03-01"},
        {"id": 12, "customer_id": 2, "placed_at": "2026-04-01"},
    ],
}


def test_registry_builds_every_method_and_names_the_choices() -> None:
    for name in registry.names():
        assert isinstance(registry.method(name), VerificationMethod)
    with pytest.raises(InvalidInput, match="email-code"):
        registry.method("telepathy")
    with pytest.raises(InvalidInput):
        registry.method("email-code", {"ttl_minutes": 0})
    assert isinstance(FixedMethod(), VerificationMethod)


def test_code_hash_is_bound_to_method_and_request() -> None:
    method = EmailCode.build({})
    h = code_hash("s", "email-code", "r1", "123456")
    assert method.check(Attempt("r1", "s", {"code": " 123456 "}, {"hash": h})).passed
    assert not method.check(Attempt("r2", "s", {"code": "123456"}, {"hash": h})).passed
    assert h != code_hash("s", "sms-code", "r1", "123456")
    assert not method.check(Attempt("r1", "s", {}, {"hash": h})).passed


def test_probe_does_the_same_fetches_for_known_and_unknown_people() -> None:
    datamap = load_datamap(MAP)
    known, unknown = InMemoryConnector(DATA), InMemoryConnector(DATA)
    a = probe(known, datamap, [Identity.parse("email", "ana@example.org")], DEFAULT_POINTS)
    b = probe(unknown, datamap, [Identity.parse("email", "zed@example.org")], DEFAULT_POINTS)
    assert a.candidates == {
        "postcode": "SW1A 1AA",
        "date_of_birth": "1980-02-03",
        "last_order": "11",
    }
    assert b.candidates == {"postcode": None, "date_of_birth": None, "last_order": None}
    assert len(known.calls) == len(unknown.calls) == a.fetches == b.fetches == 2
    assert [c[:2] for c in known.calls] == [c[:2] for c in unknown.calls]


def test_knowledge_levels_and_normalisation() -> None:
    method = Knowledge.build({})
    held = {"postcode": "SW1A 1AA", "date_of_birth": "1980-02-03", "last_order": "11"}

    def check(answer: dict[str, str]) -> tuple[bool, Level, tuple[str, ...]]:
        out = method.check(Attempt("r", "s", answer, held))
        return out.passed, out.level, out.points

    assert check({"postcode": "sw1a1aa"}) == (False, Level.NONE, ("postcode",))
    assert check({"postcode": "sw1a-1aa", "date_of_birth": "03/02/1980"})[1] == Level.REASONABLE
    three = {"postcode": "SW1A 1AA", "date_of_birth": "1980-02-03", "last_order": "#0011"}
    assert check(three)[1] == Level.REASONABLE
    assert check({**three, "declaration": "Ana"})[1] == Level.HIGH
    assert check({"postcode": "", "date_of_birth": ""})[0] is False
    # nothing on file never matches, not even an empty statement
    assert not method.check(Attempt("r", "s", {"postcode": ""}, {})).points
    assert (
        normalise("digits", "A-00123") == "123" and normalise("date", "1980/02/03") == "1980-02-03"
    )


def test_totp_accepts_a_step_once_and_only_in_the_window() -> None:
    method = Totp.build({})
    secret = pyotp.random_base32()
    totp = pyotp.TOTP(secret)
    now = int(time.time())
    first = method.check(Attempt("r", "", {"code": totp.at(now)}, {"secret": secret}))
    assert first.passed
    step = str(first.details["step"])
    replay = method.check(
        Attempt("r", "", {"code": totp.at(now)}, {"secret": secret, "last_step": step})
    )
    assert not replay.passed
    stale = method.check(Attempt("r", "", {"code": totp.at(now - 600)}, {"secret": secret}))
    assert not stale.passed
    assert method.uri(secret, "ana@example.org").startswith("otpauth://totp/Ferry:")


def test_documents_are_recognised_by_their_bytes() -> None:
    review = DocumentReview.build({"max_bytes": 2048})
    assert review.sniff(b"%PDF-1.4 ...") == "application/pdf"
    assert review.sniff(b"\xff\xd8\xff\xe0 jpeg") == "image/jpeg"
    for bad in (b"", b"MZ\x90\x00 an exe", b"%PDF-" + b"x" * 4096):
        with pytest.raises(InvalidInput):
            review.sniff(bad)
    two = {"needed": "2"}
    assert not review.check(Attempt("r", "", {"approved_by": "a"}, two)).passed
    assert review.check(Attempt("r", "", {"approved_by": "a\x1fb"}, two)).passed
    assert not review.check(
        Attempt("r", "", {"approved_by": "a\x1fb", "rejected_by": "c"}, two)
    ).passed


def test_policy_levels_rise_with_risk_and_stop_at_high() -> None:
    rules = PolicyRules()
    assert required_level(rules, "GB", []) == Level.LOW
    assert required_level(rules, "US-CA", []) == Level.REASONABLE
    assert required_level(rules, "GB", initial_signals("transfer")) == Level.REASONABLE
    all_signals = ["identity_mismatch", "address_differs", "third_party"]
    assert required_level(rules, "US-CA", all_signals) == Level.HIGH
    with pytest.raises(ValueError):
        PolicyRules.model_validate({"raise_by": {"moon": 1}})


def test_sealed_box_detects_tampering_and_separates_purposes() -> None:
    token = seal("secret", "a", b"payload")
    assert unseal("secret", "a", token) == b"payload"
    for key, purpose, data in (
        ("secret", "b", token),
        ("other", "a", token),
        ("secret", "a", token[:-2] + b"AA"),
    ):
        with pytest.raises(SealBroken):
            unseal(key, purpose, data)


def test_twilio_provider_reports_refusals_and_odd_answers() -> None:
    config = TwilioConfig(account="AC1", token="t", sender="+1")

    def provider(handler: httpx.MockTransport) -> TwilioSms:
        return TwilioSms(config, transport=handler)

    ok = provider(httpx.MockTransport(lambda r: httpx.Response(201, json={"sid": "SM9"})))
    assert ok.send("+44", "hi") == "SM9"
    for answer in (httpx.Response(401, json={}), httpx.Response(200, text="<html>")):
        with pytest.raises(SmsError):
            provider(httpx.MockTransport(lambda r, a=answer: a)).send("+44", "hi")

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(SmsError, match="could not be reached"):
        provider(httpx.MockTransport(down)).send("+44", "hi")
    double = RecordingSms()
    double.send("+44", "code 123456")
    assert double.last_code("+44") == "123456"


def test_sms_provider_names_and_settings_are_checked(tmp_path: object) -> None:
    from ferry.verify.sms import provider

    with pytest.raises(SmsError, match="unknown SMS provider"):
        provider("pigeon", {})
    with pytest.raises(SmsError, match="account"):
        provider("twilio", {"base_url": "http://x", "token": "t", "sender": "+1"})
