"""The official ``openai`` client against edgelearn in front of an Anthropic-type stand-in provider:
the same calls, translated to Anthropic Messages and back."""

from __future__ import annotations

import json

import openai
import pytest
from elsupport import wait_for
from standin import Reply, ToolCall
from test_openai_type import ASK, TOOLS, _follow_up, _run_or_none


def test_plain_tool_call_is_translated_both_ways(gateway):
    gw = gateway
    gw.claude.script(Reply(text="let me look", tool_calls=[ToolCall("run_shell_command", {"command": "ls -la"},
                                                                    id="toolu_1")], usage=(50, 9, 40)))
    raw = gw.client.chat.completions.with_raw_response.create(
        model="claude/sonnet", messages=ASK, tools=TOOLS, tool_choice="required", parallel_tool_calls=False,
        max_tokens=300, temperature=0.5, stop=["END"], user="u-anth")
    answer = raw.parse()
    message = answer.choices[0].message
    assert answer.choices[0].finish_reason == "tool_calls" and message.content == "let me look"
    assert [(c.id, c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls] == [
        ("toolu_1", "run_shell_command", {"command": "ls -la"})]
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (90, 9)

    seen = gw.claude.completions()[-1]
    assert seen.path == "/v1/messages" and seen.headers["x-api-key"] == gw.claude.key
    assert seen.headers["anthropic-version"]
    assert seen.json == {
        "model": "sonnet", "system": "you are an agent", "max_tokens": 300, "temperature": 0.5,
        "stop_sequences": ["END"], "messages": [{"role": "user", "content": [{"type": "text", "text": "list the files"}]}],
        "tools": [{"name": "run_shell_command", "description": "run a shell command",
                   "input_schema": TOOLS[0]["function"]["parameters"]}],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": True}, "metadata": {"user_id": "u-anth"}}
    run = gw.run(raw.headers["x-edgelearn-run-id"])
    assert run.status == "ok" and run.session == "u-anth" and run.metadata["chat"]["tools"] == TOOLS
    assert run.metadata["chat"]["output"]["tool_calls"][0]["id"] == "toolu_1"
    assert run.metadata["proxy"]["cached_tokens"] == 40 and run.metadata["proxy"]["provider"] == "claude"


def test_streamed_tool_call_is_translated_to_openai_chunks(gateway):
    gw = gateway
    gw.claude.script(Reply(reasoning="think first", tool_calls=[ToolCall("read_file", {"path": "a.py"}, id="toolu_2")],
                           chunk_chars=3))
    with gw.client.chat.completions.with_streaming_response.create(
            model="claude/haiku", messages=ASK, tools=TOOLS, stream=True,
            stream_options={"include_usage": True}) as response:
        run_id = response.headers["x-edgelearn-run-id"]
        chunks = list(response.parse())
    arguments = "".join(part.function.arguments or "" for c in chunks if c.choices
                        for part in c.choices[0].delta.tool_calls or ())
    first = next(c.choices[0].delta.tool_calls[0] for c in chunks if c.choices and c.choices[0].delta.tool_calls)
    assert (first.id, first.function.name, json.loads(arguments)) == ("toolu_2", "read_file", {"path": "a.py"})
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"
    assert chunks[-1].usage.completion_tokens == 7
    assert gw.claude.completions()[-1].json["stream"] is True
    run = gw.run(run_id)
    output = run.metadata["chat"]["output"]
    assert output["reasoning_content"] == "think first" and output["tool_calls"][0]["function"]["name"] == "read_file"


def test_follow_up_with_tool_results_becomes_tool_use_and_tool_result_blocks(gateway):
    gw = gateway
    gw.claude.script(Reply(text="two files"))
    answer = gw.client.chat.completions.create(model="claude/sonnet", messages=_follow_up("toolu_1"), tools=TOOLS)
    assert answer.choices[0].message.content == "two files" and answer.choices[0].finish_reason == "stop"
    sent = gw.claude.completions()[-1].json["messages"]
    assert sent[1] == {"role": "assistant", "content": [
        {"type": "tool_use", "id": "toolu_1", "name": "run_shell_command", "input": {"command": "ls -la"}}]}
    assert sent[2] == {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "a.py\nb.py"}]}


def test_anthropic_failures_map_like_openai_ones(gateway):
    gw = gateway
    gw.claude.script(Reply(status=529), Reply(text="after overload"))
    assert gw.client.chat.completions.create(model="claude/sonnet", messages=ASK).choices[0].message.content == \
        "after overload"
    gw.claude.script(Reply(status=500), Reply(status=500))
    with pytest.raises(openai.APIStatusError) as failed:
        gw.client.chat.completions.create(model="claude/sonnet", messages=ASK)
    assert failed.value.status_code == 502 and failed.value.body["provider"] == "claude"
    gw.claude.script(Reply(status=400))
    with pytest.raises(openai.BadRequestError) as bad:
        gw.client.chat.completions.create(model="claude/sonnet", messages=ASK)
    assert bad.value.body["type"] == "invalid_request_error" and "stand-in failure 400" in bad.value.body["message"]


def test_a_client_that_goes_away_leaves_a_cancelled_run(gateway):
    gw = gateway
    gw.claude.script(Reply(text="partial answer and much more", chunk_chars=4, pause_after=5))
    body = {"model": "claude/sonnet", "messages": ASK, "stream": True}
    with gw.server.client.stream("POST", "/v1/chat/completions", json=body) as response:
        run_id = response.headers["x-edgelearn-run-id"]
        lines = response.iter_lines()
        assert next(lines).startswith("data: ")
    run = wait_for(lambda: _run_or_none(gw, run_id))
    gw.claude.release()
    assert run.status == "cancelled"


def test_an_error_event_mid_stream_becomes_an_openai_error_event_and_an_error_run(gateway):
    gw = gateway
    gw.claude.script(Reply(text="half of it and more", chunk_chars=4, error_after=5))
    with gw.client.chat.completions.with_streaming_response.create(
            model="claude/sonnet", messages=ASK, stream=True) as response:
        run_id = response.headers["x-edgelearn-run-id"]
        received = []
        with pytest.raises(openai.APIError, match="overloaded mid-stream"):
            for chunk in response.parse():
                received.append(chunk.choices[0].delta.content or "")
    run = wait_for(lambda: _run_or_none(gw, run_id))
    assert run.status == "error" and run.output == "".join(received) == "half of "
    assert len(gw.claude.completions()) == 1


def test_a_stream_cut_anywhere_into_http_chunks_is_translated_whole(gateway):
    gw = gateway
    gw.claude.script(Reply(text="pieces of text", reasoning="think", chunk_chars=2, rechunk=5))
    with gw.client.chat.completions.with_streaming_response.create(
            model="claude/sonnet", messages=ASK, stream=True) as response:
        run_id = response.headers["x-edgelearn-run-id"]
        text = "".join(c.choices[0].delta.content or "" for c in response.parse() if c.choices)
    run = gw.run(run_id)
    assert text == run.output == "pieces of text" and run.status == "ok"
    assert run.metadata["chat"]["output"]["reasoning_content"] == "think"
