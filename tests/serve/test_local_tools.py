"""A local model given tools: parsed ``tool_calls`` when it writes the format, text when it does not.

The engine runs a FakeBackend scripted like a local model (text out), the fake Ollama over HTTP, and
once (slow) the real SmolLM2 through llama.cpp. Also the context: the GGUF's trained one by default,
and a clear ``InvalidInput`` naming the sizes for a prompt that cannot fit.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from edgelearn.config import Settings
from edgelearn.errors import InvalidInput
from edgelearn.serve.backends import FakeBackend, GenerateRequest
from edgelearn.serve.base import trained_context
from edgelearn.serve.engine import Engine

SHELL = {"type": "function", "function": {"name": "shell", "parameters": {
    "type": "object", "properties": {"cmd": {"type": "string"}}, "required": ["cmd"]}}}
CALL = '<tool_call>\n{"name": "shell", "arguments": {"cmd": "ls -la"}}\n</tool_call>'
ASK = [{"role": "user", "content": "list the files"}]


@pytest.fixture
def engine(store):
    settings = Settings()
    engine = Engine(store, lambda: settings)
    yield engine
    engine.close()


def _answer(engine, backend, request):
    engine.use_backend(backend)
    served = engine.resolve("base")
    chunks = list(engine.stream(served, request))
    calls = [call for chunk in chunks for call in chunk.tool_calls]
    return "".join(c.text for c in chunks), calls, chunks


def test_a_local_model_that_writes_the_format_returns_tool_calls(engine):
    backend = FakeBackend(lambda target, request: f"Listing. {CALL}")
    text, calls, chunks = _answer(engine, backend, GenerateRequest(messages=ASK, tools=[SHELL]))
    assert text == "Listing."
    assert [(c["function"]["name"], json.loads(c["function"]["arguments"])) for c in calls] == [
        ("shell", {"cmd": "ls -la"})]
    assert chunks[-1].finish_reason == "tool_calls" and chunks[-1].usage is not None
    assert backend.calls[0][1].tools == [SHELL]  # the backend got the tools to render


def test_a_local_model_that_does_not_write_the_format_returns_text(engine):
    answer = 'I would run {"name": "shell"} but <tool_call>not json</tool_call>'
    text, calls, chunks = _answer(engine, FakeBackend(lambda t, r: answer), GenerateRequest(messages=ASK, tools=[SHELL]))
    assert (text, calls, chunks[-1].finish_reason) == (answer, [], "stop")


def test_without_tools_or_with_tool_choice_none_nothing_is_parsed(engine):
    backend = FakeBackend(lambda target, request: CALL)
    for request in (GenerateRequest(messages=ASK), GenerateRequest(messages=ASK, tools=[SHELL], tool_choice="none")):
        text, calls, chunks = _answer(engine, backend, request)
        assert (text, calls, chunks[-1].finish_reason) == (CALL, [], "stop")


def test_acomplete_gathers_every_call_on_the_last_chunk(engine):
    two = f"{CALL}\n{CALL.replace('ls -la', 'pwd')}"
    engine.use_backend(FakeBackend(lambda target, request: two))
    served = engine.resolve("base")
    text, last = asyncio.run(engine.acomplete(served, GenerateRequest(messages=ASK, tools=[SHELL])))
    assert text == "" and last.finish_reason == "tool_calls"
    assert [json.loads(c["function"]["arguments"])["cmd"] for c in last.tool_calls] == ["ls -la", "pwd"]


def test_astream_relays_each_call_once(engine):
    engine.use_backend(FakeBackend(lambda target, request: f"{CALL} then {CALL}"))
    served = engine.resolve("base")

    async def collect():
        return [c async for c in engine.astream(served, GenerateRequest(messages=ASK, tools=[SHELL]))]

    chunks = asyncio.run(collect())
    assert sum(len(c.tool_calls) for c in chunks) == 2 and "".join(c.text for c in chunks) == "then"


def test_ollama_gets_the_rendered_tools_and_its_text_is_parsed(store, fake_ollama):
    fake_ollama.models["tooly:latest"] = {}
    settings = Settings.model_validate({"deploy": {"ollama_url": fake_ollama.url}})
    engine = Engine(store, lambda: settings)
    try:
        served = engine.resolve("ollama/tooly")
        # the fake Ollama echoes the last user message: here, a call in the format
        request = GenerateRequest(messages=[{"role": "user", "content": CALL}], tools=[SHELL])
        chunks = list(engine.stream(served, request))
    finally:
        engine.close()
    calls = [c for chunk in chunks for c in chunk.tool_calls]
    assert [c["function"]["name"] for c in calls] == ["shell"] and chunks[-1].finish_reason == "tool_calls"
    assert "".join(c.text for c in chunks) == "ollama says:"
    sent = next(body for method, path, body in fake_ollama.requests if path == "/api/chat")
    assert not sent.get("tools") and sent["messages"][0]["role"] == "system"
    assert '"name": "shell"' in sent["messages"][0]["content"] and "<tools>" in sent["messages"][0]["content"]


def test_the_default_context_is_the_models_trained_one(base_gguf):
    assert Settings().deploy.n_ctx == 0
    assert trained_context(base_gguf) == 8192


@pytest.mark.slow
def test_smollm2_through_the_engine_with_tools(engine, monkeypatch):
    """The real model end to end: its prompt carries the tools; a forced call is decoded under a grammar and
    comes back parsed; an oversized prompt is refused naming the sizes."""
    monkeypatch.setattr(engine._settings(), "deploy", engine._settings().deploy.model_copy(update={"threads": 2}))
    served = engine.resolve("base")
    backend = served.backend
    request = GenerateRequest(messages=[{"role": "system", "content": "You are a shell agent."}, *ASK],
                              tools=[SHELL], tool_choice="required", max_tokens=48, temperature=0.0)
    loaded = backend._get(served.target)
    assert loaded.n_ctx == 8192 and loaded.native_tools is False  # SmolLM2's template knows no tools
    prompt = loaded.llm.detokenize(backend.prompt_tokens(loaded, served.target, request)).decode()
    assert "<tools>" in prompt and '"name": "shell"' in prompt and "You must call at least one function." in prompt
    chunks = list(engine.stream(served, request))
    [call] = [c for chunk in chunks for c in chunk.tool_calls]
    assert call["function"]["name"] == "shell" and call["id"].startswith("call_")
    assert isinstance(json.loads(call["function"]["arguments"])["cmd"], str)
    assert chunks[-1].finish_reason == "tool_calls" and "<tool_call>" not in "".join(c.text for c in chunks)

    huge = GenerateRequest(messages=[{"role": "user", "content": "word " * 9000}], max_tokens=4)
    with pytest.raises(InvalidInput, match=r"the prompt is \d+ tokens, over the context of 8192 tokens") as caught:
        list(engine.stream(served, huge))
    assert caught.value.field == "messages"
