"""Collection leases: that a run is still working on a collecting request, and until when.

A run that takes a request into ``collecting`` holds a lease on it (``requests.lease_until``,
``FERRY_COLLECT_LEASE_S`` from now) and renews it from a thread while it collects and packages,
every third of that time. A request still collecting after its lease ran out lost its run (a
killed worker, a host restart): the sweep fails it (:mod:`ferry.services.stalled`). A request
waiting for a manual upload holds no lease: nobody works on it until the upload comes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta

from sqlalchemy import update

from ferry.db import unit_of_work
from ferry.domain.clock import utcnow
from ferry.domain.errors import Conflict
from ferry.domain.models import RequestState
from ferry.settings import get_settings
from ferry.store import txn
from ferry.store.tables import Request

log = logging.getLogger("ferry.leases")


def length() -> timedelta | None:
    """How long a lease lasts; None when leases are off (``FERRY_COLLECT_LEASE_S=0``)."""
    seconds = get_settings().collect_lease_s
    return timedelta(seconds=seconds) if seconds > 0 else None


def take(req: Request, now: datetime | None = None) -> None:
    """This run works on ``req`` from now (in the caller's transaction)."""
    lease = length()
    req.lease_until = (now or utcnow()) + lease if lease else None


def drop(req: Request) -> None:
    """Nobody works on ``req`` any more (it left collecting, or waits for an upload)."""
    req.lease_until = None


def refuse_if_held(req: Request, now: datetime | None = None) -> None:
    """A request another run is collecting (its lease still runs) is not started again."""
    until = req.lease_until
    collecting = req.state == RequestState.COLLECTING.value
    if collecting and until is not None and until > (now or utcnow()):
        raise Conflict(
            f"request {req.id} is being collected by another run (its lease runs until "
            f"{until:%Y-%m-%d %H:%M:%S} UTC and is renewed while it works); wait for it, or, "
            "if that run died, for the lease to run out",
            code="collecting_elsewhere",
        )


def renew(request_ids: Sequence[str]) -> None:
    """Push the leases of these requests (those still collecting) on by another lease."""
    lease = length()
    if lease is None:
        return
    until = utcnow() + lease
    with unit_of_work() as session:
        for chunk in txn.id_chunks(sorted(request_ids)):
            session.execute(
                update(Request)
                .where(Request.id.in_(chunk), Request.state == RequestState.COLLECTING.value)
                .values(lease_until=until)
                .execution_options(synchronize_session=False)
            )


@contextmanager
def kept(request_ids: Sequence[str], every: float | None = None) -> Iterator[None]:
    """Renew the leases of these requests while the block runs (from a thread of its own, every
    third of a lease unless ``every`` says otherwise). A renewal that fails is logged and tried
    again at the next beat; if they keep failing the leases run out and the sweep takes the
    requests for stalled: the run then finds them failed and leaves them as they are."""
    lease = length()
    if lease is None:
        yield
        return
    ids = list(request_ids)
    stop = threading.Event()
    beat = every if every is not None else lease.total_seconds() / 3

    def beating() -> None:
        while not stop.wait(beat):
            try:
                renew(ids)
            except Exception:
                log.exception("renewing the collection lease of %d request(s) failed", len(ids))

    thread = threading.Thread(target=beating, name="ferry-lease", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
