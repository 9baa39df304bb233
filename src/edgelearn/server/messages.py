"""Anthropic Messages: ``POST /v1/messages`` and ``POST /v1/messages/count_tokens`` (Claude Code).

The requested Claude name is mapped to an edgelearn model id (``[wire.anthropic]``). An id that
pins an Anthropic-type provider is passed through faithfully: the body as sent (``model`` swapped),
``anthropic-version`` and ``anthropic-beta`` forwarded, the answer and every stream event relayed as
they arrive. Anything else (``edgelearn/<role>``, local versions, ``base``, Ollama, OpenAI-type
providers) is translated to chat completions (serve/providers/messages_wire.py), answered and
recorded by the chat handler (server/wire.py), and translated back. Errors come in Anthropic's
shape; a request that cannot be translated is a 400 naming the field, and nothing is recorded.
"""

from __future__ import annotations

import math
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response, StreamingResponse

from edgelearn.errors import EdgelearnError, InvalidInput, MalformedJSON
from edgelearn.serve.providers import anthropic
from edgelearn.serve.providers.client import ProviderError, send
from edgelearn.serve.providers.messages_stream import EventWriter, sse
from edgelearn.serve.providers.messages_wire import (
    check_body,
    error_body,
    error_type,
    message_from_openai,
    request_to_openai,
    session_of,
)
from edgelearn.serve.providers.record import Output, from_completion
from edgelearn.server import wire
from edgelearn.server.app import JSON, status_for
from edgelearn.server.chat import Call, providers_of

router = APIRouter(tags=["wire"])
FORWARDED = ("anthropic-version", "anthropic-beta")


def _schema(summary: str) -> dict[str, Any]:
    return {"summary": summary, "openapi_extra": {"requestBody": {"required": True, "content": {
        "application/json": {"schema": {"type": "object", "required": ["model", "max_tokens", "messages"],
                                        "properties": {"model": {"type": "string"},
                                                       "max_tokens": {"type": "integer", "minimum": 1},
                                                       "messages": {"type": "array", "items": {"type": "object"}}}}}}}}}


def _load(raw: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MalformedJSON(f"malformed JSON: {exc}") from exc
    return check_body(data)


def _error(exc: EdgelearnError, headers: dict[str, str] | None = None) -> JSON:
    status = 400 if isinstance(exc, InvalidInput) else status_for(exc)[0]
    return JSON(error_body(str(exc), error_type(status)), status_code=status, headers=headers or {})


def _anthropic_pin(request: Request, model: str):
    pinned = providers_of(request.app.state.runtime).pinned(model)
    return pinned if pinned is not None and pinned.settings.type == "anthropic" else None


@router.post("/v1/messages", **_schema("Anthropic Messages (Claude Code), recorded as runs"))
async def messages(request: Request):
    try:
        data = _load(await request.body())
        model = request.app.state.runtime.settings.wire.anthropic.model_for(data["model"])
        if _anthropic_pin(request, model) is not None:
            return await _passthrough(request, data, model)
        body = request_to_openai(data, model)
        response = await wire.chat(request, body)
    except EdgelearnError as exc:  # nothing ran, nothing is recorded
        return _error(exc)
    headers = wire.edgelearn_headers(response)
    if response.status_code >= 400:
        message, _ = wire.error_of(response)
        return JSON(error_body(message, error_type(response.status_code)), status_code=response.status_code,
                    headers=headers)
    message_id = f"msg_{headers.get('x-edgelearn-run-id', '')}"
    if not isinstance(response, StreamingResponse):
        return JSON(message_from_openai(wire.parsed(response), message_id, data["model"]), headers=headers)
    writer = EventWriter(message_id, data["model"])
    events = wire.translated_events(response, writer, writer.error, error_ends=False)
    return StreamingResponse(events, media_type="text/event-stream",
                             headers={**headers, "cache-control": "no-cache"})


@router.post("/v1/messages/count_tokens", **_schema("Anthropic token count (estimated for non-Anthropic models)"))
async def count_tokens(request: Request):
    try:
        raw = await request.body()
        data = orjson.loads(raw) if raw else None
        if isinstance(data, dict) and "max_tokens" not in data:
            data["max_tokens"] = 1  # count_tokens takes no max_tokens
        data = check_body(data)
        model = request.app.state.runtime.settings.wire.anthropic.model_for(data["model"])
        pinned = _anthropic_pin(request, model)
        if pinned is None:
            body = request_to_openai(data, model)
    except orjson.JSONDecodeError as exc:
        return _error(MalformedJSON(f"malformed JSON: {exc}"))
    except EdgelearnError as exc:
        return _error(exc)
    if pinned is not None:
        payload = {k: v for k, v in data.items() if k != "max_tokens"}
        try:
            upstream = await send(providers_of(request.app.state.runtime).pool(), pinned.provider, pinned.settings,
                                  "/v1/messages/count_tokens", orjson.dumps({**payload, "model": pinned.model}),
                                  False, _forwarded(request))
        except ProviderError as exc:
            return JSON(error_body(str(exc), "api_error"), status_code=504 if exc.timeout else 502)
        return Response(upstream.response.content, status_code=upstream.response.status_code,
                        media_type="application/json")
    # no tokenizer for an arbitrary model here: about four characters a token, as Anthropic's docs estimate
    text = orjson.dumps([body["messages"], body.get("tools")])
    return {"input_tokens": math.ceil(len(text) / 4)}


def _forwarded(request: Request) -> dict[str, str]:
    """The client's ``anthropic-version``/``anthropic-beta`` headers, which the provider gets too."""
    return {name: request.headers[name] for name in FORWARDED if name in request.headers}


def _plain_output(body: bytes) -> Output:
    try:
        return from_completion(anthropic.response_to_openai(orjson.loads(body)))
    except (orjson.JSONDecodeError, AttributeError):
        return Output()


async def _passthrough(request: Request, data: dict[str, Any], model: str) -> Response:
    """An Anthropic-type provider: the request and the answer as they are (see the module docstring)."""
    session = session_of(data.get("metadata"))
    call = Call(request, {"model": model, "messages": data["messages"], "stream": bool(data.get("stream")),
                          **({"user": session[:200]} if session else {})})
    await call.resolve()
    assert call.pinned is not None

    def record_as() -> dict[str, Any]:  # the run keeps the messages in OpenAI form, like every run
        try:
            return request_to_openai(data, model)
        except InvalidInput:  # a block only Anthropic knows: the provider judged it, the run keeps it as sent
            return {"model": model, "messages": data["messages"], "max_tokens": data["max_tokens"],
                    "stream": bool(data.get("stream"))}

    path = "/v1/messages" + ("?beta=true" if request.query_params.get("beta") == "true" else "")
    native = wire.Native(path, _plain_output, anthropic.output_from_events, b"message_stop",
                         lambda message: error_body(message, "api_error"),
                         lambda message: sse("error", error_body(message, "api_error")))
    return await wire.passthrough(call, record_as, orjson.dumps({**data, "model": call.pinned.model}), native,
                                  _forwarded(request))
