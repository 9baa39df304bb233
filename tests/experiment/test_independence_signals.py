"""Shadow agreement, the value a shadow answer stands for, and per-request confidence."""

from __future__ import annotations

import math

import pytest

from edgelearn.errors import InvalidInput
from edgelearn.experiment.independence.signals import agreement, request_confidence, shadow_value


def call(name: str, arguments: str, call_id: str = "a") -> dict:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def test_tool_calls_agree_when_equal_as_json_whatever_their_ids_and_spacing():
    teacher = [call("run_shell_command", '{"command": "pytest -q", "timeout": 30}', "call_1")]
    assert agreement("", "", [call("run_shell_command", '{"timeout":30,"command":"pytest -q"}', "x9")], teacher) == 1.0
    assert agreement("", "", [call("run_shell_command", '{"command": "pytest"}')], teacher) == 0.0
    assert agreement("", "", [call("bash", '{"command": "pytest -q", "timeout": 30}')], teacher) == 0.0
    assert agreement("I would run pytest", "", None, teacher) == 0.0  # text where the teacher called a tool


def test_text_agreement_is_the_bigram_similarity():
    assert agreement("def f(x):\n    return x", "def f(x): return x") == 1.0  # whitespace does not count
    partial = agreement("def f(x): return x + 1", "def f(x): return x - 1")
    assert 0.0 < partial < 1.0
    assert agreement("completely different words here", "def f(x): return x") == 0.0


def test_a_shadow_answer_stands_for_its_check_else_the_teachers_reward_times_agreement():
    assert shadow_value(0.8, 0.2, check_passed=True) == 1.0
    assert shadow_value(0.8, 1.0, check_passed=False) == 0.0
    assert shadow_value(0.8, 0.5) == pytest.approx(0.4)
    with pytest.raises(InvalidInput) as err:
        shadow_value(1.3, 0.5)
    assert err.value.field == "teacher_reward"


def test_confidence_from_similar_tasks_and_log_probabilities():
    assert request_confidence([]) is None
    assert request_confidence([(0.9, 1.0), (0.3, 0.0)]) == pytest.approx(0.75)
    assert request_confidence([(0.9, 1.0), (0.3, 0.0)], mean_logprob=math.log(0.64)) == pytest.approx(
        math.sqrt(0.75 * 0.64))
    assert request_confidence([], mean_logprob=math.log(0.5)) == pytest.approx(0.5)
    with pytest.raises(InvalidInput) as err:
        request_confidence([(0.9, 1.0)], mean_logprob=0.5)
    assert err.value.field == "mean_logprob"
    with pytest.raises(InvalidInput) as err:
        request_confidence([(0.9, 2.0)])
    assert err.value.field == "neighbours"
