"""When name recognition fails during redaction, the package waits for a reviewer."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ferry.domain.models import Identity
from ferry.export import people
from ferry.services import collection, demo, packages, requests, verification


def _submit(email: str) -> str:
    view = requests.submit(
        "acme", "access", [Identity.parse("email", email)], jurisdiction="EU-DE", actor="test"
    )
    verification.attest(view.id, "tester", "called the person back")
    return view.id


def test_a_failed_name_finder_sends_the_package_to_review(
    ferry_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = tmp_path / "dies.py"
    script.write_text("import sys\nsys.stdin.readline()\nsys.exit(3)\n")
    real = people.PeopleFinder
    monkeypatch.setattr(people, "unavailable", lambda *_a, **_k: None)
    monkeypatch.setattr(
        people, "PeopleFinder", lambda *_a, **_k: real([sys.executable, str(script)], timeout=2.0)
    )
    setup = demo.seed(customers=30)  # support tickets hold free text that names the agent
    rid = _submit(setup.sample_emails[0])
    view = collection.run(rid, "agent")
    assert view.state == "review"  # the tenant does not require review; the failure does
    report = packages.redactions(rid, "reviewer")
    assert report.engine is not None and report.engine.endswith("(failed: conservative)")
    assert report.notes and "person-name recognition failed" in report.notes[0]


def test_without_a_failure_the_tenant_policy_decides(
    ferry_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FERRY_NAME_ENGINE", "none")  # known people only: a note, not a failure
    setup = demo.seed(customers=30)
    rid = _submit(setup.sample_emails[0])
    assert collection.run(rid, "agent").state == "ready"
    report = packages.redactions(rid, "reviewer")
    assert report.notes and "FERRY_NAME_ENGINE" in report.notes[0]
    assert report.engine is not None and not report.engine.endswith("(failed: conservative)")
