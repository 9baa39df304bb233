"""The parity gate's tool-call check: an artifact served with tools must make the trained model's calls.

The "trained model" here is the bundled base run on the training rendering (prompt ids from the HF
tokenizer, greedy in torch, as the pipeline's reference); a few-shot history makes it call tools. The artifact is served the
way the gateway serves it (its own chat template). A copy whose chat template was broken on purpose
must fail the gate.
"""

from __future__ import annotations

import json
import shutil

import pytest

pytest.importorskip("llama_cpp")

from edgelearn.gguf.parity import (
    Fork,
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
def cases(base_gguf, smol_tokenizer) -> list[ToolCase]:
    """The trained model's calls, generated in torch from the training rendering's prompt ids, with the
    forks of each answer (the runner-up tokens that greedy decoding passed over), as the pipeline
    computes them."""
    from transformers import AutoModelForCausalLM

    from edgelearn.train.gate import tool_cases
    from edgelearn.train.reference import greedy_forks

    eot = D.end_of_turn_ids(smol_tokenizer)
    examples, prompts = [], []
    for ask in ("Read README.md", "Read quill/lexer.py"):
        messages = [*shots(), {"role": "user", "content": ask}]
        prompts.append(D.prompt_ids(smol_tokenizer, messages, TOOLS))
        examples.append({"messages": [*messages, {"role": "assistant", "content": ""}], "tools": TOOLS})
    model = AutoModelForCausalLM.from_pretrained(base_gguf.parent, gguf_file=base_gguf.name).eval()
    refs, forks = greedy_forks(model, prompts, 48, eot, "cpu")
    out = tool_cases(examples, refs, eot, smol_tokenizer, forks)
    assert [c.expected[0][0] for c in out] == ["read_file", "read_file"]  # the reference does call tools
    assert all("".join(f.text for f in c.forks) == c.text for c in out)
    return out


def broken_copy(base_gguf, tmp_path):
    """A copy of the model whose chat template renders every turn as the user's (same length, in place)."""
    path = tmp_path / "broken.gguf"
    shutil.copyfile(base_gguf, path)
    data = path.read_bytes()
    assert data.count(GOOD_TURN.encode()) == 1
    path.write_bytes(data.replace(GOOD_TURN.encode(), BAD_TURN.encode()))
    return path


def test_served_artifact_makes_the_trained_calls(base_gguf, cases):
    served = ServedModel(base_gguf, n_ctx=1024, n_threads=1, max_tokens=48)
    result = check_tool_parity("merged", served, cases, min_match=1.0)
    assert result.passed and result.equal == result.cases == result.with_calls == 2 and result.reason is None


def test_a_broken_chat_template_fails_the_gate(base_gguf, cases, tmp_path):
    served = ServedModel(broken_copy(base_gguf, tmp_path), n_ctx=1024, n_threads=1, max_tokens=48)
    # the pipeline's margin (train.parity_tie_margin): the near-tie rule does not excuse a broken export
    result = check_tool_parity("merged", served, cases, min_match=0.95, tie_margin=0.5)
    assert not result.passed and result.equal < result.cases and result.near_ties == 0
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


def fork_case(gap: float) -> ToolCase:
    """A trained answer calling f with path "a.py" whose token '"a' led '"b' by ``gap``."""
    head = '<tool_call>\n{"name": "f", "arguments": {"path": '
    text = head + '"a.py"}}\n</tool_call>'
    forks = [Fork(0, head, head, 0.0), Fork(len(head), '"a', '"b', gap), Fork(len(head) + 2, '.py"}}\n</tool_call>',
                                                                               ".", 9.0)]
    return ToolCase([], None, call_signature(text), text, forks)


def test_a_differing_call_at_a_near_tie_is_accepted_and_counted():
    other = '<tool_call>\n{"name": "f", "arguments": {"path": "b.py"}}\n</tool_call>'
    result = check_tool_parity("merged", lambda m, t: other, [fork_case(0.2)], min_match=1.0, tie_margin=0.5)
    assert result.passed and result.equal == 0 and result.near_ties == 1
    assert result.ties == [{"expected": [("f", {"path": "a.py"})], "got": [("f", {"path": "b.py"})], "gap": 0.2}]


def test_a_near_tie_counts_where_the_tokens_part_before_the_characters_do():
    # trained: "che" + "st" (its runner-up for "che" was "check"); served: "check" + "out" - the texts
    # differ first at "s", inside "st", but the served model parted at "che", taking the runner-up
    head = '<tool_call>\n{"name": "ship", "arguments": {"target": "'
    text = head + 'chest@stg"}}\n</tool_call>'
    tail = '@stg"}}\n</tool_call>'
    forks = [Fork(0, head, head, 0.0), Fork(len(head), "che", "check", 0.3), Fork(len(head) + 3, "st", "ck", 4.0),
             Fork(len(head) + 5, tail, "!", 9.0)]
    served = head + 'checkout@stg"}}\n</tool_call>'
    case = ToolCase([], None, call_signature(text), text, forks)
    assert case.parting_gap(served) == 0.3
    result = check_tool_parity("adapter", lambda m, t: served, [case], min_match=1.0, tie_margin=0.5)
    assert result.passed and result.near_ties == 1
    # the same parting where the trained model was sure of "che": a mismatch that names the gap
    sure = ToolCase([], None, call_signature(text), text, [*forks[:1], Fork(len(head), "che", "check", 2.5), *forks[2:]])
    result = check_tool_parity("adapter", lambda m, t: served, [sure], min_match=1.0, tie_margin=0.5)
    assert not result.passed and result.mismatches[0]["gap"] == 2.5 and "2.50 log-probability below" in result.reason
    # a runner-up that stops short of the differing character is no parting there: it is at "st" (sure)
    short = ToolCase([], None, call_signature(text), text, [*forks[:1], Fork(len(head), "che", "ch", 0.1), *forks[2:]])
    assert short.parting_gap(served) == 4.0 and not short.near_tie(served, 0.5)
    assert short.parting_gap(head + 'chess@stg"}}\n</tool_call>') is None  # no runner-up leads there


def test_a_differing_call_is_a_mismatch_unless_the_trained_model_hesitated_there():
    other = '<tool_call>\n{"name": "f", "arguments": {"path": "b.py"}}\n</tool_call>'
    sure = check_tool_parity("merged", lambda m, t: other, [fork_case(2.0)], min_match=1.0, tie_margin=0.5)
    assert not sure.passed and sure.near_ties == 0 and "0 more at near-ties" in sure.reason
    # parting at the tie but not to the runner-up, or later where the model was sure: mismatches
    for got in ('<tool_call>\n{"name": "f", "arguments": {"path": "c.py"}}\n</tool_call>',
                '<tool_call>\n{"name": "f", "arguments": {"path": "a.js"}}\n</tool_call>'):
        assert not check_tool_parity("merged", lambda m, t, g=got: g, [fork_case(0.2)], min_match=1.0,
                                     tie_margin=0.5).passed
    assert not check_tool_parity("merged", lambda m, t: other, [fork_case(0.2)], min_match=1.0).passed  # no margin


def test_the_gates_tool_check_lets_one_of_its_examples_differ_and_no_more():
    from edgelearn.config import TrainSettings
    from edgelearn.train.gate import TOOL_CASES

    minimum = TrainSettings().parity_min_tool_match
    text = '<tool_call>\n{"name": "f", "arguments": {"path": "a.py"}}\n</tool_call>'
    other = '<tool_call>\n{"name": "f", "arguments": {"path": "b.py"}}\n</tool_call>'
    cases = [ToolCase([{"role": "user", "content": str(i)}], None, call_signature(text)) for i in range(TOOL_CASES)]
    for differing, passes in [(1, True), (2, False)]:
        served = lambda m, t, n=differing: other if int(m[0]["content"]) < n else text  # noqa: E731
        result = check_tool_parity("merged", served, cases, min_match=minimum)
        assert result.passed is passes and result.equal == TOOL_CASES - differing


def test_the_runner_evaluates_only_what_a_prompt_does_not_share_with_the_last_one(base_gguf, smol_tokenizer):
    eot = D.end_of_turn_ids(smol_tokenizer)
    system = [{"role": "system", "content": "You answer questions about the quill repository in one short sentence."}]
    first, second = (D.prompt_ids(smol_tokenizer, [*system, {"role": "user", "content": ask}])
                     for ask in ("Which language is quill written in?", "Who maintains quill?"))
    fresh = LlamaRunner(base_gguf, n_ctx=512, n_threads=1)
    runner = LlamaRunner(base_gguf, n_ctx=512, n_threads=1)
    try:
        alone = fresh.greedy(second, 24, eot)
        runner.greedy(first, 24, eot)
        evaluated = []
        eval_ = runner.llm.eval
        runner.llm.eval = lambda tokens: (evaluated.append(len(tokens)), eval_(tokens))[1]
        after = runner.greedy(second, 24, eot)
        shared = next(i for i, (a, b) in enumerate(zip(first, second)) if a != b)
        assert evaluated[0] == len(second) - shared  # only what differs from the last prompt was evaluated
        assert after.tokens == alone.tokens
        # teacher-forced after the kept prefix: the logits of a runner that evaluated the whole prompt
        other = smol_tokenizer.encode("It is maintained by the quill team of volunteers.")
        tops, gaps = runner.forced(second, other)
        fresh.llm.reset()
        fresh.llm.eval(second)
        for i, tok in enumerate(other):
            logits = fresh._logits()
            assert tops[i] == int(logits.argmax()) and gaps[i] == float(logits.max() - logits[tok])
            fresh.llm.eval([tok])
        assert any(g > 0 for g in gaps)  # the base would not write this reference: the gaps are real
    finally:
        runner.close()
        fresh.close()
