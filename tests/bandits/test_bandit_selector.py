"""The selector: cost limits, announced runs, events, model arms for the serving side."""

from __future__ import annotations

import pytest

from edgelearn.bandits.catalog import ModelSpec
from edgelearn.errors import InvalidInput, NotFound, SelectionError
from edgelearn.record.schemas import RecordIn


def _models(rig):
    rig.selector.sync_model_arms("coder", [ModelSpec("base", "embedded", 0.0),
                                           ("coder-v1", "embedded", 0.002, "coder-v1.gguf"),
                                           {"id": "qwen2.5-coder:7b", "backend": "ollama", "cost_per_1k": 0.01}])


@pytest.mark.parametrize("policy", ["thompson", "ucb", "epsilon"])
def test_cost_limit_never_returns_a_dearer_arm(rig, settings, policy):
    settings.bandit.policy = policy
    rig.add_prompts("coder", "a")
    _models(rig)
    chosen = set()
    for i in range(150):
        limit = (0.0, 0.002, 0.005, 1.0)[i % 4]
        s = rig.selector.select("coder", max_cost_per_1k=limit)
        assert s.decision.model.arm.cost_per_1k <= limit
        chosen.add(s.decision.model.arm.variant)
        # reward the dearest model most, so the policies want it whenever they may
        rig.record(s, {"qwen2.5-coder:7b": 1.0, "coder-v1": 0.6}.get(s.decision.model.arm.variant, 0.2))
    assert chosen == {"base", "coder-v1", "qwen2.5-coder:7b"}


def test_no_arm_within_the_cost_limit_is_a_clear_error(rig):
    rig.add_prompts("coder", "a")
    _models(rig)
    rig.selector.set_enabled("coder/base", False)
    with pytest.raises(SelectionError, match=r"costs at most 0.001 .*cheapest: 'coder-v1' at 0.002"):
        rig.selector.select("coder", max_cost_per_1k=0.001)
    with pytest.raises(SelectionError, match="no enabled model arm"):
        rig.selector.select("nobody")
    assert rig.store.query("select count(*) from selections")[0][0] == 0


def test_selection_is_stored_with_its_event_and_fills_the_run(rig):
    rig.add_prompts("coder", "a", "b")
    s = rig.selector.select("coder", task="add two numbers")
    event = rig.store.events.list(type="bandit.select", limit=1)[0]
    assert event.subject == s.run_id and event.role == "coder"
    assert event.payload["policy"] == "thompson"
    assert set(event.payload["prompt"]["scores"]) == {"a", "b"}
    assert event.payload["prompt"]["variant"] == s.decision.prompt.arm.variant
    assert "thompson chose prompt" in s.explanation
    body = s.to_dict()
    assert body["prompt"] == {"id": s.decision.prompt.arm.variant, "text": s.decision.prompt.arm.text}
    assert body["model"] == {"id": "base", "backend": "embedded", "name": "base"}
    rig.record(s, 1.0)
    run = rig.store.runs.get(s.run_id)
    assert (run.prompt_variant, run.model_variant) == (s.decision.prompt.arm.variant, "base")


def test_announced_runs_must_come_from_a_selection(rig):
    rig.add_prompts("coder", "a")
    with pytest.raises(NotFound, match="0123456789abcdef01234567"):
        rig.recorder.record(RecordIn(role="coder", output="x", run_id="0123456789abcdef01234567"))
    s = rig.selector.select("coder")
    with pytest.raises(InvalidInput, match="selected for role 'coder'"):
        rig.recorder.record(RecordIn(role="fixer", output="x", run_id=s.run_id))
    # a record that names its own variants keeps them
    rig.recorder.record(RecordIn(role="coder", output="x", run_id=s.run_id, prompt="mine", model="m"))
    run = rig.store.runs.get(s.run_id)
    assert (run.prompt_variant, run.model_variant) == ("mine", "m")
    # runs not announced by a selection do not move the statistics
    rig.recorder.record(RecordIn(role="coder", output="x", prompt="a", signals={"tests": 1.0}))
    assert rig.stat("coder", "a")[2] == 0


def test_select_model_for_the_proxy(rig):
    rig.add_prompts("coder", "a")
    _models(rig)
    model_id, prompt_id, run_id = rig.selector.select_model("coder", "fix the parser")
    assert model_id in {"base", "coder-v1", "qwen2.5-coder:7b"} and prompt_id == "a"
    assert rig.store.arms.selection(run_id).role == "coder"
    with pytest.raises(SelectionError):
        rig.selector.select_model("unknown-role")


def test_sync_model_arms_disables_models_no_longer_registered(rig):
    rig.add_prompts("coder", "a")
    _models(rig)
    rig.selector.sync_model_arms("coder", [("coder-v1", "embedded", 0.002)])
    enabled = {a.variant for a in rig.store.arms.list("coder", "model") if a.enabled}
    assert enabled == {"coder-v1"}
    picks = {rig.selector.decide("coder").model.arm.variant for _ in range(20)}
    assert picks == {"coder-v1"}
    added = rig.selector.add_model_arm("coder", "base", "embedded", 0.0)
    assert added.enabled and added.source == "registry"
    types = [e.type for e in rig.store.events.list(type="bandit", limit=100)]
    assert "bandit.arm_disabled" in types and "bandit.arm_added" in types


@pytest.mark.parametrize("bad,field", [({"model_id": "bad id"}, "model_id"), ({"backend": ""}, "backend"),
                                       ({"cost_per_1k": -1}, "cost_per_1k"),
                                       ({"cost_per_1k": float("nan")}, "cost_per_1k"), ({"role": "no role"}, "role")])
def test_bad_model_arms_are_refused_naming_the_field(rig, bad, field):
    args = {"role": "coder", "model_id": "m1", "backend": "ollama", "cost_per_1k": 0.0, **bad}
    with pytest.raises(InvalidInput) as exc:
        rig.selector.add_model_arm(**args)
    assert exc.value.field == field


def test_disabled_arms_are_never_chosen_and_arms_resolve_by_name(rig):
    rig.add_prompts("coder", "a", "b")
    rig.selector.set_enabled("coder/prompt/a", False)
    assert {rig.selector.decide("coder").prompt.arm.variant for _ in range(30)} == {"b"}
    arm = rig.store.arms.resolve("coder/a")
    assert not arm.enabled and rig.store.arms.resolve(str(arm.id)) == arm
    with pytest.raises(NotFound, match="edgelearn arms. lists them"):
        rig.store.arms.resolve("coder/zzz")
    rig.selector.add_model_arm("coder", "b", "ollama")
    with pytest.raises(InvalidInput, match="coder/prompt/b or coder/model/b"):
        rig.store.arms.resolve("coder/b")
