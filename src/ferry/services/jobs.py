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
import inspect
import logging
from collections.abc import Callable, Mapping, Sequence
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
    if not isinstance(job, str) or job not in JOBS:
        shown = repr(job)[:100]
        raise InvalidInput(
            f"no job named {shown}; known jobs: {', '.join(sorted(JOBS))}", code="job_unknown"
        )
    module, attr = JOBS[job].split(":")
    fn: Callable[..., object] = getattr(importlib.import_module(module), attr)
    return fn


def checked(job: str, args: Sequence[object]) -> Callable[[], object]:
    """The named job bound to its arguments, ready to run; :class:`InvalidInput` (and nothing
    run) for an unknown job, or arguments it does not take or that are not strings."""
    fn = function(job)
    if not all(isinstance(a, str) for a in args):
        kinds = ", ".join(type(a).__name__ for a in args)
        raise InvalidInput(f"job {job!r} takes strings only; got ({kinds})", code="job_arguments")
    try:
        inspect.signature(fn).bind(*args)
    except TypeError:
        takes = ", ".join(inspect.signature(fn).parameters) or "nothing"
        raise InvalidInput(
            f"job {job!r} takes ({takes}); got {len(args)} argument(s)", code="job_arguments"
        ) from None
    return lambda: fn(*args)


def run(job: str, *args: str) -> object:
    """Run a named job here and now (what a worker does with a job it received)."""
    return checked(job, args)()


def receive(payload: Sequence[object], extra: Mapping[str, object]) -> object:
    """A job as a worker takes it off the broker: ``[name, [arguments]]``. A malformed one (put
    on the queue by hand, say: an unknown name, arguments missing, extra, or not strings) is
    logged and dropped, not raised: it would fail the same way every time it was tried."""
    try:
        if extra or len(payload) != 2 or not isinstance(payload[1], list):
            raise InvalidInput(
                "a job message is [name, [arguments]] with no keyword arguments",
                code="job_message",
            )
        job = checked(payload[0], payload[1])  # type: ignore[arg-type]
    except InvalidInput as exc:
        shown = repr((list(payload), dict(extra)))[:300]
        log.error("job message refused (%s): %s; message was %s", exc.code, exc.message, shown)
        return None
    return job()


def enqueue(job: str, *args: str) -> None:
    """Run a named job in the background: on a worker when a broker is set, else in-process.

    Call it after the transaction that makes the job's work visible has committed.
    """
    checked(job, args)  # a job it cannot run fails here, in the caller, not on a worker
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
