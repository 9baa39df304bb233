"""Offline evaluation hooks: success of base vs adapter on validation examples with replayable checks.

An evaluator is ``fn(examples, generate) -> dict``: ``examples`` are the validation lines whose
``check.kind`` it handles, ``generate(messages, tools=None) -> answer text`` runs one model
greedily on a prompt (tools rendered as training and serving render them). Evaluators are named by check kind and given as ``"module:function"`` strings so the
training child (a separate process) can import them; ``start_job(evaluators=...)`` adds or
replaces them. An evaluator whose module is missing is skipped with a note, so training does
not depend on the demo pack.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable

Generate = Callable[..., str]  # (messages, tools=None) -> answer text
Evaluator = Callable[[list[dict], Generate], dict]

EVALUATORS: dict[str, str] = {"taskpack": "edgelearn.demo.evaluate:taskpack",
                              "toolcall": "edgelearn.demo.evaluate:toolcall"}


def load_evaluator(path: str) -> Evaluator:
    """Import ``"module:function"``."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def with_checks(examples: list[dict], kinds: set[str], limit: int) -> dict[str, list[dict]]:
    """Validation examples grouped by check kind (only kinds with an evaluator), at most ``limit`` in all."""
    groups: dict[str, list[dict]] = {}
    taken = 0
    for ex in examples:
        check = ex.get("check")
        if taken >= limit or not isinstance(check, dict) or check.get("kind") not in kinds:
            continue
        groups.setdefault(check["kind"], []).append(ex)
        taken += 1
    return groups


def run_evaluators(examples: list[dict], evaluators: dict[str, str], generators: dict[str, Generate],
                   limit: int) -> dict[str, Any]:
    """``{kind: {model_name: result}}`` for every check kind present; skipped kinds say why."""
    out: dict[str, Any] = {}
    for kind, group in with_checks(examples, set(evaluators), limit).items():
        try:
            fn = load_evaluator(evaluators[kind])
        except (ImportError, AttributeError) as exc:
            out[kind] = {"skipped": f"evaluator {evaluators[kind]} unavailable: {exc}"}
            continue
        out[kind] = {name: fn(group, gen) for name, gen in generators.items()}
    return out
