"""A small pool of reusable daemon threads, for work that must not outlive its time limit.

``concurrent.futures`` threads are joined when Python exits, so one client system hanging in a
driver call would keep Ferry from stopping. These are daemon threads, reused between calls
(starting a thread costs more than a small person's whole collection).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

_jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = queue.SimpleQueue()
_idle = 0
_lock = threading.Lock()


def _worker() -> None:
    global _idle
    while True:
        fn, future = _jobs.get()
        with _lock:
            _idle -= 1
        if future.set_running_or_notify_cancel():
            try:
                future.set_result(fn())
            except BaseException as exc:
                future.set_exception(exc)
        with _lock:
            _idle += 1


def submit(fn: Callable[[], Any]) -> Future[Any]:
    """Run ``fn`` on an idle daemon thread (a new one when none is idle)."""
    global _idle
    future: Future[Any] = Future()
    with _lock:
        if _idle == 0:
            threading.Thread(target=_worker, name="ferry-collect", daemon=True).start()
            _idle += 1
    _jobs.put((fn, future))
    return future
