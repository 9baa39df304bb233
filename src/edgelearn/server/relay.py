"""The pass-through to a user's provider behind ``POST /v1/chat/completions``.

OpenAI type: the body goes on unchanged except ``model`` (fields edgelearn does not know included),
and the answer comes back unchanged plus the ``x-edgelearn-*`` headers; a stream is relayed as the
bytes arrive, and a copy is parsed for the run only after it ended. Anthropic type: translated both
ways (serve/providers/anthropic.py). The run commits before the response ends: before a plain
answer is sent, and before a stream's ``data: [DONE]``.

Failures: retries happen in serve/providers/client.py while nothing reached the client; then 502
(504 for a timeout) in OpenAI's error shape, naming the provider and the upstream status. A
provider's other 4xx passes through with its status and body. A stream that breaks ends with an
error event and an ``error`` run; a client that goes away leaves a ``cancelled`` run.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, AsyncIterator

import orjson
from starlette.responses import Response, StreamingResponse

from edgelearn.serve.providers import anthropic
from edgelearn.serve.providers.client import ProviderError, Upstream, send
from edgelearn.serve.providers.http import HTTPError
from edgelearn.serve.providers.record import Output, from_completion, from_stream
from edgelearn.serve.providers.registry import cost
from edgelearn.server.app import JSON
from edgelearn.server.chat import Call, keep

DONE = b"data: [DONE]\n\n"


def _error_body(message: str, type_: str, code: str | None, **extra: Any) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": None, "code": code, **extra}}


def provider_error(exc: ProviderError) -> dict[str, Any]:
    """OpenAI's error shape for a provider that failed after its retries."""
    code = "timeout" if exc.timeout else (f"upstream_{exc.upstream_status}" if exc.upstream_status else "unreachable")
    return _error_body(str(exc), "provider_error", code, provider=exc.provider, upstream_status=exc.upstream_status)


async def forward(call: Call) -> Response:
    """Send the call to its provider and answer the client (see the module docstring)."""
    pinned = call.pinned
    assert pinned is not None
    data = call.data
    messages = call.apply_prompt(data["messages"])
    body = {**data, "model": pinned.model, "messages": messages} if messages is not data["messages"] \
        else {**data, "model": pinned.model}
    if pinned.settings.type == "anthropic":
        path, payload = "/v1/messages", anthropic.request_from_openai(body, pinned.model)
    else:
        path, payload = "/chat/completions", body
    try:
        upstream = await send(call.providers.pool(), pinned.provider, pinned.settings, path,
                              orjson.dumps(payload), call.stream)
    except ProviderError as exc:
        await call.record(messages, Output(), backend=f"provider:{pinned.provider}", status="error", error=str(exc),
                          extra=_upstream_meta(call, None, exc.attempts, exc.upstream_status))
        return JSON(provider_error(exc), status_code=504 if exc.timeout else 502, headers=call.headers)
    response = upstream.response
    if response.status_code >= 400:  # a 4xx the provider means: its status and body, as sent
        await call.record(messages, Output(), backend=f"provider:{pinned.provider}", status="error",
                          error=f"provider {pinned.provider!r} answered {response.status_code}",
                          extra=_upstream_meta(call, upstream, upstream.attempts, response.status_code))
        if pinned.settings.type == "anthropic":
            return JSON(anthropic.error_to_openai(response.content), status_code=response.status_code,
                        headers=call.headers)
        return Response(response.content, status_code=response.status_code, headers=call.headers,
                        media_type=response.headers.get("content-type", "application/json"))
    if not call.stream:
        return await _plain(call, messages, upstream)
    call.first_token_at = upstream.first_at
    translator = (anthropic.StreamTranslator(bool((data.get("stream_options") or {}).get("include_usage")))
                  if pinned.settings.type == "anthropic" else None)
    headers = {**call.headers, "cache-control": "no-cache"}
    encoding = response.headers.get("content-encoding")
    if encoding and translator is None:  # relayed as sent: the client decodes (it was asked for identity)
        headers["content-encoding"] = encoding
    return _Relayed(_relay(call, messages, upstream, translator), media_type="text/event-stream", headers=headers)


class _Relayed(StreamingResponse):
    """A relayed stream, sent piece by piece; a client that goes away cancels it. The disconnect is
    watched by one plain asyncio task rather than StreamingResponse's anyio task group: less work
    per stream on the gateway's hot path (bench/RESULTS.md, gateway)."""

    async def __call__(self, scope, receive, send) -> None:
        task = asyncio.current_task()
        state = {"streaming": True, "gone": False}

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            if state["streaming"]:
                state["gone"] = True
                task.cancel()

        watcher = asyncio.get_running_loop().create_task(watch())
        try:
            await self.stream_response(send)
        except asyncio.CancelledError:
            if not state["gone"]:
                raise  # the server itself is stopping
            task.uncancel()  # ours, and handled: nothing above this response sees it
        except OSError:
            pass  # the client's socket broke while a piece was being sent: the relay recorded the run
        finally:
            state["streaming"] = False
            watcher.cancel()


async def _plain(call: Call, messages: list[dict[str, Any]], upstream: Upstream) -> Response:
    content = upstream.response.content
    try:
        parsed = orjson.loads(content)
    except orjson.JSONDecodeError:
        parsed = None
    anthropic_type = call.pinned.settings.type == "anthropic"
    if anthropic_type and isinstance(parsed, dict):
        parsed = anthropic.response_to_openai(parsed)
        content = orjson.dumps(parsed)
    output = from_completion(parsed)
    await _record(call, messages, upstream, output, "ok", None)
    return Response(content, status_code=200, headers=call.headers, media_type="application/json")


async def _record(call: Call, messages, upstream: Upstream, output: Output, status: str, error: str | None) -> None:
    pinned = call.pinned
    await call.record(messages, output, backend=f"provider:{pinned.provider}", status=status, error=error,
                      cost=cost(pinned.settings, pinned.model, output.tokens_in, output.tokens_out),
                      extra=_upstream_meta(call, upstream, upstream.attempts, upstream.response.status_code,
                                           output),
                      backend_ms=(time.perf_counter() - upstream.started) * 1000)


def _upstream_meta(call: Call, upstream: Upstream | None, attempts: int, status: int | None,
                   output: Output | None = None) -> dict[str, Any]:
    pinned = call.pinned
    meta: dict[str, Any] = {"provider": pinned.provider, "upstream_model": (output and output.model) or pinned.model,
                            "upstream_status": status, "attempts": attempts}
    if upstream is not None and upstream.first_at is not None:
        meta["upstream_ms"] = round((upstream.first_at - upstream.started) * 1000, 3)
    if output is not None and output.cached_tokens is not None:
        meta["cached_tokens"] = output.cached_tokens
    return meta


async def _relay(call: Call, messages, upstream: Upstream,
                 translator: anthropic.StreamTranslator | None) -> AsyncIterator[bytes]:
    relayed: list[bytes] = []  # what the client got, parsed for the run once the stream ended
    status, error, recorded = "cancelled", None, False
    try:
        piece = upstream.first
        while True:
            out = translator.feed(piece) if translator is not None else piece
            if out.endswith(DONE):
                # the run commits before the stream's end: a client holding the whole answer can
                # attach signals at once
                head = out[:-len(DONE)]
                if head:
                    relayed.append(head)
                    yield head
                status, recorded = "ok", True
                await _record_stream(call, messages, upstream, b"".join(relayed))
                yield DONE
            elif out:
                relayed.append(out)
                yield out
            piece = await anext(upstream.pieces, None)
            if piece is None:
                break
        status = "ok"
    except (HTTPError, anthropic.UpstreamStreamError, ValueError) as exc:  # ValueError: a torn event
        status = "error"
        error = f"provider {call.pinned.provider!r} stream broke: {type(exc).__name__}: {exc}"[:500]
        yield b"data: " + orjson.dumps(_error_body(error, "provider_error", "stream_error",
                                                   provider=call.pinned.provider)) + b"\n\n"
    finally:
        if status == "ok":
            await upstream.response.aclose()
            if not recorded:
                await _record_stream(call, messages, upstream, b"".join(relayed))
        else:
            # the client went away (this code may run under a cancelled scope, where every await
            # raises) or the provider failed mid-stream: close and keep what was produced in a task
            keep(_close_and_record(call, messages, upstream, b"".join(relayed), status, error))


async def _record_stream(call: Call, messages, upstream: Upstream, relayed: bytes) -> None:
    """A stream the provider ended: ``ok``, or ``error`` when it sent an error event."""
    output = from_stream(relayed)
    if output.error:
        await _record(call, messages, upstream, output, "error", f"provider {call.pinned.provider!r}: {output.error}")
    else:
        await _record(call, messages, upstream, output, "ok", None)


async def _close_and_record(call: Call, messages, upstream: Upstream, relayed: bytes, status: str,
                            error: str | None) -> None:
    await upstream.response.aclose()
    await _record(call, messages, upstream, from_stream(relayed), status, error)
