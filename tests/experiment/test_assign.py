"""Sticky champion/challenger assignment: stable per session, right shares, fresh per experiment."""

from __future__ import annotations

import hashlib
import math

import pytest

from edgelearn.errors import InvalidInput
from edgelearn.experiment.assign import assign_variant, bucket

SESSIONS = [f"session-{i}" for i in range(20_000)]


def _within(count: int, n: int, p: float, sigmas: float = 4.0) -> bool:
    return abs(count - n * p) <= sigmas * math.sqrt(n * p * (1 - p))


def test_a_session_keeps_its_variant_within_an_experiment():
    first = [assign_variant("exp-1", s, 0.3) for s in SESSIONS[:2000]]
    again = [assign_variant("exp-1", s, 0.3) for s in SESSIONS[:2000]]
    assert first == again
    assert set(first) == {"champion", "challenger"}


@pytest.mark.parametrize("share", [0.01, 0.1, 0.5, 0.9])
def test_shares_come_out_right(share):
    challengers = sum(assign_variant("exp-share", s, share) == "challenger" for s in SESSIONS)
    assert _within(challengers, len(SESSIONS), share)


def test_zero_and_full_shares_are_absolute():
    assert {assign_variant("exp-1", s, 0.0) for s in SESSIONS[:500]} == {"champion"}
    assert {assign_variant("exp-1", s, 1.0) for s in SESSIONS[:500]} == {"challenger"}


def test_each_experiment_draws_a_fresh_split():
    a = [assign_variant("exp-a", s, 0.5) for s in SESSIONS]
    b = [assign_variant("exp-b", s, 0.5) for s in SESSIONS]
    agree = sum(x == y for x, y in zip(a, b))
    assert _within(agree, len(SESSIONS), 0.5)  # independent, not the same guinea pigs


def test_raising_the_share_only_moves_sessions_to_the_challenger():
    low = {s: assign_variant("exp-1", s, 0.1) for s in SESSIONS[:5000]}
    high = {s: assign_variant("exp-1", s, 0.2) for s in SESSIONS[:5000]}
    assert all(high[s] == "challenger" for s, v in low.items() if v == "challenger")


def test_the_hash_is_pinned_so_a_release_does_not_reshuffle_running_experiments():
    digest = hashlib.sha256("5:exp-1:s:abc".encode()).digest()
    assert bucket("exp-1", "s:abc") == int.from_bytes(digest[:8], "big") / 2.0 ** 64
    # the length prefix keeps ("ab", "c") and ("a", "bc") apart
    assert bucket("ab", "c") != bucket("a", "bc")


def test_requests_without_a_session_are_drawn_per_request():
    by_request = [assign_variant("exp-1", None, 0.3, request_id=f"req-{i}") for i in range(4000)]
    assert by_request == [assign_variant("exp-1", "", 0.3, request_id=f"req-{i}") for i in range(4000)]
    assert _within(by_request.count("challenger"), 4000, 0.3)
    anonymous = [assign_variant("exp-1", None, 0.3) for _ in range(4000)]  # random ids: not sticky
    assert _within(anonymous.count("challenger"), 4000, 0.3)


@pytest.mark.parametrize("kwargs, field", [
    ({"experiment_id": "", "session_key": "s", "challenger_share": 0.1}, "experiment_id"),
    ({"experiment_id": "e", "session_key": "s", "challenger_share": 1.5}, "challenger_share"),
    ({"experiment_id": "e", "session_key": "s", "challenger_share": -0.1}, "challenger_share"),
    ({"experiment_id": "e", "session_key": "s", "challenger_share": float("nan")}, "challenger_share"),
    ({"experiment_id": "e", "session_key": "s", "challenger_share": True}, "challenger_share"),
])
def test_bad_arguments_are_rejected_by_name(kwargs, field):
    with pytest.raises(InvalidInput) as info:
        assign_variant(**kwargs)
    assert info.value.field == field
