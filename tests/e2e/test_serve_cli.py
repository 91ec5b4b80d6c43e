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


def _refused(*args: str) -> str:
    result = CliRunner().invoke(main.app, list(args), env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code in (1, 2), (result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return " ".join(result.output.split())


@pytest.mark.parametrize("command", [["serve"], ["worker", "--beat"]])
@pytest.mark.parametrize("value", ["-1", "abc", "1.5", ""])
def test_a_bad_sweep_interval_option_is_refused_before_anything_starts(
    ferry_env: Path,
    served: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    command: list[str],
    value: str,
) -> None:
    monkeypatch.setenv("FERRY_BROKER_URL", "redis://127.0.0.1:1/0")  # the worker needs one
    reset_settings()
    said = _refused(*command, "--collect-every", value)
    assert "Invalid value for '--collect-every'" in said
    assert served == [] and not any(t.name in SCHEDULERS for t in threading.enumerate())


@pytest.mark.parametrize("command", [["serve"], ["worker", "--beat"]])
@pytest.mark.parametrize(
    ("value", "problem"),
    [("-30", "greater than or equal to 0"), ("soon", "valid integer"), ("", "valid integer")],
)
def test_a_bad_sweep_interval_setting_is_refused_naming_the_variable(
    ferry_env: Path,
    served: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    command: list[str],
    value: str,
    problem: str,
) -> None:
    monkeypatch.setenv("FERRY_BROKER_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("FERRY_COLLECT_EVERY_S", value)
    reset_settings()
    said = _refused(*command)
    assert f"error[invalid_setting]: FERRY_COLLECT_EVERY_S='{value}' is not valid" in said
    assert problem in said and "0: off" in said
    assert served == []


def test_the_sweep_interval_setting_zero_is_off_and_checked(
    ferry_env: Path, served: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from ferry.settings import SettingsError, get_settings

    monkeypatch.setenv("FERRY_COLLECT_EVERY_S", "0")
    reset_settings()
    assert get_settings().collect_every_s == 0
    invoke("serve", "--sla-tick", "0")
    assert served[-1]["threads"] == []  # 0: no sweep
    invoke("serve", "--sla-tick", "0", "--collect-every", "0")
    assert served[-1]["threads"] == []
    monkeypatch.setenv("FERRY_COLLECT_EVERY_S", "-1")
    reset_settings()
    with pytest.raises(SettingsError) as bad:
        get_settings()
    assert bad.value.code == "invalid_setting" and "FERRY_COLLECT_EVERY_S" in bad.value.message
