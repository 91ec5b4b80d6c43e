"""Fixtures for delivery tests: the demo shop as the tenant, quick retries, a ready request."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ferry.domain.models import Identity
from ferry.services import collection, demo, jobs, requests, verification
from ferry.settings import reset_settings


@pytest.fixture
def shop(ferry_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Tenant ``acme`` with the demo shop; yields one customer's email. Retries do not wait."""
    monkeypatch.setenv("FERRY_DELIVERY_BACKOFF_S", "0")
    monkeypatch.setenv("FERRY_DELIVERY_ATTEMPTS", "3")
    reset_settings()
    setup = demo.seed(customers=40)
    yield setup.sample_emails[0]


@pytest.fixture
def shop_any(ferry_env_any: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The same on SQLite and on the real PostgreSQL."""
    monkeypatch.setenv("FERRY_DELIVERY_BACKOFF_S", "0")
    monkeypatch.setenv("FERRY_DELIVERY_ATTEMPTS", "3")
    reset_settings()
    setup = demo.seed(customers=40)
    yield setup.sample_emails[0]


def ready_request(email: str, *, recipient: str | None = None, kind: str = "transfer") -> str:
    """Submit, verify by agent and collect; returns the request id (ready, maybe sending)."""
    view = requests.submit(
        "acme",
        kind,
        [Identity.parse("email", email)],
        jurisdiction="EU-DE",
        recipient=recipient,
        channel="cli",
        actor="cli",
    )
    verification.attest(view.id, "tester", "called the person back")
    result = collection.run(view.id, "cli")
    assert result.state == "ready", result.failure
    jobs.shutdown(wait=True)  # let an automatic delivery finish
    return view.id
