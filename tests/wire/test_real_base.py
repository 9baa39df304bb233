"""The wires with the real embedded base (llama.cpp and the SmolLM2 GGUF): Anthropic Messages
streamed, Responses and a raw completion, each a run, each answer the same greedy text as chat
completions gives for the same messages."""

from __future__ import annotations

import anthropic
import openai
import pytest

pytestmark = pytest.mark.slow

QUESTION = "What is the capital of France?"


@pytest.fixture
def two_threads(home, monkeypatch):
    """The CPU is shared: llama.cpp gets two threads (set before the server's runtime reads settings)."""
    monkeypatch.setenv("EDGELEARN_DEPLOY__THREADS", "2")
    monkeypatch.setenv("EDGELEARN_DEPLOY__N_CTX", "512")


def test_messages_responses_and_completions_on_the_real_base(two_threads, wire):
    url, token = wire.server.url, wire.server.token
    with openai.OpenAI(base_url=f"{url}/v1", api_key=token, max_retries=0, timeout=300) as chat:
        expected = chat.chat.completions.create(model="base", messages=[{"role": "user", "content": QUESTION}],
                                                max_tokens=8, temperature=0).choices[0].message.content
        responses = chat.responses.create(model="base", input=QUESTION, max_output_tokens=8, temperature=0)
        completion = chat.completions.with_raw_response.create(model="base", prompt="def add(a, b):\n    return",
                                                               max_tokens=6, temperature=0)
    assert expected and responses.output_text == expected
    with anthropic.Anthropic(base_url=url, api_key=token, max_retries=0, timeout=300) as client:
        with client.messages.stream(model="claude-opus-4-1", max_tokens=8, extra_body={"temperature": 0},
                                    messages=[{"role": "user", "content": QUESTION}]) as stream:
            streamed = "".join(stream.text_stream)
            final = stream.get_final_message()
            run_id = stream.response.headers["x-edgelearn-run-id"]
    assert streamed == expected and final.usage.output_tokens == responses.usage.output_tokens
    run = wire.run(run_id)
    assert (run.output, run.model_variant, run.metadata["proxy"]["backend"]) == (expected, "base", "embedded")
    text = completion.parse().choices[0].text
    done = wire.run(completion.headers["x-edgelearn-run-id"])
    assert text and done.output == text and done.role == "autocomplete" and done.tokens_out == 6
