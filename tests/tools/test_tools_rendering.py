"""One rendering: training tokenizes exactly the string embedded serving builds for a tool conversation."""

from __future__ import annotations

import json

import pytest
from toolconv import CONVERSATION, TOOLS

from edgelearn.serve.tools import parse_tool_calls, render_chat
from edgelearn.train import data as D


def serving_prompt(base_gguf, messages, tools) -> str:
    """The prompt string serve/llamacpp.py builds: render_chat, then the GGUF's own template, as the
    embedded backend's formatter renders it (llama_cpp's Jinja2ChatFormatter with the vocabulary's bos/eos)."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    from edgelearn.serve.templates import read_gguf_template

    template, bos, eos = read_gguf_template(base_gguf)
    return Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)(
        messages=render_chat(messages, tools)).prompt


def test_training_prompt_is_byte_equal_to_the_serving_prompt(smol_tokenizer, base_gguf):
    for cut in (2, 5, 6):  # before the first call, after two results, before the final calls
        history = CONVERSATION[:cut]
        training = D.render_text(smol_tokenizer, history, TOOLS, True)
        assert training.encode() == serving_prompt(base_gguf, history, TOOLS).encode()
    assert "<tools>\n" + json.dumps(TOOLS[0]) in training
    assert '<tool_call>\n{"name": "read_file", "arguments": {"path": "quill/parse.py"}}\n</tool_call>' in training
    assert "<tool_response>\ndef parse(text)" in training


def test_embedded_backend_tokens_equal_training_tokens(smol_tokenizer, base_gguf):
    pytest.importorskip("llama_cpp")
    from edgelearn.serve.backends import GenerateRequest, Target
    from edgelearn.serve.llamacpp import EmbeddedBackend

    backend = EmbeddedBackend(cache_size=1, n_threads=1, n_ctx=1024)
    target = Target("base", model_path=str(base_gguf))
    loaded = backend._get(target)  # the loaded model: its template and formatter, as a request sees them
    request = GenerateRequest(messages=CONVERSATION[:-1], tools=TOOLS)
    assert backend.prompt_tokens(loaded, target, request) == D.prompt_ids(smol_tokenizer, CONVERSATION[:-1], TOOLS)


def test_the_target_is_the_calls_in_the_format_serving_parses(smol_tokenizer):
    eot = D.end_of_turn_ids(smol_tokenizer)
    enc = D.encode(smol_tokenizer, CONVERSATION, 4096, eot, TOOLS)
    target = smol_tokenizer.decode([t for t, lab in zip(enc.ids, enc.labels) if lab])
    assert target.endswith("<|im_end|>")
    text, calls = parse_tool_calls(target.removesuffix("<|im_end|>"))
    assert text == ""
    assert [(c["function"]["name"], json.loads(c["function"]["arguments"])) for c in calls] == [
        ("run_tests", {"target": "tests/test_parse.py::test_parse"}), ("read_file", {"path": "setup.cfg"})]
    # the prompt tokens are the inference prompt: training and serving see the same history
    prompt = D.prompt_ids(smol_tokenizer, CONVERSATION[:-1], TOOLS)
    assert enc.ids[:len(prompt)] == prompt and not any(enc.labels[:len(prompt)])


def test_a_tools_row_is_read_as_trl_writes_it(tmp_path):
    row = {"messages": CONVERSATION, "tools": json.dumps(TOOLS), "run_id": "r1"}
    path = tmp_path / "train.jsonl"
    path.write_text(json.dumps(row) + "\n")
    [read] = D.read_examples(path)
    assert D.example_tools(read) == TOOLS


NATIVE = (  # a base whose own template renders tools and calls (Hermes style), as Qwen2.5's does
    "{% if tools %}<|im_start|>system\n<tools>{% for t in tools %}\n{{ t | tojson }}{% endfor %}\n</tools>\n"
    "Call them as <tool_call>{...}</tool_call>.<|im_end|>\n"
    "{% endif %}{% for m in messages %}<|im_start|>{{ 'user' if m.role == 'tool' else m.role }}\n{{ m.content }}"
    "{% for c in m.tool_calls or [] %}<tool_call>\n{{ c.function | tojson }}\n</tool_call>{% endfor %}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def test_a_base_template_that_renders_tools_is_used_alike_by_training_and_serving(smol_tokenizer):
    import copy

    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    from edgelearn.serve.tools import native_messages

    tok = copy.deepcopy(smol_tokenizer)
    tok.chat_template = NATIVE
    assert D.native_tools(tok) and not D.native_tools(smol_tokenizer)
    history = CONVERSATION[:6]
    training = D.render_text(tok, history, TOOLS, True)
    serving = Jinja2ChatFormatter(template=NATIVE, eos_token="<|im_end|>", bos_token="")(
        messages=native_messages(history), tools=TOOLS).prompt
    assert training.encode() == serving.encode()
    assert '"arguments": {"path": "quill/parse.py"}' in training and "# Tools" not in training
