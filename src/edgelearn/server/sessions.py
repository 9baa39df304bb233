"""Session endpoints: list and read sessions, and outcome signals and feedback for a whole one."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from edgelearn.errors import InvalidInput
from edgelearn.record.schemas import FeedbackIn, SignalsIn, parse_json
from edgelearn.roles import ROLE_PATTERN
from edgelearn.server.bodies import json_body
from edgelearn.sessions.credit import credit_for
from edgelearn.sessions.examples import best_similar
from edgelearn.sessions.insights import failure_patterns, review_queue
from edgelearn.store.sessions import Outcome

router = APIRouter(tags=["sessions"])


def outcome_body(out: Outcome) -> dict[str, Any]:
    """An outcome's answer: how many runs it covers and which rewards it changed (their
    ``reward.updated`` events hold the old and new values)."""
    return {"session": out.session_id, "signals": out.kinds, "covered": len(out.covered),
            "rescored": len(out.rescored), "rescored_ids": [i for i, _, _ in out.rescored]}


@router.get("/v1/sessions", summary="List sessions, newest first")
async def list_sessions(
    request: Request, project: str | None = None, agent: str | None = None,
    open: bool | None = Query(None, description="true: only open sessions, false: only ended ones"),
    since: float | None = None, until: float | None = None,
    language: str | None = Query(None, description="of the repository's profile, e.g. python"),
    framework: str | None = Query(None, description="of the repository's profile, e.g. fastapi"),
    cursor: int | None = Query(None, ge=0, le=2**63 - 1, description="next_cursor of the previous page"),
    limit: int = Query(50, ge=1, le=1000),
):
    credit = credit_for(request.app.state.runtime)

    def load():
        rows = credit.store.sessions.list(project=project, agent=agent, open=open, since=since, until=until,
                                          before_seq=cursor, language=language, framework=framework, limit=limit)
        return {"sessions": [credit.summary(s) for s in rows],
                "next_cursor": rows[-1].seq if len(rows) == limit else None}

    return await asyncio.to_thread(load)


class SimilarIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    task: str = Field(min_length=1, max_length=20_000)
    role: str = Field("coder", pattern=ROLE_PATTERN)
    k: int = Field(5, ge=1, le=50)
    project: str | None = Field(None, max_length=4096)
    max_distance: float = Field(0.5, gt=0, le=2, description="cosine distance bound of a similar task")


@router.post("/v1/similar", openapi_extra=json_body(SimilarIn),
             summary="The k best-rewarded past runs with a task like this one (in-context examples)")
async def similar(request: Request):
    body = parse_json(SimilarIn, await request.body())
    runs = await asyncio.to_thread(best_similar, request.app.state.runtime.store, body.task, body.role, body.k,
                                   body.project, body.max_distance)
    return {"task": body.task, "runs": runs}


@router.get("/v1/sessions/review", summary="The sessions whose verdict would teach the most (today's budget)")
async def review(request: Request, limit: int = Query(50, ge=1, le=500)):
    rt = request.app.state.runtime
    return await asyncio.to_thread(review_queue, rt.store, rt.settings, credit_for(rt), limit=limit)


@router.get("/v1/sessions/patterns", summary="Failed sessions clustered by task, with their common failing signal")
async def patterns(request: Request):
    rt = request.app.state.runtime
    return await asyncio.to_thread(failure_patterns, rt.store, rt.settings, credit_for(rt))


# after the fixed /v1/sessions/... paths, which this one would match too
@router.get("/v1/sessions/{session_id}", summary="One session: its runs in order, outcome signals, feedback")
async def get_session(session_id: str, request: Request):
    await request.app.state.runtime.recorder.settled()  # the session's streams recorded after their last bytes
    return await asyncio.to_thread(credit_for(request.app.state.runtime).detail, session_id)


@router.post("/v1/sessions/{session_id}/signals", openapi_extra=json_body(SignalsIn),
             summary="Outcome signals for a session (rescores its runs by the credit rule)")
async def add_session_signals(session_id: str, request: Request):
    body = parse_json(SignalsIn, await request.body())
    await request.app.state.runtime.recorder.settled()
    out = await asyncio.to_thread(credit_for(request.app.state.runtime).add_signals, session_id, body.signals,
                                  body.source)
    return outcome_body(out)


@router.post("/v1/sessions/{session_id}/feedback", openapi_extra=json_body(FeedbackIn),
             summary="Human feedback on a whole session")
async def add_session_feedback(session_id: str, request: Request):
    body = parse_json(FeedbackIn, await request.body())
    if body.kind in ("score", "thumbs") and body.value is None:
        raise InvalidInput(f"value: required for kind {body.kind}", field="value")
    await request.app.state.runtime.recorder.settled()
    out = await asyncio.to_thread(credit_for(request.app.state.runtime).add_feedback, session_id, body)
    return outcome_body(out)
