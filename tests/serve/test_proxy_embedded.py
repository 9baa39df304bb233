"""The proxy with the real embedded backend: llama-cpp-python and the SmolLM2 GGUF, through the openai client."""

from __future__ import annotations

import openai
import pytest

from edgelearn.serve import registry

pytestmark = pytest.mark.slow

MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture
def two_threads(home, monkeypatch):
    """The CPU is shared: llama.cpp gets two threads (set before the server's runtime reads settings)."""
    monkeypatch.setenv("EDGELEARN_DEPLOY__THREADS", "2")
    monkeypatch.setenv("EDGELEARN_DEPLOY__N_CTX", "512")


@pytest.fixture
def client(server) -> openai.OpenAI:
    with openai.OpenAI(base_url=f"{server.url}/v1", api_key=server.token, max_retries=0, timeout=300) as c:
        yield c


def test_plain_and_streamed_answers_from_llama_cpp_are_runs(two_threads, server, client, base_gguf):
    from llama_cpp import Llama

    raw = client.chat.completions.with_raw_response.create(model="base", messages=MESSAGES, max_tokens=8,
                                                           temperature=0)
    answer = raw.parse()
    text = answer.choices[0].message.content
    direct = Llama(model_path=str(base_gguf), n_threads=2, n_ctx=512, verbose=False).create_chat_completion(
        messages=MESSAGES, max_tokens=8, temperature=0)
    assert text == direct["choices"][0]["message"]["content"] and text  # same template, same greedy answer
    assert answer.usage.prompt_tokens == direct["usage"]["prompt_tokens"]
    assert answer.usage.completion_tokens == direct["usage"]["completion_tokens"]
    run = server.runtime.store.runs.get(raw.headers["x-edgelearn-run-id"])
    assert (run.output, run.model_variant, run.tokens_out) == (text, "base", answer.usage.completion_tokens)
    assert run.metadata["proxy"]["backend"] == "embedded"

    with client.chat.completions.with_streaming_response.create(
            model="base", messages=MESSAGES, max_tokens=8, temperature=0, stream=True,
            stream_options={"include_usage": True}) as response:
        run_id = response.headers["x-edgelearn-run-id"]
        chunks = list(response.parse())
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == text and "<|im_end|>" not in streamed
    assert chunks[-1].usage.completion_tokens == answer.usage.completion_tokens
    stored = server.run(run_id)
    assert stored.output == streamed and stored.tokens_in == answer.usage.prompt_tokens
    reward = server.client.post(f"/v1/runs/{run_id}/signals", json={"signals": {"compile": False}})
    assert reward.status_code == 200 and reward.json()["reward"] == 0.0


def test_a_version_with_an_adapter_is_served_from_base_plus_adapter(two_threads, server, client, make_artifacts):
    store = server.runtime.store
    model_id = registry.register(store, "coder", make_artifacts(loadable=True, merged=False))
    versioned = client.chat.completions.create(model=model_id, messages=MESSAGES, max_tokens=6, temperature=0)
    base = client.chat.completions.create(model="base", messages=MESSAGES, max_tokens=6, temperature=0)
    # the test adapter's B matrices are zero: applied, it must change nothing
    assert versioned.choices[0].message.content == base.choices[0].message.content
    loaded = server.runtime.services["serving"].engine.loaded_models()
    version = store.models.get(model_id)
    assert (version.base_path, version.adapter_path) in loaded and (version.base_path, None) in loaded
