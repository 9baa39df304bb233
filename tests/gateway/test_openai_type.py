"""The official ``openai`` client against edgelearn in front of an OpenAI-type stand-in provider."""

from __future__ import annotations

import json

import httpx
import openai
import pytest
from elsupport import wait_for
from standin import Reply, ToolCall

from edgelearn.errors import NotFound

TOOLS = [{"type": "function", "function": {
    "name": "run_shell_command", "description": "run a shell command",
    "parameters": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}}}]
ASK = [{"role": "system", "content": "you are an agent"}, {"role": "user", "content": "list the files"}]
CALL = ToolCall("run_shell_command", {"command": "ls -la"}, id="call_ls1")


def _follow_up(call_id: str = "call_ls1") -> list[dict]:
    return [*ASK, {"role": "assistant", "content": None, "tool_calls": [
        {"id": call_id, "type": "function", "function": {"name": "run_shell_command", "arguments": '{"command": "ls -la"}'}}]},
        {"role": "tool", "tool_call_id": call_id, "name": "run_shell_command", "content": "a.py\nb.py"}]


def _run_or_none(gw, run_id):
    try:
        return gw.run(run_id)
    except NotFound:
        return None


def test_plain_tool_call_comes_back_intact_and_the_provider_gets_the_fields_unchanged(gateway):
    gw = gateway
    gw.up.script(Reply(tool_calls=[CALL], usage=(120, 30, 100)))
    raw = gw.client.chat.completions.with_raw_response.create(
        model="up/big", messages=ASK, tools=TOOLS, tool_choice="auto", parallel_tool_calls=False,
        response_format={"type": "text"}, seed=7, temperature=0.2, user="agent-user",
        extra_body={"reasoning_effort": "low", "vendor_field": {"x": [1, 2]}},
        extra_headers={"x-edgelearn-session": "sess-1", "x-edgelearn-role": "coder"})
    answer = raw.parse()
    message = answer.choices[0].message
    assert answer.choices[0].finish_reason == "tool_calls" and message.content is None
    assert [(c.id, c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls] == [
        ("call_ls1", "run_shell_command", {"command": "ls -la"})]
    assert answer.model == "big" and answer.system_fingerprint == "fp_standin"  # the provider's answer, as sent
    assert raw.headers["x-edgelearn-provider"] == "up" and raw.headers["x-edgelearn-model"] == "up/big"

    seen = gw.up.completions()[-1]
    sent = seen.json
    assert sent == {"model": "big", "messages": ASK, "tools": TOOLS, "tool_choice": "auto",
                    "parallel_tool_calls": False, "response_format": {"type": "text"}, "seed": 7,
                    "temperature": 0.2, "user": "agent-user", "reasoning_effort": "low",
                    "vendor_field": {"x": [1, 2]}}
    assert seen.headers["authorization"] == f"Bearer {gw.up.key}"  # the provider's key, not edgelearn's token
    assert gw.server.token not in json.dumps(seen.headers)

    run = gw.run(raw.headers["x-edgelearn-run-id"])  # committed before the answer was sent
    assert (run.role, run.session, run.model_variant, run.status, run.task) == (
        "coder", "sess-1", "up/big", "ok", "list the files")
    assert run.input == ASK and (run.tokens_in, run.tokens_out) == (120, 30)
    assert run.cost == pytest.approx((120 * 2.0 + 30 * 8.0) / 1e6)
    chat = run.metadata["chat"]
    assert chat["tools"] == TOOLS and chat["tool_choice"] == "auto"
    assert chat["output"]["tool_calls"][0]["function"] == {"name": "run_shell_command",
                                                           "arguments": '{"command": "ls -la"}'}
    assert chat["params"]["parallel_tool_calls"] is False and chat["params"]["vendor_field"] == {"x": [1, 2]}
    proxy = run.metadata["proxy"]
    assert (proxy["provider"], proxy["upstream_model"], proxy["upstream_status"], proxy["attempts"]) == (
        "up", "big", 200, 1)
    assert proxy["cached_tokens"] == 100 and proxy["finish_reason"] == "tool_calls"
    fetched = gw.server.client.get(f"/v1/runs/{run.id}").json()
    assert fetched["metadata"]["chat"]["tools"] == TOOLS and fetched["session"] == "sess-1"


def test_streamed_tool_call_fragments_are_relayed_and_recorded_whole(gateway):
    gw = gateway
    gw.up.script(Reply(tool_calls=[CALL, ToolCall("read_file", {"path": "a.py"}, id="call_rd2")],
                       reasoning="I should look", chunk_chars=4))
    with gw.client.chat.completions.with_streaming_response.create(
            model="up/small", messages=ASK, tools=TOOLS, stream=True, stream_options={"include_usage": True},
            extra_headers={"X-Claude-Code-Session-Id": "cc-9"}) as response:
        run_id = response.headers["x-edgelearn-run-id"]
        chunks = list(response.parse())
    fragments = [c.choices[0].delta.tool_calls for c in chunks if c.choices and c.choices[0].delta.tool_calls]
    assert len(fragments) > 4  # split across chunks, as the provider sent them
    calls: dict[int, dict] = {}
    for fragment in fragments:
        for part in fragment:
            call = calls.setdefault(part.index, {"id": None, "name": "", "arguments": ""})
            call["id"] = part.id or call["id"]
            call["name"] += part.function.name or ""
            call["arguments"] += part.function.arguments or ""
    assert [(c["id"], c["name"], json.loads(c["arguments"])) for c in calls.values()] == [
        ("call_ls1", "run_shell_command", {"command": "ls -la"}), ("call_rd2", "read_file", {"path": "a.py"})]
    assert chunks[-1].usage.prompt_tokens == 11 and not chunks[-1].choices
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"
    run = gw.run(run_id)
    assert run.session == "cc-9" and run.status == "ok"
    output = run.metadata["chat"]["output"]
    assert output["reasoning_content"] == "I should look" and output["content"] is None
    assert [c["id"] for c in output["tool_calls"]] == ["call_ls1", "call_rd2"]
    assert run.metadata["proxy"]["ttft_ms"] > 0 and run.metadata["proxy"]["stream"] is True


def test_raw_stream_is_relayed_byte_for_byte(gateway):
    gw = gateway
    gw.up.script(Reply(text="hello there", chunk_chars=2), Reply(text="hello there", chunk_chars=2))
    body = {"model": "small", "messages": ASK, "stream": True}
    direct = httpx.post(f"{gw.up.openai_base}/chat/completions", json=body,
                        headers={"authorization": f"Bearer {gw.up.key}"}).content
    with gw.server.client.stream("POST", "/v1/chat/completions", json={**body, "model": "up/small"}) as response:
        relayed = response.read()

    def strip_ids(raw: bytes) -> list[dict | str]:
        out = []
        for line in raw.decode().split("\n\n"):
            if line.startswith("data: {"):
                data = json.loads(line[6:])
                data.pop("id"), data.pop("created")
                out.append(data)
            elif line:
                out.append(line)
        return out

    assert strip_ids(relayed) == strip_ids(direct) and relayed.endswith(b"data: [DONE]\n\n")


def test_a_follow_up_turn_carrying_the_tool_result_reaches_the_provider_intact(gateway):
    gw = gateway
    gw.up.script(Reply(text="two files: a.py and b.py"))
    messages = _follow_up()
    raw = gw.client.chat.completions.with_raw_response.create(model="up/big", messages=messages, tools=TOOLS,
                                                              user="u-3")
    assert raw.parse().choices[0].message.content == "two files: a.py and b.py"
    assert gw.up.completions()[-1].json["messages"] == messages
    run = gw.run(raw.headers["x-edgelearn-run-id"])
    assert run.session == "u-3" and run.output == "two files: a.py and b.py"
    assert run.input[2]["tool_calls"][0]["function"]["arguments"] == '{"command": "ls -la"}'
    assert run.input[3] == {"role": "tool", "tool_call_id": "call_ls1", "name": "run_shell_command",
                            "content": "a.py\nb.py"}


def test_images_go_to_the_provider_and_the_run_keeps_a_placeholder(gateway):
    import base64
    import hashlib

    gw = gateway
    data_url = "data:image/png;base64," + base64.b64encode(b"\x89PNG fake image bytes" * 50).decode()
    messages = [{"role": "user", "content": [{"type": "text", "text": "what is this?"},
                                             {"type": "image_url", "image_url": {"url": data_url, "detail": "low"}}]}]
    raw = gw.client.chat.completions.with_raw_response.create(model="up/big", messages=messages, n=2)
    assert len(raw.parse().choices) == 2  # n > 1 goes to providers
    assert gw.up.completions()[-1].json["messages"] == messages
    run = gw.run(raw.headers["x-edgelearn-run-id"])
    image = run.input[0]["content"][1]["image_url"]
    assert image["detail"] == "low" and image["url"] == {
        "omitted": True, "bytes": len(data_url), "sha256": hashlib.sha256(data_url.encode()).hexdigest()}
    assert run.task == "what is this?"


def test_rate_limits_are_retried_and_failures_name_the_provider(gateway):
    gw = gateway
    gw.up.script(Reply(status=429, retry_after=0), Reply(status=503), Reply(text="third time"))
    raw = gw.client.chat.completions.with_raw_response.create(model="up/small", messages=ASK)
    assert raw.parse().choices[0].message.content == "third time" and len(gw.up.completions()) == 3
    assert gw.run(raw.headers["x-edgelearn-run-id"]).metadata["proxy"]["attempts"] == 3

    gw.up.script(*[Reply(status=500)] * 3)
    with pytest.raises(openai.APIStatusError) as failed:
        gw.client.chat.completions.create(model="up/small", messages=ASK, stream=True)
    assert failed.value.status_code == 502
    error = failed.value.body
    assert error["type"] == "provider_error" and error["provider"] == "up" and error["upstream_status"] == 500
    assert "'up'" in error["message"] and "500" in error["message"] and "3 attempts" in error["message"]
    run = gw.run(failed.value.response.headers["x-edgelearn-run-id"])
    assert run.status == "error" and run.metadata["proxy"]["upstream_status"] == 500


def test_a_provider_timeout_is_a_504(gateway):
    gw = gateway
    gw.up.script(*[Reply(delay=3)] * 2)  # provider "slow": timeout_s 0.5, one retry
    with pytest.raises(openai.APIStatusError) as failed:
        gw.client.chat.completions.create(model="slow/small", messages=ASK)
    assert failed.value.status_code == 504 and failed.value.body["code"] == "timeout"
    assert "'slow'" in failed.value.body["message"] and "2 attempts" in failed.value.body["message"]


def test_other_provider_4xx_pass_through_with_its_status_and_body(gateway):
    gw = gateway
    body = {"error": {"message": "context too long", "type": "invalid_request_error", "param": "messages",
                      "code": "context_length_exceeded"}}
    gw.up.script(Reply(status=400, body=body))
    with pytest.raises(openai.BadRequestError) as failed:
        gw.client.chat.completions.create(model="up/small", messages=ASK)
    assert failed.value.body == body["error"] and len(gw.up.completions()) == 1  # not retried
    assert gw.run(failed.value.response.headers["x-edgelearn-run-id"]).status == "error"


def test_a_provider_that_breaks_mid_stream_ends_the_stream_with_an_error_event(gateway):
    gw = gateway
    gw.up.script(Reply(text="a long answer that breaks", chunk_chars=3, drop_after=4))
    with gw.client.chat.completions.with_streaming_response.create(
            model="up/small", messages=ASK, stream=True) as response:
        run_id = response.headers["x-edgelearn-run-id"]
        received = []
        with pytest.raises(openai.APIError, match="stream broke"):
            for chunk in response.parse():
                received.append(chunk.choices[0].delta.content or "")
    assert "".join(received) == "a long an"[:len("".join(received))] and received
    run = wait_for(lambda: _run_or_none(gw, run_id))
    assert run.status == "error" and run.output == "".join(received)
    assert len(gw.up.completions()) == 1  # no retry once bytes were sent


def test_a_client_that_goes_away_mid_stream_leaves_a_cancelled_run_with_the_partial_output(gateway):
    gw = gateway
    gw.up.script(Reply(text="partial answer and then much more", chunk_chars=4, pause_after=4))
    body = {"model": "up/small", "messages": ASK, "stream": True}
    with gw.server.client.stream("POST", "/v1/chat/completions", json=body) as response:
        run_id = response.headers["x-edgelearn-run-id"]
        lines = response.iter_lines()
        got = [next(lines) for _ in range(3)]  # role chunk and two text chunks (blank lines between)
    assert got[0].startswith("data: ")
    run = wait_for(lambda: _run_or_none(gw, run_id))
    gw.up.release()
    assert run.status == "cancelled" and run.output == "partial answer"[:len(run.output)] and run.output


def test_unknown_provider_is_a_404_naming_it(gateway):
    with pytest.raises(openai.NotFoundError) as missing:
        gateway.client.chat.completions.create(model="nosuch/model", messages=ASK)
    assert "no provider 'nosuch'" in missing.value.body["message"] and "up" in missing.value.body["message"]
    assert gateway.server.runtime.store.runs.count_runs() == 0


def test_models_lists_provider_models_beside_local_ones(gateway):
    ids = [m.id for m in gateway.client.models.list()]
    assert {"up/small", "up/big", "claude/sonnet", "claude/haiku", "base", "edgelearn/default"} <= set(ids)


def test_the_key_appears_nowhere_under_the_home(gateway, home):
    from gwsupport import KEY

    gw = gateway
    gw.up.script(Reply(tool_calls=[CALL]), Reply(status=500), Reply(status=500), Reply(status=500),
                 Reply(status=401))
    gw.client.chat.completions.create(model="up/big", messages=ASK, tools=TOOLS)
    for model in ("up/big", "up/small"):
        with pytest.raises(openai.APIStatusError):
            gw.client.chat.completions.create(model=model, messages=ASK)
    gw.claude.script(Reply(text="hi"))
    gw.client.chat.completions.create(model="claude/sonnet", messages=ASK)
    gw.server.runtime.store.checkpoint() if hasattr(gw.server.runtime.store, "checkpoint") else None
    files = [p for p in home.rglob("*") if p.is_file()]
    assert any(p.name.endswith(".db") for p in files) and any(p.name.endswith("-wal") for p in files)
    needle = KEY.encode()
    assert [p for p in files if needle in p.read_bytes()] == []


def test_session_and_role_precedence(gateway):
    gw = gateway
    both = {"x-edgelearn-session": "mine", "X-Claude-Code-Session-Id": "cc", "x-edgelearn-role": "fixer"}
    raw = gw.client.chat.completions.with_raw_response.create(model="up/small", messages=ASK, user="u",
                                                              extra_headers=both)
    run = gw.run(raw.headers["x-edgelearn-run-id"])
    assert (run.session, run.role) == ("mine", "fixer")
    raw = gw.client.chat.completions.with_raw_response.create(
        model="up/small", messages=ASK, user="u", extra_headers={"X-Claude-Code-Session-Id": "cc"})
    assert gw.run(raw.headers["x-edgelearn-run-id"]).session == "cc"
    response = gw.server.client.post("/v1/chat/completions", json={"model": "up/small", "messages": ASK,
                                                                   "user": "x" * 201})
    assert response.status_code == 422 and response.json()["error"]["param"] == "user"


def test_an_error_event_from_the_provider_is_relayed_as_sent(gateway):
    gw = gateway
    gw.up.script(Reply(text="some text first", chunk_chars=5, error_after=3))
    with gw.client.chat.completions.with_streaming_response.create(
            model="up/small", messages=ASK, stream=True) as response:
        run_id = response.headers["x-edgelearn-run-id"]
        with pytest.raises(openai.APIError, match="stand-in failure mid-stream"):
            for _ in response.parse():
                pass
    run = wait_for(lambda: _run_or_none(gw, run_id))
    assert run.output == "some text " and run.status == "error"  # relayed as sent, recorded as what it was
    assert "stand-in failure mid-stream" in run.metadata["error"]


def test_a_stream_cut_anywhere_into_http_chunks_is_relayed_whole_and_committed_before_done(gateway):
    # pieces that arrived together go out together, and a line cut between two reads ("data: [DO" +
    # "NE]") is held until its end: the [DONE] line is still seen, and the run committed before it
    gw = gateway
    reply = Reply(text="cut anywhere at all", tool_calls=[CALL], chunk_chars=3, rechunk=7)
    gw.up.script(reply, reply)
    body = {"model": "small", "messages": ASK, "stream": True, "stream_options": {"include_usage": True}}
    direct = httpx.post(f"{gw.up.openai_base}/chat/completions", json=body,
                        headers={"authorization": f"Bearer {gw.up.key}"}).content
    with gw.server.client.stream("POST", "/v1/chat/completions", json={**body, "model": "up/small"}) as response:
        run_id = response.headers["x-edgelearn-run-id"]
        relayed = response.read()
    assert relayed.count(b"data: ") == direct.count(b"data: ")
    assert relayed.endswith(b"data: [DONE]\n\n")
    run = gw.run(run_id)  # recorded right after [DONE]: the runs API waits for it
    output = run.metadata["chat"]["output"]
    assert run.status == "ok" and output["content"] == "cut anywhere at all"
    assert [c["function"]["name"] for c in output["tool_calls"]] == ["run_shell_command"]
    assert run.tokens_in == 11 and run.metadata["proxy"]["finish_reason"] == "tool_calls"
