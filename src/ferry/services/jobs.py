"""Background jobs: named, with plain string arguments, so they can cross a process boundary.

The embedded default (no ``FERRY_BROKER_URL``) runs them on a small in-process thread pool. With
a broker URL (Redis or RabbitMQ), :func:`enqueue` publishes the job to Celery and a ``ferry
worker`` process runs it (``ferry.worker``). Every job records its own outcome in the store and
is safe to run twice (collection resumes from the datasets already done, a delivery is answered
from its receipt, the SLA tick sends nothing twice), so the broker can redeliver a job whose
worker died (late acknowledgement) without harm.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from ferry.domain.errors import InvalidInput
from ferry.settings import get_settings

log = logging.getLogger("ferry.jobs")
_pool: ThreadPoolExecutor | None = None
_client: Any = None

TASK = "ferry.job"  # the one Celery task: it runs a named job with its arguments

# name -> "module:function"; resolved when run, so this module imports no other service.
JOBS: dict[str, str] = {
    "collect": "ferry.services.collection:execute",  # (request_id, actor)
    "deliver": "ferry.services.delivery:deliver_quietly",  # (request_id,)
    "collect-pending": "ferry.services.sweep:collect_pending",  # (actor,)
    "sla-tick": "ferry.services.scheduler:sla_tick",  # (): reminders, overdue manual uploads
}


def _executor() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(
            get_settings().jobs_inline_workers, thread_name_prefix="ferry-job"
        )
    return _pool


def submit(name: str, fn: Callable[[], object]) -> Future[object]:
    """Run ``fn`` on the in-process pool; failures are logged (the job records its outcome)."""

    def run() -> object:
        try:
            return fn()
        except Exception:
            log.exception("job %s failed", name)
            raise

    return _executor().submit(run)


def function(job: str) -> Callable[..., object]:
    if job not in JOBS:
        raise InvalidInput(f"no job named {job!r}; known jobs: {', '.join(sorted(JOBS))}")
    module, attr = JOBS[job].split(":")
    fn: Callable[..., object] = getattr(importlib.import_module(module), attr)
    return fn


def run(job: str, *args: str) -> object:
    """Run a named job here and now (what a worker does with a job it received)."""
    return function(job)(*args)


def enqueue(job: str, *args: str) -> None:
    """Run a named job in the background: on a worker when a broker is set, else in-process.

    Call it after the transaction that makes the job's work visible has committed.
    """
    function(job)  # an unknown job fails here, in the caller, not later on a worker
    settings = get_settings()
    if not settings.broker_url:
        submit(f"{job}:{','.join(args)}", lambda: run(job, *args))
        return
    try:
        _celery(settings.broker_url).send_task(
            TASK, args=[job, list(args)], queue=settings.broker_queue
        )
    except Exception:  # the caller's work is committed: run it here rather than lose it
        log.exception("the broker refused job %s; running it in this process", job)
        submit(f"{job}:{','.join(args)}", lambda: run(job, *args))


def _celery(broker: str) -> Any:
    """A publishing-only Celery client (the worker has its own app: ``ferry.worker``)."""
    global _client
    if _client is None or _client.conf.broker_url != broker:
        from celery import Celery

        _client = Celery("ferry", broker=broker, set_as_current=False)
        _client.conf.broker_connection_retry_on_startup = True
    return _client


def shutdown(wait: bool = True) -> None:
    global _pool
    if _pool is not None:
        _pool.shutdown(wait=wait)
        _pool = None
