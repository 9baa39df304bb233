"""``POST /v1/hooks/{agent}``: each agent's own hook payload turned into session signals.

Claude Code reads an HTTP hook's JSON answer as hook output (``decision``, ``continue``, ...),
so it gets ``{}`` and what edgelearn did goes in the ``x-edgelearn-hook`` header (ASCII JSON); Cline's hook
script prints the answer back to Cline, which reads ``cancel``.
"""

from __future__ import annotations

import asyncio
import json

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from edgelearn.record.schemas import parse_json
from edgelearn.server.app import JSON
from edgelearn.server.bodies import json_body
from edgelearn.sessions.hooks import handle
from edgelearn.sessions.survival import score_commit

router = APIRouter(tags=["sessions"])


class GitCommitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    repo: str = Field(min_length=1, max_length=4096, description="the repository's path")
    commit: str | None = Field(None, max_length=64, description="the commit (default HEAD)")


@router.post("/v1/hooks/git", openapi_extra=json_body(GitCommitIn), summary="(the post-commit hook) score the session's edits that survive into a commit")
async def git_commit(request: Request):
    body = parse_json(GitCommitIn, await request.body())
    await request.app.state.runtime.recorder.settled()  # streams are recorded after their last bytes
    return await asyncio.to_thread(score_commit, request.app.state.runtime, body.repo, body.commit)


# each agent's own hook payload, as it sends it (read by edgelearn.sessions.agents)
AGENT_PAYLOAD = {"type": "object", "additionalProperties": True,
                 "description": "the agent's hook payload as sent: Claude Code's (hook_event_name, session_id, ...), "
                                "Codex's notify, Cline's or Continue's"}


# after /v1/hooks/git, which this path would match too
@router.post("/v1/hooks/{agent}", openapi_extra=json_body(AGENT_PAYLOAD), summary="An agent's hook payload (claude-code, codex, cline, continue)")
async def agent_hook(agent: str, request: Request):
    body = await request.body()
    await request.app.state.runtime.recorder.settled()  # the turn's streams, recorded after their last bytes
    result = await asyncio.to_thread(handle, request.app.state.runtime, agent, body)
    if agent == "claude-code":
        return JSON({}, headers={"x-edgelearn-hook": json.dumps(result, default=str)})
    if agent == "cline":
        return {"cancel": False, "edgelearn": result}
    return result

