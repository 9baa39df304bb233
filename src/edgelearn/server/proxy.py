"""OpenAI-compatible proxy: ``POST /v1/chat/completions`` and ``GET /v1/models``.

Any agent that takes a base URL records its runs through this without code changes. Every call
is recorded as a run (role from ``edgelearn/<role>``, the ``x-edgelearn-role`` header or the
registry; session from ``user`` or ``x-edgelearn-session``), and the response carries the run's id
in ``x-edgelearn-run-id`` so signals can be attached later (``POST /v1/runs/{id}/signals``). The
id is made before generation, so a stream sends it in its headers. The run is committed after the
answer is produced and before the response ends: right after the body of a plain answer is built,
and between the last chunk and ``data: [DONE]`` of a stream, so a client that has the whole answer
can attach signals at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, AsyncIterator

import orjson
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import StreamingResponse

from edgelearn.errors import BackendUnavailable, EdgelearnError, InvalidInput, NotFound
from edgelearn.record.recorder import new_run_id
from edgelearn.record.schemas import Message, RecordIn, parse_json
from edgelearn.roles import check_role
from edgelearn.serve.backends import Chunk, GenerateRequest
from edgelearn.serve.routing import DEFAULT_ROLE, ROUTED_PREFIX, Route, aroute
from edgelearn.server.app import JSON, status_for

log = logging.getLogger(__name__)
router = APIRouter(tags=["proxy"])
_pending: set[asyncio.Task] = set()

ROLES = {"system", "user", "assistant", "tool", "developer"}


class _Loose(BaseModel):
    # OpenAI clients send fields this proxy does not implement (tools, logprobs, ...): they are
    # ignored, as llama.cpp's server and Ollama's compatibility layer do
    model_config = ConfigDict(extra="ignore")


class StreamOptions(_Loose):
    include_usage: bool = False


class ChatMessageIn(_Loose):
    role: str
    content: str | list[dict[str, Any]] | None = None


class ChatCompletionIn(_Loose):
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
    n: int = Field(1, ge=1, le=1, description="only 1 is supported")
    user: str | None = Field(None, max_length=200)


def _messages(body: ChatCompletionIn) -> list[dict[str, str]]:
    out = []
    for i, message in enumerate(body.messages):
        if message.role not in ROLES:
            raise InvalidInput(f"messages.{i}.role: {message.role!r} is not one of {', '.join(sorted(ROLES))}",
                               field=f"messages.{i}.role")
        content = message.content
        if isinstance(content, list):
            if any(part.get("type") != "text" for part in content):
                raise InvalidInput(f"messages.{i}.content: only text parts are supported",
                                   field=f"messages.{i}.content")
            content = "".join(str(part.get("text", "")) for part in content)
        out.append({"role": "system" if message.role == "developer" else message.role, "content": content or ""})
    return out


def _error(exc: EdgelearnError, headers: dict[str, str]) -> JSON:
    return JSON(_error_body(exc), status_code=status_for(exc)[0], headers=headers)


def _error_body(exc: EdgelearnError) -> dict[str, Any]:
    """OpenAI's error shape; ``code`` is ``model_not_found`` for an unknown model, else the type."""
    _, type_ = status_for(exc)
    field = getattr(exc, "field", None)
    code = "model_not_found" if isinstance(exc, NotFound) else type_
    return {"error": {"message": str(exc), "type": type_, "param": field, "code": code}}


class _Call:
    """One proxied call: what was asked, where it went, and its recording."""

    def __init__(self, request: Request, body: ChatCompletionIn) -> None:
        self.started = time.perf_counter()
        self.runtime = request.app.state.runtime
        serving = self.runtime.services.get("serving")
        if serving is None:
            raise BackendUnavailable("serving is not installed in this runtime")
        self.engine = serving.engine
        self.body = body
        self.messages = _messages(body)
        self.task = next((m["content"] for m in reversed(self.messages) if m["role"] == "user"), None)
        headers = request.headers
        self.session = body.user or headers.get("x-edgelearn-session")
        self.project = headers.get("x-edgelearn-project")
        self.role_hint = headers.get("x-edgelearn-role")
        if self.role_hint is not None:
            check_role(self.role_hint, field="x-edgelearn-role")
        for name, value in (("x-edgelearn-session", self.session), ("x-edgelearn-project", self.project)):
            if value is not None and len(value) > 200:
                raise InvalidInput(f"{name}: longer than 200 characters", field=name)
        self.prompt_applied = False
        self.first_token_at: float | None = None
        self.created = int(time.time())

    async def resolve(self) -> None:
        """Route the request, apply a selected prompt variant, and find the backend (raises what fails)."""
        runtime, body = self.runtime, self.body
        self.route: Route = await aroute(body.model, services=runtime.services, models=runtime.store.models,
                                         role_hint=self.role_hint, session=self.session, task=self.task)
        self.run_id = self.route.run_id or new_run_id()
        if self.route.prompt_id:
            self._apply_prompt(self.route.prompt_id)
        deploy = runtime.settings.deploy
        stop = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
        sampling = {k: v for k, v in (("temperature", body.temperature), ("top_p", body.top_p)) if v is not None}
        self.request = GenerateRequest(
            messages=self.messages, max_tokens=body.max_completion_tokens or body.max_tokens or deploy.max_tokens,
            stop=stop, seed=body.seed, **sampling)
        self.served = self.engine.resolve(self.route.model_id)

    def _apply_prompt(self, prompt_id: str) -> None:
        # the selection credits this prompt variant with the run's reward, so the model must see it:
        # its text opens the system message (the agent's own system message, if any, follows it)
        try:
            text = self.runtime.store.arms.resolve(f"{self.route.role}/prompt/{prompt_id}").text
        except EdgelearnError:
            log.warning("prompt variant %s/%s chosen by the selector is unknown", self.route.role, prompt_id)
            return
        if not text:
            return
        if self.messages and self.messages[0]["role"] == "system":
            self.messages[0] = {"role": "system", "content": f"{text}\n\n{self.messages[0]['content']}"}
        else:
            self.messages.insert(0, {"role": "system", "content": text})
        self.prompt_applied = True

    @property
    def headers(self) -> dict[str, str]:
        return {"x-edgelearn-run-id": self.run_id, "x-edgelearn-model": self.route.model_id,
                "x-edgelearn-route": self.route.source}

    async def record(self, output: str, last: Chunk | None, status: str = "ok", error: str | None = None) -> None:
        """Store the call as a run; a failure here is logged, never turned into a failed answer."""
        latency_ms = (time.perf_counter() - self.started) * 1000
        metadata: dict[str, Any] = {"proxy": {
            "requested_model": self.body.model, "route": self.route.source, "backend": self.served.backend.name,
            "finish_reason": last.finish_reason if last else None, "stream": self.body.stream,
            "prompt_applied": self.prompt_applied, "backend_ms": _ms(self.served.backend_ms),
            "ttft_ms": _ms((self.first_token_at - self.started) * 1000 if self.first_token_at else None)}}
        if error:
            metadata["error"] = error
        try:
            rec = RecordIn(role=self.route.role, output=output, task=self.task, model=self.route.model_id,
                           prompt=self.route.prompt_id, input=[Message(**m) for m in self.messages],
                           session=self.session, project=self.project, latency_ms=latency_ms, status=status,
                           tokens_in=last.usage.prompt_tokens if last and last.usage else None,
                           tokens_out=last.usage.completion_tokens if last and last.usage else None,
                           metadata=metadata, run_id=self.route.run_id)
            # a long agent prompt is redacted on a worker thread: the event loop keeps serving meanwhile
            await self.runtime.recorder.arecord(rec, run_id=self.run_id)
        except Exception:
            log.exception("recording proxied run %s failed", self.run_id)

    def chunk(self, delta: dict[str, Any], finish: str | None = None, usage: Any = None) -> bytes:
        data: dict[str, Any] = {"id": f"chatcmpl-{self.run_id}", "object": "chat.completion.chunk",
                                "created": self.created, "model": self.route.model_id,
                                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
        if usage is not None:
            data["choices"], data["usage"] = [], usage
        return b"data: " + orjson.dumps(data) + b"\n\n"


def _ms(value: float | None) -> float | None:
    return round(value, 3) if value is not None else None


def _usage(last: Chunk) -> dict[str, int]:
    assert last.usage is not None
    p, c = last.usage.prompt_tokens, last.usage.completion_tokens
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


@router.post("/v1/chat/completions", summary="OpenAI-compatible chat completions (recorded as runs)")
async def chat_completions(request: Request):
    body = parse_json(ChatCompletionIn, await request.body())
    try:
        call = _Call(request, body)
        await call.resolve()
    except EdgelearnError as exc:  # an unknown model or a bad header: nothing ran, nothing is recorded
        return _error(exc, {})
    if not body.stream:
        try:
            text, last = await call.engine.acomplete(call.served, call.request)
        except EdgelearnError as exc:
            await call.record("", None, status="error", error=str(exc))
            return _error(exc, call.headers)
        await call.record(text, last)
        return JSON({"id": f"chatcmpl-{call.run_id}", "object": "chat.completion", "created": call.created,
                     "model": call.route.model_id,
                     "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                  "logprobs": None, "finish_reason": last.finish_reason}],
                     "usage": _usage(last)}, headers=call.headers)
    chunks = call.engine.astream(call.served, call.request)
    try:
        first = await anext(chunks)  # an error before the first token still gets a proper status code
    except EdgelearnError as exc:
        await call.record("", None, status="error", error=str(exc))
        return _error(exc, call.headers)
    call.first_token_at = time.perf_counter()
    return StreamingResponse(_sse(call, first, chunks), media_type="text/event-stream",
                             headers={**call.headers, "cache-control": "no-cache"})


async def _sse(call: _Call, first: Chunk, chunks: AsyncIterator[Chunk]) -> AsyncIterator[bytes]:
    parts: list[str] = []
    last: Chunk | None = None
    status, error = "cancelled", None
    try:
        yield call.chunk({"role": "assistant", "content": ""})
        chunk: Chunk | None = first
        while chunk is not None:
            if chunk.text:
                parts.append(chunk.text)
                yield call.chunk({"content": chunk.text})
            if chunk.finish_reason is not None:
                last = chunk
            chunk = await anext(chunks, None)
        yield call.chunk({}, finish=last.finish_reason if last else "stop")
        options = call.body.stream_options
        if options is not None and options.include_usage and last is not None:
            yield call.chunk({}, usage=_usage(last))
        status = "ok"
        await call.record("".join(parts), last)
        yield b"data: [DONE]\n\n"
    except EdgelearnError as exc:
        status, error = "error", str(exc)
        yield b"data: " + orjson.dumps(_error_body(exc)) + b"\n\n"
    finally:
        await chunks.aclose()
        if status != "ok":
            # the client went away or the backend failed mid-stream: keep what was produced, without
            # holding a cancelled response open for the commit
            task = asyncio.get_running_loop().create_task(
                call.record("".join(parts), last, status=status, error=error))
            _pending.add(task)  # the loop keeps only weak references to tasks
            task.add_done_callback(_pending.discard)


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

    return {"object": "list", "data": await asyncio.to_thread(load)}
