"""Background jobs. The embedded default runs them on a small in-process thread pool."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from ferry.settings import get_settings

log = logging.getLogger("ferry.jobs")
_pool: ThreadPoolExecutor | None = None


def _executor() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(
            get_settings().jobs_inline_workers, thread_name_prefix="ferry-job"
        )
    return _pool


def submit(name: str, fn: Callable[[], object]) -> Future[object]:
    """Run ``fn`` in the background; failures are logged (the job records its own outcome)."""

    def run() -> object:
        try:
            return fn()
        except Exception:
            log.exception("job %s failed", name)
            raise

    return _executor().submit(run)


def shutdown(wait: bool = True) -> None:
    global _pool
    if _pool is not None:
        _pool.shutdown(wait=wait)
        _pool = None
