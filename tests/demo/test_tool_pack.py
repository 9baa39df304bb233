"""The pack's tool-use family: its held-out split, its checker, and the demo's path from teacher
calls through the gateway to {messages, tools} training rows."""

from __future__ import annotations

import json
import re

import pytest

from edgelearn.demo import tool_pack as TP
from edgelearn.demo.evaluate import toolcall
from edgelearn.serve.tools import parse_tool_calls


@pytest.fixture
def examples_of():
    def read(dataset) -> list[dict]:
        return [json.loads(line) for name in ("train", "val")
                for line in (dataset.path / f"{name}.jsonl").read_text().splitlines()]

    return read


@pytest.fixture(scope="module")
def tasks() -> list[TP.ToolTask]:
    return TP.load_tool_pack()


def test_pack_file_matches_the_builder(tasks):
    assert [json.dumps(t, sort_keys=True) for t in TP.build_tool_tasks()] == [
        json.dumps(t.__dict__, sort_keys=True) for t in tasks]
    assert {t.expected["name"] for t in tasks} == {t["function"]["name"] for t in TP.TOOLS}
    assert len({t.id for t in tasks}) == len(tasks) and len({t.prompt for t in tasks}) == len(tasks)


def test_heldout_tasks_have_unseen_names_and_unseen_phrasings(tasks):
    train = [t for t in tasks if t.split == "train"]
    held = [t for t in tasks if t.split == "heldout"]
    assert len(held) >= 8 and {t.convention for t in held} == set(TP.PHRASINGS)
    train_text = " ".join(t.prompt for t in train) + json.dumps([t.expected for t in train])
    for task in held:
        name = next(iter(task.expected["arguments"].values())) if task.convention not in ("bug", "feature") \
            else task.expected["arguments"]["title"]
        name = re.sub(r"^qk-|^src/quill/|/core\.py$|@(stg|prd)$", "", name)
        assert name not in train_text, (task.id, name)
        skeleton = task.prompt.replace(name, "{}")
        assert all(t.prompt.replace(n, "{}") != skeleton for t in train
                   for n in [re.sub(r"^qk-|^src/quill/|/core\.py$|@(stg|prd)$", "",
                                    t.expected["arguments"].get("title") or next(iter(t.expected["arguments"].values())))])


def test_the_reference_parses_to_the_expected_call(tasks):
    for task in tasks:
        text, calls = parse_tool_calls(task.reference())
        assert text == "" and TP.check_calls(task, calls)


def _call(name: str, arguments) -> dict:
    return {"id": "c", "type": "function", "function": {"name": name, "arguments": arguments}}


def test_check_needs_exactly_the_call(tasks):
    task = next(t for t in tasks if t.convention == "bug")
    right = task.expected["arguments"]
    assert TP.check_calls(task, [_call("qk_ticket", json.dumps(dict(reversed(list(right.items())))))])
    assert not TP.check_calls(task, [])
    assert not TP.check_calls(task, [_call("qk_ticket", json.dumps({**right, "queue": "QF"}))])
    assert not TP.check_calls(task, [_call("qk_ship", json.dumps(right))])
    assert not TP.check_calls(task, [_call("qk_ticket", "{not json")])
    assert not TP.check_calls(task, [_call("qk_ticket", json.dumps(right))] * 2)


def test_the_toolcall_evaluator_scores_generated_calls(tasks):
    examples = [{"messages": [*t.messages(), {"role": "assistant", "content": ""}], "tools": json.dumps(TP.TOOLS),
                 "check": {"kind": "toolcall", "task_id": t.id}} for t in tasks[:4]]
    by_prompt = {t.prompt: t for t in tasks}
    seen_tools = []

    def generate(messages, tools=None):
        seen_tools.append(tools)
        task = by_prompt[messages[-1]["content"]]
        return task.reference() if task.id != tasks[0].id else "I would run the tests."

    assert toolcall(examples, generate) == {"n": 4, "passed": 3, "rate": 0.75}
    assert seen_tools == [TP.TOOLS] * 4


def test_teacher_calls_through_the_gateway_become_tool_rows(home, tasks, examples_of):
    """The demo's data path: the external stand-in answers with calls, the agent checks them and sends
    signals, the gateway records the runs with tools, curation writes {messages, tools} rows."""
    from edgelearn.config import Settings
    from edgelearn.config_toml import write_settings
    from edgelearn.curate import export_dataset
    from edgelearn.demo.runner import EXTERNAL_MODEL, Agent, evaluate_tools, reference_handler
    from edgelearn.runtime import Runtime
    from edgelearn.serve.backends import FakeBackend
    from edgelearn.server.app import serve_in_thread

    data = Settings().model_dump()
    data["export"].update(auto_export=False, min_reward=0.7, cluster_cap=1.0, val_fraction=0.01)
    data["train"].update(auto_train=False)
    settings = Settings.model_validate(data)
    write_settings(settings, home / "edgelearn.toml")
    runtime = Runtime(settings, home=home, config_file=home / "edgelearn.toml")
    url, stop = serve_in_thread(runtime, port=0)
    train = [t for t in tasks if t.split == "train"][:6]
    agent = Agent(url, runtime.token)
    try:
        runtime.services["serving"].engine.register_external(EXTERNAL_MODEL, FakeBackend(reference_handler([], train)))
        assert all(agent.solve_tool(t, EXTERNAL_MODEL, f"teacher-{i}", 64)[1] for i, t in enumerate(train))
        assert evaluate_tools(agent, EXTERNAL_MODEL, train, 64) == 1.0
        ds = export_dataset(runtime.store, settings, home, "coder", encode=_encode)
    finally:
        agent.close()
        stop()
    rows = examples_of(ds)
    assert len(rows) == len(train) and ds.manifest["tools"]
    by_prompt = {t.prompt: t for t in train}
    for row in rows:
        assert json.loads(row["tools"]) == TP.TOOLS
        system, user, answer = row["messages"]
        assert system["content"] == TP.TOOL_SYSTEM_PROMPT and answer["content"] == ""
        [call] = answer["tool_calls"]
        task = by_prompt[user["content"]]
        assert call["function"]["name"] == task.expected["name"]
        assert json.loads(call["function"]["arguments"]) == task.expected["arguments"]


def _encode(texts):
    """Task vectors that tell the prompts apart (no embedding model needed for this path)."""
    import numpy as np

    out = np.zeros((len(texts), 384), dtype=np.float32)
    for i, text in enumerate(texts):
        out[i, hash(text) % 384] = 1.0
    return out
