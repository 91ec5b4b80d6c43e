"""The request lifecycle: one explicit transition table. Anything not listed is illegal."""

from __future__ import annotations

from ferry.domain.errors import IllegalTransition
from ferry.domain.models import RequestState as S

# Side states a request can leave the main path for and come back from.
_HOLDS = frozenset({S.PAUSED, S.EXTENDED})
# States that count the statutory clock and may be paused or extended.
_OPEN_WORK = (S.AWAITING_VERIFICATION, S.VERIFIED, S.COLLECTING, S.REVIEW)

TRANSITIONS: dict[S, frozenset[S]] = {
    S.RECEIVED: frozenset({S.AWAITING_VERIFICATION, S.VERIFIED, S.REJECTED, S.WITHDRAWN}),
    S.AWAITING_VERIFICATION: frozenset({S.VERIFIED, S.REJECTED, S.WITHDRAWN} | _HOLDS),
    S.VERIFIED: frozenset({S.COLLECTING, S.REJECTED, S.WITHDRAWN} | _HOLDS),
    S.COLLECTING: frozenset({S.REVIEW, S.READY, S.FAILED, S.WITHDRAWN} | _HOLDS),
    S.REVIEW: frozenset({S.READY, S.COLLECTING, S.REJECTED, S.WITHDRAWN} | _HOLDS),
    S.READY: frozenset({S.DELIVERED, S.REVIEW, S.WITHDRAWN}),
    S.DELIVERED: frozenset({S.CLOSED}),
    S.FAILED: frozenset({S.COLLECTING, S.REVIEW, S.REJECTED, S.WITHDRAWN}),
    S.PAUSED: frozenset({*_OPEN_WORK, S.REJECTED, S.WITHDRAWN, S.EXTENDED}),
    S.EXTENDED: frozenset({*_OPEN_WORK, S.REJECTED, S.WITHDRAWN, S.PAUSED}),
    S.CLOSED: frozenset(),
    S.REJECTED: frozenset(),
    S.WITHDRAWN: frozenset(),
}

TERMINAL = frozenset(s for s, targets in TRANSITIONS.items() if not targets)


def can_transition(current: S, target: S) -> bool:
    return target in TRANSITIONS[current]


def check_transition(current: S, target: S) -> None:
    """Raise :class:`IllegalTransition` unless ``current -> target`` is in the table."""
    if not can_transition(current, target):
        allowed = ", ".join(sorted(t.value for t in TRANSITIONS[current])) or "nothing (final)"
        raise IllegalTransition(
            f"a request that is {current.value} cannot become {target.value}; "
            f"from {current.value} it can go to: {allowed}"
        )


def is_hold(state: S) -> bool:
    return state in _HOLDS
