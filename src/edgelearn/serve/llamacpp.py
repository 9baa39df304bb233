"""The embedded backend: llama-cpp-python serving a GGUF, with or without a LoRA adapter.

Loaded variants (base + adapter, or a merged GGUF) stay in a small LRU cache; llama.cpp is not
thread-safe per model, so each loaded model has its own lock, held for a whole generation.
Prompts are rendered with the GGUF's own chat template (the same Jinja formatter
``create_chat_completion`` uses) and generation stops at the vocabulary's end-of-generation
tokens (``<|im_end|>`` for SmolLM2), so an exported adapter stops where it was trained to.
Tools, tool calls and tool results go through ``serve/tools.py`` first, unless the template shows
tools itself in the same ``<tool_call>`` format (Qwen2.5, Hermes); SmolLM2's does not.
The token loop is ours rather than ``create_completion``'s so usage is exact when streaming too.
An agent's repeated system prompt and tool schemas are not processed again: the KV cache of the last
request is reused, and long contexts that another agent's request would discard are kept aside
(serve/prefix_cache.py). The context is the model's trained one unless ``n_ctx`` is set.
"""

from __future__ import annotations

import codecs
import importlib.util
import json
import os
import random
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from edgelearn.errors import BackendError, InvalidInput
from edgelearn.serve.backends import Backend, Chunk, GenerateRequest, Target, Usage
from edgelearn.serve.base import sha256_file, trained_context
from edgelearn.serve.prefix_cache import PrefixStates
from edgelearn.serve.tools import (
    CLOSE,
    OPEN,
    call_schema,
    forced_function,
    native_messages,
    offered_tools,
    render_chat,
    template_handles_tools,
)


def is_llama_cpp_available() -> bool:
    """Whether llama-cpp-python is installed (imported only when a model is loaded)."""
    return importlib.util.find_spec("llama_cpp") is not None


def cpu_advertises_amx() -> bool:
    """Whether /proc/cpuinfo lists AMX tiles (Linux; False elsewhere)."""
    try:
        return "amx_tile" in Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False


def avoid_amx() -> None:
    """Make every ``llama_cpp.Llama`` of this process load without ggml's extra CPU buffer types when the
    CPU advertises AMX: a VM that advertises AMX without enabling it kills the process with a general
    protection fault at the first AMX matmul (``ldtilecfg``), seen on this project's machines. Idempotent."""
    import llama_cpp.llama_cpp as lib

    if getattr(lib.llama_model_default_params, "edgelearn_no_extra_bufts", False) or not cpu_advertises_amx():
        return
    default = lib.llama_model_default_params

    def without_extra_bufts():
        params = default()
        params.use_extra_bufts = False
        return params

    without_extra_bufts.edgelearn_no_extra_bufts = True
    lib.llama_model_default_params = without_extra_bufts


@dataclass
class _Loaded:
    llm: Any
    lock: threading.Lock
    formatter: Any  # llama_cpp's Jinja2ChatFormatter over the GGUF's template
    is_eog: Any
    n_ctx: int
    native_tools: bool = False  # the template renders tools and <tool_call> turns itself
    prefixes: PrefixStates | None = None


class StopMatcher:
    """Cuts a text stream at the first stop string, holding back a tail that may start one."""

    def __init__(self, stops: list[str]) -> None:
        self.stops = [s for s in stops if s]
        self.buffer = ""

    def feed(self, text: str) -> tuple[str, bool]:
        """(text safe to emit, whether a stop string was reached)."""
        self.buffer += text
        hits = [self.buffer.find(s) for s in self.stops if s in self.buffer]
        if hits:
            out, self.buffer = self.buffer[:min(hits)], ""
            return out, True
        hold = 0
        for stop in self.stops:
            for n in range(min(len(stop) - 1, len(self.buffer)), hold, -1):
                if self.buffer.endswith(stop[:n]):
                    hold = n
                    break
        cut = len(self.buffer) - hold
        out, self.buffer = self.buffer[:cut], self.buffer[cut:]
        return out, False

    def flush(self) -> str:
        out, self.buffer = self.buffer, ""
        return out


class EmbeddedBackend(Backend):
    """llama-cpp-python in this process; ``cache_size`` models loaded at most; ``n_ctx`` 0 is each
    model's trained context; ``prefix_cache_bytes`` of saved contexts per loaded model (0: none)."""

    name = "embedded"
    rank = 20  # serves every registry version: the fallback when nothing ranked before it can

    @classmethod
    def options_from(cls, deploy: Any) -> dict[str, Any]:
        return {"cache_size": deploy.cache_size, "n_threads": deploy.threads or max(1, (os.cpu_count() or 2) // 2),
                "n_ctx": deploy.n_ctx}

    def __init__(self, *, cache_size: int = 2, n_threads: int = 2, n_ctx: int = 0,
                 prefix_cache_bytes: int = 256 << 20) -> None:
        if not is_llama_cpp_available():
            raise BackendError("llama-cpp-python is not installed: `pip install llama-cpp-python` "
                               "(it compiles llama.cpp, about 10 minutes)")
        self.cache_size = cache_size
        self.n_threads = n_threads
        self.n_ctx = n_ctx
        self.prefix_cache_bytes = prefix_cache_bytes
        self._cache: OrderedDict[tuple[str, str | None], _Loaded] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._load_lock = threading.Lock()  # one load at a time: loads are short, memory is not
        self.loads = 0

    def loaded(self) -> list[tuple[str, str | None]]:
        """Keys (model_path, lora_path) of the loaded models, least recently used first."""
        with self._cache_lock:
            return list(self._cache)

    def _get(self, target: Target) -> _Loaded:
        if not target.model_path:
            raise BackendError(f"model {target.model_id} has no GGUF to load")
        key = (target.model_path, target.lora_path)
        with self._cache_lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        with self._load_lock:
            with self._cache_lock:
                if key in self._cache:  # loaded by another thread while we waited
                    return self._cache[key]
            loaded = self._load(target)
            with self._cache_lock:
                self._cache[key] = loaded
                while len(self._cache) > self.cache_size:
                    # dropped, not closed: a generation may still hold it; llama_cpp frees it on collection
                    self._cache.popitem(last=False)
            return loaded

    def _load(self, target: Target) -> _Loaded:
        import llama_cpp
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        for path, digest, what in ((target.model_path, target.model_sha256, "model"),
                                   (target.lora_path, target.lora_sha256, "adapter")):
            if path is None:
                continue
            if not Path(path).is_file():
                raise BackendError(f"{what} file of {target.model_id} is missing: {path}")
            if digest and sha256_file(Path(path)) != digest:
                raise BackendError(f"{what} file of {target.model_id} changed since it was registered: {path}")
        n_ctx = self.n_ctx or trained_context(Path(target.model_path))
        avoid_amx()
        try:
            llm = llama_cpp.Llama(model_path=target.model_path, lora_path=target.lora_path,
                                  n_threads=self.n_threads, n_threads_batch=self.n_threads, n_ctx=n_ctx, verbose=False)
        except (ValueError, RuntimeError) as exc:
            raise BackendError(f"llama.cpp cannot load {target.model_id}: {exc}") from exc
        template = llm.metadata.get("tokenizer.chat_template")
        formatter = None
        if template:
            model = llm._model  # the vocabulary's own texts for {{ bos_token }} / {{ eos_token }}
            formatter = Jinja2ChatFormatter(template=template, eos_token=model.token_get_text(llm.token_eos()),
                                            bos_token=model.token_get_text(llm.token_bos()))
        native = formatter is not None and template_handles_tools(
            lambda messages, tools: formatter(messages=messages, tools=tools).prompt)
        vocab = llm._model.vocab
        self.loads += 1
        return _Loaded(llm, threading.Lock(), formatter,
                       lambda tok: bool(llama_cpp.llama_vocab_is_eog(vocab, tok)), n_ctx, native,
                       PrefixStates(self.prefix_cache_bytes))

    def prompt_tokens(self, loaded: _Loaded, target: Target, request: GenerateRequest) -> list[int]:
        llm = loaded.llm
        if request.messages is not None:
            if loaded.formatter is None:
                raise BackendError(f"model {target.model_id} has no chat template (tokenizer.chat_template); "
                                   "use completions or a GGUF with a template")
            if loaded.native_tools:
                rendered = loaded.formatter(messages=native_messages(request.messages),
                                            tools=offered_tools(request.tools, request.tool_choice),
                                            tool_choice=request.tool_choice)
            else:
                rendered = loaded.formatter(messages=render_chat(request.messages, request.tools,
                                                                 request.tool_choice))
            return llm.tokenize(rendered.prompt.encode("utf-8"), add_bos=not rendered.added_special, special=True)
        return llm.tokenize((request.prompt or "").encode("utf-8"), add_bos=True, special=True)

    def stream(self, target: Target, request: GenerateRequest) -> Iterator[Chunk]:
        loaded = self._get(target)
        with loaded.lock:
            yield from self._generate(loaded, target, request)

    def _generate(self, loaded: _Loaded, target: Target, request: GenerateRequest) -> Iterator[Chunk]:
        llm = loaded.llm
        tokens = self.prompt_tokens(loaded, target, request)
        grammar = self._forced_call_grammar(loaded, request)
        if grammar is not None:  # the answer starts inside the call; the grammar keeps it to the schema
            tokens += llm.tokenize(f"{OPEN}\n".encode(), add_bos=False, special=False)
        room = loaded.n_ctx - len(tokens)
        if room < 1:
            what = "messages" if request.messages is not None else "prompt"
            raise InvalidInput(f"{what}: the prompt is {len(tokens)} tokens, over the context of {loaded.n_ctx} tokens "
                               f"of {target.model_id} (deploy.n_ctx; 0 means the model's trained context)", field=what)
        max_tokens = min(request.max_tokens, room)
        if loaded.prefixes is not None:
            loaded.prefixes.prepare(llm, tokens)
        llm.set_seed(request.seed if request.seed is not None else random.randrange(2**31))
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        stopper = StopMatcher(request.stop)
        produced, finish, hit = 0, "length", False
        if grammar is not None:
            yield Chunk(f"{OPEN}\n")
        try:
            for token in llm.generate(tokens, temp=request.temperature, top_p=request.top_p, repeat_penalty=1.0,
                                      grammar=grammar):
                if loaded.is_eog(token):
                    finish = "stop"
                    break
                produced += 1
                text, hit = stopper.feed(decoder.decode(llm.detokenize([token])))
                if text:
                    yield Chunk(text)
                if hit:
                    finish = "stop"
                    break
                if produced >= max_tokens:
                    break
        except RuntimeError as exc:  # llama_decode failures surface as RuntimeError
            raise BackendError(f"llama.cpp failed while generating with {target.model_id}: {exc}") from exc
        if not hit:  # text held back as a possible stop string's start is answer after all
            tail, _ = stopper.feed(decoder.decode(b"", final=True))
            tail += stopper.flush()
            if tail:
                yield Chunk(tail)
        if grammar is not None and finish == "stop":
            yield Chunk(f"\n{CLOSE}")
        yield Chunk("", finish, Usage(len(tokens), produced))

    @staticmethod
    def _forced_call_grammar(loaded: _Loaded, request: GenerateRequest) -> Any:
        """A llama.cpp grammar for the one call ``tool_choice`` forces (None when none is forced, or when the
        schema is beyond llama.cpp's converter: then decoding is free and the prompt alone asks for it)."""
        if request.messages is None:
            return None
        function = forced_function(request.tools, request.tool_choice)
        if function is None:
            return None
        from llama_cpp import LlamaGrammar

        try:
            return LlamaGrammar.from_json_schema(json.dumps(call_schema(function)), verbose=False)
        except Exception:  # noqa: BLE001 - an unsupported schema means unconstrained decoding, not an error
            return None

    def close(self) -> None:
        with self._cache_lock:
            loaded = list(self._cache.values())
            self._cache.clear()
        for item in loaded:
            with item.lock:
                item.llm.close()
