"""Things worth keeping for the rest of one transaction, and no longer.

The session's identity map holds rows weakly: a row read, left unchanged and no longer
referenced may be read again by the next lookup in the same transaction. ``memo`` keeps what a
transaction has already read (a locked row, a parsed policy) until it commits or rolls back;
the next transaction starts with an empty memo.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

_KEY = "ferry.txn.memo"


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
