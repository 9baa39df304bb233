"""Legacy completions: ``POST /v1/completions``, for editor autocomplete (fill-in-the-middle).

A raw ``prompt`` goes to the model untouched, FIM control tokens included (they are tokenized as
special tokens). ``suffix`` is built into the base model's own FIM format, read from its GGUF
(serve/providers/fim.py); a model without one gets a 400 naming ``suffix``. Completion runs have a
role of their own (``[wire.completions] role``, default ``autocomplete``) unless the model
(``edgelearn/<role>``) or ``x-edgelearn-role`` names one, so datasets keep them apart from chat runs.
The run keeps the prompt the model saw as one user message. An OpenAI-type provider gets the body
as it is, on its ``/completions``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, AsyncIterator

import orjson
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import StreamingResponse

from edgelearn.errors import BackendUnavailable, EdgelearnError, InvalidInput
from edgelearn.record.schemas import parse_json
from edgelearn.roles import check_role
from edgelearn.serve.backends import Chunk, GenerateRequest
from edgelearn.serve.providers.fim import fim_format
from edgelearn.serve.providers.record import Output, sse_objects
from edgelearn.server import wire
from edgelearn.server.app import JSON, status_for
from edgelearn.server.bodies import json_body
from edgelearn.server.chat import Call

router = APIRouter(tags=["wire"])


class CompletionIn(BaseModel):
    """What a local model takes (other OpenAI fields are ignored, as llama.cpp's server does)."""

    model_config = ConfigDict(extra="ignore")
    model: str = Field(min_length=1, max_length=200)
    prompt: str | list[str]
    suffix: str | None = None
    max_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    stop: str | list[str] | None = None
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    seed: int | None = None
    n: int = Field(1, ge=1, le=1, description="only 1 is supported")
    echo: bool = Field(False, description="not supported (false only)")
    user: str | None = Field(None, max_length=200)


def _error(exc: EdgelearnError, headers: dict[str, str] | None = None) -> JSON:
    status, type_ = status_for(exc)
    if isinstance(exc, InvalidInput):
        status = 400
    field = getattr(exc, "field", None)
    return JSON({"error": {"message": str(exc), "type": type_, "param": field, "code": None}}, status_code=status,
                headers=headers or {})


def _prompt(body: CompletionIn) -> str:
    prompt = body.prompt
    if isinstance(prompt, list):
        if len(prompt) != 1:
            raise InvalidInput("prompt: one prompt per request (a list of exactly one string)", field="prompt")
        prompt = prompt[0]
    if body.echo:
        raise InvalidInput("echo: not supported", field="echo")
    return prompt


@router.post("/v1/completions", summary="OpenAI completions (autocomplete, fill-in-the-middle), recorded as runs",
             openapi_extra=json_body(CompletionIn))
async def completions(request: Request):
    raw = await request.body()
    try:
        body = parse_json(CompletionIn, raw)
        prompt = _prompt(body)
        params = body.model_dump(exclude_none=True, exclude={"model", "prompt"})
        call = Call(request, {"model": body.model, "messages": [{"role": "user", "content": prompt}], **params})
        if call.role_hint is None:
            call.role_hint = check_role(request.app.state.runtime.settings.wire.completions.role,
                                        field="wire.completions.role")
        await call.resolve()
        if call.pinned is not None:
            return await _passthrough(call, raw, prompt)
        local = await _Local.open(call, body, prompt)
    except EdgelearnError as exc:  # nothing ran, nothing is recorded
        return _error(exc)
    if not body.stream:
        try:
            text, last = await local.engine.acomplete(local.served, local.request)
        except EdgelearnError as exc:
            await local.record(Output(), status="error", error=str(exc))
            return _error(exc, call.headers)
        await local.record(_output(text, last))
        return JSON({"id": local.id, "object": "text_completion", "created": call.created, "model": call.route.model_id,
                     "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": last.finish_reason}],
                     "usage": _usage(last)}, headers=call.headers)
    chunks = local.engine.astream(local.served, local.request)
    try:
        first = await anext(chunks)
    except EdgelearnError as exc:
        await local.record(Output(), status="error", error=str(exc))
        return _error(exc, call.headers)
    call.first_token_at = time.perf_counter()
    return StreamingResponse(_sse(local, body, first, chunks), media_type="text/event-stream",
                             headers={**call.headers, "cache-control": "no-cache"})


class _Local:
    """A completion answered by a local model."""

    def __init__(self, call: Call, served, request: GenerateRequest) -> None:
        self.call, self.served, self.request = call, served, request
        self.engine = call.runtime.services["serving"].engine
        self.id = f"cmpl-{call.run_id}"
        self.messages = [{"role": "user", "content": request.prompt}]

    @classmethod
    async def open(cls, call: Call, body: CompletionIn, prompt: str) -> _Local:
        serving = call.runtime.services.get("serving")
        if serving is None:
            raise BackendUnavailable("serving is not installed in this runtime")
        served = serving.engine.resolve(call.route.model_id)
        if body.suffix is not None:
            path = await asyncio.to_thread(_gguf_of, call, served)
            fim = await asyncio.to_thread(fim_format, path) if path else None
            if fim is None:
                what = f"{path.rsplit('/', 1)[-1]} has" if path else "an Ollama model has"
                raise InvalidInput(f"suffix: {call.route.model_id} has no fill-in-the-middle tokens in its tokenizer "
                                   f"({what} none); send a raw FIM prompt, or serve a code model with FIM "
                                   "(e.g. Qwen2.5-Coder)", field="suffix")
            prompt = fim.build(prompt, body.suffix)
        deploy = call.runtime.settings.deploy
        stop = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
        sampling = {k: v for k, v in (("temperature", body.temperature), ("top_p", body.top_p)) if v is not None}
        request = GenerateRequest(prompt=prompt, max_tokens=body.max_tokens or deploy.max_tokens, stop=stop,
                                  seed=body.seed, **sampling)
        return cls(call, served, request)

    async def record(self, output: Output, status: str = "ok", error: str | None = None) -> None:
        await self.call.record(self.messages, output, backend=self.served.backend.name, status=status, error=error,
                               backend_ms=self.served.backend_ms)

    def chunk(self, text: str, finish: str | None = None) -> bytes:
        data = {"id": self.id, "object": "text_completion", "created": self.call.created,
                "model": self.call.route.model_id,
                "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": finish}]}
        return b"data: " + orjson.dumps(data) + b"\n\n"


def _gguf_of(call: Call, served) -> str | None:
    """The GGUF whose tokenizer answers (a version Ollama serves has its files in the registry too)."""
    if served.target.model_path:
        return served.target.model_path
    if served.model_id.startswith(("ollama/", "external/")):
        return None
    version = call.runtime.store.models.get(served.model_id)
    return version.merged_path or version.base_path or None


def _output(text: str, last: Chunk | None) -> Output:
    out = Output(text=text, finish_reason=last.finish_reason if last else None)
    if last is not None and last.usage is not None:
        out.tokens_in, out.tokens_out = last.usage.prompt_tokens, last.usage.completion_tokens
    return out


def _usage(last: Chunk) -> dict[str, int]:
    assert last.usage is not None
    p, c = last.usage.prompt_tokens, last.usage.completion_tokens
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


async def _sse(local: _Local, body: CompletionIn, first: Chunk, chunks: AsyncIterator[Chunk]) -> AsyncIterator[bytes]:
    parts: list[str] = []
    last: Chunk | None = None
    status, error = "cancelled", None
    try:
        chunk: Chunk | None = first
        while chunk is not None:
            if chunk.text:
                parts.append(chunk.text)
                yield local.chunk(chunk.text)
            if chunk.finish_reason is not None:
                last = chunk
            chunk = await anext(chunks, None)
        yield local.chunk("", last.finish_reason if last else "stop")
        if (body.stream_options or {}).get("include_usage") and last is not None:
            data = {"id": local.id, "object": "text_completion", "created": local.call.created,
                    "model": local.call.route.model_id, "choices": [], "usage": _usage(last)}
            yield b"data: " + orjson.dumps(data) + b"\n\n"
        status = "ok"
        local.call.record_later(local.record(_output("".join(parts), last)))
        yield b"data: [DONE]\n\n"
    except EdgelearnError as exc:
        status, error = "error", str(exc)
        yield b"data: " + orjson.dumps({"error": {"message": str(exc), "type": status_for(exc)[1]}}) + b"\n\n"
    finally:
        await chunks.aclose()
        if status != "ok":  # the client went away or the model failed: keep what was produced
            local.call.record_later(local.record(_output("".join(parts), last), status=status, error=error))


# -- a provider's own /completions ------------------------------------------------------------------
def _plain_output(content: bytes) -> Output:
    try:
        body = orjson.loads(content)
        choice = body["choices"][0]
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
        return Output()
    out = Output(text=choice.get("text") or "", finish_reason=choice.get("finish_reason"), model=body.get("model"))
    out.take_usage(body.get("usage"))
    return out


def _stream_output(raw: bytes) -> Output:
    out = Output()
    for data in sse_objects(raw):
        out.take_usage(data.get("usage"))
        for choice in data.get("choices") or ():
            if isinstance(choice, dict) and choice.get("index", 0) == 0:
                out.text += choice.get("text") or ""
                out.finish_reason = choice.get("finish_reason") or out.finish_reason
    return out


def _error_body(message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "provider_error", "param": None, "code": None}}


NATIVE = wire.Native("/completions", _plain_output, _stream_output, b"[DONE]", _error_body,
                     lambda message: b"data: " + orjson.dumps(_error_body(message)) + b"\n\n")


async def _passthrough(call: Call, raw: bytes, prompt: str):
    pinned = call.pinned
    if pinned.settings.type != "openai":
        raise InvalidInput(f"model: provider {pinned.provider!r} is {pinned.settings.type}-type, which has no "
                           "completions endpoint; use a local model or an OpenAI-type provider", field="model")
    data = orjson.loads(raw)
    recorded = call.data
    return await wire.passthrough(call, lambda: recorded,
                                  orjson.dumps({**data, "model": pinned.model}), NATIVE)
