"""The store's named queries that replaced SQL written by its callers."""

from __future__ import annotations

import pytest

from edgelearn.store.arms import ArmsRepo
from edgelearn.store.runs import NewRun


def _insert(store, runs: list[NewRun]) -> None:
    def fn(conn):
        for run in runs:
            store.runs.insert_in(conn, run)

    store.write(fn)


def _run(i: int, role: str, created_at: float, reward: float | None, model: str = "base") -> NewRun:
    return NewRun(id=f"{i:024x}", created_at=created_at, role=role, output=f"out {i}", content_hash=f"h{i}",
                  model_variant=model, reward=reward)


def test_count_runs_filters_by_role_time_reward_and_scoring(store):
    _insert(store, [_run(1, "coder", 100.0, 0.9), _run(2, "coder", 200.0, 0.4), _run(3, "coder", 300.0, None),
                    _run(4, "fixer", 300.0, 0.8)])
    count = store.runs.count_runs
    assert count() == 4
    assert count(role="coder") == 3
    assert count(since=200.0) == 3
    assert count(role="coder", since=200.0) == 2
    assert count(role="coder", min_reward=0.5) == 1
    assert count(scored=True) == 3 and count(scored=False) == 1
    assert count(embedded=False) == 4 and count(embedded=True) == 0
    assert count(role="judge") == 0


def test_mean_recent_reward_reads_the_latest_scored_runs_of_one_model(store):
    _insert(store, [_run(i, "coder", float(i), r, m) for i, (r, m) in enumerate(
        [(0.0, "base"), (1.0, "base"), (0.5, "base"), (None, "base"), (0.2, "coder-v1")])])
    assert store.runs.mean_recent_reward("coder", "base", last=2) == pytest.approx(0.75)  # 1.0 and 0.5
    assert store.runs.mean_recent_reward("coder", "base") == pytest.approx(0.5)
    assert store.runs.mean_recent_reward("coder", "coder-v1") == pytest.approx(0.2)
    assert store.runs.mean_recent_reward("fixer", "base") is None


def test_health_reports_integrity_journal_and_sqlite_vec(store):
    health = store.health()
    assert health.integrity == "ok" and health.journal_mode == "wal" and health.vec_version.startswith("v")


def test_prompt_file_in_reads_one_prompt_arm(store):
    def fn(conn):
        ArmsRepo.upsert_in(conn, "coder", "prompt", "terse", source="file", text="Be terse.", notes="n",
                           path="/p/terse.md")
        return ArmsRepo.prompt_file_in(conn, "coder", "terse"), ArmsRepo.prompt_file_in(conn, "coder", "other")

    found, missing = store.write(fn)
    assert tuple(found) == ("Be terse.", "n", "/p/terse.md") and missing is None


def test_running_experiment_and_champion_inside_a_transaction(store):
    def fn(conn):
        before = (store.experiments.running_in(conn, "coder"), store.models.champion_id_in(conn, "coder"))
        exp_id = store.experiments.start_in(conn, "coder", "base", "coder-v1", 0.25)
        return before, exp_id, store.experiments.running_in(conn, "coder"), store.experiments.running_in(conn, "fixer")

    before, exp_id, running, other = store.write(fn)
    assert before == (None, None) and other is None
    assert (running.id, running.champion, running.challenger, running.traffic) == (exp_id, "base", "coder-v1", 0.25)
    store.write(lambda conn: store.experiments.finish_in(conn, exp_id, "stopped", "test"))
    assert store.write(lambda conn: store.experiments.running_in(conn, "coder")) is None


def test_where_builds_clauses_from_the_filters_given():
    from edgelearn.store.filters import where

    assert where() == ("", [])
    assert where(("role = ?", None), ("seq < ?", None)) == ("", [])
    assert where(("role = ?", "coder"), ("seq < ?", 0), ("reward is null", None)) == (
        " where role = ? and seq < ?", ["coder", 0])
    assert where(("ended_at is null", True), ("state in (?)", ("ready",)), ("a in (?, ?)", (1, 2))) == (
        " where ended_at is null and state in (?) and a in (?, ?)", ["ready", 1, 2])


def test_list_filters_combine(store):
    _insert(store, [_run(1, "coder", 100.0, 0.9), _run(2, "coder", 200.0, 0.4, "v1"), _run(3, "fixer", 300.0, None)])
    ids = lambda runs: [r.id[-1] for r in runs]  # noqa: E731
    assert ids(store.runs.list()) == ["3", "2", "1"]
    assert ids(store.runs.list(role="coder", min_reward=0.5)) == ["1"]
    assert ids(store.runs.list(role="coder", model="v1", since=150.0, until=250.0)) == ["2"]
    assert ids(store.runs.list(before_seq=3, limit=1)) == ["2"]
    assert ids(store.runs.list(max_reward=0.5)) == ["2"]
