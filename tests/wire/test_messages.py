"""``POST /v1/messages`` through the official ``anthropic`` client: translated for local models and
OpenAI-type providers, passed through to an Anthropic-type one; runs read like chat runs."""

from __future__ import annotations

import json

import anthropic
import httpx
import openai
import pytest
from standin import Reply, ToolCall

BASH = {"name": "Bash", "description": "run a shell command",
        "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}}
SESSION = "5d0e8c1a-claude-session"
CLAUDE_USER = json.dumps({"device_id": "abc", "account_uuid": "", "session_id": SESSION})


@pytest.fixture
def client(wire):
    with anthropic.Anthropic(base_url=wire.server.url, api_key=wire.server.token, max_retries=0) as c:
        yield c


def test_local_text_plain_is_a_run_that_reads_like_a_chat_run(wire, fake, client):
    raw = client.messages.with_raw_response.create(
        model="local-model", max_tokens=32000, system="be brief", timeout=60,
        messages=[{"role": "user", "content": [{"type": "text", "text": "add two numbers"}]}],
        metadata={"user_id": CLAUDE_USER}, extra_body={"thinking": {"type": "adaptive"}, "context_management": {},
                                                      "output_config": {"effort": "low"}})
    message = raw.parse()
    assert [b.type for b in message.content] == ["text"] and message.content[0].text == "echo: add two numbers"
    assert message.stop_reason == "end_turn" and message.model == "local-model"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (5, 4)
    run_id = raw.headers["x-edgelearn-run-id"]
    assert message.id == f"msg_{run_id}"
    run = wire.run(run_id)
    assert run.input == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "add two numbers"}]
    assert (run.output, run.model_variant, run.session, run.status) == ("echo: add two numbers", "base", SESSION, "ok")
    assert fake.calls[0][1].max_tokens == 32000
    with openai.OpenAI(base_url=f"{wire.server.url}/v1", api_key=wire.server.token, max_retries=0) as chat:
        same = chat.chat.completions.with_raw_response.create(
            model="base", messages=[{"role": "system", "content": "be brief"},
                                    {"role": "user", "content": "add two numbers"}])
    chat_run = wire.run(same.headers["x-edgelearn-run-id"])
    assert chat_run.input == run.input and chat_run.output == run.output
    assert chat_run.metadata["chat"]["output"] == run.metadata["chat"]["output"]


def test_local_text_streamed_in_the_documented_event_order(wire, fake, client):
    with client.messages.stream(model="claude-opus-4-1", max_tokens=50,
                                messages=[{"role": "system", "content": "from claude code"},
                                          {"role": "user", "content": "hello there"}]) as stream:
        events = [event.type for event in stream]
        message = stream.get_final_message()
        run_id = stream.response.headers["x-edgelearn-run-id"]
    assert message.content[0].text == "echo: hello there" and message.stop_reason == "end_turn"
    core = [e for e in events if e in ("message_start", "content_block_start", "content_block_stop",
                                       "message_delta", "message_stop")]
    assert core == ["message_start", "content_block_start", "content_block_stop", "message_delta", "message_stop"]
    assert events.count("text") == 3  # one text delta a word
    run = wire.run(run_id)  # committed before message_stop
    assert run.output == "echo: hello there" and run.metadata["proxy"]["stream"] is True
    assert run.input[0] == {"role": "system", "content": "from claude code"}


def test_local_tool_call_comes_back_as_tool_use_and_the_result_goes_to_the_model(wire, client):
    from edgelearn.serve.backends import FakeBackend

    backend = FakeBackend(lambda target, request: '<tool_call>\n{"name": "Bash", "arguments": {"command": "ls"}}\n'
                                                  '</tool_call>')
    wire.server.runtime.services["serving"].engine.use_backend(backend)
    first = client.messages.create(model="local-x", max_tokens=100, tools=[BASH],
                                   messages=[{"role": "user", "content": "list files"}])
    assert first.stop_reason == "tool_use"
    use = first.content[-1]
    assert (use.type, use.name, use.input) == ("tool_use", "Bash", {"command": "ls"})
    with client.messages.stream(model="local-x", max_tokens=100, tools=[BASH], tool_choice={"type": "any"},
                                messages=[{"role": "user", "content": "list files"},
                                          {"role": "assistant", "content": first.content},
                                          {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id,
                                                                        "content": "a.py"}]}]) as stream:
        final = stream.get_final_message()
    assert final.content[-1].input == {"command": "ls"} and final.stop_reason == "tool_use"
    request = backend.calls[-1][1]
    assert request.tool_choice == "required" and request.tools[0]["function"]["parameters"] == BASH["input_schema"]
    assert request.messages[-1] == {"role": "tool", "tool_call_id": use.id, "content": "a.py"}
    assert request.messages[-2]["tool_calls"][0]["function"] == {"name": "Bash", "arguments": '{"command":"ls"}'}


def test_anthropic_provider_is_passed_through_faithfully_with_tools(wire, client):
    wire.claude.script(Reply(text="I will look.", tool_calls=[ToolCall("Bash", {"command": "ls -la"})]))
    body = {"model": "claude-sonnet-4-5", "max_tokens": 1000, "tools": [BASH], "system": [{"type": "text", "text": "sys",
                                                                                        "cache_control": {"type": "ephemeral"}}],
            "messages": [{"role": "user", "content": "list files"}], "metadata": {"user_id": CLAUDE_USER},
            "thinking": {"type": "adaptive"}}
    raw = client.messages.with_raw_response.create(**body, extra_headers={"anthropic-beta": "context-1m-2025-08-07"})
    message = raw.parse()
    assert message.content[1].input == {"command": "ls -la"} and message.stop_reason == "tool_use"
    assert message.id.startswith("msg_standin")  # the provider's own answer
    seen = wire.claude.completions()[-1]
    assert seen.json == {**body, "model": "sonnet"}  # as sent, model swapped
    assert seen.headers["anthropic-beta"] == "context-1m-2025-08-07" and seen.headers["anthropic-version"] == client.default_headers["anthropic-version"]
    assert raw.headers["x-edgelearn-provider"] == "claude"
    run = wire.run(raw.headers["x-edgelearn-run-id"])
    assert run.input == [{"role": "system", "content": "sys"}, {"role": "user", "content": "list files"}]
    output = run.metadata["chat"]["output"]
    assert output["tool_calls"][0]["function"]["name"] == "Bash" and output["content"] == "I will look."
    assert json.loads(output["tool_calls"][0]["function"]["arguments"]) == {"command": "ls -la"}
    assert run.session == SESSION and run.tokens_in == 11


def test_anthropic_provider_stream_is_relayed_and_the_sdk_reassembles_the_input(wire, client):
    wire.claude.script(Reply(tool_calls=[ToolCall("Bash", {"command": "echo hi > f.txt"})], chunk_chars=4))
    with client.messages.stream(model="claude-sonnet-4-5", max_tokens=1000, tools=[BASH],
                                messages=[{"role": "user", "content": "write a file"}]) as stream:
        deltas = [e for e in stream if e.type == "input_json"]
        final = stream.get_final_message()
        run_id = stream.response.headers["x-edgelearn-run-id"]
    assert len(deltas) > 3 and final.content[0].input == {"command": "echo hi > f.txt"}
    run = wire.run(run_id)
    call = run.metadata["chat"]["output"]["tool_calls"][0]
    assert json.loads(call["function"]["arguments"]) == {"command": "echo hi > f.txt"}
    assert run.metadata["proxy"]["finish_reason"] == "tool_calls" and run.status == "ok"


def test_openai_provider_is_translated_both_ways_streamed(wire, client):
    wire.up.script(Reply(tool_calls=[ToolCall("Bash", {"command": "pwd"})], chunk_chars=2))
    with client.messages.stream(model="claude-haiku-4-5", max_tokens=64, tools=[BASH],
                                tool_choice={"type": "tool", "name": "Bash", "disable_parallel_tool_use": True},
                                stop_sequences=["END"], extra_body={"temperature": 0.2},
                                messages=[{"role": "user", "content": "where am I"}]) as stream:
        final = stream.get_final_message()
    assert final.content[0].input == {"command": "pwd"} and final.stop_reason == "tool_use"
    sent = wire.up.completions()[-1].json
    assert sent["model"] == "small" and sent["stop"] == ["END"] and sent["temperature"] == 0.2
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "Bash"}}
    assert sent["parallel_tool_calls"] is False and sent["tools"][0]["function"]["name"] == "Bash"


def test_bad_input_is_a_400_in_anthropics_shape_and_nothing_is_recorded(wire, fake, client):
    with pytest.raises(anthropic.BadRequestError) as missing:
        client.post("/v1/messages", cast_to=httpx.Response,
                    body={"model": "local-x", "messages": [{"role": "user", "content": "hi"}]})
    assert missing.value.status_code == 400 and "max_tokens" in missing.value.message
    assert missing.value.body["error"]["type"] == "invalid_request_error"
    with pytest.raises(anthropic.BadRequestError) as orphan:
        client.messages.create(model="local-x", max_tokens=10, messages=[
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_nope", "content": "x"}]}])
    assert "messages.0.content.0.tool_use_id" in orphan.value.message
    assert wire.runs() == [] and fake.calls == []


def test_token_as_x_api_key_or_bearer_and_nothing_else(wire, fake):
    url, body = f"{wire.server.url}/v1/messages?beta=true", {"model": "local-x", "max_tokens": 5,
                                                             "messages": [{"role": "user", "content": "hi"}]}
    assert httpx.post(url, json=body, headers={"x-api-key": wire.server.token}).status_code == 200
    assert httpx.post(url, json=body, headers={"authorization": f"Bearer {wire.server.token}"}).status_code == 200
    assert httpx.post(url, json=body, headers={"x-api-key": "wrong"}).status_code == 401
    assert httpx.post(f"{wire.server.url}/v1/models", headers={"x-api-key": wire.server.token}).status_code == 401
    passed = httpx.post(f"{wire.server.url}/v1/messages/count_tokens?beta=true",
                        json={"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]},
                        headers={"x-api-key": wire.server.token, "anthropic-beta": "token-counting-2024-11-01"})
    assert passed.status_code == 200 and passed.json() == {"input_tokens": 1000 + len('[{"role": "user", "content": "hi"}]')}
    seen = wire.claude.requests[-1]
    assert seen.json["model"] == "sonnet" and seen.headers["anthropic-beta"] == "token-counting-2024-11-01"
    counted = httpx.post(f"{wire.server.url}/v1/messages/count_tokens?beta=true",
                         json={"model": "local-x", "messages": [{"role": "user", "content": "hi " * 40}]},
                         headers={"x-api-key": wire.server.token})
    assert counted.status_code == 200 and counted.json()["input_tokens"] > 20


def test_images_thinking_and_tool_errors_translate_for_an_openai_provider(wire, client):
    wire.up.script(Reply(text="A red dot.", reasoning="It is small."))
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}
    message = client.messages.create(model="claude-haiku-4-5", max_tokens=64, tools=[BASH], messages=[
        {"role": "user", "content": [{"type": "text", "text": "run it"}]},
        {"role": "assistant", "content": [{"type": "thinking", "thinking": "hmm", "signature": "sig"},
                                          {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "x"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "is_error": True,
                                      "content": [{"type": "text", "text": "not found"}]},
                                     {"type": "text", "text": "what is this?"}, image]}])
    assert [b.type for b in message.content] == ["thinking", "text"]
    assert message.content[0].thinking == "It is small." and message.content[1].text == "A red dot."
    sent = wire.up.completions()[-1].json["messages"]
    assert sent[1] == {"role": "assistant", "content": None, "tool_calls": [  # earlier thinking is not sent on
        {"id": "toolu_1", "type": "function", "function": {"name": "Bash", "arguments": '{"command":"x"}'}}]}
    assert sent[2] == {"role": "tool", "tool_call_id": "toolu_1", "content": "Error: not found"}
    assert sent[3] == {"role": "user", "content": [{"type": "text", "text": "what is this?"}, {
        "type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]}
    with pytest.raises(anthropic.APIStatusError) as local:  # a local model reads text only
        client.messages.create(model="local-x", max_tokens=5, messages=[{"role": "user", "content": [image]}])
    assert local.value.status_code == 422 and "text parts only" in local.value.body["error"]["message"]


def test_anthropic_provider_stream_cut_anywhere_is_relayed_whole_and_recorded_once_read(wire, client):
    # the provider's events cut into 5-byte HTTP chunks: the client still gets every event, and the
    # run (read from the relayed copy in one pass) keeps text, thinking, stop reason and usage
    wire.claude.script(Reply(text="all of it", reasoning="hmm", chunk_chars=2, rechunk=5))
    with client.messages.stream(model="claude-sonnet-4-5", max_tokens=100,
                                messages=[{"role": "user", "content": "say it"}]) as stream:
        final = stream.get_final_message()
        run_id = stream.response.headers["x-edgelearn-run-id"]
    assert [b.type for b in final.content] == ["thinking", "text"] and final.content[1].text == "all of it"
    run = wire.run(run_id)  # read at once: committed before message_stop went out
    output = run.metadata["chat"]["output"]
    assert run.status == "ok" and output["content"] == "all of it" and output["reasoning_content"] == "hmm"
    assert run.metadata["proxy"]["finish_reason"] == "stop" and (run.tokens_in, run.tokens_out) == (11, 7)
