"""The escape hatch of a local answer routed by the independence levels (docs/independence.md).

When a local answer fails a cheap check (a tool call whose arguments do not parse or that names a
tool the request did not offer, a tool call written as text, an empty answer, one cut off at
``max_tokens``), the local answer is recorded as a failed run of the local model (``status``
``error``, signal ``compile: false``, so its reward is 0 and the level rule sees it like any other
local failure), the session moves to the teacher, and the same request is answered by the teacher
under a new run id. A local backend that fails before anything was sent escapes the same way,
its run recorded without a reward. A stream can only escape while nothing was sent: the proxy holds a local
stream back until :func:`ready` says a check can be made.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any, Sequence

import orjson
from starlette.responses import Response

from edgelearn.record.recorder import new_run_id
from edgelearn.serve.backends import Chunk
from edgelearn.serve.providers.record import Output
from edgelearn.serve.routing import escape_route
from edgelearn.server import relay
from edgelearn.server.chat import Call

# a tool call the model wrote as text instead of one the backend parsed (Hermes/Qwen tags, bare JSON)
_TEXT_CALL = re.compile(r'^\s*(```(json)?\s*)?(<tool_call>|\{\s*"(name|function|tool)"\s*:)')
CHECK_CHARS = 8  # characters of text (stripped) a held stream needs: enough for _TEXT_CALL to decide


def escapable(call: Call) -> str | None:
    """The teacher to escape to, when this call was sent to the local model by the independence scheduler."""
    mark = call.route.independence
    if mark is None or mark.get("side") != "local":
        return None
    role = call.runtime.settings.roles.get(call.route.role)
    return role.teacher if role is not None else None


def _offered(tools: Sequence[dict[str, Any]] | None) -> set[str]:
    names = set()
    for tool in tools or []:
        fn = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(fn, dict) and isinstance(fn.get("name"), str):
            names.add(fn["name"])
    return names


def failed_check(text: str, calls: Sequence[dict[str, Any]], finish_reason: str | None,
                 tools: Sequence[dict[str, Any]] | None, *, complete: bool = True) -> str | None:
    """Why a local answer (or the start of a stream, ``complete=False``) fails the cheap check; None when it passes."""
    offered = _offered(tools)
    for c in calls:
        fn = c.get("function") if isinstance(c.get("function"), dict) else {}
        name = fn.get("name")
        if name not in offered:
            return f"the tool call names {name!r}, a tool that was not offered"
        try:
            args = orjson.loads(fn.get("arguments") or "{}")
        except orjson.JSONDecodeError:
            return f"the arguments of the tool call {name!r} are not JSON"
        if not isinstance(args, dict):
            return f"the arguments of the tool call {name!r} are not a JSON object"
    if offered and not calls and _TEXT_CALL.match(text or ""):
        return "a tool call written as text that did not parse into a call"
    if finish_reason == "length":
        return "the answer was cut off at max_tokens"
    if complete and not calls and not (text or "").strip():
        return "the answer is empty"
    return None


def ready(held: Sequence[Chunk]) -> bool:
    """Whether a held-back local stream can be checked: a tool call, enough text, or its end."""
    if any(c.tool_calls or c.finish_reason is not None for c in held):
        return True
    return len("".join(c.text for c in held).strip()) >= CHECK_CHARS


async def to_teacher(call: Call, teacher: str, messages: list[dict[str, Any]], local: Output, reason: str, *,
                     backend: str, backend_ms: float | None, scored: bool = True) -> Response:
    """Record the failed local answer, move the session to the teacher and answer from the teacher.

    ``scored``: the answer failed the check (reward 0); False for a backend that failed to answer
    at all (no reward: it says nothing about the model's quality, e.g. a prompt the context
    estimate let through), which still counts as an escape.
    """
    await call.record(messages, local, backend=backend, status="error", error=f"escape hatch: {reason}",
                      backend_ms=backend_ms, signals={"compile": False} if scored else None,
                      extra={"escaped": reason})
    local_run = call.run_id
    route = escape_route(call.runtime.services, call.route, teacher, call.session, reason)
    call.route = replace(route, independence={**(route.independence or {}), "local_run": local_run})
    call.run_id = new_run_id()
    call.pinned = call.providers.pinned(teacher)
    call.first_token_at = None
    return await relay.forward(call)
