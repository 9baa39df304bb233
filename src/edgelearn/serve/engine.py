"""Which backend serves a model id, and running it off the event loop.

The engine names no backend: each backend class declares what it serves (serve/backends.py). A model
id starting with a backend's ``prefix`` is pinned to it (``ollama/<name>``). A registry version goes
to the first backend, by ``rank``, whose ``target_for`` can serve it now (``deploy.backend``, when it
names one, goes first): Ollama while the version is registered there and the server answers, else
the embedded llama.cpp backend (base + adapter GGUF, or the merged GGUF). A request whose backend is
gone before its first token is served by the next one, so nothing is lost while Ollama is down.
``use_backend`` swaps every backend for one (e.g. ``FakeBackend`` in tests and benchmarks).
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import AsyncIterator, Callable, Iterator

from edgelearn.errors import BackendError, BackendUnavailable, InvalidInput, NotFound
from edgelearn.serve.backends import Backend, Chunk, GenerateRequest, Target, backend_class, backend_names
from edgelearn.serve.base import base_gguf
from edgelearn.serve.tools import offered_tools, parse_chunks

EXTERNAL_PREFIX = "external/"


@dataclass
class Served:
    """One resolved request: the model id, what backs it, and which backend answered."""

    model_id: str
    target: Target
    backend: Backend
    backend_ms: float | None = None  # wall time inside the backend, first call to last chunk
    pinned: bool = False             # the id names its backend: nothing to fall back to


class Engine:
    """Backends of one process (created lazily) and the resolution of model ids to them."""

    def __init__(self, store, settings: Callable[[], object], *, max_workers: int = 8) -> None:
        self.store = store
        self._settings = settings
        self._backends: dict[str, Backend] = {}
        self._lock = threading.Lock()
        self._override: Backend | None = None
        self._external: dict[str, Backend] = {}
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
        """The process's backend ``name``, created on first use with its options from ``[deploy]``."""
        with self._lock:
            if name not in self._backends:
                cls = backend_class(name)
                self._backends[name] = cls(**cls.options_from(self._settings().deploy))
            return self._backends[name]

    def loaded_models(self) -> list[tuple[str, str | None]]:
        """(model_path, lora_path) of the models the backends hold loaded."""
        with self._lock:
            backends = list(self._backends.values())
        return [key for backend in backends if hasattr(backend, "loaded") for key in backend.loaded()]

    def note_reachable(self, name: str, reachable: bool) -> None:
        """Tell backend ``name`` whether its server answered (the Ollama sync worker reports it)."""
        self.backend(name).note_reachable(reachable)

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

    def resolve(self, model_id: str, *, skip: Backend | None = None) -> Served:
        """The backend and files that serve ``model_id`` (``NotFound`` for unknown ids); ``skip``: a backend
        that just failed, not to be chosen again for this request."""
        if model_id.startswith(EXTERNAL_PREFIX):
            backend = self._external.get(model_id)
            if backend is None:
                raise NotFound(f"model {model_id} is not registered with this runtime")
            return Served(model_id, Target(model_id), backend, pinned=True)
        for name in backend_names():
            cls = backend_class(name)
            if cls.prefix and model_id.startswith(cls.prefix):
                backend = self.backend(name)
                target = backend.pinned_target(model_id)
                return Served(model_id, target, self._override or backend, pinned=True)
        if model_id == "base":
            version = self.store.models.base(base_gguf(self._settings()))
        else:
            version = self.store.models.get(model_id)
        if self._override is not None:
            return Served(model_id, self._override.target_for(version) or Target(model_id), self._override)
        for name in self._version_backends():
            backend = self.backend(name)
            target = backend.target_for(version) if backend is not skip else None
            if target is not None:
                return Served(model_id, target, backend)
        raise BackendError(f"no serving backend can serve {model_id} now")

    def _version_backends(self) -> list[str]:
        """Backend names tried for registry versions: ``deploy.backend`` first when it names one, then by rank."""
        ranked = sorted((cls.rank, name) for name in backend_names()
                        if (cls := backend_class(name)).rank is not None)
        names = [name for _, name in ranked]
        preferred = self._settings().deploy.backend
        return [preferred] + [n for n in names if n != preferred] if preferred in names else names

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
            if produced or served.pinned:
                raise
            served.backend.note_reachable(False)
            fallback = self.resolve(served.model_id, skip=served.backend)
            served.backend, served.target = fallback.backend, fallback.target
            yield from served.backend.stream(served.target, request)

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

