"""``POST /v1/responses`` through the official ``openai`` client: translated to chat completions for
local models and OpenAI-type providers, passed through to a provider that serves it; runs read
like chat runs."""

from __future__ import annotations

import json

import openai
import pytest
from standin import Reply, ToolCall

EXEC = {"type": "function", "name": "exec_command", "description": "run a command", "strict": False,
        "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}, "required": ["cmd"]}}


@pytest.fixture
def client(wire):
    with openai.OpenAI(base_url=f"{wire.server.url}/v1", api_key=wire.server.token, max_retries=0) as c:
        yield c


def test_local_plain_is_a_run_that_reads_like_a_chat_run(wire, fake, client):
    raw = client.responses.with_raw_response.create(model="base", instructions="be brief", input="add two numbers",
                                                    max_output_tokens=20, store=False, reasoning={"effort": "low"},
                                                    prompt_cache_key="codex-thread-1")
    answer = raw.parse()
    run_id = raw.headers["x-edgelearn-run-id"]
    assert answer.id == f"resp_{run_id}" and answer.status == "completed"
    assert answer.output_text == "echo: add two numbers" and answer.output[0].type == "message"
    assert (answer.usage.input_tokens, answer.usage.output_tokens) == (5, 4)
    run = wire.run(run_id)
    assert run.input == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "add two numbers"}]
    assert (run.output, run.session, run.model_variant) == ("echo: add two numbers", "codex-thread-1", "base")
    chat = client.chat.completions.with_raw_response.create(model="base", messages=run.input)
    chat_run = wire.run(chat.headers["x-edgelearn-run-id"])
    assert chat_run.input == run.input and chat_run.metadata["chat"]["output"] == run.metadata["chat"]["output"]


def test_local_streamed_sends_the_events_codex_needs(wire, fake, client):
    with client.responses.with_streaming_response.create(
            model="base", input=[{"type": "message", "role": "developer", "content": [{"type": "input_text",
                                                                                       "text": "be brief"}]},
                                 {"role": "user", "content": "hello there"}], stream=True) as response:
        run_id = response.headers["x-edgelearn-run-id"]
        events = list(response.parse())
    kinds = [e.type for e in events]
    assert kinds[:3] == ["response.created", "response.in_progress", "response.output_item.added"]
    assert kinds.count("response.output_text.delta") == 3 and kinds[-1] == "response.completed"
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == "echo: hello there"
    done = events[-1].response
    assert done.id == f"resp_{run_id}" and done.output_text == "echo: hello there" and done.usage.output_tokens == 3
    assert [e.sequence_number for e in events] == list(range(len(events)))
    run = wire.run(run_id)  # committed before response.completed
    assert run.input[0] == {"role": "system", "content": "be brief"} and run.output == "echo: hello there"


def test_function_tool_against_an_openai_provider_streamed_then_its_output_sent_back(wire, client):
    wire.up.script(Reply(text="Running it.", tool_calls=[ToolCall("exec_command", {"cmd": "ls"}, id="call_x1")]),
                   Reply(text="There is a.py."))
    with client.responses.create(model="up/small", input="list files", tools=[EXEC], tool_choice="auto",
                                 parallel_tool_calls=False, stream=True) as stream:
        events = list(stream)
    done = [e.item for e in events if e.type == "response.output_item.done"]
    assert [d.type for d in done] == ["message", "function_call"]
    call = done[1]
    assert (call.call_id, call.name, json.loads(call.arguments)) == ("call_x1", "exec_command", {"cmd": "ls"})
    sent = wire.up.completions()[-1].json
    assert sent["tools"] == [{"type": "function", "function": {
        "name": "exec_command", "description": "run a command", "strict": False, "parameters": EXEC["parameters"]}}]
    assert sent["parallel_tool_calls"] is False and sent["stream"] is True
    follow = client.responses.create(model="up/small", tools=[EXEC], input=[
        {"role": "user", "content": "list files"},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Running it."}]},
        {"type": "function_call", "call_id": "call_x1", "name": "exec_command", "arguments": '{"cmd":"ls"}'},
        {"type": "function_call_output", "call_id": "call_x1", "output": "a.py"},
        {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "opaque"}])
    assert follow.output_text == "There is a.py."
    messages = wire.up.completions()[-1].json["messages"]
    assert messages[1:] == [
        {"role": "assistant", "content": "Running it.", "tool_calls": [
            {"id": "call_x1", "type": "function", "function": {"name": "exec_command", "arguments": '{"cmd":"ls"}'}}]},
        {"role": "tool", "tool_call_id": "call_x1", "content": "a.py"}]


def test_a_provider_that_serves_responses_gets_them_passed_through(wire, client):
    wire.up.script(Reply(tool_calls=[ToolCall("exec_command", {"cmd": "pwd"}, id="call_n1")]), Reply(text="hi"))
    body = {"model": "native/small", "input": "where am I", "tools": [EXEC], "store": False, "stream": True,
            "include": ["reasoning.encrypted_content"]}
    with client.responses.with_streaming_response.create(**body) as response:
        run_id = response.headers["x-edgelearn-run-id"]
        events = list(response.parse())
    assert events[-1].type == "response.completed" and events[-1].response.id.startswith("resp_native")
    seen = wire.up.completions()[-1]
    assert seen.path == "/v1/responses" and seen.json == {**body, "model": "small"}
    run = wire.run(run_id)
    assert run.metadata["chat"]["output"]["tool_calls"] == [
        {"id": "call_n1", "type": "function", "function": {"name": "exec_command", "arguments": '{"cmd": "pwd"}'}}]
    assert run.input == [{"role": "user", "content": "where am I"}] and run.tokens_in == 11
    plain = client.responses.with_raw_response.create(model="native/small", input="again")
    assert plain.parse().output_text == "hi" and wire.run(plain.headers["x-edgelearn-run-id"]).output == "hi"


def test_bad_input_is_a_400_naming_the_field_and_nothing_is_recorded(wire, fake, client):
    with pytest.raises(openai.BadRequestError) as unknown:
        client.responses.create(model="base", input=[{"type": "computer_call_output", "call_id": "c"}])
    assert unknown.value.body["param"] == "input.0.type" and "computer_call_output" in unknown.value.message
    with pytest.raises(openai.BadRequestError) as orphan:
        client.responses.create(model="base", input=[{"type": "function_call_output", "call_id": "nope", "output": "x"}])
    assert orphan.value.body["param"] == "input.0.call_id"
    with pytest.raises(openai.BadRequestError) as empty:
        client.responses.create(model="base", input=[])
    assert empty.value.body["param"] == "input"
    assert wire.runs() == [] and fake.calls == []
