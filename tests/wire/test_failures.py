"""Failures on the other wires: each in the wire's own shape, the run kept as the chat runs are
(an ``error`` run for a failed model, a ``cancelled`` run with what was produced for a client that
went away)."""

from __future__ import annotations

import threading
import time

import anthropic
import openai
import pytest
from elsupport import wait_for
from standin import Reply

from edgelearn.errors import BackendError, NotFound
from edgelearn.serve.backends import FakeBackend


def _run(wire, run_id):
    try:
        return wire.run(run_id)
    except NotFound:
        return None


def _dies(target, request):
    yield "half an"
    yield " answer"
    raise BackendError("llama.cpp failed while generating")


@pytest.fixture
def claude(wire):
    with anthropic.Anthropic(base_url=wire.server.url, api_key=wire.server.token, max_retries=0) as c:
        yield c


@pytest.fixture
def client(wire):
    with openai.OpenAI(base_url=f"{wire.server.url}/v1", api_key=wire.server.token, max_retries=0) as c:
        yield c


def test_a_failing_provider_is_a_502_in_anthropics_shape_both_ways(wire, claude):
    wire.up.script(Reply(status=500))
    with pytest.raises(anthropic.APIStatusError) as translated:
        claude.messages.create(model="claude-haiku-4-5", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
    assert translated.value.status_code == 502 and translated.value.body["type"] == "error"
    assert "provider 'up' answered 500" in translated.value.body["error"]["message"]
    wire.claude.script(Reply(status=529))
    with pytest.raises(anthropic.APIStatusError) as passed:
        claude.messages.create(model="claude-sonnet-4-5", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
    assert passed.value.status_code == 502 and passed.value.body["error"]["type"] == "api_error"
    runs = wire.runs()
    assert len(runs) == 2 and {r.status for r in runs} == {"error"}


def test_a_model_failing_mid_stream_sends_an_error_event_and_keeps_the_partial_run(wire, claude):
    wire.server.runtime.services["serving"].engine.use_backend(FakeBackend(_dies))
    with claude.messages.with_streaming_response.create(
            model="local-x", max_tokens=50, stream=True, messages=[{"role": "user", "content": "hi"}]) as response:
        run_id = response.headers["x-edgelearn-run-id"]
        with pytest.raises(anthropic.APIStatusError, match="llama.cpp failed while generating"):
            list(response.parse())
    run = wait_for(lambda: _run(wire, run_id))
    assert (run.status, run.output) == ("error", "half an answer")


def test_a_model_failing_mid_stream_is_response_failed(wire, client):
    wire.server.runtime.services["serving"].engine.use_backend(FakeBackend(_dies))
    with client.responses.with_streaming_response.create(model="base", input="hi", stream=True) as response:
        run_id = response.headers["x-edgelearn-run-id"]
        events = list(response.parse())
    assert events[-1].type == "response.failed"
    assert events[-1].response.error.message == "llama.cpp failed while generating"
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == "half an answer"
    run = wait_for(lambda: _run(wire, run_id))
    assert (run.status, run.output) == ("error", "half an answer")


@pytest.mark.parametrize("path,body", [
    ("/v1/messages", {"model": "local-x", "max_tokens": 5000, "stream": True,
                      "messages": [{"role": "user", "content": "go"}]}),
    ("/v1/responses", {"model": "base", "input": "go", "stream": True, "max_output_tokens": 5000}),
    ("/v1/completions", {"model": "base", "prompt": "go", "stream": True, "max_tokens": 5000})])
def test_a_client_that_goes_away_stops_generation_and_the_partial_run_is_kept(wire, path, body):
    produced = []
    finished = threading.Event()

    def endless(target, request):
        try:
            for i in range(2000):
                produced.append(i)
                time.sleep(0.005)  # a slow model
                yield f" w{i}"
        finally:
            finished.set()

    wire.server.runtime.services["serving"].engine.use_backend(FakeBackend(endless))
    with wire.server.client.stream("POST", path, json=body) as response:
        run_id = response.headers["x-edgelearn-run-id"]
        lines = response.iter_lines()
        while not next(lines).startswith("data: "):
            pass
    assert finished.wait(30)  # the generator was closed: a real model's lock is released
    run = wait_for(lambda: _run(wire, run_id))
    assert run.status == "cancelled" and len(produced) < 2000
