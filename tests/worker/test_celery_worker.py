"""Jobs on a real Celery worker (``ferry worker``) over real Redis and RabbitMQ, on PostgreSQL."""

from __future__ import annotations

import functools
import logging
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ferry.app import create_app
from ferry.domain.models import Identity
from ferry.services import demo, jobs, requests, tenants, verification
from ferry.settings import reset_settings
from tests.conftest import _configure, missing

BROKERS = {
    "redis": "redis://127.0.0.1:6379/3",
    "rabbitmq": "amqp://guest:guest@127.0.0.1:5672//",
}


def _reachable(url: str) -> None:
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:
        missing(url.split(":")[0], f"start the broker ({type(exc).__name__}: {exc})")


@pytest.fixture(params=sorted(BROKERS))
def broker(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """Ferry on PostgreSQL with a broker and a queue of its own; yields the broker URL."""
    url = BROKERS[request.param]
    _reachable(url)
    _configure(monkeypatch, tmp_path / "var", request.getfixturevalue("pg_database"))
    monkeypatch.setenv("FERRY_BROKER_URL", url)
    monkeypatch.setenv("FERRY_BROKER_QUEUE", f"ferry-test-{secrets.token_hex(4)}")
    reset_settings()
    yield url
    jobs.shutdown()
    reset_settings()


class Worker:
    def __init__(self, *extra: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ferry.cli.main", "worker", "-c", "1", *extra],
            env=dict(os.environ),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self) -> str:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        assert self.proc.stdout is not None
        return self.proc.stdout.read().decode(errors="replace")


@pytest.fixture
def worker_factory() -> Iterator[list[Worker]]:
    started: list[Worker] = []
    yield started
    for w in started:
        w.stop()


def verified_request(email: str) -> str:
    view = requests.submit(
        "acme", "access", [Identity.parse("email", email)], jurisdiction="EU-DE", actor="test"
    )
    verification.attest(view.id, "tester", "called the person back")
    return view.id


def wait_for(request_id: str, states: set[str], workers: list[Worker], timeout: float = 90) -> str:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        state = requests.show(request_id).state
        if state in states:
            return state
        for w in workers:
            if w.proc.poll() is not None:
                pytest.fail(f"the worker exited early:\n{w.stop()[-3000:]}")
        time.sleep(0.3)
    logs = "\n".join(w.stop()[-3000:] for w in workers)
    pytest.fail(f"{request_id} stayed {requests.show(request_id).state}; worker said:\n{logs}")


def test_a_job_published_before_any_worker_runs_is_kept_and_done(
    broker: str, worker_factory: list[Worker]
) -> None:
    setup = demo.seed(customers=30)
    rid = verified_request(setup.sample_emails[0])
    key = tenants.create_api_key("acme", "ops")
    with TestClient(create_app()) as client:
        answer = client.post(
            f"/api/v1/requests/{rid}/run", headers={"Authorization": f"Bearer {key}"}
        )
    assert answer.status_code == 202, answer.text
    assert requests.show(rid).state == "collecting"  # the broker holds the job; nothing ran here
    worker_factory.append(Worker("--beat", "--collect-every", "0", "--sla-tick", "0"))
    assert wait_for(rid, {"ready", "review"}, worker_factory) in {"ready", "review"}
    shown = requests.show(rid)
    assert shown.package is not None and shown.package.size > 0


def test_the_beat_sweep_collects_verified_requests_without_an_agent(
    broker: str, worker_factory: list[Worker]
) -> None:
    setup = demo.seed(customers=30)
    first, second = (verified_request(e) for e in setup.sample_emails[:2])
    worker_factory.append(Worker("--beat", "--collect-every", "1", "--sla-tick", "0"))
    for rid in (first, second):
        assert wait_for(rid, {"ready", "review"}, worker_factory) in {"ready", "review"}


def test_worker_without_a_broker_says_what_to_set(ferry_env: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ferry.cli.main", "worker"],
        env={k: v for k, v in os.environ.items() if k != "FERRY_BROKER_URL"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "FERRY_BROKER_URL" in done.stdout


def test_an_unknown_job_is_refused_where_it_is_asked_for(ferry_env: Path) -> None:
    from ferry.domain.errors import InvalidInput

    with pytest.raises(InvalidInput, match="no job named 'collect-everything'"):
        jobs.enqueue("collect-everything")


def test_without_a_broker_jobs_run_in_process(ferry_env: Path) -> None:
    setup = demo.seed(customers=30)
    rid = verified_request(setup.sample_emails[0])
    jobs.enqueue("collect-pending", "test")
    jobs.shutdown(wait=True)
    assert requests.show(rid).state in {"ready", "review"}


def test_a_broker_that_is_down_does_not_lose_the_job(ferry_env: Path, monkeypatch) -> None:
    setup = demo.seed(customers=30)
    rid = verified_request(setup.sample_emails[0])
    monkeypatch.setenv("FERRY_BROKER_URL", "redis://127.0.0.1:1/0")  # nothing listens there
    reset_settings()
    jobs.enqueue("collect-pending", "test")  # refused by the broker: run here instead
    jobs.shutdown(wait=True)
    assert requests.show(rid).state in {"ready", "review"}


MALFORMED = {
    "unknown job": (("collect-everything", []), {}, "job_unknown"),
    "name not a string": ((5, []), {}, "job_unknown"),
    "nothing": ((), {}, "job_message"),
    "no argument list": (("sla-tick",), {}, "job_message"),
    "arguments not a list": (("deliver", "r1"), {}, "job_message"),
    "one more part": (("sla-tick", [], "more"), {}, "job_message"),
    "keyword arguments": (("sla-tick", []), {"when": "now"}, "job_message"),
    "an argument missing": (("collect", ["r1"]), {}, "job_arguments"),
    "an argument too many": (("deliver", ["r1", "again"]), {}, "job_arguments"),
    "arguments not strings": (("collect", [1, None]), {}, "job_arguments"),
}


@functools.cache
def _app() -> Any:
    from ferry.worker.celery_app import make_app

    return make_app("memory://")


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_a_malformed_job_message_is_logged_and_dropped(
    ferry_env: Path, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    """What the worker's task does with a message put on the queue by hand: refused with a
    clear error in the log, nothing run, nothing raised (so nothing is retried)."""
    payload, extra, code = MALFORMED[name]
    task = _app().tasks[jobs.TASK]
    with caplog.at_level(logging.ERROR, logger="ferry.jobs"):
        assert task(*payload, **extra) is None
    [logged] = [r for r in caplog.records if r.name == "ferry.jobs"]
    assert logged.levelno == logging.ERROR
    assert f"job message refused ({code})" in logged.getMessage()


def test_a_job_with_arguments_it_does_not_take_is_refused_where_it_is_asked_for(
    ferry_env: Path,
) -> None:
    from ferry.domain.errors import InvalidInput

    with pytest.raises(InvalidInput, match=r"job 'deliver' takes \(request_id\); got 2"):
        jobs.enqueue("deliver", "r1", "r2")
    with pytest.raises(InvalidInput, match="takes strings only"):
        jobs.run("collect", "r1", 5)  # type: ignore[arg-type]
    jobs.run("sla-tick")  # a well-formed job runs


@pytest.mark.parametrize("broker", ["redis"], indirect=True)
def test_a_worker_drops_malformed_messages_and_goes_on(
    broker: str, worker_factory: list[Worker]
) -> None:
    from ferry.services import collection
    from ferry.settings import get_settings

    setup = demo.seed(customers=30)
    rid = verified_request(setup.sample_emails[0])
    collection.start(rid, "test")
    client, queue = jobs._celery(broker), get_settings().broker_queue
    for payload, extra, _code in MALFORMED.values():  # all ahead of the real job
        client.send_task(jobs.TASK, args=list(payload), kwargs=extra, queue=queue)
    jobs.enqueue("collect", rid, "test")
    worker_factory.append(Worker())
    assert wait_for(rid, {"ready", "review"}, worker_factory) in {"ready", "review"}
    said = worker_factory[0].stop()
    assert said.count("job message refused") == len(MALFORMED), said[-3000:]
