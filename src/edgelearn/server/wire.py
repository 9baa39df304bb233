"""What the other wire APIs share: a translated request answered by ``POST /v1/chat/completions``'s
own handler, and the OpenAI answer read back (plain, streamed or an error) for translation.

``/v1/messages`` and ``/v1/responses`` translate their request into a chat completions body and hand
it to ``proxy.chat_completions``, which routes it, answers it (a local model or a provider) and
records the run, exactly as for a chat client: so every wire's runs read alike. The endpoint then
translates the answer back into its own wire format.
"""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator

import orjson
from starlette.responses import Response, StreamingResponse

from edgelearn.server import proxy

_pending: set[asyncio.Task] = set()


class Translated:
    """The original request with a translated body: what ``proxy.chat_completions`` reads of it."""

    def __init__(self, request, body: dict[str, Any]) -> None:
        self.app = request.app
        self.headers = request.headers
        self._body = orjson.dumps(body)

    async def body(self) -> bytes:
        return self._body


async def chat(request, body: dict[str, Any]) -> Response:
    """``body`` (an OpenAI chat completions request) answered as ``/v1/chat/completions`` would."""
    return await proxy.chat_completions(Translated(request, body))


def edgelearn_headers(response: Response) -> dict[str, str]:
    """The ``x-edgelearn-*`` headers of the chat answer (run id, model, route, provider)."""
    return {k: v for k, v in response.headers.items() if k.startswith("x-edgelearn-")}


def error_of(response: Response) -> tuple[str, str | None]:
    """(message, param) of an OpenAI-shaped error answer (any body: its text)."""
    body = getattr(response, "body", b"")
    try:
        error = orjson.loads(body).get("error") or {}
    except (orjson.JSONDecodeError, AttributeError):
        error = {}
    if not isinstance(error, dict):
        error = {"message": str(error)}
    return str(error.get("message") or body[:500].decode("utf-8", "replace")), error.get("param")


def parsed(response: Response) -> dict[str, Any]:
    """The JSON body of a plain answer."""
    return orjson.loads(response.body)


async def chunks(response: StreamingResponse) -> AsyncIterator[dict[str, Any]]:
    """The ``chat.completion.chunk`` objects of a streamed answer; an ``{"error": ...}`` event is
    yielded as it is (the stream ends after it)."""
    buffer = b""
    async for piece in response.body_iterator:
        buffer += piece if isinstance(piece, bytes) else piece.encode()
        while b"\n\n" in buffer:
            event, buffer = buffer.split(b"\n\n", 1)
            payload = b"".join(line[5:].strip() for line in event.split(b"\n") if line.startswith(b"data:"))
            if not payload:
                continue
            if payload == b"[DONE]":
                continue  # the answer's stream ends right after: read on, so it finishes normally
            try:
                yield orjson.loads(payload)
            except orjson.JSONDecodeError:
                yield {"error": {"message": "a torn event in the answer's stream"}}


def keep(coroutine) -> None:
    """Run ``coroutine`` in a task of its own, outside a cancelled scope where every await would raise."""
    task = asyncio.get_running_loop().create_task(coroutine)
    _pending.add(task)  # the loop keeps only weak references to tasks
    task.add_done_callback(_pending.discard)


def close_later(response: StreamingResponse) -> None:
    """Finish the chat answer's stream in its own task: the client went away, and the chat handler
    records the run as cancelled when its stream is closed."""
    aclose = getattr(response.body_iterator, "aclose", None)
    if aclose is not None:
        keep(aclose())
