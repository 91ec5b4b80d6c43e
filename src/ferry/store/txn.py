"""Things worth keeping for the rest of one transaction, and no longer.

The session's identity map holds rows weakly: a row read, left unchanged and no longer
referenced may be read again by the next lookup in the same transaction. ``memo`` keeps what a
transaction has already read (a locked row, a parsed policy) until it commits or rolls back;
the next transaction starts with an empty memo.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.orm import Session

_KEY = "ferry.txn.memo"

T = TypeVar("T")


def memo(session: Session) -> dict[Any, Any]:
    """A dict for the session's current transaction (a new one once it has ended)."""
    transaction = session.get_transaction()
    if transaction is None:
        return {}  # no transaction yet: nothing to keep
    mark = session.info.get(_KEY)
    if mark is not None and mark[0] is transaction:
        found: dict[Any, Any] = mark[1]
        return found
    fresh: dict[Any, Any] = {}
    session.info[_KEY] = (transaction, fresh)
    return fresh


def pending(session: Session, kind: type[T]) -> list[T]:
    """Rows of ``kind`` added in this session and not flushed yet.

    A read made under ``session.no_autoflush`` (to spare a flush of unrelated pending rows)
    misses these; a reader of rarely written rows (settings, policies) adds them itself, so it
    sees what an autoflushed read would have seen.
    """
    return [obj for obj in session.new if isinstance(obj, kind)]


IN_CHUNK = 500
"""Ids per ``IN (...)`` of a batch read: well under every database's bind-parameter limit."""


def id_chunks(ids: Sequence[T]) -> Iterator[Sequence[T]]:
    """``ids`` in slices of :data:`IN_CHUNK`, for batch reads with ``column.in_(chunk)``."""
    for start in range(0, len(ids), IN_CHUNK):
        yield ids[start : start + IN_CHUNK]


def after_commit(session: Session, action: Callable[[], object]) -> None:
    """Run ``action`` once the session's transaction has committed (never after a rollback):
    deleting files, starting background work that must see the committed rows."""
    event.listen(session, "after_commit", lambda _s: action(), once=True)
