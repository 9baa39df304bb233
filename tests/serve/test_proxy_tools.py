"""Local models take tools through the proxy: ``tools`` and ``tool_choice`` reach the engine, the
agent's tool-call and tool-result messages reach it intact, and the engine's parsed calls come back
as ``tool_calls`` (plain) and ``delta.tool_calls`` (streamed), recorded with the run."""

from __future__ import annotations

import json

import openai
import pytest

from edgelearn.serve.backends import Backend, Chunk, Usage

TOOLS = [{"type": "function", "function": {"name": "bash", "description": "run a command",
                                           "parameters": {"type": "object", "properties": {"command": {"type": "string"}}}}}]
CALL = {"id": "call_0a1b", "type": "function", "function": {"name": "bash", "arguments": '{"command": "ls"}'}}
TURN = [{"role": "developer", "content": "be an agent"}, {"role": "user", "content": "list files"},
        {"role": "assistant", "content": None, "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "call_0a1b", "content": "a.py"}, {"role": "user", "content": "and now?"}]


class ToolBackend(Backend):
    """Answers with some text and one parsed call, as the contract's engine does."""

    name = "tools"

    def __init__(self) -> None:
        self.requests = []

    def stream(self, target, request):
        self.requests.append(request)
        yield Chunk("Let me look.")
        yield Chunk("", "tool_calls", Usage(9, 5), tool_calls=(CALL,))


@pytest.fixture
def backend(server):
    b = ToolBackend()
    server.runtime.services["serving"].engine.use_backend(b)
    return b


@pytest.fixture
def client(server):
    with openai.OpenAI(base_url=f"{server.url}/v1", api_key=server.token, max_retries=0) as c:
        yield c


def test_plain_local_answer_carries_parsed_tool_calls(server, backend, client):
    raw = client.chat.completions.with_raw_response.create(model="base", messages=TURN, tools=TOOLS,
                                                           tool_choice="auto")
    answer = raw.parse()
    message = answer.choices[0].message
    assert answer.choices[0].finish_reason == "tool_calls" and message.content == "Let me look."
    assert [(c.id, c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls] == [
        ("call_0a1b", "bash", {"command": "ls"})]
    request = backend.requests[-1]
    assert request.tools == TOOLS and request.tool_choice == "auto"
    assert request.messages[0] == {"role": "system", "content": "be an agent"}
    assert request.messages[2] == {"role": "assistant", "content": None, "tool_calls": [CALL]}
    assert request.messages[3] == {"role": "tool", "tool_call_id": "call_0a1b", "content": "a.py"}
    run = server.runtime.store.runs.get(raw.headers["x-edgelearn-run-id"])
    assert run.metadata["chat"]["tools"] == TOOLS and run.metadata["chat"]["output"]["tool_calls"] == [CALL]
    assert run.input[3]["tool_call_id"] == "call_0a1b" and run.task == "and now?"


def test_streamed_local_answer_carries_delta_tool_calls(server, backend, client):
    chunks = list(client.chat.completions.create(model="base", messages=TURN, tools=TOOLS, stream=True))
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    calls = [d.tool_calls[0] for d in deltas if d.tool_calls]
    assert [(c.index, c.id, c.function.name, c.function.arguments) for c in calls] == [
        (0, "call_0a1b", "bash", '{"command": "ls"}')]
    assert "".join(d.content or "" for d in deltas) == "Let me look."
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_local_models_refuse_images_naming_the_field(server, backend):
    body = {"model": "base", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}]}
    response = server.client.post("/v1/chat/completions", json=body)
    assert response.status_code == 422 and response.json()["error"]["param"] == "messages.0.content"
    assert "provider" in response.json()["error"]["message"]


def test_redaction_covers_tool_arguments_and_tool_results(server, backend, client):
    messages = [{"role": "user", "content": "mail bob"},
                {"role": "assistant", "content": None, "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "mail", "arguments": '{"to": "bob@example.com"}'}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "sent to bob@example.com"}]
    raw = client.chat.completions.with_raw_response.create(model="base", messages=messages, tools=TOOLS)
    run = server.runtime.store.runs.get(raw.headers["x-edgelearn-run-id"])
    stored = json.dumps(run.input)
    assert "bob@example.com" not in stored and "mail" in stored
