"""Training job endpoints: list, show, cancel (jobs are started by the loop or ``edgelearn train``)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Query, Request

from edgelearn.store.jobs import STATES

router = APIRouter(tags=["jobs"])


def _store(request: Request):
    return request.app.state.runtime.store


@router.get("/v1/jobs", summary="Training jobs, newest first")
async def list_jobs(request: Request, role: str | None = None,
                    state: str | None = Query(None, pattern="^(" + "|".join(STATES) + ")$"),
                    limit: int = Query(50, ge=1, le=1000)):
    from edgelearn.train import list_jobs as _list

    store = _store(request)
    jobs = await asyncio.to_thread(_list, store, role=role, state=state, limit=limit)
    return {"jobs": [j.to_dict() for j in jobs]}


@router.get("/v1/jobs/{job_id}", summary="One job: state, stage, progress, metrics, reason")
async def get_job(job_id: str, request: Request):
    from edgelearn.train import get

    return (await asyncio.to_thread(get, _store(request), job_id)).to_dict()


@router.post("/v1/jobs/{job_id}/cancel", summary="Cancel a queued or running job (waits until it ended)")
async def cancel_job(job_id: str, request: Request):
    from edgelearn.train import cancel

    return (await asyncio.to_thread(cancel, _store(request), job_id)).to_dict()
