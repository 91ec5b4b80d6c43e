"""The embedded scheduler: periodic jobs (the SLA tick, the collection sweep) on daemon threads
in `ferry serve`.

Scale-out deployments run them on Celery beat instead (``ferry worker --beat``; see
``ferry.worker``), or ``ferry sla tick`` from cron; the tick is idempotent, so two schedulers
running at once send nothing twice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger("ferry.scheduler")


class Ticker:
    """Call ``job`` every ``interval`` seconds until stopped; a failing run is logged, not fatal."""

    def __init__(self, job: Callable[[], object], interval: float, name: str = "ferry-tick"):
        if interval <= 0:
            raise ValueError("the interval must be positive")
        self.job, self.interval, self.name = job, interval, name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Ticker:
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.job()
            except Exception:
                log.exception("scheduled job %s failed", self.name)
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None


def sla_tick() -> None:
    """The periodic deadline work: SLA reminders, and manual uploads past their due date (each
    becomes a gap the agent decides on). The ``sla-tick`` job of ``ferry worker --beat``."""
    from ferry.services.manual import expire_overdue
    from ferry.services.sla import run_due_reminders

    run_due_reminders()
    expire_overdue()


def sla_ticker(interval: float) -> Ticker:
    return Ticker(sla_tick, interval, "ferry-sla-tick")


def sweep_ticker(interval: float) -> Ticker:
    from ferry.services.sweep import collect_pending

    return Ticker(collect_pending, interval, "ferry-collect-sweep")
