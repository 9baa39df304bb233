"""Per-request numbers the router feeds the scheduler: shadow agreement and local confidence."""

from __future__ import annotations

import math
from typing import Any, Iterable, Sequence

import orjson

from edgelearn.errors import InvalidInput


def _canonical_calls(calls: Sequence[dict[str, Any]]) -> list[tuple[str, Any]]:
    """(name, parsed arguments) of OpenAI-style tool calls; ids differ between models and do not count."""
    out = []
    for call in calls:
        fn = call.get("function", call) if isinstance(call, dict) else {}
        args = fn.get("arguments", fn.get("input", {}))
        if isinstance(args, str):
            try:
                args = orjson.loads(args)
            except orjson.JSONDecodeError:
                pass  # unparsable arguments compare as their text
        out.append((fn.get("name"), args))
    return out


def agreement(local_text: str, teacher_text: str, local_calls: Sequence[dict] | None = None,
              teacher_calls: Sequence[dict] | None = None) -> float:
    """How far a shadow answer agrees with the teacher's, in [0, 1].

    Tool calls: 1 when both call the same tools with equal arguments as JSON, else 0. Text:
    the token-bigram Jaccard similarity of curation's near-duplicate check.
    """
    from edgelearn.curate.similarity import OutputShape, similarity  # curate imports config, which imports us

    if local_calls or teacher_calls:
        return 1.0 if _canonical_calls(local_calls or []) == _canonical_calls(teacher_calls or []) else 0.0
    return similarity(OutputShape(local_text or ""), OutputShape(teacher_text or ""))


def shadow_value(teacher_reward: float, agreement_score: float, check_passed: bool | None = None) -> float:
    """The reward a shadow answer stands for: a replayable check's pass/fail when the run has one,
    else the teacher's reward scaled by the agreement (an answer like the teacher's would have
    scored like it)."""
    if check_passed is not None:
        return 1.0 if check_passed else 0.0
    for name, value in (("teacher_reward", teacher_reward), ("agreement", agreement_score)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
            raise InvalidInput(f"{name} must be a number in [0, 1], got {value!r}", field=name)
    return float(teacher_reward) * float(agreement_score)


def request_confidence(neighbours: Iterable[tuple[float, float]], mean_logprob: float | None = None) -> float | None:
    """Confidence of the local model on a request, from its most similar past tasks.

    ``neighbours`` are (cosine similarity, reward of the local model's run) of the nearest stored
    tasks (sqlite-vec); the similarity-weighted mean reward is the estimate. Where the backend
    gives the local answer's mean token log-probability, the result is the geometric mean of
    that estimate and ``exp(mean_logprob)``. None when there is nothing to go on.
    """
    pairs = [(max(0.0, float(s)), float(r)) for s, r in neighbours]
    if any(not 0.0 <= r <= 1.0 for _, r in pairs):
        raise InvalidInput("neighbour rewards must lie in [0, 1]", field="neighbours")
    weight = sum(s for s, _ in pairs)
    estimate = sum(s * r for s, r in pairs) / weight if weight > 0 else None
    if mean_logprob is None:
        return estimate
    if isinstance(mean_logprob, bool) or not isinstance(mean_logprob, (int, float)) or not mean_logprob <= 0:
        raise InvalidInput(f"mean_logprob must be a number <= 0, got {mean_logprob!r}", field="mean_logprob")
    token = math.exp(mean_logprob)
    return token if estimate is None else math.sqrt(estimate * token)
