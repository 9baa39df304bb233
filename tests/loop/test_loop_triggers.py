"""When the loop starts a chain: each trigger, the cooldown and the auto_export toggle, on a real store."""

from __future__ import annotations

import pytest

from edgelearn.loop.triggers import SERVING_CHANGES, due_trigger, quality_drop
from edgelearn.record.schemas import FeedbackIn


def reach_training(runtime, role: str = "coder") -> float:
    """A chain of ``role`` that got as far as starting a training job (what the cooldown counts)."""
    store = runtime.store

    def fn(conn):
        chain_id = store.experiments.start_chain_in(conn, role, "sample_count")
        store.experiments.update_chain_in(conn, chain_id, stage="train", job_id="job-earlier")
        return chain_id

    return store.experiments.chain(store.write(fn)).started_at


def test_sample_count_fires_at_min_runs_good_runs_and_not_below(make_runtime, record):
    rt = make_runtime(export={"min_runs": 5})
    record(rt, [1.0, 0.9, 0.8, 0.7])
    record(rt, [0.2, 0.69, 0.0])  # below export.min_reward: not good runs
    assert due_trigger(rt, "coder") is None
    record(rt, [0.75])
    assert due_trigger(rt, "coder") == ("sample_count", {"good_runs": 5, "need": 5})
    assert due_trigger(rt, "fixer") is None  # per role


def test_no_trigger_without_good_runs(make_runtime, record):
    rt = make_runtime(train={"schedule_hours": 1.0})
    record(rt, [0.1] * 20)
    assert due_trigger(rt, "coder") is None  # even the schedule needs something new to learn from


def test_schedule_fires_every_schedule_hours_after_the_last_training(make_runtime, record):
    rt = make_runtime(train={"schedule_hours": 2.0, "cooldown_hours": 1.0})
    record(rt, [1.0] * 3)
    assert due_trigger(rt, "coder") == ("schedule", {"hours": 2.0, "good_runs": 3})  # never trained: due now
    last = reach_training(rt)
    assert due_trigger(rt, "coder", now=last + 1.5 * 3600) is None  # past the cooldown, before the schedule
    assert due_trigger(rt, "coder", now=last + 2 * 3600 + 1)[0] == "schedule"


def test_schedule_off_by_default(make_runtime, record):
    rt = make_runtime()
    record(rt, [1.0] * 3)
    assert due_trigger(rt, "coder") is None


def test_cooldown_after_training_blocks_every_trigger(make_runtime, record):
    rt = make_runtime(export={"min_runs": 5}, train={"cooldown_hours": 24.0, "schedule_hours": 1.0})
    record(rt, [1.0] * 10)
    assert due_trigger(rt, "coder")[0] == "sample_count"
    last = reach_training(rt)
    assert due_trigger(rt, "coder", now=last + 23 * 3600) is None
    assert due_trigger(rt, "coder", now=last + 24 * 3600 + 1)[0] == "sample_count"
    assert due_trigger(rt, "fixer", now=last + 60) is None  # nothing recorded for fixer, cooldown aside
    record(rt, [1.0] * 10, role="fixer")
    assert due_trigger(rt, "fixer", now=last + 60)[0] == "sample_count"  # the cooldown is per role


def test_cooldown_counts_only_chains_that_reached_training(make_runtime, record):
    rt = make_runtime(export={"min_runs": 5})
    record(rt, [1.0] * 10)
    rt.store.write(lambda conn: rt.store.experiments.start_chain_in(conn, "coder", "sample_count"))
    assert due_trigger(rt, "coder")[0] == "sample_count"


def test_auto_export_off_blocks_every_trigger(make_runtime, record):
    rt = make_runtime(export={"min_runs": 5, "auto_export": False}, train={"schedule_hours": 1.0})
    record(rt, [1.0] * 50 + [0.4] * 50)
    assert quality_drop(rt.store, "coder") == pytest.approx(0.6)
    assert due_trigger(rt, "coder") is None


# quality drop -----------------------------------------------------------------------------------
def test_quality_drop_compares_the_latest_50_rewards_with_the_50_before(make_runtime, record):
    rt = make_runtime()
    record(rt, [1.0] * 50 + [0.4] * 50)
    assert due_trigger(rt, "coder") == ("quality_drop", {"drop": 0.6, "threshold": 0.1})


def test_quality_drop_needs_two_full_windows(make_runtime, record):
    rt = make_runtime()
    record(rt, [1.0] * 50 + [0.4] * 49)
    assert quality_drop(rt.store, "coder") is None
    assert due_trigger(rt, "coder") is None


def test_quality_drop_below_the_threshold_does_not_fire(make_runtime, record):
    rt = make_runtime(loop={"quality_drop": 0.1}, export={"min_runs": 1000})
    record(rt, [1.0] * 50 + [0.92] * 50)
    assert quality_drop(rt.store, "coder") == pytest.approx(0.08)
    assert due_trigger(rt, "coder") is None


def test_quality_drop_ignores_runs_before_the_last_serving_change(make_runtime, record):
    # an experiment sends traffic to another variant: rewards before and after are not one stream
    rt = make_runtime()
    record(rt, [1.0] * 50)
    rt.store.events.append("experiment.started", {"id": "exp-coder-1"}, role="coder", subject="exp-coder-1")
    record(rt, [0.4] * 50)
    assert quality_drop(rt.store, "coder") is None
    assert due_trigger(rt, "coder") is None


def test_quality_drop_fires_on_100_runs_after_the_last_serving_change(make_runtime, record):
    rt = make_runtime()
    record(rt, [0.1] * 60)  # an old, worse stream: not the baseline
    rt.store.events.append("model.champion", {"from": "challenger", "to": "champion"}, role="coder", subject="coder-v1")
    record(rt, [1.0] * 50 + [0.4] * 50)
    assert quality_drop(rt.store, "coder") == pytest.approx(0.6)
    assert due_trigger(rt, "coder")[0] == "quality_drop"


@pytest.mark.parametrize("event", SERVING_CHANGES)
def test_every_serving_change_restarts_the_quality_baseline(make_runtime, record, event):
    rt = make_runtime()
    record(rt, [1.0] * 50)
    rt.store.events.append(event, {}, role="coder", subject="x")
    record(rt, [0.4] * 50)
    assert quality_drop(rt.store, "coder") is None


def test_serving_changes_of_another_role_or_other_events_do_not_split_the_stream(make_runtime, record):
    rt = make_runtime()
    record(rt, [1.0] * 50)
    rt.store.events.append("experiment.started", {"id": "exp-fixer-1"}, role="fixer", subject="exp-fixer-1")
    rt.store.events.append("loop.triggered", {"chain": 1}, role="coder", subject="1")
    record(rt, [0.4] * 50)
    assert due_trigger(rt, "coder") == ("quality_drop", {"drop": 0.6, "threshold": 0.1})


def test_a_real_experiment_start_restarts_the_quality_baseline(make_runtime, record, register_model):
    rt = make_runtime()
    record(rt, [1.0] * 50, model="base")
    rt.services["experiments"].start_experiment("coder", register_model(rt))
    record(rt, [0.4] * 50, model="base")
    assert rt.store.events.last_time("coder", SERVING_CHANGES) is not None
    assert due_trigger(rt, "coder") is None


# error rate -------------------------------------------------------------------------------------
def give_feedback(runtime, run_ids, kinds):
    for run_id, kind in zip(run_ids, kinds):
        runtime.recorder.add_feedback(FeedbackIn(kind=kind), run_id)


def test_error_rate_fires_on_the_share_of_negative_human_feedback(make_runtime, record):
    rt = make_runtime(loop={"error_rate": 0.3})
    ids = record(rt, [1.0] * 20)
    give_feedback(rt, ids[:10], ["reject"] * 3 + ["accept"] * 7)
    assert due_trigger(rt, "coder") == ("error_rate", {"negative": 3, "feedback": 10, "threshold": 0.3})


def test_error_rate_below_the_threshold_or_with_little_feedback_does_not_fire(make_runtime, record):
    rt = make_runtime(loop={"error_rate": 0.3})
    ids = record(rt, [1.0] * 20)
    give_feedback(rt, ids[:9], ["reject"] * 9)  # 9 of 9 negative, but under MIN_FEEDBACK
    assert due_trigger(rt, "coder") is None
    give_feedback(rt, ids[9:20], ["accept"] * 11)  # 9 of 20: 0.45
    assert due_trigger(rt, "coder")[0] == "error_rate"


def test_error_rate_threshold_comes_from_the_settings(make_runtime, record):
    rt = make_runtime(loop={"error_rate": 0.5})
    ids = record(rt, [1.0] * 20)
    give_feedback(rt, ids, ["reject"] * 9 + ["accept"] * 11)
    assert due_trigger(rt, "coder") is None


def test_feedback_on_older_runs_than_the_feedback_window_does_not_count(make_runtime, record):
    rt = make_runtime(export={"min_runs": 1000})
    ids = record(rt, [1.0] * 10)
    give_feedback(rt, ids, ["reject"] * 10)  # their reward drops to 0.5: no longer good runs
    assert due_trigger(rt, "coder") is None
    record(rt, [1.0] * 5)
    assert due_trigger(rt, "coder")[0] == "error_rate"
    record(rt, [1.0] * 100)  # FEEDBACK_WINDOW runs later, the rejected ones are out of the window
    assert due_trigger(rt, "coder") is None


def test_triggers_are_checked_in_order_sample_count_first(make_runtime, record):
    rt = make_runtime(export={"min_runs": 50}, train={"schedule_hours": 1.0})
    record(rt, [1.0] * 50 + [0.4] * 50)
    assert due_trigger(rt, "coder")[0] == "sample_count"
