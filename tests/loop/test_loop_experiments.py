"""The experiments service on a real store: challengers, sticky routing, the decision rule fed with
recorded rewards, the guard rails, the maximum duration, and rollbacks (manual and on drift)."""

from __future__ import annotations

import time

import pytest

from edgelearn.errors import InvalidInput
from edgelearn.experiment.assign import assign_variant
from edgelearn.serve.routing import route

FAST = {"min_samples": 5, "challenger_traffic": 0.5}


@pytest.fixture
def rt(make_runtime):
    return make_runtime(experiments=FAST)


def routed(runtime, session: str | None = None) -> str:
    """The model the proxy would serve ``edgelearn/coder`` with."""
    return route("edgelearn/coder", services=runtime.services, models=runtime.store.models, session=session).model_id


def test_starting_an_experiment_makes_the_model_a_challenger_of_the_champion(rt, register_model):
    service = rt.services["experiments"]
    model_id = register_model(rt)
    exp_id = service.start_experiment("coder", model_id)
    exp = rt.store.experiments.get(exp_id)
    assert (exp.role, exp.champion, exp.challenger, exp.traffic, exp.state) == (
        "coder", "base", model_id, 0.5, "running")
    assert rt.store.models.get(model_id).state == "challenger"
    started = rt.store.events.list(type="experiment.started")[0]
    assert started.payload == {"id": exp_id, "champion": "base", "challenger": model_id, "traffic": 0.5}
    with pytest.raises(InvalidInput, match="already runs experiment"):
        service.start_experiment("coder", register_model(rt))


def test_a_trained_champion_is_raced_rather_than_base(rt, register_model):
    champion = register_model(rt, state="champion")
    exp_id = rt.services["experiments"].start_experiment("coder", register_model(rt), traffic=0.2)
    exp = rt.store.experiments.get(exp_id)
    assert (exp.champion, exp.traffic) == (champion, 0.2)


def test_assignment_is_sticky_by_session_and_splits_by_traffic(rt, register_model):
    service = rt.services["experiments"]
    challenger = register_model(rt)
    exp_id = service.start_experiment("coder", challenger)
    sessions = [f"session-{i}" for i in range(400)]
    first = {s: service.assign("coder", s) for s in sessions}
    assert all(service.assign("coder", s) == first[s] for s in sessions for _ in range(2))
    assert all(first[s] == (challenger if assign_variant(exp_id, s, 0.5) == "challenger" else "base")
               for s in sessions)
    share = sum(m == challenger for m in first.values()) / len(sessions)
    assert 0.4 < share < 0.6
    assert {routed(rt, s) for s in sessions[:40]} == {"base", challenger}  # the proxy routes through it
    assert service.assign("fixer", "session-1") is None  # no experiment for that role


def test_fewer_than_min_samples_continues(rt, register_model, record):
    service = rt.services["experiments"]
    challenger = register_model(rt)
    exp_id = service.start_experiment("coder", challenger)
    record(rt, [0.9] * 4, model=challenger)
    record(rt, [0.5] * 10, model="base")
    decision = service.evaluate("coder")
    assert decision.outcome == "continue" and decision.samples == {"champion": 10, "challenger": 4}
    exp = rt.store.experiments.get(exp_id)
    assert exp.state == "running" and exp.decision["outcome"] == "continue"


def test_a_better_challenger_is_promoted(rt, register_model, record):
    service = rt.services["experiments"]
    challenger = register_model(rt)
    exp_id = service.start_experiment("coder", challenger)
    record(rt, [0.4, 0.6] * 15, model="base")
    record(rt, [0.9, 1.0] * 15, model=challenger)
    record(rt, [0.0] * 10, model="external/other")  # not a variant of the experiment
    stats = service.variant_stats(exp_id)
    assert (stats["champion"].n, stats["challenger"].n) == (30, 30)
    assert stats["challenger"].mean == pytest.approx(0.95)
    decision = service.evaluate("coder")
    assert decision.outcome == "promote"
    assert rt.store.experiments.get(exp_id).state == "promoted"
    assert rt.store.models.champion("coder").id == challenger
    watch = rt.store.experiments.watch("coder")
    assert (watch.model_id, watch.previous_champion, watch.active) == (challenger, "base", True)
    assert watch.baseline_mean == pytest.approx(0.95)
    assert service.assign("coder", "any session") is None and routed(rt, "any session") == challenger


def test_a_worse_challenger_is_retired(rt, register_model, record):
    service = rt.services["experiments"]
    champion = register_model(rt, state="champion")
    challenger = register_model(rt)
    exp_id = service.start_experiment("coder", challenger)
    record(rt, [0.8, 0.9] * 15, model=champion)
    record(rt, [0.1, 0.2] * 15, model=challenger)
    decision = service.evaluate("coder")
    assert decision.outcome == "retire" and "not 5% better" in decision.reason
    assert rt.store.experiments.get(exp_id).state == "retired"
    assert rt.store.models.get(challenger).state == "retired"
    assert rt.store.models.champion("coder").id == champion


def test_a_slow_challenger_fails_the_latency_guard_rail(rt, register_model, record):
    service = rt.services["experiments"]
    challenger = register_model(rt)
    exp_id = service.start_experiment("coder", challenger)
    record(rt, [0.8, 0.9] * 10, model="base", latency_ms=100.0)
    record(rt, [0.8, 0.9] * 10, model=challenger, latency_ms=350.0)  # over latency_guard (3x)
    decision = service.evaluate("coder")
    assert decision.outcome == "retire"
    assert decision.reason.startswith("challenger's mean latency 350 exceeds 3x the champion's 100")
    assert rt.store.experiments.get(exp_id).state == "retired"
    assert rt.store.models.get(challenger).state == "retired"


def test_a_challenger_within_the_latency_guard_is_not_retired_for_it(rt, register_model, record):
    service = rt.services["experiments"]
    challenger = register_model(rt)
    service.start_experiment("coder", challenger)
    record(rt, [0.8, 0.9] * 10, model="base", latency_ms=100.0)
    record(rt, [0.8, 0.9] * 10, model=challenger, latency_ms=250.0)
    assert "latency" not in service.evaluate("coder").reason


def test_an_experiment_past_its_maximum_duration_stops_and_the_champion_stays(rt, register_model, record):
    service = rt.services["experiments"]
    champion = register_model(rt, state="champion")
    challenger = register_model(rt)
    exp_id = service.start_experiment("coder", challenger)
    record(rt, [0.5] * 3, model=challenger)
    started = rt.store.experiments.get(exp_id).started_at
    assert service.evaluate("coder", now=started + 71 * 3600).outcome == "continue"
    decision = service.evaluate("coder", now=started + 72 * 3600 + 1)
    assert decision.outcome == "stop" and "max duration of 72 h" in decision.reason
    assert rt.store.experiments.get(exp_id).state == "stopped"
    assert rt.store.models.get(challenger).state == "retired"
    assert rt.store.models.champion("coder").id == champion
    assert service.evaluate("coder") is None  # nothing runs any more


def test_the_loop_tick_decides_running_experiments(rt, register_model, record):
    challenger = register_model(rt)
    exp_id = rt.services["experiments"].start_experiment("coder", challenger)
    record(rt, [0.4, 0.6] * 15, model="base")
    record(rt, [0.9, 1.0] * 15, model=challenger)
    rt.services["loop"].tick()
    assert rt.store.experiments.get(exp_id).state == "promoted"


# rollback -----------------------------------------------------------------------------------------
def test_rollback_on_demand_serves_the_previous_champion_on_the_next_request(rt, register_model):
    service = rt.services["experiments"]
    first = register_model(rt, state="champion")
    second = register_model(rt)
    service.promote(second, "better offline")
    assert routed(rt, "s1") == second and rt.store.models.get(first).state == "retired"
    assert service.rollback("coder", "users complain") == first
    assert routed(rt, "s1") == first
    assert rt.store.models.get(second).state == "rolled_back"
    event = rt.store.events.list(type="loop.rollback")[0]
    assert event.payload == {"from": second, "to": first, "reason": "users complain"}


def test_a_promoted_champion_serves_before_the_bandit_arms_catch_up(rt, register_model):
    selector = rt.services["selector"]
    selector.sync_model_arms("coder", [("base", "embedded", 0.0)], disable_missing=True)
    assert routed(rt) == "base"  # the bandit's one local arm is base
    champion = register_model(rt, state="champion")  # promoted; the arms are not synced yet
    assert routed(rt) == champion


def test_rolling_back_the_only_champion_falls_back_to_base(rt, register_model):
    service = rt.services["experiments"]
    only = register_model(rt, state="champion")
    assert service.rollback("coder") == "base"
    assert rt.store.models.champion("coder") is None and routed(rt) == "base"
    assert rt.store.models.get(only).state == "rolled_back"
    with pytest.raises(InvalidInput, match="no trained champion"):
        service.rollback("coder")


def test_rollback_during_an_experiment_stops_it_and_retires_the_challenger(rt, register_model):
    service = rt.services["experiments"]
    first = register_model(rt, state="champion")
    second = register_model(rt)
    service.promote(second)
    challenger = register_model(rt)
    exp_id = service.start_experiment("coder", challenger)
    assert service.rollback("coder", "bad release") == first
    exp = rt.store.experiments.get(exp_id)
    assert (exp.state, exp.reason) == ("stopped", "rollback: bad release")
    assert rt.store.models.get(challenger).state == "retired"
    assert {routed(rt, f"s{i}") for i in range(20)} == {first}


def promote_by_experiment(runtime, register_model, record) -> str:
    """A version that won an experiment against base (its drift watch is on)."""
    service = runtime.services["experiments"]
    challenger = register_model(runtime)
    service.start_experiment("coder", challenger)
    record(runtime, [0.4, 0.6] * 15, model="base")
    record(runtime, [0.9, 1.0] * 15, model=challenger)
    assert service.evaluate("coder").outcome == "promote"
    time.sleep(0.01)  # the watch counts runs recorded after the promotion
    return challenger


def fail_until_rolled_back(runtime, record, model_id: str) -> None:
    for _ in range(10):
        record(runtime, [0.1] * 5, model=model_id)
        if runtime.store.models.get(model_id).state == "rolled_back":
            return
    raise AssertionError(f"{model_id} was not rolled back after 50 failing runs")


def test_a_reward_drop_of_the_promoted_champion_rolls_it_back(make_runtime, register_model, record):
    rt = make_runtime(experiments=FAST, drift={"window": 5, "min_drop": 0.05})
    service = rt.services["experiments"]
    champion = promote_by_experiment(rt, register_model, record)
    fail_until_rolled_back(rt, record, champion)
    drift = rt.store.events.list(type="drift.detected")[0]
    assert drift.subject == champion and drift.payload["baseline"] == pytest.approx(0.95)
    assert rt.store.events.list(type="loop.rollback")[0].payload["to"] == "base"
    assert not rt.store.experiments.watch("coder").active
    assert "coder" in service.pending_sync
    rt.services["loop"].tick()  # syncs the bandit outside the reward transaction
    assert not service.pending_sync
    assert routed(rt) == "base"


def test_a_drift_rollback_during_an_experiment_stops_it(make_runtime, register_model, record):
    # the experiment races the rolled-back champion: its sessions must not keep getting it
    rt = make_runtime(experiments=FAST, drift={"window": 5, "min_drop": 0.05})
    champion = promote_by_experiment(rt, register_model, record)
    challenger = register_model(rt)
    exp_id = rt.services["experiments"].start_experiment("coder", challenger)
    assert rt.store.experiments.get(exp_id).champion == champion
    fail_until_rolled_back(rt, record, champion)
    assert {routed(rt, f"s{i}") for i in range(20)} == {"base"}
    exp = rt.store.experiments.get(exp_id)
    assert exp.state == "stopped" and exp.reason.startswith("rollback: reward drift")
    assert rt.store.models.get(challenger).state == "retired"
