"""One call to ``POST /v1/chat/completions``: who asked (role, session, project), which model answers
(routing, a provider pin), the prompt variant a role opted into, and its recording as a run.

Role comes from ``edgelearn/<role>``, then ``x-edgelearn-role``, then the registry or the default;
session from ``x-edgelearn-session``, then ``X-Claude-Code-Session-Id``, then the body's ``user``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import orjson

from edgelearn.errors import EdgelearnError, InvalidInput, MalformedJSON
from edgelearn.record.recorder import new_run_id
from edgelearn.record.schemas import Message, RecordIn
from edgelearn.roles import check_role
from edgelearn.serve.base import local_context
from edgelearn.serve.providers.record import Output, last_user_text, recorded_messages
from edgelearn.serve.providers.registry import Pinned, Providers
from edgelearn.serve.routing import Route, Teaching, aroute, fits_locally
from edgelearn.store.arms import ArmsRepo

log = logging.getLogger(__name__)

# request fields kept beside the messages, tools and output as the call's parameters
_NOT_PARAMS = frozenset({"model", "messages", "tools", "tool_choice"})


def providers_of(runtime) -> Providers:
    """The runtime's "providers" service, made on first use."""
    service = runtime.services.get("providers")
    if service is None:
        service = Providers(lambda: runtime.settings)
        runtime.add_service("providers", service)
    return service


def load_body(raw: bytes) -> dict[str, Any]:
    """The request body as a JSON object with a ``model`` and a non-empty ``messages`` list."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MalformedJSON(f"malformed JSON: {exc}") from exc
    return checked(data)


def checked(data: Any) -> dict[str, Any]:
    """``data`` when it is a chat completions request: an object with a ``model`` and a non-empty
    ``messages`` list (raises ``InvalidInput`` naming the field)."""
    if not isinstance(data, dict):
        raise InvalidInput("the body must be a JSON object")
    model = data.get("model")
    if not isinstance(model, str) or not 1 <= len(model) <= 200:
        raise InvalidInput("model: a model id of 1 to 200 characters is required", field="model")
    messages = data.get("messages")
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        raise InvalidInput("messages: a non-empty list of message objects is required", field="messages")
    return data


_pending: set[asyncio.Task] = set()


def keep(coroutine) -> None:
    """Run ``coroutine`` in a task of its own, outside a cancelled scope where every await would raise."""
    task = asyncio.get_running_loop().create_task(coroutine)
    _pending.add(task)  # the loop keeps only weak references to tasks
    task.add_done_callback(_pending.discard)


class Call:
    """One proxied call: what was asked, where it goes, and its recording."""

    def __init__(self, request, data: dict[str, Any]) -> None:
        self.started = time.perf_counter()
        self.runtime = request.app.state.runtime
        self.data = data
        self.stream = bool(data.get("stream"))
        headers = request.headers
        user = data.get("user") if isinstance(data.get("user"), str) else None
        sources = (("x-edgelearn-session", headers.get("x-edgelearn-session")),
                   ("x-claude-code-session-id", headers.get("x-claude-code-session-id")), ("user", user))
        session_from, self.session = next(((k, v) for k, v in sources if v), (None, None))
        self.project = headers.get("x-edgelearn-project")
        self.role_hint = headers.get("x-edgelearn-role")
        if self.role_hint is not None:
            check_role(self.role_hint, field="x-edgelearn-role")
        for name, value in ((session_from, self.session), ("x-edgelearn-project", self.project)):
            if value is not None and len(value) > 200:
                raise InvalidInput(f"{name}: longer than 200 characters (the session id)"
                                   if name == session_from else f"{name}: longer than 200 characters", field=name)
        self.task = last_user_text(data["messages"])
        self.prompt_applied = False
        self.first_token_at: float | None = None
        self.created = int(time.time())
        self.pinned: Pinned | None = None

    async def resolve(self) -> None:
        """Route the request (raises ``NotFound`` naming an unknown model or provider)."""
        runtime = self.runtime
        self.providers = providers_of(runtime)
        settings = runtime.settings
        teachers = {role: r.teacher for role, r in settings.roles.items() if r.teacher}
        teaching = Teaching(teachers, lambda: fits_locally(self.data, local_context(settings),
                                                           settings.deploy.max_tokens)) if teachers else None
        self.route: Route = await aroute(self.data["model"], services=runtime.services, models=runtime.store.models,
                                         role_hint=self.role_hint, session=self.session, task=self.task,
                                         providers=self.providers.configured, teaching=teaching)
        self.run_id = self.route.run_id or new_run_id()
        self.pinned = self.providers.pinned(self.route.model_id)

    def prompt_variant(self) -> str | None:
        """The selected prompt variant's text, when the role opted in (``[roles.<role>]``)."""
        if not self.route.prompt_id:
            return None
        role = self.runtime.settings.roles.get(self.route.role)
        if role is None or not role.apply_prompt_variants:
            return None
        try:
            text = self.runtime.store.arms.resolve(f"{self.route.role}/prompt/{self.route.prompt_id}").text
        except EdgelearnError:
            log.warning("prompt variant %s/%s chosen by the selector is unknown", self.route.role, self.route.prompt_id)
            return None
        return text or None

    def apply_prompt(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``messages`` with the opted-in prompt variant opening the system message (a copy)."""
        text = self.prompt_variant()
        if text is None:
            return messages
        self.prompt_applied = True
        first = messages[0] if messages else None
        if first is not None and first.get("role") in ("system", "developer") and isinstance(first.get("content"), str):
            return [{**first, "content": f"{text}\n\n{first['content']}"}, *messages[1:]]
        return [{"role": "system", "content": text}, *messages]

    @property
    def headers(self) -> dict[str, str]:
        out = {"x-edgelearn-run-id": self.run_id, "x-edgelearn-model": self.route.model_id,
               "x-edgelearn-route": self.route.source}
        if self.pinned is not None:
            out["x-edgelearn-provider"] = self.pinned.provider
        return out

    def record_later(self, recording) -> None:
        """``recording`` (a coroutine that records this call) in a task of its own, after the answer's
        last bytes (``Recorder.later``): also where the client went away, under a cancelled scope."""
        self.runtime.recorder.later(self.run_id, recording)

    async def record(self, messages: list[dict[str, Any]] | None, output: Output, *, backend: str,
                     status: str = "ok", error: str | None = None, cost: float | None = None,
                     extra: dict[str, Any] | None = None, backend_ms: float | None = None,
                     signals: dict[str, Any] | None = None, inline: bool = True) -> None:
        """Store the call as a run; a failure here is logged, never turned into a failed answer.

        Returns once the run is committed. ``inline``: a small run may commit on the event loop's
        thread (no thread hand-off: a plain answer waits for it); otherwise the writer thread commits
        it, grouped with whatever else is queued, while the loop serves other requests (a stream is
        recorded after its last bytes, through ``record_later``)."""
        latency_ms = (time.perf_counter() - self.started) * 1000
        proxy: dict[str, Any] = {
            "requested_model": self.data["model"], "route": self.route.source, "backend": backend,
            "finish_reason": output.finish_reason, "stream": self.stream, "prompt_applied": self.prompt_applied,
            "backend_ms": _ms(backend_ms),
            "ttft_ms": _ms((self.first_token_at - self.started) * 1000 if self.first_token_at else None)}
        proxy.update(extra or {})
        chat: dict[str, Any] = {"output": output.message(),
                                "params": {k: v for k, v in self.data.items() if k not in _NOT_PARAMS}}
        for name in ("tools", "tool_choice"):
            if self.data.get(name) is not None:
                chat[name] = self.data[name]
        metadata: dict[str, Any] = {"proxy": proxy, "chat": chat}
        if self.route.independence is not None:
            metadata["independence"] = self.route.independence
        if error:
            metadata["error"] = error
        try:
            if self.route.prompt_id and self.route.run_id and not self.prompt_applied:
                # the selector chose a prompt the model never saw: the run must not credit its arm
                run_id = self.route.run_id
                await self.runtime.store.awrite(lambda c: ArmsRepo.drop_prompt_in(c, run_id), inline=True)
            stored = recorded_messages(messages) or []
            rec = RecordIn(role=self.route.role, output=output.text, task=self.task, model=self.route.model_id,
                           prompt=self.route.prompt_id if self.prompt_applied else None,
                           input=[Message(**m) for m in stored], session=self.session, project=self.project,
                           latency_ms=latency_ms, status=status, tokens_in=output.tokens_in,
                           tokens_out=output.tokens_out, cost=cost, metadata=metadata, run_id=self.route.run_id,
                           signals=signals or {})
            # a long agent prompt is redacted on a worker thread: the event loop keeps serving meanwhile
            await self.runtime.recorder.arecord(rec, run_id=self.run_id, inline=inline)
        except Exception:
            log.exception("recording proxied run %s failed", self.run_id)


def _ms(value: float | None) -> float | None:
    return round(value, 3) if value is not None else None
