"""Things worth keeping for the rest of one transaction, and no longer.

The session's identity map holds rows weakly: a row read, left unchanged and no longer
referenced may be read again by the next lookup in the same transaction. ``memo`` keeps what a
transaction has already read (a locked row, a parsed policy) until it commits or rolls back;
the next transaction starts with an empty memo.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import Select, event, inspect
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

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


def by_key(session: Session, query: Select[T], kind: type[T], key: object) -> T | None:
    """``session.get(kind, key)`` for a one-column primary key, reading with ``query`` (built
    once, selecting ``kind`` by a ``key`` parameter): ``session.get`` builds its ``SELECT``
    anew every time it reads, which costs as much as running it. A row the session holds (and
    has not expired) is returned without reading, as ``session.get`` does."""
    held = session.identity_map.get(identity_key(kind, key))
    if held is not None and not inspect(held).expired:
        found: T = held
        return found
    return session.scalars(query, {"key": key}).one_or_none()


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
