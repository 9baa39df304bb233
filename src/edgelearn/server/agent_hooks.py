"""``POST /v1/hooks/{agent}``: each agent's own hook payload turned into session signals.

Claude Code reads an HTTP hook's JSON answer as hook output (``decision``, ``continue``, ...),
so it gets ``{}`` and what edgelearn did goes in the ``x-edgelearn-hook`` header (ASCII JSON); Cline's hook
script prints the answer back to Cline, which reads ``cancel``.
"""

from __future__ import annotations

import asyncio
import json

from fastapi import APIRouter, Request

from edgelearn.server.app import JSON
from edgelearn.sessions.hooks import handle

router = APIRouter(tags=["sessions"])


@router.post("/v1/hooks/{agent}", summary="An agent's hook payload (claude-code, codex, cline, continue)")
async def agent_hook(agent: str, request: Request):
    body = await request.body()
    result = await asyncio.to_thread(handle, request.app.state.runtime, agent, body)
    if agent == "claude-code":
        return JSON({}, headers={"x-edgelearn-hook": json.dumps(result, default=str)})
    if agent == "cline":
        return {"cancel": False, "edgelearn": result}
    return result
