"""The parity gate's tool-call check: an artifact served with tools must make the trained model's calls.

The "trained model" here is the bundled base run on the training rendering (prompt ids from the HF
tokenizer, greedy in llama.cpp); a few-shot history makes it call tools. The artifact is served the
way the gateway serves it (its own chat template). A copy whose chat template was broken on purpose
must fail the gate.
"""

from __future__ import annotations

import json
import shutil

import pytest

pytest.importorskip("llama_cpp")

from edgelearn.gguf.parity import (
    LlamaRunner,
    ParityResult,
    ServedModel,
    ToolCase,
    call_signature,
    check_tool_parity,
)
from edgelearn.train import data as D

TOOLS = [{"type": "function", "function": {"name": "read_file", "description": "Read a file of the repository",
                                           "parameters": {"type": "object", "properties": {"path": {"type": "string"}},
                                                          "required": ["path"]}}}]
GOOD_TURN = "'<|im_start|>' + message['role'] + '\n'"
BAD_TURN = "'<|im_start|>' + 'user'          + '\n'"  # same length: every turn rendered as the user's


def shots() -> list[dict]:
    out = []
    for i, path in enumerate(["docs/intro.md", "src/main.py", "setup.cfg"]):
        call = {"id": f"c{i}", "type": "function",
                "function": {"name": "read_file", "arguments": json.dumps({"path": path})}}
        out += [{"role": "user", "content": f"Read {path}"}, {"role": "assistant", "content": "", "tool_calls": [call]}]
    return out


@pytest.fixture(scope="module")
def base():
    from edgelearn.train.base import default_base_path

    return default_base_path()


@pytest.fixture(scope="module")
def tokenizer(base):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(base.parent, gguf_file=base.name)


@pytest.fixture(scope="module")
def cases(base, tokenizer) -> list[ToolCase]:
    """The trained model's calls, generated from the training rendering's prompt ids."""
    eot = D.end_of_turn_ids(tokenizer)
    runner = LlamaRunner(base, n_ctx=1024, n_threads=1)
    out = []
    try:
        for ask in ("Read README.md", "Read quill/lexer.py"):
            messages = [*shots(), {"role": "user", "content": ask}]
            ref = runner.greedy(D.prompt_ids(tokenizer, messages, TOOLS), 48, eot)
            text = tokenizer.decode([t for t in ref.tokens if t not in eot], skip_special_tokens=False)
            out.append(ToolCase(messages, TOOLS, call_signature(text)))
    finally:
        runner.close()
    assert [c.expected[0][0] for c in out] == ["read_file", "read_file"]  # the reference does call tools
    return out


def broken_copy(base, tmp_path):
    """A copy of the model whose chat template renders every turn as the user's (same length, in place)."""
    path = tmp_path / "broken.gguf"
    shutil.copyfile(base, path)
    data = path.read_bytes()
    assert data.count(GOOD_TURN.encode()) == 1
    path.write_bytes(data.replace(GOOD_TURN.encode(), BAD_TURN.encode()))
    return path


def test_served_artifact_makes_the_trained_calls(base, cases):
    served = ServedModel(base, n_ctx=1024, n_threads=1, max_tokens=48)
    result = check_tool_parity("merged", served, cases, min_match=1.0)
    assert result.passed and result.equal == result.cases == result.with_calls == 2 and result.reason is None


def test_a_broken_chat_template_fails_the_gate(base, cases, tmp_path):
    served = ServedModel(broken_copy(base, tmp_path), n_ctx=1024, n_threads=1, max_tokens=48)
    result = check_tool_parity("merged", served, cases, min_match=0.95)
    assert not result.passed and result.equal < result.cases
    assert "tool calls" in result.reason and result.mismatches
    gate = ParityResult("merged", 2, 1.0, 1.0, 1.0, 1.0, True, None, [])  # token parity alone passes
    gate.add_tool_parity(result)
    assert not gate.passed and gate.reason == result.reason and gate.summary()["tool_calls"]["equal"] == result.equal


def test_arguments_compare_as_json():
    same = '<tool_call>\n{"name": "f", "arguments": {"a": 1, "b": [2]}}\n</tool_call>'
    reordered = '<tool_call>\n{"arguments": {"b": [2], "a": 1}, "name": "f"}\n</tool_call>'
    assert call_signature(same) == call_signature(reordered) == [("f", {"a": 1, "b": [2]})]
    assert call_signature("no call here") == []
    case = ToolCase([], None, [("f", {"a": 1})])
    assert check_tool_parity("adapter", lambda m, t: reordered, [case], min_match=1.0).passed is False
    assert check_tool_parity("adapter", lambda m, t: '<tool_call>{"name": "f", "arguments": {"a": 1}}</tool_call>',
                             [case], min_match=1.0).passed
