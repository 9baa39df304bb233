"""Malformed bodies on the three wires: always a 4xx in the wire's own shape, never a 5xx, never a run."""

from __future__ import annotations

import pytest

MESSAGE = [{"role": "user", "content": "hi"}]
MESSAGES_BODIES = [
    None, [], "text", 3, {}, {"model": 3, "max_tokens": 5, "messages": MESSAGE},
    {"model": "base", "max_tokens": "5", "messages": MESSAGE}, {"model": "base", "max_tokens": True, "messages": MESSAGE},
    {"model": "base", "max_tokens": 0, "messages": MESSAGE}, {"model": "base", "max_tokens": 5, "messages": []},
    {"model": "base", "max_tokens": 5, "messages": ["hi"]},
    {"model": "base", "max_tokens": 5, "messages": [{"role": "tool", "content": "x"}]},
    {"model": "base", "max_tokens": 5, "messages": [{"role": "user", "content": 5}]},
    {"model": "base", "max_tokens": 5, "messages": [{"role": "user", "content": [5, None]}]},
    {"model": "base", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "image", "source": "x"}]}]},
    {"model": "base", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "document",
                                                                                    "source": {"type": "base64"}}]}]},
    {"model": "base", "max_tokens": 5, "messages": [{"role": "assistant", "content": [{"type": "tool_use"}]}]},
    {"model": "base", "max_tokens": 5, "messages": MESSAGE, "system": 5},
    {"model": "base", "max_tokens": 5, "messages": MESSAGE, "system": [{"type": "image"}]},
    {"model": "base", "max_tokens": 5, "messages": MESSAGE, "tools": "x"},
    {"model": "base", "max_tokens": 5, "messages": MESSAGE, "tools": [{"name": "a"}]},
    {"model": "base", "max_tokens": 5, "messages": MESSAGE, "tools": [{"name": "a", "input_schema": {}}],
     "tool_choice": "auto"},
    {"model": "base", "max_tokens": 5, "messages": MESSAGE, "stop_sequences": "END"},
    {"model": "base", "max_tokens": 5, "messages": MESSAGE, "temperature": "hot"},
    {"model": "base", "max_tokens": 5, "messages": MESSAGE, "metadata": "x"},
    {"model": "nope/model", "max_tokens": 5, "messages": MESSAGE},
    {"model": "base", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "redacted_thinking"}]}]},
    # a block type that is not a string (found by tests/test_openapi_fuzz.py: unhashable, a 500)
    {"model": "base", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": ["text"]}]}]},
    {"model": "base", "max_tokens": 5, "messages": [{"role": "assistant", "content": [{"type": {"a": 1}}]}]},
]
RESPONSES_BODIES = [
    None, [], {}, {"model": "base"}, {"model": "base", "input": 5}, {"model": "base", "input": [5]},
    {"model": "base", "input": [{"type": "message", "role": "tool", "content": "x"}]},
    {"model": "base", "input": [{"type": "message", "role": "user", "content": [{"type": "input_file"}]}]},
    {"model": "base", "input": [{"type": "message", "role": "user", "content": [{"type": "input_image"}]}]},
    {"model": "base", "input": [{"type": "function_call"}]}, {"model": "base", "input": "x", "instructions": 5},
    {"model": "base", "input": "x", "max_output_tokens": -1}, {"model": "base", "input": "x", "tools": {"a": 1}},
    {"model": "base", "input": "x", "tools": [{"type": "function"}]},
    {"model": "base", "input": "x", "tools": [{"type": "function", "name": "f"}], "tool_choice": "sometimes"},
    {"model": "base", "input": "x", "previous_response_id": "resp_1"},
    {"model": "base", "input": "x", "temperature": 9},
    {"model": "base", "input": [{"type": "message", "role": "user", "content": [{"type": ["input_text"]}]}]},
]
COMPLETIONS_BODIES = [
    None, {}, {"model": "base"}, {"model": "base", "prompt": 5}, {"model": "base", "prompt": []},
    {"model": "base", "prompt": "x", "max_tokens": 0}, {"model": "base", "prompt": "x", "n": 2},
    {"model": "base", "prompt": "x", "echo": True}, {"model": "base", "prompt": "x", "stop": 5},
    {"model": "claude/sonnet", "prompt": "x"}, {"model": "nope/x", "prompt": "x"},
]


def _check(wire, path, body, shape):
    response = wire.server.client.post(path, json=body)
    assert 400 <= response.status_code < 500, (body, response.status_code, response.text)
    error = response.json()
    if shape == "anthropic":
        assert error["type"] == "error" and error["error"]["message"]
    else:
        assert error["error"]["message"]


@pytest.mark.parametrize("body", MESSAGES_BODIES, ids=range(len(MESSAGES_BODIES)))
def test_messages(wire, fake, body):
    _check(wire, "/v1/messages", body, "anthropic")
    assert wire.runs() == [] and fake.calls == []


def test_responses_and_completions(wire, fake):
    for body in RESPONSES_BODIES:
        _check(wire, "/v1/responses", body, "openai")
    for body in COMPLETIONS_BODIES:
        _check(wire, "/v1/completions", body, "openai")
    assert wire.runs() == [] and fake.calls == []


def test_the_openapi_document_lists_the_wires(wire):
    paths = wire.server.client.get("/openapi.json").json()["paths"]
    for path in ("/v1/messages", "/v1/messages/count_tokens", "/v1/responses", "/v1/completions"):
        assert "post" in paths[path]
