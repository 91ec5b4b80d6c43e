"""Ferry's Celery application: one task that runs a named job, and the beat schedule.

Jobs are acknowledged late and given back to the broker when a worker dies, so a job accepted by
the broker is not lost; every job is safe to run twice (see ``services.jobs``). One prefetched job
per process, so a long collection does not hold others back. No result backend: each job records
its outcome in the store.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.signals import worker_process_init

from ferry.db import dispose_engines
from ferry.services import jobs


def make_app(
    broker_url: str, queue: str = "ferry", sla_tick_s: float = 300, collect_every_s: float = 30
) -> Celery:
    app = Celery("ferry", broker=broker_url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_default_queue=queue,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        beat_schedule=_schedule(sla_tick_s, collect_every_s),
    )
    worker_process_init.connect(_fresh_connections, weak=False)

    @app.task(name=jobs.TASK)  # type: ignore[untyped-decorator]
    def run_job(*payload: Any, **extra: Any) -> None:
        """``[job, [arguments]]``; any other shape (a message put on the queue by hand) is
        logged and dropped by ``jobs.receive``, not retried."""
        jobs.receive(payload, extra)

    return app


def _fresh_connections(**_: Any) -> None:
    """A forked pool process must not share its parent's database connections."""
    dispose_engines()


def _schedule(sla_tick_s: float, collect_every_s: float) -> dict[str, Any]:
    schedule: dict[str, Any] = {}
    if sla_tick_s > 0:
        schedule["sla-tick"] = {"task": jobs.TASK, "schedule": sla_tick_s, "args": ["sla-tick", []]}
    if collect_every_s > 0:
        schedule["collect-pending"] = {
            "task": jobs.TASK,
            "schedule": collect_every_s,
            "args": ["collect-pending", ["worker"]],
        }
    return schedule
