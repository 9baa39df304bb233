"""The Ollama backend: chat and completion through the official client, streamed.

Tools are rendered into the messages by ``serve/tools.py`` exactly as for the embedded backend,
not passed as Ollama's ``tools``: the models edgelearn registers carry a ChatML template without
``.Tools`` (Ollama refuses tools for them), the same trained adapter must see the same prompt
whichever backend serves it, and Ollama has no ``tool_choice`` and drops calls a model writes
without its template's tags (AGENTS.md). The engine parses the calls out of the text.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Iterator

import httpx

from edgelearn.errors import BackendError, BackendUnavailable
from edgelearn.serve.backends import Backend, Chunk, GenerateRequest, Target, Usage
from edgelearn.serve.templates import validate_ollama_name
from edgelearn.serve.tools import render_chat

REACHABILITY_TTL_S = 10.0


class OllamaBackend(Backend):
    """Runs models an Ollama server holds (``target.ollama_name``): ``ollama/<name>`` pins one, and a
    registry version registered there is served here first while the server answers."""

    name = "ollama"
    prefix = "ollama/"
    rank = 10

    def __init__(self, *, url: str = "http://127.0.0.1:11434", timeout: float = 600.0) -> None:
        import ollama

        self.url = url
        self.client = ollama.Client(host=url, timeout=timeout)
        self._seen: tuple[float, bool] = (float("-inf"), False)
        self._probing = threading.Event()

    @classmethod
    def options_from(cls, deploy: Any) -> dict[str, Any]:
        return {"url": deploy.ollama_url}

    def pinned_target(self, model_id: str) -> Target:
        return Target(model_id, ollama_name=validate_ollama_name(model_id[len(self.prefix):], pinned=True))

    def target_for(self, version: Any) -> Target | None:
        if version.ollama_name and self.reachable():
            return Target(version.id, ollama_name=version.ollama_name)
        return None

    def note_reachable(self, reachable: bool) -> None:
        self._seen = (time.monotonic(), reachable)

    def reachable(self) -> bool:
        """The last known answer; a stale one is refreshed in the background (never blocks a request)."""
        seen_at, reachable = self._seen
        if time.monotonic() - seen_at > REACHABILITY_TTL_S and not self._probing.is_set():
            self._probing.set()
            threading.Thread(target=self._probe, name="edgelearn-ollama-probe", daemon=True).start()
        return reachable

    def _probe(self) -> None:
        from edgelearn.serve.ollama import probe

        try:
            self.note_reachable(probe(self.url, timeout=1.0)["reachable"])
        finally:
            self._probing.clear()

    def stream(self, target: Target, request: GenerateRequest) -> Iterator[Chunk]:
        import ollama

        if not target.ollama_name:
            raise BackendError(f"model {target.model_id} is not registered with Ollama")
        options: dict[str, Any] = {"num_predict": request.max_tokens, "temperature": request.temperature,
                                   "top_p": request.top_p}
        if request.stop:
            options["stop"] = request.stop
        if request.seed is not None:
            options["seed"] = request.seed
        try:
            if request.messages is not None:
                messages = render_chat(request.messages, request.tools, request.tool_choice)
                parts = self.client.chat(model=target.ollama_name, messages=messages, stream=True, options=options)
            else:
                parts = self.client.generate(model=target.ollama_name, prompt=request.prompt or "", stream=True,
                                             options=options)
            for part in parts:
                text = part.message.content if request.messages is not None else part.response
                if text:
                    yield Chunk(text)
                if part.done:
                    finish = "length" if part.done_reason == "length" else "stop"
                    yield Chunk("", finish, Usage(part.prompt_eval_count or 0, part.eval_count or 0))
                    return
        except ollama.ResponseError as exc:
            raise BackendError(f"Ollama failed serving {target.ollama_name}: {exc.error}") from exc
        except (ConnectionError, httpx.TransportError) as exc:
            raise BackendUnavailable(f"Ollama at {self.url} is not reachable: {exc}") from exc
        raise BackendError(f"Ollama ended the answer of {target.ollama_name} without a final message")

    def close(self) -> None:
        self.client._client.close()
