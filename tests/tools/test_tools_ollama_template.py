"""The merged model's Ollama TEMPLATE, executed by Go's text/template, renders what training renders."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from toolconv import CONVERSATION, TOOLS

from edgelearn.serve.templates import template_for_gguf
from edgelearn.train import data as D

HARNESS = Path(__file__).parent / "gotemplate" / "main.go"

pytestmark = pytest.mark.skipif(shutil.which("go") is None,
                                reason="no Go toolchain (apt-get install golang-go) to execute the Ollama template")


def ollama_messages(messages: list[dict]) -> list[dict]:
    """Messages as Ollama holds them after its OpenAI layer: call arguments as objects, no ids."""
    out = []
    for m in messages:
        calls = [{"function": {"name": c["function"]["name"], "arguments": json.loads(c["function"]["arguments"])}}
                 for c in m.get("tool_calls") or []]
        out.append({"role": m["role"], "content": m.get("content") or "", "tool_calls": calls})
    return out


def go_render(tmp_path: Path, template: str, messages: list[dict], tools: list[dict] | None) -> str:
    env = {**os.environ, "GOCACHE": str(tmp_path / "gocache"), "GOPATH": str(tmp_path / "gopath"),
           "GOFLAGS": "-mod=mod", "GO111MODULE": "off"}
    body = json.dumps({"template": template, "messages": ollama_messages(messages), "tools": tools or []})
    done = subprocess.run(["go", "run", str(HARNESS)], input=body, capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def canonical_json_lines(text: str) -> str:
    """The text with every line that is a JSON object written canonically: Go's encoding/json writes
    objects compactly with sorted keys where Python keeps the order and puts spaces after separators."""
    lines = []
    for line in text.split("\n"):
        if line.startswith("{"):
            try:
                line = json.dumps(json.loads(line), sort_keys=True)
            except ValueError:
                pass
        lines.append(line)
    return "\n".join(lines)


@pytest.fixture(scope="module")
def go_template(base_gguf) -> str:
    converted = template_for_gguf(base_gguf)
    assert converted.system is None  # the default system prompt is inside the template
    return converted.template


@pytest.mark.parametrize("cut", [2, 5, 6])
def test_ollama_template_renders_tools_calls_and_results_as_training_does(tmp_path, smol_tokenizer, go_template, cut):
    history = CONVERSATION[:cut]
    training = D.render_text(smol_tokenizer, history, TOOLS, True)
    ollama = go_render(tmp_path, go_template, history, TOOLS)
    assert canonical_json_lines(ollama) == canonical_json_lines(training)
    assert "<tools>\n" in ollama and ollama.endswith("<|im_start|>assistant\n")


@pytest.mark.parametrize("messages", [
    [{"role": "user", "content": "Hi"}],  # the template's default system prompt, as the Jinja template adds it
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
     {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "Bye"}],
])
def test_without_tools_the_ollama_template_is_byte_equal(tmp_path, smol_tokenizer, go_template, messages):
    assert go_render(tmp_path, go_template, messages, None) == D.render_text(smol_tokenizer, messages, None, True)


def test_tools_without_a_system_message_replace_the_default_system(tmp_path, smol_tokenizer, go_template):
    messages = [{"role": "user", "content": "Read the README"}]
    ollama = go_render(tmp_path, go_template, messages, TOOLS)
    assert canonical_json_lines(ollama) == canonical_json_lines(D.render_text(smol_tokenizer, messages, TOOLS, True))
    assert "SmolLM" not in ollama
