"""``POST /v1/completions`` through the official ``openai`` client: raw prompts (FIM tokens untouched),
``suffix`` built into the base's FIM format, a role of its own, and a 400 where the base has no FIM."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest

QWEN_FIM = "<|fim_prefix|>def add(a, b):\n    <|fim_suffix|>\n\nprint(add(1, 2))<|fim_middle|>"


def fim_gguf(path: Path) -> Path:
    """A header-only GGUF whose tokenizer has Qwen2.5-Coder's FIM tokens (and no tensors)."""
    import gguf

    writer = gguf.GGUFWriter(str(path), arch="qwen2")
    tokens = ["<|endoftext|>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "a", "b"]
    writer.add_token_list(tokens)
    writer.add_uint32("tokenizer.ggml.fim_pre_token_id", 1)
    writer.add_uint32("tokenizer.ggml.fim_suf_token_id", 3)
    writer.add_uint32("tokenizer.ggml.fim_mid_token_id", 2)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    writer.close()
    return path


@pytest.fixture
def fim_base(home, tmp_path, monkeypatch):
    """The base model is a GGUF with FIM tokens (set before the server's runtime reads its settings)."""
    monkeypatch.setenv("EDGELEARN_TRAIN__BASE_MODEL", str(fim_gguf(tmp_path / "coder-fim.gguf")))


@pytest.fixture
def client(wire):
    with openai.OpenAI(base_url=f"{wire.server.url}/v1", api_key=wire.server.token, max_retries=0) as c:
        yield c


def test_raw_fim_prompt_goes_to_the_model_untouched_as_an_autocomplete_run(wire, fake, client):
    raw = client.completions.with_raw_response.create(model="base", prompt=QWEN_FIM, max_tokens=30, temperature=0,
                                                      stop=["\n\n"])
    answer = raw.parse()
    assert answer.object == "text_completion" and answer.choices[0].text == "echo: " + QWEN_FIM.split("\n\n")[0]
    assert answer.choices[0].finish_reason == "stop"
    request = fake.calls[0][1]
    assert request.prompt == QWEN_FIM and request.messages is None and request.stop == ["\n\n"]
    run_id = raw.headers["x-edgelearn-run-id"]
    assert answer.id == f"cmpl-{run_id}"
    run = wire.run(run_id)
    assert (run.role, run.model_variant, run.status) == ("autocomplete", "base", "ok")
    assert run.input == [{"role": "user", "content": QWEN_FIM}] and run.output == answer.choices[0].text
    coder = client.completions.with_raw_response.create(model="edgelearn/coder", prompt="x = ")
    assert wire.run(coder.headers["x-edgelearn-run-id"]).role == "coder"


def test_suffix_is_built_into_the_bases_fim_format_plain_and_streamed(fim_base, wire, fake, client):
    answer = client.completions.create(model="base", prompt="def add(a, b):\n    ", suffix="\n\nprint(add(1, 2))",
                                       max_tokens=5)
    assert fake.calls[-1][1].prompt == QWEN_FIM and answer.choices[0].finish_reason == "length"
    with client.completions.with_streaming_response.create(model="edgelearn/autocomplete", prompt="a = ", suffix="b",
                                                           stream=True, stream_options={"include_usage": True}) as response:
        run_id = response.headers["x-edgelearn-run-id"]
        chunks = list(response.parse())
    text = "".join(c.choices[0].text for c in chunks if c.choices)
    assert text == "echo: <|fim_prefix|>a = <|fim_suffix|>b<|fim_middle|>"
    assert chunks[-1].usage.completion_tokens == 4
    run = wire.run(run_id)
    assert run.input == [{"role": "user", "content": "<|fim_prefix|>a = <|fim_suffix|>b<|fim_middle|>"}]
    assert run.output == text and run.role == "autocomplete" and run.metadata["chat"]["params"]["suffix"] == "b"


def test_suffix_on_a_base_without_fim_is_a_400_naming_suffix_and_nothing_is_recorded(wire, fake, client):
    with pytest.raises(openai.BadRequestError) as refused:
        client.completions.create(model="base", prompt="def f():", suffix="return 1")
    assert refused.value.body["param"] == "suffix" and "fill-in-the-middle" in refused.value.message
    with pytest.raises(openai.BadRequestError) as many:
        client.completions.create(model="base", prompt=["a", "b"])
    assert many.value.body["param"] == "prompt"
    assert wire.runs() == [] and fake.calls == []


def test_an_openai_provider_gets_the_completion_as_sent_plain_and_streamed(wire, client):
    from standin import Reply

    wire.up.script(Reply(text="1 + 2"), Reply(text="streamed words", chunk_chars=4))
    raw = client.completions.with_raw_response.create(model="up/small", prompt="x = ", max_tokens=3)
    assert raw.parse().choices[0].text == "1 + 2" and raw.headers["x-edgelearn-provider"] == "up"
    seen = wire.up.completions()[-1]
    assert seen.path == "/v1/completions" and seen.json == {"model": "small", "prompt": "x = ", "max_tokens": 3}
    run = wire.run(raw.headers["x-edgelearn-run-id"])
    assert (run.output, run.role, run.tokens_in, run.status) == ("1 + 2", "autocomplete", 11, "ok")
    with client.completions.with_streaming_response.create(model="up/small", prompt="y", stream=True) as response:
        run_id = response.headers["x-edgelearn-run-id"]
        text = "".join(c.choices[0].text for c in response.parse() if c.choices)
    assert text == "streamed words" and wire.run(run_id).output == text
