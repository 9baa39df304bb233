"""Which backend serves a model id, and running it off the event loop.

A registry version is served by Ollama when serving allows it (``deploy.backend`` auto or ollama),
the version is registered there (``ollama_name``) and the server answers; otherwise by the embedded
llama.cpp backend (base + adapter GGUF, or the merged GGUF). A request that finds Ollama gone
before its first token falls back to the embedded backend, so nothing is lost while Ollama is down.
``ollama/<name>`` pins a model Ollama already has. ``use_backend`` swaps every backend for one
(e.g. ``FakeBackend`` in tests and benchmarks).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import AsyncIterator, Callable, Iterator

from edgelearn.errors import BackendError, BackendUnavailable, InvalidInput, NotFound
from edgelearn.serve.backends import Backend, Chunk, GenerateRequest, Target, create_backend
from edgelearn.serve.base import base_gguf
from edgelearn.serve.templates import validate_ollama_name
from edgelearn.serve.tools import offered_tools, parse_chunks

OLLAMA_PREFIX = "ollama/"
EXTERNAL_PREFIX = "external/"
REACHABILITY_TTL_S = 10.0


@dataclass
class Served:
    """One resolved request: the model id, what backs it, and which backend answered."""

    model_id: str
    target: Target
    backend: Backend
    backend_ms: float | None = None  # wall time inside the backend, first call to last chunk


class Engine:
    """Backends of one process (created lazily) and the resolution of model ids to them."""

    def __init__(self, store, settings: Callable[[], object], *, max_workers: int = 8) -> None:
        self.store = store
        self._settings = settings
        self._backends: dict[str, Backend] = {}
        self._lock = threading.Lock()
        self._override: Backend | None = None
        self._external: dict[str, Backend] = {}
        self._ollama_seen: tuple[float, bool] = (float("-inf"), False)
        self._probing = threading.Event()
        self.pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="edgelearn-serve")

    # --- backends -----------------------------------------------------------------------------
    def use_backend(self, backend: Backend | None) -> None:
        """Serve everything with ``backend`` (None restores the normal choice)."""
        self._override = backend

    def install_backend(self, name: str, backend: Backend) -> None:
        """Use ``backend`` whenever backend ``name`` is chosen (e.g. a fake as "embedded" in tests)."""
        with self._lock:
            old = self._backends.get(name)
            self._backends[name] = backend
        if old is not None:
            old.close()

    def backend(self, name: str) -> Backend:
        """The process's backend ``name`` (``embedded`` or ``ollama``), created on first use."""
        with self._lock:
            if name not in self._backends:
                deploy = self._settings().deploy
                if name == "embedded":
                    options = {"cache_size": deploy.cache_size, "n_threads": deploy.threads or max(1, (os.cpu_count() or 2) // 2),
                               "n_ctx": deploy.n_ctx}
                elif name == "ollama":
                    options = {"url": deploy.ollama_url}
                else:
                    options = {}
                self._backends[name] = create_backend(name, **options)
            return self._backends[name]

    def loaded_models(self) -> list[tuple[str, str | None]]:
        """(model_path, lora_path) of the models the embedded backend holds loaded."""
        with self._lock:
            embedded = self._backends.get("embedded")
        loaded = getattr(embedded, "loaded", None)
        return loaded() if loaded else []

    def note_ollama(self, reachable: bool) -> None:
        """Remember whether Ollama answered (the sync worker and failed requests report it)."""
        self._ollama_seen = (time.monotonic(), reachable)

    def ollama_reachable(self) -> bool:
        """The last known answer; a stale one is refreshed in the background (never blocks a request)."""
        seen_at, reachable = self._ollama_seen
        if time.monotonic() - seen_at > REACHABILITY_TTL_S and not self._probing.is_set():
            self._probing.set()
            self.pool.submit(self._probe)
        return reachable

    def _probe(self) -> None:
        from edgelearn.serve.ollama import probe

        try:
            self.note_ollama(probe(self._settings().deploy.ollama_url, timeout=1.0)["reachable"])
        finally:
            self._probing.clear()

    # --- resolution ---------------------------------------------------------------------------
    def register_external(self, model_id: str, backend: Backend) -> None:
        """Serve ``external/<name>`` with ``backend`` (a remote API, or the demo's stand-in for one).

        External models are not local: the independence figures count them as the traffic a
        trained local model can take over.
        """
        if not model_id.startswith(EXTERNAL_PREFIX) or len(model_id) == len(EXTERNAL_PREFIX):
            raise InvalidInput(f"model: external model ids start with {EXTERNAL_PREFIX!r}, got {model_id!r}",
                               field="model")
        with self._lock:
            self._external[model_id] = backend

    def warm(self, model_id: str) -> None:
        """Load ``model_id`` now (one generated token), so its first routed request pays no load time."""
        served = self.resolve(model_id)
        request = GenerateRequest(messages=[{"role": "user", "content": "hi"}], max_tokens=1, temperature=0.0)
        for _ in self.stream(served, request):
            pass

    def resolve(self, model_id: str) -> Served:
        """The backend and files that serve ``model_id`` (``NotFound`` for unknown ids)."""
        if model_id.startswith(EXTERNAL_PREFIX):
            backend = self._external.get(model_id)
            if backend is None:
                raise NotFound(f"model {model_id} is not registered with this runtime")
            return Served(model_id, Target(model_id), backend)
        if model_id.startswith(OLLAMA_PREFIX):
            name = validate_ollama_name(model_id[len(OLLAMA_PREFIX):], pinned=True)
            target = Target(model_id, ollama_name=name)
            return Served(model_id, target, self._override or self.backend("ollama"))
        if model_id == "base":
            version = self.store.models.base(base_gguf(self._settings()))
        else:
            version = self.store.models.get(model_id)
        local = _local_target(version)
        if self._override is not None:
            return Served(model_id, local, self._override)
        mode = self._settings().deploy.backend
        if mode != "embedded" and version.ollama_name and self.ollama_reachable():
            target = Target(model_id, ollama_name=version.ollama_name)
            return Served(model_id, target, self.backend("ollama"))
        return Served(model_id, local, self.backend("embedded"))

    def stream(self, served: Served, request: GenerateRequest) -> Iterator[Chunk]:
        """The backend's chunks; Ollama gone before the first chunk means the embedded backend answers.

        When tools are offered, calls the model writes come out as ``Chunk.tool_calls`` (serve/tools.py).
        """
        started = time.perf_counter()
        chunks = self._stream(served, request)
        if request.messages is not None and offered_tools(request.tools, request.tool_choice):
            chunks = parse_chunks(chunks)
        try:
            yield from chunks
        finally:
            served.backend_ms = (time.perf_counter() - started) * 1000

    def _stream(self, served: Served, request: GenerateRequest) -> Iterator[Chunk]:
        produced = False
        try:
            for chunk in served.backend.stream(served.target, request):
                produced = True
                yield chunk
        except BackendUnavailable:
            if produced or served.target.ollama_name is None or served.model_id.startswith(OLLAMA_PREFIX):
                raise
            self.note_ollama(False)
            fallback = _local_target(self.store.models.get(served.model_id))
            served.backend, served.target = self.backend("embedded"), fallback
            yield from served.backend.stream(fallback, request)

    async def astream(self, served: Served, request: GenerateRequest) -> AsyncIterator[Chunk]:
        """``stream`` for asyncio: generation runs on the serving pool, chunks come back through a queue.

        Leaving the loop early (a client that went away) stops generation at the next chunk.
        """
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        stop = threading.Event()
        end = object()

        def work() -> None:
            iterator = self.stream(served, request)
            try:
                for chunk in iterator:
                    if stop.is_set():
                        break
                    loop.call_soon_threadsafe(queue.put_nowait, chunk)
                loop.call_soon_threadsafe(queue.put_nowait, end)
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting side
                loop.call_soon_threadsafe(queue.put_nowait, exc)
            finally:
                iterator.close()  # releases the model's lock even when stopped early

        self.pool.submit(work)
        try:
            while True:
                item = await queue.get()
                if item is end:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()

    async def acomplete(self, served: Served, request: GenerateRequest) -> tuple[str, Chunk]:
        """The whole answer (text, final chunk holding all its tool calls) in one hop to the serving pool."""
        def work() -> tuple[str, Chunk]:
            parts, calls, last = [], [], None
            for chunk in self.stream(served, request):
                parts.append(chunk.text)
                calls.extend(chunk.tool_calls)
                last = chunk
            if last is None or last.usage is None:
                raise BackendError(f"backend {served.backend.name} ended without a final chunk")
            return "".join(parts), replace(last, tool_calls=tuple(calls))

        return await asyncio.get_running_loop().run_in_executor(self.pool, work)

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            backends = list(self._backends.values())
            self._backends.clear()
        for backend in backends:
            backend.close()


def _local_target(version) -> Target:
    """What the embedded backend loads for a version: base + adapter, else the merged GGUF."""
    if version.adapter_path:
        return Target(version.id, model_path=version.base_path, lora_path=version.adapter_path,
                      model_sha256=version.base_sha256 or None, lora_sha256=version.adapter_sha256)
    if version.merged_path:
        return Target(version.id, model_path=version.merged_path, model_sha256=version.merged_sha256)
    return Target(version.id, model_path=version.base_path)  # the bare base
