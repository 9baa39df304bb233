"""From a GGUF's Jinja chat template to Ollama's Go template, stop tokens and a Modelfile.

Ollama does not read ``tokenizer.chat_template``: a model created through the API gets the
``template`` and ``parameters`` it is given, and a wrong one is the usual cause of fine-tunes
that answer garbled or never stop (FACTS.md). Rather than parse Jinja, the GGUF's template is
*rendered* on probe conversations: if it produces exactly ChatML (``<|im_start|>role\\n...<|im_end|>\\n``,
what SmolLM2 uses), the equivalent Go template is known, and the default system prompt the Jinja
template inserts is recovered and written into the Go template (opening a conversation that has no
system message and no tools, as the Jinja template and ``render_chat`` do). The Go template renders
``.Tools``, tool calls and tool results in ``serve.tools``' format (``chatml_go_template``). Other
template families raise a clear error instead of guessing.
"""

from __future__ import annotations

import json
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgelearn.errors import BackendError, InvalidInput
from edgelearn.serve.tools import TOOLS_FOOTER, TOOLS_HEADER

IM_START, IM_END = "<|im_start|>", "<|im_end|>"



def chatml_go_template(default_system: str | None = None) -> str:
    """Ollama's ChatML template over ``.Messages`` that also renders ``.Tools``, tool calls and tool
    results exactly as ``serve.tools.render_chat`` does (tools at the end of the system turn, calls as
    ``<tool_call>`` blocks after the text, consecutive results in one user turn of ``<tool_response>``),
    so a model trained on that rendering gets the same prompt from Ollama and Ollama's parser finds its
    calls. ``default_system`` (the Jinja template's own default) opens a conversation that has no system
    message and no tools, as the Jinja template and ``render_chat`` do; it lives in the template rather
    than in Ollama's ``system``, which Ollama would prepend even when tools are offered.
    """
    tools = (TOOLS_HEADER + '{{ range $k, $t := $.Tools }}{{ if $k }}\n{{ end }}{"type": "function", '
             '"function": {{ $t.Function }}}{{ end }}' + TOOLS_FOOTER)
    default = ("{{ else }}<|im_start|>system\n{{ " + json.dumps(default_system) + " }}<|im_end|>\n"
               if default_system else "")
    return (
        "{{ $open := false }}"
        "{{ range $i, $m := .Messages }}"
        "{{ $last := eq (len (slice $.Messages $i)) 1 }}"
        "{{ if and (eq $i 0) (eq $m.Role \"system\") }}<|im_start|>system\n{{ $m.Content }}"
        "{{ if $.Tools }}{{ if $m.Content }}\n\n{{ end }}" + tools + "{{ end }}<|im_end|>\n"
        "{{ else }}"
        "{{ if eq $i 0 }}{{ if $.Tools }}<|im_start|>system\n" + tools + "<|im_end|>\n" + default + "{{ end }}{{ end }}"
        "{{ if eq $m.Role \"tool\" }}"
        "{{ if $open }}\n{{ else }}<|im_start|>user\n{{ end }}<tool_response>\n{{ $m.Content }}\n</tool_response>"
        "{{ $open = true }}"
        "{{ if or $last (ne (index (slice $.Messages $i) 1).Role \"tool\") }}<|im_end|>\n{{ $open = false }}{{ end }}"
        "{{ else if eq $m.Role \"assistant\" }}<|im_start|>assistant\n{{ $m.Content }}"
        "{{ range $j, $c := $m.ToolCalls }}{{ if or $j $m.Content }}\n{{ end }}<tool_call>\n"
        "{\"name\": \"{{ $c.Function.Name }}\", \"arguments\": {{ $c.Function.Arguments }}}\n</tool_call>{{ end }}"
        "<|im_end|>\n"
        "{{ else }}<|im_start|>{{ $m.Role }}\n{{ $m.Content }}<|im_end|>\n{{ end }}"
        "{{ end }}"
        "{{ if and $last (ne $m.Role \"assistant\") }}<|im_start|>assistant\n{{ end }}"
        "{{ end }}"
    )


CHATML_GO_TEMPLATE = chatml_go_template()  # for a ChatML template without a default system prompt

_NAME_PART = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,79}"
_OLLAMA_NAME = re.compile(rf"{_NAME_PART}(?::{_NAME_PART})?")
_PINNED_NAME = re.compile(rf"(?:{_NAME_PART}/){{0,2}}{_NAME_PART}(?::{_NAME_PART})?")


@dataclass(frozen=True)
class OllamaTemplate:
    template: str       # Go template for Ollama's `template`
    system: str | None  # the default system prompt of the Jinja template, if it has one
    stop: list[str]     # `parameters.stop`


def validate_ollama_name(name: str, *, pinned: bool = False) -> str:
    """``name`` if Ollama accepts it and it is safe in a path and a Modelfile; else ``InvalidInput``.

    Names edgelearn creates are ``model[:tag]`` with no ``/``; ``pinned=True`` also allows the
    ``host/namespace/model:tag`` form of models that already exist in Ollama (never written to a path).
    """
    pattern = _PINNED_NAME if pinned else _OLLAMA_NAME
    if not isinstance(name, str) or not pattern.fullmatch(name):
        raise InvalidInput(f"model: {name!r} is not a valid Ollama model name (letters, digits, _ . -, "
                           f"an optional :tag{', up to two / parts' if pinned else ''}; 80 characters a part)",
                           field="model")
    return name


def ollama_name_for(model_id: str) -> str:
    """The Ollama name edgelearn gives a registry version (``coder-v1`` → ``edgelearn-coder-v1``)."""
    return validate_ollama_name(f"edgelearn-{model_id}")


_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9


def read_gguf_metadata(path: Path) -> dict[str, Any]:
    """The key-value metadata of a GGUF file (no tensors).

    A plain sequential parse: ``gguf.GGUFReader`` builds numpy views for every one of the ~50k
    vocabulary entries and takes seconds on a busy machine, once per registration.
    """
    def read(fh, fmt: str) -> Any:
        size = struct.calcsize(fmt)
        data = fh.read(size)
        if len(data) != size:
            raise BackendError(f"{path}: truncated GGUF metadata")
        return struct.unpack(fmt, data)[0]

    def string(fh) -> str:
        return fh.read(read(fh, "<Q")).decode("utf-8", errors="replace")

    def value(fh, vtype: int) -> Any:
        if vtype == _STRING:
            return string(fh)
        if vtype == _ARRAY:
            item_type, count = read(fh, "<I"), read(fh, "<Q")
            return [value(fh, item_type) for _ in range(count)]
        if vtype not in _SCALARS:
            raise BackendError(f"{path}: unknown GGUF value type {vtype}")
        return read(fh, _SCALARS[vtype])

    try:
        with open(path, "rb") as fh:
            if fh.read(4) != b"GGUF":
                raise BackendError(f"{path} is not a GGUF file")
            version = read(fh, "<I")
            if version not in (2, 3):
                raise BackendError(f"{path}: GGUF version {version} is not supported (big-endian or too new)")
            read(fh, "<Q")  # tensor count
            kv_count = read(fh, "<Q")
            metadata: dict[str, Any] = {}
            for _ in range(kv_count):
                key = string(fh)
                metadata[key] = value(fh, read(fh, "<I"))
            return metadata
    except OSError as exc:
        raise BackendError(f"cannot read {path}: {exc}") from exc


def read_gguf_template(path: Path) -> tuple[str, str, str]:
    """(Jinja chat template, bos token text, eos token text) from a GGUF's metadata."""
    metadata = read_gguf_metadata(path)
    template = metadata.get("tokenizer.chat_template")
    if not template:
        raise BackendError(f"{path} has no tokenizer.chat_template; Ollama would serve it without one")
    tokens = metadata.get("tokenizer.ggml.tokens") or []

    def token_text(key: str) -> str:
        index = metadata.get(key)
        return tokens[index] if isinstance(index, int) and 0 <= index < len(tokens) else ""

    return template, token_text("tokenizer.ggml.bos_token_id"), token_text("tokenizer.ggml.eos_token_id")


def _chatml(messages: list[tuple[str, str]]) -> str:
    return "".join(f"{IM_START}{role}\n{content}{IM_END}\n" for role, content in messages)


def to_ollama_template(jinja_template: str, *, bos_token: str = "", eos_token: str = "") -> OllamaTemplate:
    """The Ollama equivalent of a ChatML-style Jinja chat template; ``BackendError`` for other families."""
    from jinja2.exceptions import TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)

    def render(messages: list[tuple[str, str]]) -> str:
        return env.from_string(jinja_template).render(
            messages=[{"role": r, "content": c} for r, c in messages], add_generation_prompt=True,
            bos_token=bos_token, eos_token=eos_token)

    full = [("system", "S1"), ("user", "U1"), ("assistant", "A1"), ("user", "U2")]
    try:
        with_system, without_system = render(full), render([("user", "U1")])
    except TemplateError as exc:
        raise BackendError(f"the GGUF's chat template does not render: {exc}") from exc
    generation = f"{IM_START}assistant\n"
    if with_system != _chatml(full) + generation:
        raise BackendError("the GGUF's chat template is not ChatML-style; edgelearn renders Ollama templates for "
                           "ChatML only: write TEMPLATE in a Modelfile by hand (see modelfiles/README.md)")
    tail = _chatml([("user", "U1")]) + generation
    prefix = f"{IM_START}system\n"
    system = None
    if without_system != tail:
        head = without_system[: -len(tail)] if without_system.endswith(tail) else ""
        if not (head.startswith(prefix) and head.endswith(f"{IM_END}\n")):
            raise BackendError("the GGUF's chat template adds something other than a default system message; "
                               "write TEMPLATE in a Modelfile by hand (see modelfiles/README.md)")
        system = head[len(prefix): -len(f"{IM_END}\n")]
    stop = [IM_START, IM_END] + ([eos_token] if eos_token and eos_token not in (IM_START, IM_END) else [])
    return OllamaTemplate(chatml_go_template(system), None, stop)


def template_for_gguf(path: Path) -> OllamaTemplate:
    """The Ollama template, system prompt and stops for a GGUF, from its own chat template."""
    jinja, bos, eos = read_gguf_template(path)
    return to_ollama_template(jinja, bos_token=bos, eos_token=eos)


def _quoted_block(text: str, what: str) -> str:
    if '"""' in text:
        raise BackendError(f'{what} contains """ and cannot be written into a Modelfile')
    return f'"""{text}"""'


def _safe_path(path: str | Path) -> str:
    text = str(Path(path).resolve())
    if any(c in text for c in "\n\r\""):
        raise BackendError(f"{text!r}: a path with newlines or quotes cannot go into a Modelfile")
    return text


def modelfile_text(*, name: str, model_id: str, template: OllamaTemplate, model_path: str | Path,
                   adapter_path: str | Path | None = None) -> str:
    """A Modelfile equivalent to what edgelearn sends to ``/api/create``.

    With ``adapter_path`` it is the adapter route (``FROM base`` + ``ADAPTER``), which only Ollama up to
    0.33 accepts; otherwise ``model_path`` is the merged GGUF.
    """
    validate_ollama_name(name)
    lines = [f"# Made by edgelearn for {model_id}. Create the model with:",
             f"#   ollama create {name} -f {name}.Modelfile",
             f"FROM {_safe_path(model_path)}"]
    if adapter_path is not None:
        lines.insert(2, "# ADAPTER needs Ollama <= 0.33; since 0.34.1 use the merged GGUF instead.")
        lines.append(f"ADAPTER {_safe_path(adapter_path)}")
    lines.append(f"TEMPLATE {_quoted_block(template.template, 'the template')}")
    if template.system:
        lines.append(f"SYSTEM {_quoted_block(template.system, 'the system prompt')}")
    for stop in template.stop:
        if any(c in stop for c in '"\n\r'):
            raise BackendError(f"stop string {stop!r} cannot be written into a Modelfile")
        lines.append(f'PARAMETER stop "{stop}"')
    return "\n".join(lines) + "\n"
