"""OpenAI-compatible gateway: ``POST /v1/chat/completions`` and ``GET /v1/models``.

Any agent that takes a base URL records its runs through this without code changes. A request
for ``<provider>/<model>`` (or a route that lands on one) goes to the user's provider, passed
through faithfully (server/relay.py); any other model is answered locally, tools included, by the
engine. Every call is recorded as a run (server/chat.py says where role and session come from),
and the response carries the run's id in ``x-edgelearn-run-id`` so signals can be attached later
(``POST /v1/runs/{id}/signals``). The id is made before generation, so a stream sends it in its
headers. The run is committed after the answer is produced and before the response ends: right
after the body of a plain answer is built, and before ``data: [DONE]`` of a stream, so a client
that has the whole answer can attach signals at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, AsyncIterator

import orjson
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.responses import StreamingResponse

from edgelearn.errors import BackendUnavailable, EdgelearnError, InvalidInput, NotFound
from edgelearn.record.schemas import describe_validation
from edgelearn.serve.backends import Chunk, GenerateRequest
from edgelearn.serve.providers.record import Output
from edgelearn.serve.routing import DEFAULT_ROLE, ROUTED_PREFIX
from edgelearn.server import escape, relay, shadow
from edgelearn.server.app import JSON, status_for
from edgelearn.server.bodies import json_body
from edgelearn.server.chat import Call, load_body, providers_of

log = logging.getLogger(__name__)
router = APIRouter(tags=["proxy"])

ROLES = {"system", "user", "assistant", "tool", "developer"}


class _Loose(BaseModel):
    # OpenAI clients send fields a local model does not implement (logprobs, ...): they are
    # ignored, as llama.cpp's server and Ollama's compatibility layer do
    model_config = ConfigDict(extra="ignore")


class StreamOptions(_Loose):
    include_usage: bool = False


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="allow")  # tool_calls, tool_call_id, name: kept for the model
    role: str
    content: str | list[dict[str, Any]] | None = None


class ChatCompletionIn(_Loose):
    """What a local model takes (a provider gets the body as sent, unvalidated here)."""

    model: str = Field(min_length=1, max_length=200)
    messages: list[ChatMessageIn] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    n: int = Field(1, ge=1, le=1, description="only 1 is supported by local models")
    user: str | None = Field(None, max_length=200)
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None


def _messages(body: ChatCompletionIn) -> list[dict[str, Any]]:
    """The messages for a local model: OpenAI form, text parts joined, ``developer`` as ``system``."""
    out = []
    for i, message in enumerate(body.messages):
        if message.role not in ROLES:
            raise InvalidInput(f"messages.{i}.role: {message.role!r} is not one of {', '.join(sorted(ROLES))}",
                               field=f"messages.{i}.role")
        content = message.content
        if isinstance(content, list):
            if any(part.get("type") != "text" for part in content):
                raise InvalidInput(f"messages.{i}.content: local models take text parts only (images need a "
                                   "provider model, <provider>/<model>)", field=f"messages.{i}.content")
            content = "".join(str(part.get("text", "")) for part in content)
        converted = message.model_dump(exclude_none=True)
        converted["role"] = "system" if message.role == "developer" else message.role
        converted["content"] = content
        out.append(converted)
    return out


def _error(exc: EdgelearnError, headers: dict[str, str]) -> JSON:
    return JSON(_error_body(exc), status_code=status_for(exc)[0], headers=headers)


def _error_body(exc: EdgelearnError) -> dict[str, Any]:
    """OpenAI's error shape; ``code`` is ``model_not_found`` for an unknown model, else the type."""
    _, type_ = status_for(exc)
    field = getattr(exc, "field", None)
    code = "model_not_found" if isinstance(exc, NotFound) else type_
    return {"error": {"message": str(exc), "type": type_, "param": field, "code": code}}


class _Local:
    """A call answered by a local model through the engine."""

    def __init__(self, call: Call) -> None:
        runtime = call.runtime
        serving = runtime.services.get("serving")
        if serving is None:
            raise BackendUnavailable("serving is not installed in this runtime")
        self.call = call
        self.engine = serving.engine
        try:  # the body is parsed already: validated as it is, not written out and read again
            self.body = body = ChatCompletionIn.model_validate(call.data)
        except ValidationError as exc:
            raise describe_validation(exc) from exc
        self.messages = call.apply_prompt(_messages(body))
        deploy = runtime.settings.deploy
        stop = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
        sampling = {k: v for k, v in (("temperature", body.temperature), ("top_p", body.top_p)) if v is not None}
        self.request = GenerateRequest(
            messages=self.messages, max_tokens=body.max_completion_tokens or body.max_tokens or deploy.max_tokens,
            stop=stop, seed=body.seed, tools=body.tools, tool_choice=body.tool_choice, **sampling)
        self.served = self.engine.resolve(call.route.model_id)

    async def record(self, output: Output, status: str = "ok", error: str | None = None) -> None:
        await self.call.record(self.messages, output, backend=self.served.backend.name, status=status,
                               error=error, backend_ms=self.served.backend_ms, inline=not self.call.stream)

    def chunk(self, delta: dict[str, Any], finish: str | None = None, usage: Any = None) -> bytes:
        call = self.call
        data: dict[str, Any] = {"id": f"chatcmpl-{call.run_id}", "object": "chat.completion.chunk",
                                "created": call.created, "model": call.route.model_id,
                                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
        if usage is not None:
            data["choices"], data["usage"] = [], usage
        return b"data: " + orjson.dumps(data) + b"\n\n"


def _output(text: str, calls: list[dict[str, Any]], last: Chunk | None) -> Output:
    out = Output(text=text, tool_calls=calls, finish_reason=last.finish_reason if last else None)
    if last is not None and last.usage is not None:
        out.tokens_in, out.tokens_out = last.usage.prompt_tokens, last.usage.completion_tokens
    return out


def _usage(last: Chunk) -> dict[str, int]:
    assert last.usage is not None
    p, c = last.usage.prompt_tokens, last.usage.completion_tokens
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


@router.post("/v1/chat/completions", openapi_extra=json_body(ChatCompletionIn), summary="OpenAI-compatible chat completions (recorded as runs)")
async def chat_completions(request: Request):
    return await answer(request, load_body(await request.body()))


async def answer(request, data: dict[str, Any]):
    """``data``, a chat completions request (``chat.checked``), routed, answered and recorded: the
    handler of ``POST /v1/chat/completions``, and of the other wire APIs' translated requests.
    ``request`` gives the app and the headers."""
    try:
        call = Call(request, data)
        await call.resolve()
        if call.pinned is not None:
            response = await relay.forward(call)
            if shadow.wanted(call):
                shadow.start(call)
            return response
        local = _Local(call)
    except EdgelearnError as exc:  # an unknown model or a bad header: nothing ran, nothing is recorded
        return _error(exc, {})
    body = local.body
    if not body.stream:
        try:
            text, last = await local.engine.acomplete(local.served, local.request)
        except EdgelearnError as exc:
            if teacher := escape.escapable(call):
                return await escape.to_teacher(call, teacher, local.messages, Output(), f"the local model failed: {exc}",
                                               backend=local.served.backend.name, backend_ms=None, scored=False)
            await local.record(Output(), status="error", error=str(exc))
            return _error(exc, call.headers)
        calls = list(last.tool_calls)
        teacher = escape.escapable(call)
        failed = teacher and escape.failed_check(text, calls, last.finish_reason, body.tools)
        if failed:
            return await escape.to_teacher(call, teacher, local.messages, _output(text, calls, last), failed,
                                           backend=local.served.backend.name, backend_ms=local.served.backend_ms)
        await local.record(_output(text, calls, last))
        message: dict[str, Any] = {"role": "assistant", "content": text if text or not calls else None}
        if calls:
            message["tool_calls"] = calls
        return JSON({"id": f"chatcmpl-{call.run_id}", "object": "chat.completion", "created": call.created,
                     "model": call.route.model_id,
                     "choices": [{"index": 0, "message": message, "logprobs": None,
                                  "finish_reason": last.finish_reason}],
                     "usage": _usage(last)}, headers=call.headers)
    chunks = local.engine.astream(local.served, local.request)
    teacher = escape.escapable(call)
    try:
        held = [await anext(chunks)]  # an error before the first token still gets a proper status code
        while teacher and not escape.ready(held):  # an escapable stream is held back until it can be checked
            nxt = await anext(chunks, None)
            if nxt is None:
                break
            held.append(nxt)
    except EdgelearnError as exc:
        await chunks.aclose()
        if teacher:
            return await escape.to_teacher(call, teacher, local.messages, Output(), f"the local model failed: {exc}",
                                           backend=local.served.backend.name, backend_ms=None, scored=False)
        await local.record(Output(), status="error", error=str(exc))
        return _error(exc, call.headers)
    call.first_token_at = time.perf_counter()
    if teacher:
        last = next((c for c in held if c.finish_reason is not None), None)
        text, calls = "".join(c.text for c in held), [tc for c in held for tc in c.tool_calls]
        failed = escape.failed_check(text, calls, last.finish_reason if last else None, body.tools,
                                     complete=last is not None)
        if failed:
            await chunks.aclose()
            return await escape.to_teacher(call, teacher, local.messages, _output(text, calls, last), failed,
                                           backend=local.served.backend.name, backend_ms=local.served.backend_ms)
    return StreamingResponse(_sse(local, held, chunks), media_type="text/event-stream",
                             headers={**call.headers, "cache-control": "no-cache"})


async def _sse(local: _Local, held: list[Chunk], chunks: AsyncIterator[Chunk]) -> AsyncIterator[bytes]:
    parts: list[str] = []
    calls: list[dict[str, Any]] = []
    last: Chunk | None = None
    status, error = "cancelled", None
    try:
        yield local.chunk({"role": "assistant", "content": ""})
        waiting = iter(held)
        chunk: Chunk | None = next(waiting)
        while chunk is not None:
            if chunk.text:
                parts.append(chunk.text)
                yield local.chunk({"content": chunk.text})
            for call in chunk.tool_calls:  # whole calls, one fragment each
                yield local.chunk({"tool_calls": [{"index": len(calls), **call}]})
                calls.append(call)
            if chunk.finish_reason is not None:
                last = chunk
            chunk = next(waiting, None) or await anext(chunks, None)
        yield local.chunk({}, finish=last.finish_reason if last else "stop")
        options = local.body.stream_options
        if options is not None and options.include_usage and last is not None:
            yield local.chunk({}, usage=_usage(last))
        status = "ok"
        local.call.record_later(local.record(_output("".join(parts), calls, last)))
        yield b"data: [DONE]\n\n"
    except EdgelearnError as exc:
        status, error = "error", str(exc)
        yield b"data: " + orjson.dumps(_error_body(exc)) + b"\n\n"
    finally:
        await chunks.aclose()
        if status != "ok":
            # the client went away or the backend failed mid-stream: keep what was produced, without
            # holding a cancelled response open for the commit
            local.call.record_later(local.record(_output("".join(parts), calls, last), status=status, error=error))


@router.get("/v1/models", summary="Models the proxy serves (OpenAI format)")
async def list_models(request: Request):
    runtime = request.app.state.runtime
    models = runtime.store.models

    def load() -> list[dict[str, Any]]:
        roles = sorted(set(models.roles()) | {DEFAULT_ROLE})
        entries = [{"id": f"{ROUTED_PREFIX}{role}", "object": "model", "created": 0, "owned_by": "edgelearn",
                    "edgelearn": {"kind": "routed", "role": role}} for role in roles]
        entries.append({"id": "base", "object": "model", "created": 0, "owned_by": "edgelearn",
                        "edgelearn": {"kind": "base"}})
        for version in models.list():
            entries.append({"id": version.id, "object": "model", "created": int(version.created_at),
                            "owned_by": "edgelearn",
                            "edgelearn": {"kind": "version", "role": version.role, "state": version.state}})
        return entries

    entries = await asyncio.to_thread(load)
    for provider, model in await providers_of(runtime).models():
        entries.append({"id": f"{provider}/{model}", "object": "model", "created": 0, "owned_by": provider,
                        "edgelearn": {"kind": "provider", "provider": provider}})
    return {"object": "list", "data": entries}
