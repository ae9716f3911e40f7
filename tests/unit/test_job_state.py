"""The job state machine: terminal states are final, every other state can reach one."""

from __future__ import annotations

import pytest

from veokit.models.job import ALLOWED, TERMINAL, JobState, can_transition

S = JobState


def test_every_state_has_an_entry() -> None:
    assert set(ALLOWED) == set(JobState)
    assert all(dst in JobState for dsts in ALLOWED.values() for dst in dsts)


@pytest.mark.parametrize("state", sorted(TERMINAL))
def test_terminal_states_have_no_exits(state: JobState) -> None:
    assert state.terminal and not state.active
    assert ALLOWED[state] == frozenset()
    assert not any(can_transition(state, dst) for dst in JobState)


@pytest.mark.parametrize("state", sorted(set(JobState) - TERMINAL))
def test_every_unfinished_state_can_reach_a_terminal_state(state: JobState) -> None:
    seen, frontier = {state}, [state]
    while frontier:
        for dst in ALLOWED[frontier.pop()] - seen:
            seen.add(dst)
            frontier.append(dst)
    assert seen & TERMINAL, f"{state} can never finish"


def test_terminal_set() -> None:
    assert {S.SUCCEEDED, S.FAILED, S.FILTERED, S.ABANDONED, S.CANCELLED} == TERMINAL


@pytest.mark.parametrize(
    ("src", "dst"),
    [
        (S.QUEUED, S.SUBMITTING),
        (S.QUEUED, S.ABANDONED),
        (S.SUBMITTING, S.RUNNING),
        (S.SUBMITTING, S.QUEUED),  # nothing was sent: safe to queue again
        (S.SUBMITTING, S.NEEDS_ATTENTION),  # outcome unknown: never resend on our own
        (S.RUNNING, S.RUNNING),  # progress updates
        (S.RUNNING, S.FILTERED),
        (S.DOWNLOADING, S.SUCCEEDED),
        (S.DOWNLOADING, S.RUNNING),
        (S.NEEDS_ATTENTION, S.QUEUED),  # the user chose to retry
        (S.NEEDS_ATTENTION, S.RUNNING),  # reconciled: the operation was found
        (S.QUEUED, S.CANCELLED),  # the user's cancel: nothing sent, nothing paid
        (S.RUNNING, S.CANCELLED),  # the provider's cancel where it has one; the cost that stands otherwise
        (S.SUBMITTING, S.CANCELLED),  # only once its submitter is gone (veokit.service.cancel)
        (S.NEEDS_ATTENTION, S.CANCELLED),
        (S.QUEUED, S.SUCCEEDED),  # its twin's video, at $0 (store/twins.py)
        (S.QUEUED, S.FILTERED),  # its twin was filtered
    ],
)
def test_allowed(src: JobState, dst: JobState) -> None:
    assert can_transition(src, dst)


@pytest.mark.parametrize(
    ("src", "dst"),
    [
        (S.QUEUED, S.RUNNING),  # must pass through submitting
        (S.QUEUED, S.DOWNLOADING),
        (S.SUBMITTING, S.SUBMITTING),  # a second submit could pay twice
        (S.SUBMITTING, S.ABANDONED),
        (S.RUNNING, S.SUCCEEDED),  # must download first
        (S.RUNNING, S.QUEUED),  # the provider already has it: resubmitting would pay twice
        (S.NEEDS_ATTENTION, S.SUBMITTING),
        (S.NEEDS_ATTENTION, S.FAILED),
        (S.SUCCEEDED, S.FAILED),
        (S.FAILED, S.QUEUED),
        (S.ABANDONED, S.QUEUED),
        (S.DOWNLOADING, S.CANCELLED),  # already generated and paid for: it is saved, not thrown away
        (S.CANCELLED, S.QUEUED),
        (S.SUCCEEDED, S.CANCELLED),
    ],
)
def test_forbidden(src: JobState, dst: JobState) -> None:
    assert not can_transition(src, dst)
