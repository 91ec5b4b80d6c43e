"""The transition table: every legal move passes, everything else raises."""

from __future__ import annotations

import itertools

import pytest

from ferry.domain.errors import IllegalTransition
from ferry.domain.lifecycle import TERMINAL, TRANSITIONS, can_transition, check_transition
from ferry.domain.models import RequestState as S

MAIN_PATH = [
    S.RECEIVED,
    S.AWAITING_VERIFICATION,
    S.VERIFIED,
    S.COLLECTING,
    S.REVIEW,
    S.READY,
    S.DELIVERED,
    S.CLOSED,
]


def test_every_state_has_a_row() -> None:
    assert set(TRANSITIONS) == set(S)


def test_main_path_is_legal_step_by_step() -> None:
    for current, target in itertools.pairwise(MAIN_PATH):
        check_transition(current, target)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.RECEIVED, S.READY),
        (S.AWAITING_VERIFICATION, S.COLLECTING),
        (S.VERIFIED, S.DELIVERED),
        (S.DELIVERED, S.RECEIVED),
        (S.CLOSED, S.RECEIVED),
        (S.REJECTED, S.VERIFIED),
        (S.WITHDRAWN, S.COLLECTING),
        (S.READY, S.PAUSED),
    ],
)
def test_illegal_moves_raise_with_the_allowed_ones(current: S, target: S) -> None:
    with pytest.raises(IllegalTransition) as caught:
        check_transition(current, target)
    assert current.value in caught.value.message and target.value in caught.value.message
    assert caught.value.status == 409


def test_terminal_states_go_nowhere() -> None:
    assert {S.CLOSED, S.REJECTED, S.WITHDRAWN} == TERMINAL
    for state in TERMINAL:
        assert not any(can_transition(state, t) for t in S)


def test_no_state_transitions_to_itself() -> None:
    assert not any(can_transition(s, s) for s in S)


def test_paused_and_extended_resume_to_open_work_only() -> None:
    for hold in (S.PAUSED, S.EXTENDED):
        assert can_transition(hold, S.VERIFIED)
        assert not can_transition(hold, S.DELIVERED)
        assert not can_transition(hold, S.READY)


def test_every_non_terminal_state_can_be_withdrawn_or_finishes() -> None:
    for state in set(S) - TERMINAL - {S.DELIVERED}:
        assert can_transition(state, S.WITHDRAWN), state
