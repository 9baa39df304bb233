"""The task pack's evaluator for training jobs: held-out success of a model on pack tasks.

Named in ``edgelearn.train.evaluate.EVALUATORS`` as ``"edgelearn.demo.evaluate:taskpack"`` (code
tasks) and ``"edgelearn.demo.evaluate:toolcall"`` (tool-use tasks); the training child imports them
by that name, so training itself never imports the demo.
"""

from __future__ import annotations

from edgelearn.demo.pack import check, load_pack
from edgelearn.demo.tool_pack import check_calls, load_tool_pack
from edgelearn.train.evaluate import Generate


def _rate(examples: list[dict], tasks: dict, passes) -> dict:
    """Success rate over the examples that name a task of ``tasks``; ``passes(task, example)`` judges one."""
    n = passed = 0
    for ex in examples:
        task = tasks.get(ex["check"].get("task_id"))
        if task is None:
            continue
        n += 1
        passed += bool(passes(task, ex))
    return {"n": n, "passed": passed, "rate": round(passed / n, 4) if n else None}


def taskpack(examples: list[dict], generate: Generate) -> dict:
    """Success rate on demo-pack tasks: the answer's code must pass every test of its task."""
    return _rate(examples, {t.id: t for t in load_pack()},
                 lambda task, ex: check(task, generate(ex["messages"][:-1])).ok)


def toolcall(examples: list[dict], generate: Generate) -> dict:
    """Success rate on the pack's tool-use tasks: the answer must be exactly the task's call (one call,
    the right tool, equal JSON arguments), parsed as serving parses it."""
    from edgelearn.serve.tools import parse_tool_calls
    from edgelearn.train.data import example_tools

    def passes(task, ex) -> bool:
        _, calls = parse_tool_calls(generate(ex["messages"][:-1], example_tools(ex)))
        return check_calls(task, calls)

    return _rate(examples, {t.id: t for t in load_tool_pack()}, passes)
