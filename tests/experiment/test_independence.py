"""Independence levels on a real store: advancing on evidence, falling back on drift, rollbacks, cost."""

from __future__ import annotations

import dataclasses
import hashlib
import math
import time

import numpy as np
import pytest

from edgelearn.config import ExperimentSettings
from edgelearn.errors import InvalidInput
from edgelearn.experiment.decision import DecisionConfig, VariantStats, evidence
from edgelearn.experiment.independence.evidence import cost_saved, non_inferiority_log_e, readiness
from edgelearn.experiment.independence.levels import IndependenceConfig
from edgelearn.experiment.independence.service import IndependenceService
from edgelearn.store.runs import NewRun

ROLE, CLUSTER, CHAMPION = "coder", 3, "coder-v1"


def beta(rng, mean: float, sd: float, size: int) -> np.ndarray:
    kappa = mean * (1.0 - mean) / sd ** 2 - 1.0
    return rng.beta(mean * kappa, (1.0 - mean) * kappa, size)


@pytest.fixture
def svc(store):
    return IndependenceService(store, IndependenceConfig())


def feed_until_change(svc, side: str, local_mean: float, rng, pairs: int, teacher_mean: float = 0.8, sd: float = 0.05):
    """Alternate a teacher reward and a ``side`` reward in one transaction until the level moves.

    Returns (pairs fed, the change or None)."""
    teacher = beta(rng, teacher_mean, sd, pairs)
    other = beta(rng, local_mean, sd, pairs)

    def fn(conn):
        for i in range(pairs):
            change = svc.observe_in(conn, ROLE, CLUSTER, "teacher", None, float(teacher[i]))
            change = change or svc.observe_in(conn, ROLE, CLUSTER, side, None, float(other[i]), champion=CHAMPION,
                                              tokens_in=10 if side == "local" else None)
            if change is not None:
                return i + 1, change
        return pairs, None

    result = svc.store.write(fn)
    svc.invalidate()
    return result


def test_level_0_sends_every_request_to_the_teacher(svc):
    choices = [svc.decide(ROLE, c, f"s{i}-{c}", True, 1.0) for i in range(300) for c in (None, 0, CLUSTER)]
    assert {c.target for c in choices} == {"teacher"}
    assert all(c.level == 0 and "level 0" in c.reason for c in choices)
    assert svc.flush() == 3
    rows = {r["cluster"]: r for r in svc.report(ROLE)}
    assert rows[CLUSTER]["requests"] == 300 and rows[CLUSTER]["local_requests"] == 0


def test_a_champion_as_good_as_the_teacher_advances_and_the_events_carry_the_evidence(svc, store):
    rng = np.random.default_rng(1)
    fed, change = feed_until_change(svc, "shadow", 0.8, rng, 3000)
    assert change is not None and (change.old, change.new, change.kind) == (0, 1, "advance")
    assert fed >= 100  # min_samples each side first
    assert svc.level(ROLE, CLUSTER) == 1
    fed, change = feed_until_change(svc, "local", 0.8, rng, 3000)
    assert change is not None and (change.old, change.new) == (1, 2)
    assert svc.level(ROLE, CLUSTER) == 2 and svc.level(ROLE, CLUSTER + 1) == 0  # per cluster
    events = store.events.list(type="independence.advanced", role=ROLE)
    assert [e.payload["new"] for e in reversed(events)] == [1, 2]
    ev = events[0].payload["evidence"]
    assert ev["side"] == "local" and ev["e_value"] >= ev["e_threshold"] == pytest.approx(20.0)
    assert ev["lower"] > -0.02 and ev["local_n"] >= 100 and ev["teacher_n"] >= 100
    assert events[0].subject == str(CLUSTER) and events[0].payload["share"] == 0.5
    # a fresh service (a restart) routes by the stored level
    again = IndependenceService(store, IndependenceConfig())
    local = sum(again.decide(ROLE, CLUSTER, f"n{i}", True, None).local for i in range(2000))
    assert 850 < local < 1150


def test_a_worse_champion_never_advances(svc, store):
    rng = np.random.default_rng(2)
    fed, change = feed_until_change(svc, "shadow", 0.7, rng, 4000)
    assert change is None and fed == 4000
    assert svc.level(ROLE, CLUSTER) == 0
    row = svc.report(ROLE)[0]
    assert row["shadow_n"] == 4000 and row["shadow_reward"] == pytest.approx(0.7, abs=0.01)
    assert store.events.list(type="independence.") == []


def test_an_induced_drop_falls_back_within_the_detectors_window(svc, store):
    rng = np.random.default_rng(3)
    assert feed_until_change(svc, "shadow", 0.8, rng, 3000)[1] is not None  # level 1
    window = svc.config().drift_window
    steady = beta(rng, 0.8, 0.05, 40)

    def fn(conn):
        for r in steady:  # 40 local runs: the detector's window is full, too few to advance
            assert svc.observe_in(conn, ROLE, CLUSTER, "local", None, float(r), champion=CHAMPION) is None
        for i, r in enumerate(beta(rng, 0.4, 0.05, 200)):
            change = svc.observe_in(conn, ROLE, CLUSTER, "local", None, float(r), champion=CHAMPION)
            if change is not None:
                return i + 1, change
        return None, None

    runs, change = store.write(fn)
    svc.invalidate()
    assert change is not None and (change.old, change.new, change.kind) == (1, 0, "fallback")
    assert runs <= window
    assert svc.level(ROLE, CLUSTER) == 0
    event = store.events.list(type="independence.fell_back")[0]
    ev = event.payload["evidence"]
    assert ev["rolling_mean"] <= 0.95 * ev["baseline"] and ev["statistic"] >= ev["threshold"]
    assert "drifted below the teacher" in event.payload["reason"]


def test_a_rollback_drops_every_cluster_to_level_0(svc, store):
    rng = np.random.default_rng(4)
    assert feed_until_change(svc, "shadow", 0.8, rng, 3000)[1] is not None
    changes = svc.champion_changed(ROLE, "coder-v0", rolled_back=True, reason="loop.rollback of coder-v1")
    assert [(c.cluster, c.old, c.new, c.kind) for c in changes] == [(CLUSTER, 1, 0, "rollback")]
    assert svc.level(ROLE, CLUSTER) == 0
    assert store.events.list(type="independence.rolled_back")[0].payload["reason"].startswith("loop.rollback")
    assert svc.report(ROLE)[0]["teacher_n"] == 0  # the evidence restarted


def test_a_late_rescoring_moves_the_statistics_through_the_reward_hook(svc, store):
    run = {"id": "r1", "role": ROLE, "model_variant": CHAMPION, "tokens_in": 1000, "tokens_out": 200,
           "metadata": '{"independence": {"cluster": 3, "side": "local"}}'}
    store.write(lambda conn: svc.on_reward(conn, run, None, 0.4))
    store.write(lambda conn: svc.on_reward(conn, run, 0.4, 0.9))  # a late signal: tokens count once
    store.write(lambda conn: svc.on_reward(conn, {**run, "metadata": None}, None, 0.1))  # not routed: ignored
    row = svc.report(ROLE, prices={ROLE: (3.0, 15.0)})[0]
    assert (row["local_n"], row["local_reward"]) == (1, pytest.approx(0.9))
    assert (row["local_tokens_in"], row["local_tokens_out"]) == (1000, 200)
    assert row["cost_saved"] == pytest.approx((1000 * 3.0 + 200 * 15.0) / 1e6)


def test_cost_saved_matches_a_hand_computation():
    # 1,234,567 input tokens at $3 / M and 89,000 output tokens at $15 / M
    assert cost_saved(1_234_567, 89_000, 3.0, 15.0) == pytest.approx(3.703701 + 1.335, abs=1e-12)
    assert cost_saved(0, 0, 3.0, 15.0) == 0.0
    for args, field in (((-1, 0, 1.0, 1.0), "tokens_in"), ((0, 1.5, 1.0, 1.0), "tokens_out"),
                        ((0, 0, -2.0, 1.0), "input_per_m"), ((0, 0, 1.0, math.nan), "output_per_m")):
        with pytest.raises(InvalidInput) as err:
            cost_saved(*args)
        assert err.value.field == field


def test_the_non_inferiority_test_is_decisions_msprt_shifted_by_the_margin():
    rng = np.random.default_rng(5)
    config = dataclasses.replace(DecisionConfig.from_settings(ExperimentSettings()), min_improvement=0.0)
    t, loc = VariantStats.from_values(beta(rng, 0.8, 0.1, 400)), VariantStats.from_values(beta(rng, 0.8, 0.1, 300))
    ev = evidence(t.n, t.sum, t.sum_sq, loc.n, loc.sum, loc.sum_sq, config)
    log_e, _ = non_inferiority_log_e(loc.n, loc.sum, loc.sum_sq, t.n, t.sum, t.sum_sq, 0.0, config)
    assert float(log_e) == pytest.approx(float(ev.log_e_promote))  # no margin: the promotion test itself
    wide = readiness(loc, t, 0.2, config)
    assert wide.ready and wide.lower > -0.2
    assert not readiness(loc, t, 0.0, config).ready
    few = readiness(VariantStats.from_values([0.8] * 50), t, 0.2, config)
    assert not few.ready and "waiting for 100" in few.reason


def test_runs_recorded_with_the_routing_mark_count_through_the_store(svc, store):
    svc.attach()
    choice = svc.decide(ROLE, CLUSTER, "s1", True, None)  # routing marks the run it records
    mark = {"independence": {"cluster": choice.cluster, "side": choice.target}}

    def run(i: int, reward: float | None) -> NewRun:
        return NewRun(id=f"run-{i}", created_at=time.time(), role=ROLE, output="ok",
                      content_hash=hashlib.sha256(str(i).encode()).hexdigest(), model_variant="teacher-x",
                      tokens_in=100, tokens_out=20, reward=reward, metadata=mark)

    store.write(lambda conn: store.runs.insert_in(conn, run(1, 0.7)))  # scored when recorded
    store.write(lambda conn: store.runs.insert_in(conn, run(2, None)))  # scored later by a signal
    store.write(lambda conn: store.runs.add_signals_in(conn, "run-2", {"human": (1.0, "accept")}, "test",
                                                       lambda latest: (1.0, latest)))
    unrouted = NewRun(id="run-3", created_at=time.time(), role="reviewer", output="x", content_hash="h3", reward=0.2)
    store.write(lambda conn: store.runs.insert_in(conn, unrouted))
    [row] = svc.report()
    assert (row["teacher_n"], row["teacher_reward"]) == (2, pytest.approx(0.85))
