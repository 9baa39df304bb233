"""Hook endpoints: record runs, attach signals and feedback, list, search and summarize."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import APIRouter, Query, Request

from edgelearn.embed import search
from edgelearn.errors import InvalidInput
from edgelearn.record.schemas import FeedbackIn, RecordBatchIn, RecordIn, SignalsIn, parse_json
from edgelearn.server.app import JSON, hot_route
from edgelearn.server.bodies import json_body

router = APIRouter(tags=["runs"])


def _rt(request: Request):
    return request.app.state.runtime


async def record(runtime, body: bytes) -> tuple[int, dict[str, Any]]:
    rec = parse_json(RecordIn, body)
    run_id, reward = await runtime.recorder.arecord(rec)
    return 201, {"id": run_id, "reward": reward}


@router.post("/v1/runs", status_code=201, openapi_extra=json_body(RecordIn),
             summary="Record a run (acknowledged after its commit)")
async def record_run(request: Request):
    return await hot_route(record, request)


@router.post("/v1/runs/batch", status_code=201, openapi_extra=json_body(RecordBatchIn),
             summary="Record many runs in one transaction (all or nothing)")
async def record_batch(request: Request):
    batch = parse_json(RecordBatchIn, await request.body())
    results = await _rt(request).recorder.arecord_many(batch.runs)
    return JSON({"ids": [r[0] for r in results], "rewards": [r[1] for r in results], "count": len(results)},
                status_code=201)


@router.post("/v1/runs/{run_id}/signals", openapi_extra=json_body(SignalsIn), summary="Attach late signals")
async def add_signals(run_id: str, request: Request):
    body = parse_json(SignalsIn, await request.body())
    await _rt(request).recorder.settled(run_id)  # a stream's run is recorded after its last bytes
    old, new = await asyncio.to_thread(_rt(request).recorder.add_signals, run_id, body.signals, body.source)
    return {"id": run_id, "reward": new, "previous_reward": old}


@router.post("/v1/runs/{run_id}/feedback", openapi_extra=json_body(FeedbackIn), summary="Human feedback")
async def add_feedback(run_id: str, request: Request):
    body = parse_json(FeedbackIn, await request.body())
    if body.kind in ("score", "thumbs") and body.value is None:
        raise InvalidInput(f"value: required for kind {body.kind}", field="value")
    await _rt(request).recorder.settled(run_id)
    old, new = await asyncio.to_thread(_rt(request).recorder.add_feedback, body, run_id)
    return {"id": run_id, "reward": new, "previous_reward": old}


@router.get("/v1/runs", summary="List runs, newest first")
async def list_runs(
    request: Request, role: str | None = None, project: str | None = None, model: str | None = None,
    prompt: str | None = None, status: str | None = None, session: str | None = None,
    min_reward: float | None = None, max_reward: float | None = None, since: float | None = None,
    until: float | None = None, cursor: int | None = Query(None, ge=0, le=2**63 - 1, description="next_cursor of the previous page"),
    limit: int = Query(50, ge=1, le=1000),
):
    store = _rt(request).store
    await _rt(request).recorder.settled()
    runs = await asyncio.to_thread(
        store.runs.list, role=role, project=project, model=model, prompt=prompt, status=status, session=session,
        min_reward=min_reward, max_reward=max_reward, since=since, until=until, before_seq=cursor, limit=limit)
    return {"runs": [r.to_dict() for r in runs],
            "next_cursor": runs[-1].seq if len(runs) == limit else None}


@router.get("/v1/runs/{run_id}", summary="One run with its signals and feedback")
async def get_run(run_id: str, request: Request):
    store = _rt(request).store
    await _rt(request).recorder.settled(run_id)

    def load():
        run = store.runs.get(run_id)
        return {**run.to_dict(), "signals": store.runs.signals(run_id), "feedback": store.runs.feedback(run_id)}

    return await asyncio.to_thread(load)


@router.get("/v1/runs/{run_id}/similar", summary="Runs with the most similar task (same role)")
async def similar_runs(run_id: str, request: Request, k: int = Query(10, ge=1, le=100),
                       project: str | None = None):
    rt = _rt(request)
    await rt.recorder.settled(run_id)
    result = await asyncio.to_thread(search.similar_runs, rt.store, run_id, k, project)
    return {"id": run_id, "similar": result}


@router.get("/v1/stats", summary="Counts and reward by model, prompt, role and over time")
async def stats(request: Request, since: float | None = None, hours: float | None = None,
                bucket_s: int = Query(3600, ge=60, le=2**63 - 1)):  # SQLite integers are 64-bit
    if hours is not None:
        since = time.time() - hours * 3600
    return await asyncio.to_thread(_rt(request).store.runs.stats, since=since, bucket_s=bucket_s)


# (method, path) -> handler that HotRoutes serves before FastAPI's routing (see server/app.py)
HOT = {("POST", "/v1/runs"): record}
