"""The backend interface, its registry, the fake backend, stop handling, templates and Modelfiles."""

from __future__ import annotations

import pytest

from edgelearn.errors import BackendError, InvalidInput
from edgelearn.serve.backends import (
    Backend,
    FakeBackend,
    GenerateRequest,
    Target,
    backend_names,
    create_backend,
    register_backend,
)
from edgelearn.serve.llamacpp import StopMatcher
from edgelearn.serve.templates import (
    chatml_go_template,
    modelfile_text,
    ollama_name_for,
    read_gguf_template,
    template_for_gguf,
    to_ollama_template,
    validate_ollama_name,
)

TARGET = Target("base", model_path="/nowhere.gguf")


def chat(text: str, **kw) -> GenerateRequest:
    return GenerateRequest(messages=[{"role": "user", "content": text}], **kw)


def test_fake_backend_streams_words_and_reports_usage():
    backend = FakeBackend()
    chunks = list(backend.stream(TARGET, chat("two words")))
    assert "".join(c.text for c in chunks) == "echo: two words"
    assert chunks[-1].finish_reason == "stop" and chunks[-1].usage.completion_tokens == 3
    assert all(c.finish_reason is None for c in chunks[:-1])
    done = backend.complete(TARGET, GenerateRequest(prompt="a b c d", max_tokens=2))
    assert (done.text, done.finish_reason, done.usage.completion_tokens) == ("echo: a", "length", 2)
    assert len(backend.calls) == 2


def test_fake_backend_honours_stop_strings_and_errors_mid_stream():
    backend = FakeBackend(lambda target, request: "alpha beta STOP gamma")
    assert backend.complete(TARGET, chat("x", stop=["STOP"])).text == "alpha beta "

    def failing(target, request):
        yield "first"
        raise BackendError("engine died")

    stream = FakeBackend(failing).stream(TARGET, chat("x"))
    assert next(stream).text == "first"
    with pytest.raises(BackendError, match="engine died"):
        next(stream)


def test_backend_registry_refuses_duplicates_and_unknown_names():
    assert {"embedded", "ollama", "fake"} <= set(backend_names())
    with pytest.raises(ValueError, match="already registered"):
        register_backend("fake", FakeBackend)
    with pytest.raises(BackendError, match="no serving backend named 'gpu'"):
        create_backend("gpu")
    assert isinstance(create_backend("fake"), FakeBackend)


def test_a_backend_needs_only_stream():
    class Minimal(Backend):
        name = "minimal"

        def stream(self, target, request):
            from edgelearn.serve.backends import Chunk, Usage

            yield Chunk("hi")
            yield Chunk("", "stop", Usage(1, 1))

    assert Minimal().complete(TARGET, chat("x")).text == "hi"


def test_a_request_is_chat_or_completion():
    with pytest.raises(ValueError):
        GenerateRequest()
    with pytest.raises(ValueError):
        GenerateRequest(messages=[], prompt="both")


@pytest.mark.parametrize("pieces, stops, expected", [
    (["Hel", "lo<|e", "nd|> more"], ["<|end|>"], ("Hello", True)),
    (["a<", "b"], ["<|end|>"], ("a<b", False)),         # a held-back '<' that was not a stop after all
    (["done", "##"], ["###"], ("done##", False)),
    (["x##", "#y"], ["###"], ("x", True)),
])
def test_stop_matcher_never_emits_part_of_a_stop_string(pieces, stops, expected):
    matcher = StopMatcher(stops)
    out, hit = "", False
    for piece in pieces:
        text, hit = matcher.feed(piece)
        out += text
        assert not any(s[:2] in text and s in out for s in stops)
        if hit:
            break
    if not hit:
        out += matcher.flush()
    assert (out, hit) == expected


def test_smollm2_template_becomes_ollama_chatml_with_its_default_system(base_gguf):
    jinja, bos, eos = read_gguf_template(base_gguf)
    converted = to_ollama_template(jinja, bos_token=bos, eos_token=eos)
    # the default system prompt goes inside the Go template (which also renders tools), not into Ollama's system
    assert converted.template == chatml_go_template("You are a helpful AI assistant named SmolLM, trained by Hugging Face")
    assert converted.system is None
    assert converted.stop == ["<|im_start|>", "<|im_end|>"]


def test_plain_chatml_has_no_default_system_and_other_families_are_refused():
    from llama_cpp.llama_chat_format import CHATML_CHAT_TEMPLATE

    assert to_ollama_template(CHATML_CHAT_TEMPLATE, eos_token="<|endoftext|>").stop == [
        "<|im_start|>", "<|im_end|>", "<|endoftext|>"]
    assert to_ollama_template(CHATML_CHAT_TEMPLATE).system is None
    with pytest.raises(BackendError, match="not ChatML-style"):
        to_ollama_template("{% for m in messages %}[INST] {{ m.content }} [/INST]{% endfor %}")


@pytest.mark.parametrize("name", ["edgelearn-coder-v1", "llama3.2:1b", "a_b-c.d:tag-1"])
def test_valid_ollama_names(name):
    assert validate_ollama_name(name) == name


@pytest.mark.parametrize("name", ["", "a/b", "../x", "name\nFROM /etc/passwd", "-lead", "a:b:c", "x" * 81, "a b"])
def test_invalid_ollama_names_are_refused_before_any_path_or_modelfile(name):
    with pytest.raises(InvalidInput, match="not a valid Ollama model name"):
        validate_ollama_name(name)


def test_pinned_names_may_have_a_namespace_but_not_traversal():
    assert validate_ollama_name("library/qwen2.5:0.5b", pinned=True)
    with pytest.raises(InvalidInput):
        validate_ollama_name("../../etc", pinned=True)
    assert ollama_name_for("coder-v1") == "edgelearn-coder-v1"


def test_modelfile_for_both_routes(base_gguf):
    template = template_for_gguf(base_gguf)
    merged = modelfile_text(name="edgelearn-coder-v1", model_id="coder-v1", template=template,
                            model_path="/m/merged.gguf")
    assert "FROM /m/merged.gguf\n" in merged and "ADAPTER" not in merged
    assert f'TEMPLATE """{template.template}"""' in merged and "<tool_call>" in template.template
    assert "SYSTEM" not in merged
    assert merged.endswith('PARAMETER stop "<|im_start|>"\nPARAMETER stop "<|im_end|>"\n')
    adapter = modelfile_text(name="edgelearn-coder-v1", model_id="coder-v1", template=template,
                             model_path="/m/base.gguf", adapter_path="/m/adapter.gguf")
    assert "FROM /m/base.gguf\n" in adapter and "ADAPTER /m/adapter.gguf\n" in adapter and "<= 0.33" in adapter
    with pytest.raises(BackendError, match="newlines"):
        modelfile_text(name="ok", model_id="x", template=template, model_path="/m/evil\nADAPTER /x")


class PinnedEcho(FakeBackend):
    """A backend that pins ``echo-remote/<name>`` ids and serves no registry version."""

    name = "echo-remote"
    prefix = "echo-remote/"

    def pinned_target(self, model_id):
        return Target(model_id, ollama_name=model_id[len(self.prefix):])


def test_the_engine_serves_what_a_registered_backend_declares(store):
    from edgelearn.config import Settings
    from edgelearn.serve.backends import backend_class
    from edgelearn.serve.engine import Engine

    if "echo-remote" not in backend_names():
        register_backend("echo-remote", PinnedEcho)
    assert backend_class("ollama").prefix == "ollama/" and backend_class("embedded").rank is not None
    settings = Settings()
    engine = Engine(store, lambda: settings)
    try:
        served = engine.resolve("echo-remote/tiny")
        assert isinstance(served.backend, PinnedEcho) and served.pinned
        assert served.target.ollama_name == "tiny"
        assert engine._version_backends() == ["ollama", "embedded"]  # by rank under "auto"
        embedded_first = Settings.model_validate({"deploy": {"backend": "embedded"}})
        engine._settings = lambda: embedded_first
        assert engine._version_backends() == ["embedded", "ollama"]
        local = FakeBackend()
        engine.install_backend("embedded", local)
        base = engine.resolve("base")  # Ollama never answered here: the embedded backend serves it
        assert base.backend is local and base.target.model_path and not base.pinned
    finally:
        engine.close()
