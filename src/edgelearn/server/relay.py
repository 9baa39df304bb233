"""The pass-through to a user's provider behind ``POST /v1/chat/completions``.

OpenAI type: the body goes on unchanged except ``model`` (fields edgelearn does not know included),
and the answer comes back unchanged plus the ``x-edgelearn-*`` headers; a stream is relayed as the
bytes arrive (what arrived together in one write; a line cut between two reads waits for its end),
and a copy is parsed for the run only after it ended. Anthropic type: translated both ways
(serve/providers/anthropic.py). The run commits before the response ends: before a plain answer is
sent (on the event loop's thread when the store's writer is idle), and before a stream's
``data: [DONE]`` (on the writer thread, grouped with other commits: the loop relays the other
streams meanwhile). So a client that got the whole answer can read the run and attach signals at once.

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
from edgelearn.server.chat import Call

DONE_LINE = b"data: [DONE]"


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
        await record_failure(call, messages, exc)
        return JSON(provider_error(exc), status_code=504 if exc.timeout else 502, headers=call.headers)
    response = upstream.response
    if response.status_code >= 400:  # a 4xx the provider means: its status and body, as sent
        await record_failure(call, messages, upstream)
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


class Last(bytes):
    """A relayed stream's last piece: it goes out with the end of the response, in one write."""


class _Relayed(StreamingResponse):
    """A relayed stream, sent piece by piece; a client that goes away cancels it. The disconnect is
    watched by one plain asyncio task rather than StreamingResponse's anyio task group: less work
    per stream on the gateway's hot path (bench/RESULTS.md, gateway)."""

    async def stream_response(self, send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        async for piece in self.body_iterator:
            if isinstance(piece, Last):
                await send({"type": "http.response.body", "body": piece, "more_body": False})
                # the relay has nothing more to send: it closes its provider stream, without a
                # further turn of the loop (where the finished response would read as a disconnect)
                await self.body_iterator.aclose()
                return
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

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


async def record_failure(call: Call, messages, failure: ProviderError | Upstream) -> None:
    """Record a call its provider did not answer: it failed after its retries (``ProviderError``), or
    refused it with a 4xx (the ``Upstream`` holding that answer)."""
    provider = call.pinned.provider
    if isinstance(failure, ProviderError):
        error, meta = str(failure), _upstream_meta(call, None, failure.attempts, failure.upstream_status)
    else:
        status = failure.response.status_code
        error, meta = f"provider {provider!r} answered {status}", _upstream_meta(call, failure, failure.attempts, status)
    await call.record(messages, Output(), backend=f"provider:{provider}", status="error", error=error, extra=meta)


async def _record(call: Call, messages, upstream: Upstream, output: Output, status: str, error: str | None) -> None:
    pinned = call.pinned
    # a stream's run commits on the writer thread (after its last bytes): the loop relays the others meanwhile
    await call.record(messages, output, backend=f"provider:{pinned.provider}", status=status, error=error,
                      inline=not call.stream,
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


def done_at(out: bytes) -> int | None:
    """Where the ``data: [DONE]`` line starts when it is the last line of ``out`` (else None)."""
    end = len(out.rstrip(b"\r\n"))
    start = end - len(DONE_LINE)
    if start >= 0 and out.startswith(DONE_LINE, start) and (start == 0 or out[start - 1] in b"\r\n"):
        return start
    return None


def whole_lines(out: bytes, partial: bytes) -> tuple[bytes, bytes]:
    """``partial + out`` cut after its last line end: (what can be sent, the start of a line still coming)."""
    if partial:
        out = partial + out
    if not out or out[-1] in b"\r\n":
        return out, b""
    cut = max(out.rfind(b"\n"), out.rfind(b"\r")) + 1
    return out[:cut], out[cut:]


async def _relay(call: Call, messages, upstream: Upstream,
                 translator: anthropic.StreamTranslator | None) -> AsyncIterator[bytes]:
    relayed: list[bytes] = []  # what the client got, parsed for the run once the stream ended
    status, error, recorded = "cancelled", None, False
    partial = b""
    try:
        piece = upstream.first
        while piece is not None:
            # what arrived together goes out in one write; a line's start waits for its end, so
            # that the [DONE] line is seen whole
            out, partial = whole_lines(translator.feed(piece) if translator is not None else piece, partial)
            at = None if recorded else done_at(out)
            if at is not None:
                # [DONE] does not wait for the run's commit: the run is recorded right after it, and
                # the endpoints that take its id wait for that (``Call.record_later``)
                if at:
                    relayed.append(out[:at])
                    yield out[:at]
                status, recorded = "ok", True
                call.record_later(_record_stream(call, messages, upstream, b"".join(relayed)))
                # the usual end: [DONE] and the end of the provider's body in one read, so they go out in one write
                yield Last(out[at:]) if upstream.response.ended and not partial else out[at:]
            elif out:
                relayed.append(out)
                yield out
            piece = await anext(upstream.pieces, None)
        if partial:  # a last line without its line end
            relayed.append(partial)
            yield partial
        status = "ok"
    except (HTTPError, anthropic.UpstreamStreamError, ValueError) as exc:  # ValueError: a torn event
        if isinstance(exc, anthropic.UpstreamStreamError) and exc.before:
            relayed.append(exc.before)
            yield exc.before
        status = "error"
        error = f"provider {call.pinned.provider!r} stream broke: {type(exc).__name__}: {exc}"[:500]
        yield b"data: " + orjson.dumps(_error_body(error, "provider_error", "stream_error",
                                                   provider=call.pinned.provider)) + b"\n\n"
    finally:
        if status == "ok":
            await upstream.response.aclose()
            if not recorded:
                call.record_later(_record_stream(call, messages, upstream, b"".join(relayed)))
        else:
            # the client went away (this code may run under a cancelled scope, where every await
            # raises) or the provider failed mid-stream: close and keep what was produced in a task
            call.record_later(close_and_record(call, messages, upstream, from_stream(b"".join(relayed)), status,
                                               error))


async def _record_stream(call: Call, messages, upstream: Upstream, relayed: bytes) -> None:
    """A stream the provider ended: ``ok``, or ``error`` when it sent an error event."""
    output = from_stream(relayed)
    if output.error:
        await _record(call, messages, upstream, output, "error", f"provider {call.pinned.provider!r}: {output.error}")
    else:
        await _record(call, messages, upstream, output, "ok", None)


async def close_and_record(call: Call, messages, upstream: Upstream, output: Output, status: str,
                           error: str | None) -> None:
    """Close the provider's stream and record the run as it ended (``cancelled`` or ``error``)."""
    await upstream.response.aclose()
    await _record(call, messages, upstream, output, status, error)
