"""Facts only the person should know or hold: data points on file, and an authenticator app."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from ferry.collect.datamap import load_datamap
from ferry.connectors.registry import open_connector
from ferry.crypto.box import seal, unseal
from ferry.crypto.tokens import keyed_hash
from ferry.db import unit_of_work
from ferry.domain.clock import utcnow
from ferry.domain.errors import Conflict, Forbidden, InvalidInput
from ferry.domain.models import Identity, IdentityType, RequestState
from ferry.services import verify_guard
from ferry.services.audit import record
from ferry.services.verify_codes import CLOSED, Result, subject_token, wrong
from ferry.services.verify_policy import grant, method_for
from ferry.settings import get_settings
from ferry.store import requests, systems
from ferry.store import verification as store
from ferry.store.tables import Request, Tenant, TotpEnrolment
from ferry.verify.base import Attempt
from ferry.verify.knowledge import Knowledge, Probe, probe
from ferry.verify.totp import Totp, new_secret

_TOTP_SEAL = "totp-secret"


def _open(session: Session, req: Request, client: str | None) -> None:
    verify_guard.refuse_if_locked(session, req, client)
    if req.state in CLOSED:
        raise InvalidInput(
            f"this request is {req.state}; there is nothing to verify",
            code="request_closed",
            status=409,
        )


def _candidates(session: Session, req: Request, method: Knowledge) -> Probe:
    """Each point's value from the first of the tenant's systems that holds it."""
    identities = [Identity.parse(i.type, i.value) for i in req.identities]
    found = Probe()
    for system in systems.for_tenant(session, req.tenant_id):
        datamap = load_datamap(system.datamap).model_copy(update={"system": system.name})
        connector = open_connector(system.url)
        try:
            part = probe(connector, datamap, identities, method.config.points)
        finally:
            connector.close()
        found.fetches += part.fetches
        found.people = max(found.people, part.people)
        for name, value in part.candidates.items():
            if found.candidates.get(name) is None:
                found.candidates[name] = value
    return found


def check_knowledge(
    session: Session, req: Request, answer: dict[str, str], client: str | None
) -> Result:
    _open(session, req, client)
    method = method_for(session, req, "knowledge")
    assert isinstance(method, Knowledge)
    stated = {k: v for k, v in answer.items() if k in {p.name for p in method.config.points}}
    if "declaration" in answer:
        stated["declaration"] = answer["declaration"]
    held = _candidates(session, req, method)
    expected = {k: v for k, v in held.candidates.items() if v is not None}
    outcome = method.check(Attempt(req.id, get_settings().secret(), stated, expected))
    if not outcome.passed:
        return wrong(
            session,
            req,
            "knowledge",
            client,
            "the details you gave do not match enough of what we hold",
        )
    grant(session, req, "knowledge", outcome, "subject")
    return Result(token=subject_token(req.id), outcome=outcome)


def _identity_hash(tenant_id: int, identity: Identity) -> str:
    value = f"{tenant_id}:{identity.type.value}:{identity.value.casefold()}"
    return keyed_hash(get_settings().secret(), "totp-identity", value)


def _account(req: Request) -> Identity:
    for kind in (IdentityType.ACCOUNT_ID, IdentityType.CUSTOMER_ID, IdentityType.EMAIL):
        value = next((i.value for i in req.identities if i.type == kind), None)
        if value:
            return Identity(kind, value)
    raise InvalidInput("an authenticator needs an account id, customer id or email on the request")


@dataclass(frozen=True)
class Enrolment:
    secret: str
    uri: str


def enrol(request_id: str, tenant_id: int | None, actor: str) -> Enrolment:
    """Start (or restart) enrolment for the account named on a verified request."""
    with unit_of_work() as session:
        req = requests.get(session, request_id, tenant_id)
        if req.state in (RequestState.RECEIVED, RequestState.AWAITING_VERIFICATION):
            raise Forbidden(
                "verify this request another way before enrolling an authenticator",
                code="not_verified",
            )
        method = method_for(session, req, "totp")
        assert isinstance(method, Totp)
        account = _account(req)
        key = _identity_hash(req.tenant_id, account)
        secret = new_secret()
        sealed = seal(get_settings().secret(), _TOTP_SEAL, secret.encode()).decode()
        row = store.enrolment(session, req.tenant_id, key)
        if row is None:
            session.add(
                TotpEnrolment(tenant_id=req.tenant_id, identity_hash=key, secret_sealed=sealed)
            )
        else:
            row.secret_sealed, row.confirmed_at, row.last_step = sealed, None, 0
        record(
            session,
            req.tenant_id,
            actor,
            "verification.totp_enrolling",
            req.id,
            {"identity_type": account.type.value},
        )
        tenant = session.get_one(Tenant, req.tenant_id)
        method = Totp(method.config.model_copy(update={"issuer": tenant.name}))
        return Enrolment(secret, method.uri(secret, account.value))


def confirm_enrolment(request_id: str, tenant_id: int | None, code: str, actor: str) -> None:
    with unit_of_work() as session:
        req = requests.get(session, request_id, tenant_id)
        method = method_for(session, req, "totp")
        row = store.enrolment(session, req.tenant_id, _identity_hash(req.tenant_id, _account(req)))
        if row is None:
            raise Conflict("start enrolment first", code="not_enrolling")
        secret = unseal(get_settings().secret(), _TOTP_SEAL, row.secret_sealed.encode()).decode()
        attempt = Attempt(req.id, "", {"code": code}, {"secret": secret, "last_step": "0"})
        outcome = method.check(attempt)
        if not outcome.passed:
            raise InvalidInput(
                "that code is not right; check the time on your device",
                code="invalid_code",
                status=400,
            )
        row.confirmed_at, row.last_step = utcnow(), int(str(outcome.details["step"]))
        record(session, req.tenant_id, actor, "verification.totp_enrolled", req.id)


def check_totp(
    session: Session, req: Request, answer: dict[str, str], client: str | None
) -> Result:
    """The same unseal and the same code computations whether or not the person enrolled."""
    _open(session, req, client)
    method = method_for(session, req, "totp")
    box = get_settings().secret()
    found: TotpEnrolment | None = None
    for identity in req.identities:
        parsed = Identity(IdentityType(identity.type), identity.value)
        row = store.enrolment(session, req.tenant_id, _identity_hash(req.tenant_id, parsed))
        if row is not None and row.confirmed_at is not None and found is None:
            found = row
    decoy = seal(box, _TOTP_SEAL, new_secret().encode()).decode()
    sealed = found.secret_sealed if found else decoy
    secret = unseal(box, _TOTP_SEAL, sealed.encode()).decode()
    last = str(found.last_step if found else 0)
    outcome = method.check(Attempt(req.id, box, answer, {"secret": secret, "last_step": last}))
    if not outcome.passed or found is None:
        return wrong(session, req, "totp", client, "that code is not right")
    found.last_step = int(str(outcome.details["step"]))
    grant(session, req, "totp", outcome, "subject")
    return Result(token=subject_token(req.id), outcome=outcome)
