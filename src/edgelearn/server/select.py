"""Bandit endpoints: choose a prompt variant and model for a task, and manage the arms.

``POST /v1/select`` returns a ``run_id``; recording a run with that ``run_id`` (``POST /v1/runs``)
closes the loop: the run's reward, and every later change of it, updates the chosen arms.
"""

from __future__ import annotations

import asyncio
from typing import Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from edgelearn.bandits.report import arm_reports
from edgelearn.errors import InvalidInput
from edgelearn.record.schemas import SelectIn, parse_json
from edgelearn.roles import ROLE_PATTERN
from edgelearn.server.app import hot_route
from edgelearn.server.bodies import json_body

router = APIRouter(tags=["bandits"])


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ArmIn(_Body):
    kind: Literal["prompt", "model"]
    role: str = Field(pattern=ROLE_PATTERN)
    id: str = Field(min_length=1, max_length=200, description="prompt variant id or model id")
    text: str | None = Field(None, max_length=100_000, description="the prompt (prompt arms)")
    notes: str | None = Field(None, max_length=4000)
    backend: str | None = Field(None, max_length=80, description="model arms: embedded, ollama, ...")
    cost_per_1k: float = Field(0.0, ge=0, allow_inf_nan=False)
    name: str | None = Field(None, max_length=200, description="the backend's name for the model")


class ArmPatch(_Body):
    enabled: bool


def _selector(request: Request):
    return request.app.state.runtime.services["selector"]


async def select(runtime, raw: bytes) -> tuple[int, dict]:
    body = parse_json(SelectIn, raw)
    selected = await runtime.services["selector"].aselect(body.role, body.task, body.max_cost_per_1k)
    return 200, selected.to_dict()


@router.post("/v1/select", openapi_extra=json_body(SelectIn), summary="Choose a prompt variant and a model")
async def select_route(request: Request):
    return await hot_route(select, request)


@router.get("/v1/arms", summary="Arms with pulls, mean reward, 95% interval and share of recent traffic")
async def list_arms(request: Request, role: str | None = Query(None, pattern=ROLE_PATTERN),
                    recent: int = Query(1000, ge=1, le=1_000_000)):
    reports = await asyncio.to_thread(arm_reports, request.app.state.runtime.store, role, recent)
    return {"arms": [r.to_dict() for r in reports]}


@router.post("/v1/arms", status_code=201, openapi_extra=json_body(ArmIn), summary="Add a prompt or model arm")
async def add_arm(request: Request):
    body = parse_json(ArmIn, await request.body())
    sel = _selector(request)
    if body.kind == "prompt":
        if body.text is None:
            raise InvalidInput("text: required for a prompt arm", field="text")
        arm = await asyncio.to_thread(sel.add_prompt_arm, body.role, body.id, body.text, body.notes)
    else:
        if body.backend is None:
            raise InvalidInput("backend: required for a model arm", field="backend")
        arm = await asyncio.to_thread(sel.add_model_arm, body.role, body.id, body.backend, body.cost_per_1k,
                                      body.name)
    return {"id": arm.id, "key": arm.key, "enabled": arm.enabled}


@router.patch("/v1/arms/{ref:path}", openapi_extra=json_body(ArmPatch), summary="Enable or disable an arm")
async def patch_arm(ref: str, request: Request):
    body = parse_json(ArmPatch, await request.body())
    arm = await asyncio.to_thread(_selector(request).set_enabled, ref, body.enabled)
    return {"id": arm.id, "key": arm.key, "enabled": arm.enabled}


# (method, path) -> handler that HotRoutes serves before FastAPI's routing (see server/app.py)
HOT = {("POST", "/v1/select"): select}
