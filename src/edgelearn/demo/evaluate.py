"""The task pack's evaluator for training jobs: held-out success of a model on pack tasks.

Named in ``edgelearn.train.evaluate.EVALUATORS`` as ``"edgelearn.demo.evaluate:taskpack"`` (code
tasks) and ``"edgelearn.demo.evaluate:toolcall"`` (tool-use tasks); the training child imports them
by that name, so training itself never imports the demo.
"""

from __future__ import annotations

from edgelearn.demo.pack import check, load_pack
from edgelearn.demo.tool_pack import check_calls, load_tool_pack
from edgelearn.train.evaluate import Generate


def taskpack(examples: list[dict], generate: Generate) -> dict:
    """Success rate on demo-pack tasks: the answer's code must pass every test of its task."""
    tasks = {t.id: t for t in load_pack()}
    n = passed = 0
    for ex in examples:
        task = tasks.get(ex["check"].get("task_id"))
        if task is None:
            continue
        prompt = ex["messages"][:-1]
        result = check(task, generate(prompt))
        n += 1
        passed += bool(result.ok)
    return {"n": n, "passed": passed, "rate": round(passed / n, 4) if n else None}


def toolcall(examples: list[dict], generate: Generate) -> dict:
    """Success rate on the pack's tool-use tasks: the answer must be exactly the task's call (one call,
    the right tool, equal JSON arguments), parsed as serving parses it."""
    from edgelearn.serve.tools import parse_tool_calls
    from edgelearn.train.data import example_tools

    tasks = {t.id: t for t in load_tool_pack()}
    n = passed = 0
    for ex in examples:
        task = tasks.get(ex["check"].get("task_id"))
        if task is None:
            continue
        _, calls = parse_tool_calls(generate(ex["messages"][:-1], example_tools(ex)))
        n += 1
        passed += check_calls(task, calls)
    return {"n": n, "passed": passed, "rate": round(passed / n, 4) if n else None}
