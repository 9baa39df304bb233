"""Serving backends behind one small interface, a registry of them by name, and a fake one.

A backend has one required method, ``stream(target, request)``: it yields ``Chunk`` objects
whose texts joined are the answer, the last one carrying ``finish_reason`` and ``usage``.
Non-streamed answers (``complete``) are derived from it, so every backend does chat and
completion, streamed or not, by implementing one generator. ``FakeBackend`` ships in the package
(like httpx's ``MockTransport``) so tests and ``bench/proxy.py`` need no model.

Each backend class declares what it serves, so the engine names none: ``prefix`` (model ids it pins,
``ollama/<name>``), ``rank`` (the order in which backends are tried for a registry version) with
``target_for(version)`` (what it runs for one, or None when it cannot now), and ``options_from(deploy)``
(its constructor options from the settings). Built-ins: ``embedded`` (llama-cpp-python,
serve/llamacpp.py), ``ollama`` (serve/ollama_backend.py) and ``fake``; their modules are imported on
first use.
"""

from __future__ import annotations

import importlib
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Iterable, Iterator

from edgelearn.errors import BackendError

DEFAULT_TEMPERATURE = 0.8  # llama.cpp's and Ollama's default, so both backends answer alike
DEFAULT_TOP_P = 0.95


@dataclass
class GenerateRequest:
    """One chat (``messages``) or completion (``prompt``) request, already validated."""

    messages: list[dict[str, Any]] | None = None
    prompt: str | None = None
    max_tokens: int = 256
    temperature: float = DEFAULT_TEMPERATURE
    top_p: float = DEFAULT_TOP_P
    stop: list[str] = field(default_factory=list)
    seed: int | None = None
    tools: list[dict[str, Any]] | None = None  # OpenAI function tools offered to the model
    tool_choice: Any = None                     # "auto" | "none" | "required" | {"type": "function", ...}

    def __post_init__(self) -> None:
        if (self.messages is None) == (self.prompt is None):
            raise ValueError("a GenerateRequest has either messages or a prompt")


@dataclass(frozen=True)
class Target:
    """What a backend runs: the served model id and the files (or Ollama name) behind it."""

    model_id: str
    model_path: str | None = None     # GGUF loaded by llama.cpp (base, or a merged model)
    lora_path: str | None = None      # LoRA adapter GGUF applied on model_path
    model_sha256: str | None = None   # checked at load when given (the registry's digest)
    lora_sha256: str | None = None
    ollama_name: str | None = None


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class Chunk:
    text: str
    finish_reason: str | None = None  # "stop" | "length" | "tool_calls" on the last chunk
    usage: Usage | None = None        # on the last chunk
    tool_calls: tuple[dict[str, Any], ...] = ()  # whole calls parsed from the output, OpenAI form


@dataclass(frozen=True)
class Completion:
    text: str
    finish_reason: str
    usage: Usage
    tool_calls: tuple[dict[str, Any], ...] = ()


class Backend(ABC):
    """A way to run a model. Implement ``stream``; the rest comes from it."""

    name: ClassVar[str] = "backend"
    prefix: ClassVar[str | None] = None
    """Model ids ``<prefix><model>`` that this backend pins (``"ollama/"``); None for none."""
    rank: ClassVar[int | None] = None
    """Order in which backends are tried for a registry version, lowest first; None: never chosen for one."""

    @classmethod
    def options_from(cls, deploy: Any) -> dict[str, Any]:
        """Constructor options from the ``[deploy]`` settings."""
        return {}

    def target_for(self, version: Any) -> Target | None:
        """What this backend runs for a registry version; None when it cannot serve it now."""
        return file_target(version)

    def pinned_target(self, model_id: str) -> Target:
        """The target of a model id starting with ``prefix``."""
        raise BackendError(f"backend {self.name} pins no model ids")

    def note_reachable(self, reachable: bool) -> None:
        """Hear whether the backend's server answered (a failed request, a sync worker); default: no server."""

    @abstractmethod
    def stream(self, target: Target, request: GenerateRequest) -> Iterator[Chunk]:
        """Yield the answer in chunks; the last chunk has ``finish_reason`` and ``usage``.

        Raise ``BackendUnavailable`` when the engine cannot be reached, ``BackendError`` when it fails.
        """

    def complete(self, target: Target, request: GenerateRequest) -> Completion:
        """The whole answer at once."""
        parts: list[str] = []
        calls: list[dict[str, Any]] = []
        last: Chunk | None = None
        for chunk in self.stream(target, request):
            parts.append(chunk.text)
            calls.extend(chunk.tool_calls)
            last = chunk
        if last is None or last.finish_reason is None or last.usage is None:
            raise BackendError(f"backend {self.name} ended without a final chunk")
        return Completion("".join(parts), last.finish_reason, last.usage, tuple(calls))

    def close(self) -> None:
        """Free what the backend holds (loaded models, connections)."""


Handler = Callable[[Target, GenerateRequest], "str | Iterable[str]"]


def _echo(target: Target, request: GenerateRequest) -> str:
    if request.prompt is not None:
        return f"echo: {request.prompt}"
    last = next((m.get("content") for m in reversed(request.messages or []) if m.get("role") == "user"), "")
    return f"echo: {_text(last)}"


def _text(content: Any) -> str:
    from edgelearn.serve.tools import content_text  # tools imports Chunk from this module

    return content_text(content)


class FakeBackend(Backend):
    """A backend that answers from a function, for tests and benchmarks.

    ``handler(target, request)`` returns the answer (a string, split into word tokens) or an iterable
    of chunk texts (which may raise part way, to test errors mid-stream); the default echoes the
    last user message. Words count as tokens; ``max_tokens`` and ``stop`` are honoured. Like a local
    model it answers in text: tool calls it writes in the ``<tool_call>`` format are parsed by the engine.
    ``calls`` keeps every (target, request) seen.
    """

    name = "fake"

    def __init__(self, handler: Handler | None = None, *, delay_s: float = 0.0) -> None:
        self.handler = handler or _echo
        self.delay_s = delay_s
        self.calls: list[tuple[Target, GenerateRequest]] = []
        self._lock = threading.Lock()

    def stream(self, target: Target, request: GenerateRequest) -> Iterator[Chunk]:
        with self._lock:
            self.calls.append((target, request))
        answer = self.handler(target, request)
        pieces: Iterable[str] = _words(answer) if isinstance(answer, str) else answer
        prompt_text = request.prompt if request.prompt is not None else " ".join(
            _text(m.get("content")) for m in request.messages or [])
        produced, finish, text = 0, "stop", ""
        for piece in pieces:
            if produced >= request.max_tokens:
                finish = "length"
                break
            cut = _first_stop(text + piece, request.stop)
            if cut is not None:
                if cut > len(text):
                    yield Chunk((text + piece)[len(text):cut])
                break
            if self.delay_s:
                time.sleep(self.delay_s)
            text += piece
            produced += 1
            yield Chunk(piece)
        yield Chunk("", finish, Usage(len(prompt_text.split()), produced))


def _words(text: str) -> list[str]:
    words = text.split(" ")
    return [w if i == 0 else " " + w for i, w in enumerate(words)] if text else []


def _first_stop(text: str, stops: list[str]) -> int | None:
    hits = [text.find(s) for s in stops if s and s in text]
    return min(hits) if hits else None


def file_target(version: Any) -> Target:
    """What a GGUF-loading backend runs for a registry version: base + adapter, else the merged GGUF."""
    if version.adapter_path:
        return Target(version.id, model_path=version.base_path, lora_path=version.adapter_path,
                      model_sha256=version.base_sha256 or None, lora_sha256=version.adapter_sha256)
    if version.merged_path:
        return Target(version.id, model_path=version.merged_path, model_sha256=version.merged_sha256)
    return Target(version.id, model_path=version.base_path)  # the bare base


# --- the registry of backends by name ----------------------------------------------------------
_CLASSES: dict[str, type[Backend] | str] = {}
_lock = threading.Lock()


def register_backend(name: str, cls: type[Backend] | str) -> None:
    """Make ``create_backend(name, ...)`` build ``cls``: a Backend class, or ``"module:Class"`` imported on
    first use; a name is registered once."""
    with _lock:
        if name in _CLASSES:
            raise ValueError(f"backend {name!r} is already registered")
        _CLASSES[name] = cls


def backend_names() -> list[str]:
    """Names ``create_backend`` accepts."""
    return sorted(_CLASSES)


def backend_class(name: str) -> type[Backend]:
    """The class registered as ``name`` (its module imported now if it was not yet)."""
    with _lock:
        entry = _CLASSES.get(name)
    if entry is None:
        raise BackendError(f"no serving backend named {name!r}; known: {', '.join(backend_names())}")
    if isinstance(entry, str):
        module, _, attr = entry.partition(":")
        entry = getattr(importlib.import_module(module), attr)
        with _lock:
            _CLASSES[name] = entry
    return entry


def create_backend(name: str, **options: Any) -> Backend:
    """A new backend by name, e.g. ``create_backend("embedded", n_threads=2)``."""
    return backend_class(name)(**options)


register_backend("fake", FakeBackend)
register_backend("embedded", "edgelearn.serve.llamacpp:EmbeddedBackend")
register_backend("ollama", "edgelearn.serve.ollama_backend:OllamaBackend")
