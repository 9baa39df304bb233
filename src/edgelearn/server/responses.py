"""OpenAI Responses: ``POST /v1/responses``, the subset Codex uses.

A model id that pins an OpenAI-type provider listed in ``[wire.responses] providers`` is passed
through to its ``/responses`` as it is, and the answer or stream relayed as it comes. Anything else
(``edgelearn/<role>``, local versions, ``base``, Ollama, other providers) is translated to chat
completions (serve/providers/responses_wire.py), answered and recorded by the chat handler
(server/wire.py), and translated back (serve/providers/responses_stream.py for streams). Errors
come in OpenAI's shape; a request that cannot be translated is a 400 naming the field, and nothing
is recorded. ``store`` is accepted, but edgelearn keeps no response objects: only the run.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response, StreamingResponse

from edgelearn.errors import EdgelearnError, InvalidInput, MalformedJSON
from edgelearn.serve.providers.responses_stream import ResponseEvents
from edgelearn.serve.providers.responses_wire import (
    check_body,
    output_from_events,
    output_from_response,
    request_to_chat,
    response_from_chat,
)
from edgelearn.server import wire
from edgelearn.server.app import JSON, status_for
from edgelearn.server.chat import Call, providers_of

router = APIRouter(tags=["wire"])


def _error_body(message: str, type_: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def _error(exc: EdgelearnError) -> JSON:
    status, type_ = status_for(exc)
    if isinstance(exc, InvalidInput):
        status = 400
    return JSON(_error_body(str(exc), type_, getattr(exc, "field", None)), status_code=status)


def _load(raw: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MalformedJSON(f"malformed JSON: {exc}") from exc
    return check_body(data)


SCHEMA = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "required": ["model", "input"],
    "properties": {"model": {"type": "string"}, "input": {"anyOf": [{"type": "string"}, {"type": "array"}]},
                   "instructions": {"type": "string"}, "stream": {"type": "boolean"},
                   "max_output_tokens": {"type": "integer", "minimum": 1}}}}}}}


@router.post("/v1/responses", summary="OpenAI Responses (Codex), recorded as runs", openapi_extra=SCHEMA)
async def responses(request: Request):
    try:
        data = _load(await request.body())
        body = request_to_chat(data)
        runtime = request.app.state.runtime
        pinned = providers_of(runtime).pinned(data["model"])
        if pinned is not None and pinned.settings.type == "openai" \
                and pinned.provider in runtime.settings.wire.responses.providers:
            return await _passthrough(request, data, body)
        response = await wire.chat(request, body)
    except EdgelearnError as exc:  # nothing ran, nothing is recorded
        return _error(exc)
    headers = wire.edgelearn_headers(response)
    if response.status_code >= 400:
        message, param = wire.error_of(response)
        return JSON(_error_body(message, "invalid_request_error" if response.status_code < 500 else "server_error",
                                param), status_code=response.status_code, headers=headers)
    response_id = f"resp_{headers.get('x-edgelearn-run-id', '')}"
    if not isinstance(response, StreamingResponse):
        return JSON(response_from_chat(wire.parsed(response), response_id, data), headers=headers)
    events = ResponseEvents(response_id, data)
    stream = wire.translated_events(response, events, events.fail, error_ends=True)
    return StreamingResponse(stream, media_type="text/event-stream",
                             headers={**headers, "cache-control": "no-cache"})



def _error_event(message: str) -> bytes:
    failed = {"type": "response.failed", "response": {"status": "failed", "error": {"code": "server_error",
                                                                                   "message": message}}}
    return b"event: response.failed\ndata: " + orjson.dumps(failed) + b"\n\n"


NATIVE = wire.Native("/responses", lambda body: output_from_response(_json(body)), output_from_events,
                     b"response.completed", lambda message: _error_body(message, "provider_error"), _error_event)


def _json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


async def _passthrough(request: Request, data: dict[str, Any], body: dict[str, Any]) -> Response:
    """A provider that serves /v1/responses: the request and the answer as they are."""
    call = Call(request, body)
    await call.resolve()
    assert call.pinned is not None
    return await wire.passthrough(call, lambda: body,
                                  orjson.dumps({**data, "model": call.pinned.model}), NATIVE)
