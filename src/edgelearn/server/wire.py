"""What the other wire APIs share: a translated request answered by ``POST /v1/chat/completions``'s
own handler, and the OpenAI answer read back (plain, streamed or an error) for translation.

``/v1/messages`` and ``/v1/responses`` translate their request into a chat completions body and hand
it to ``proxy.answer`` (the handler of ``/v1/chat/completions``, given the parsed body), which routes it, answers it (a local model or a provider) and
records the run, exactly as for a chat client: so every wire's runs read alike. The endpoint then
translates the answer back into its own wire format. A provider that speaks the wire API itself
gets the request as it is instead (``passthrough``), with the chat pass-through's rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, AsyncIterator, Callable

import orjson
from starlette.responses import Response, StreamingResponse

from edgelearn.serve.providers.client import ProviderError, Upstream, send
from edgelearn.serve.providers.http import HTTPError
from edgelearn.serve.providers.record import Output, split_events
from edgelearn.server import proxy, relay
from edgelearn.server.app import JSON
from edgelearn.server.chat import Call, checked, keep


async def chat(request, body: dict[str, Any]) -> Response:
    """``body`` (an OpenAI chat completions request) answered as ``/v1/chat/completions`` would."""
    return await proxy.answer(request, checked(body))


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
        payloads, buffer = split_events(buffer + (piece if isinstance(piece, bytes) else piece.encode()))
        for payload in payloads:
            if payload == b"[DONE]":
                continue  # the answer's stream ends right after: read on, so it finishes normally
            try:
                yield orjson.loads(payload)
            except orjson.JSONDecodeError:
                yield {"error": {"message": "a torn event in the answer's stream"}}


async def translated_events(response: StreamingResponse, writer: Any, error: Callable[[str], bytes], *,
                            error_ends: bool) -> AsyncIterator[bytes]:
    """The chat answer's stream as another wire's events: ``writer.start()``, ``writer.feed(chunk)``
    for each chunk, ``writer.end()``; an error chunk becomes ``error(message)``, the last event when
    ``error_ends``. A client that goes away closes the chat answer's stream (its run: cancelled)."""
    finished = False
    try:
        yield writer.start()
        async for chunk in chunks(response):
            if "error" in chunk:
                detail = chunk["error"] if isinstance(chunk["error"], dict) else {}
                finished = error_ends
                yield error(str(detail.get("message", "the model failed")))
                if error_ends:
                    return
                continue
            out = writer.feed(chunk)
            if out:
                yield out
        finished = True
        yield writer.end()
    finally:
        if not finished:
            close_later(response)



def close_later(response: StreamingResponse) -> None:
    """Finish the chat answer's stream in its own task: the client went away, and the chat handler
    records the run as cancelled when its stream is closed."""
    aclose = getattr(response.body_iterator, "aclose", None)
    if aclose is not None:
        keep(aclose())


@dataclass(frozen=True)
class Native:
    """How to pass one wire API through to a provider that speaks it, and read its answer for the run."""

    path: str                                   # after the provider's base_url
    plain: Callable[[bytes], Output]            # a plain answer's body -> the run's output
    stream: Callable[[bytes], Output]           # a stream's bytes so far -> the run's output
    last_event: bytes                           # the run commits before the piece holding this
    error: Callable[[str], dict[str, Any]]      # an error body in the API's own shape
    error_event: Callable[[str], bytes]         # a stream's error event


def _chat_form(call: Call, record_as: Callable[[], dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages to record; the call's data becomes the request in chat form (its params and tools)."""
    call.data = record_as()
    return call.data["messages"]


async def passthrough(call: Call, record_as: Callable[[], dict[str, Any]], payload: bytes, native: Native,
                      headers: dict[str, str] | None = None) -> Response:
    """Send ``payload`` to the call's provider as it is, relay the answer as it comes (a stream event
    by event), and record the run from a copy: the chat pass-through's rules (server/relay.py) for
    another wire API. ``record_as()`` gives the request in chat completions form, for the run; it is
    called only when the run is recorded, off the path to the first event. ``headers``: the client's
    own that the provider gets too."""
    pinned = call.pinned
    assert pinned is not None
    try:
        upstream = await send(call.providers.pool(), pinned.provider, pinned.settings, native.path, payload,
                              call.stream, headers)
    except ProviderError as exc:
        await relay.record_failure(call, _chat_form(call, record_as), exc)
        return JSON(native.error(str(exc)), status_code=504 if exc.timeout else 502, headers=call.headers)
    response = upstream.response
    if response.status_code >= 400:  # the provider's own error, status and body as sent
        await relay.record_failure(call, _chat_form(call, record_as), upstream)
        return Response(response.content, status_code=response.status_code, headers=call.headers,
                        media_type=response.headers.get("content-type", "application/json"))
    if not call.stream:
        await relay._record(call, _chat_form(call, record_as), upstream, native.plain(response.content), "ok", None)
        return Response(response.content, status_code=200, headers=call.headers, media_type="application/json")
    call.first_token_at = upstream.first_at
    answer_headers = {**call.headers, "cache-control": "no-cache"}
    if response.headers.get("content-encoding"):  # relayed as sent: the client decodes (identity was asked for)
        answer_headers["content-encoding"] = response.headers["content-encoding"]
    return relay._Relayed(_relay(call, record_as, upstream, native), media_type="text/event-stream",
                          headers=answer_headers)


async def _relay(call: Call, record_as: Callable[[], dict[str, Any]], upstream: Upstream,
                 native: Native) -> AsyncIterator[bytes]:
    relayed: list[bytes] = []
    status, error, recorded = "cancelled", None, False
    try:
        piece, tail = upstream.first, b""
        while piece is not None:
            if not recorded and native.last_event in tail + piece:
                # recorded right after the stream's last event, which does not wait for the commit
                # (the endpoints that take the run's id wait for it: ``Call.record_later``)
                status, recorded = "ok", True
                call.record_later(_record_relayed(call, record_as, upstream, native, b"".join(relayed) + piece))
            relayed.append(piece)
            tail = piece[-64:]
            # the recorded end and the end of the provider's body, in one write
            yield relay.Last(piece) if recorded and upstream.response.ended else piece
            piece = await anext(upstream.pieces, None)
        status = "ok"
    except HTTPError as exc:
        status, error = "error", f"provider {call.pinned.provider!r} stream broke: {type(exc).__name__}: {exc}"[:500]
        yield native.error_event(error)
    finally:
        if status == "ok":
            await upstream.response.aclose()
            if not recorded:
                call.record_later(_record_relayed(call, record_as, upstream, native, b"".join(relayed)))
        else:
            # the client went away (every await may raise here) or the provider broke off: close and
            # keep what was produced, in a task of its own
            call.record_later(_record_relayed(call, record_as, upstream, native, b"".join(relayed), status, error))


async def _record_relayed(call: Call, record_as: Callable[[], dict[str, Any]], upstream: Upstream, native: Native,
                          relayed: bytes, status: str = "ok", error: str | None = None) -> None:
    """Record the run from what the client got: the request's translation to chat form and the parse
    of the stream happen here, in the recording's own task, not before the stream's last bytes."""
    messages, output = _chat_form(call, record_as), native.stream(relayed)
    if status == "ok":
        await relay._record(call, messages, upstream, output, "ok", None)
    else:  # the provider's stream is still open
        await relay.close_and_record(call, messages, upstream, output, status, error)
