"""Listing sessions reads their totals with a constant number of queries, not two per session."""

from __future__ import annotations

import pytest

from edgelearn.record.schemas import RecordIn
from edgelearn.sessions.credit import credit_for


def _count_queries(monkeypatch, store) -> list[str]:
    seen: list[str] = []
    real = store.query

    def query(sql, params=()):
        seen.append(sql)
        return real(sql, params)

    monkeypatch.setattr(store, "query", query)
    return seen


def test_list_and_review_queue_read_totals_in_constant_queries(runtime, monkeypatch):
    rec, credit = runtime.recorder, credit_for(runtime)
    for i in range(30):
        for j in range(i % 3 + 1):  # 1 to 3 runs a session
            rec.record(RecordIn(role="coder", output=f"o{i}.{j}", session=f"s{i}",
                                signals={"compile": True} if j == 0 and i % 2 else {}))
        if i % 5 == 0:
            credit.add_signals(f"s{i}", {"tests": {"passed": 1, "total": 4}})
            credit.add_signals(f"s{i}", {"tests": {"passed": 3, "total": 4}})  # the latest of a kind wins
    sessions = runtime.store.sessions
    seen = _count_queries(monkeypatch, runtime.store)
    listed = sessions.list(limit=100)
    assert len(listed) == 30 and len(seen) <= 3, seen
    by_id = {s.id: s for s in listed}
    assert by_id["s4"].runs == 2 and by_id["s5"].runs == 3 and by_id["s6"].runs == 1
    assert by_id["s5"].outcomes == {"tests": pytest.approx(0.75)} and by_id["s4"].outcomes == {}
    assert by_id["s1"].scored == 1 and by_id["s1"].mean_reward == pytest.approx(1.0)
    assert by_id["s2"].scored == 0 and by_id["s2"].mean_reward is None
    assert by_id["s0"].scored == 1 and by_id["s0"].mean_reward == pytest.approx(0.75)  # scored by the outcome
    seen.clear()
    queue = sessions.review_candidates()
    assert {s.id for s in queue} == set(by_id) and len(seen) <= 3, seen
    assert [(s.id, s.runs, s.outcomes) for s in queue] == [(s.id, s.runs, s.outcomes) for s in listed]
    seen.clear()
    one = sessions.get("s10")
    assert (one.runs, one.outcomes) == (2, {"tests": pytest.approx(0.75)}) and len(seen) <= 3
    assert sessions.list(agent="nobody") == []
