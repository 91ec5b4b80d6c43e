"""``ferry demo`` and ``ferry serve`` up to the web server (uvicorn itself is replaced here):
the store is migrated, the schedulers start, and they stop when the server returns."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ferry.cli import main
from ferry.settings import reset_settings

SCHEDULERS = {"ferry-sla-tick", "ferry-collect-sweep"}


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []

    def fake_run(app: str, **options: Any) -> None:
        names = sorted(t.name for t in threading.enumerate() if t.name in SCHEDULERS)
        calls.append({"app": app, "threads": names, **options})

    monkeypatch.setattr(main.uvicorn, "run", fake_run)
    return calls


def invoke(*args: str) -> None:
    result = CliRunner().invoke(main.app, list(args), env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code == 0, (result.output, result.exception)


def test_demo_seeds_then_serves_with_both_schedulers(
    ferry_env: Path, served: list[dict[str, Any]]
) -> None:
    invoke("demo", "--customers", "20")
    [call] = served
    assert call["app"] == "ferry.app:create_app" and call["port"] == 8000
    assert call["threads"] == sorted(SCHEDULERS)
    alive = {t.name for t in threading.enumerate()}
    assert "ferry-sla-tick" not in alive and "ferry-collect-sweep" not in alive


def test_serve_options_and_no_sweep_when_a_broker_runs_jobs(
    ferry_env: Path, served: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    invoke("serve", "--port", "8123", "--sla-tick", "0", "--collect-every", "5")
    assert served[-1]["port"] == 8123
    assert served[-1]["threads"] == ["ferry-collect-sweep"]
    monkeypatch.setenv("FERRY_BROKER_URL", "redis://127.0.0.1:6379/3")
    reset_settings()
    invoke("serve", "--sla-tick", "0")
    assert served[-1]["threads"] == []  # `ferry worker --beat` sweeps instead
