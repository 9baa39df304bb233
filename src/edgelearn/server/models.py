"""Registry endpoints: list versions, move them between states, roll back, and serving status."""

from __future__ import annotations

import asyncio
from dataclasses import asdict

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from edgelearn.record.schemas import parse_json
from edgelearn.roles import check_role
from edgelearn.serve.registry import version_view
from edgelearn.server.bodies import json_body

router = APIRouter(tags=["registry"])


class StateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    state: str = Field(pattern=r"^(candidate|challenger|champion|retired|rolled_back)$")
    reason: str = Field("", max_length=2000)


class RollbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=2000)


def _wake_sync(runtime) -> None:
    serving = runtime.services.get("serving")
    if serving is not None:
        serving.sync.wake()


@router.get("/v1/registry", summary="Registered model versions, newest first per role")
async def list_versions(request: Request, role: str | None = None):
    store = request.app.state.runtime.store
    return {"models": await asyncio.to_thread(
        lambda: [version_view(store, v) for v in store.models.list(role=role)])}


@router.get("/v1/registry/{model_id}", summary="One model version")
async def get_version(model_id: str, request: Request):
    store = request.app.state.runtime.store
    return await asyncio.to_thread(lambda: version_view(store, store.models.get(model_id)))


@router.post("/v1/registry/{model_id}/state", openapi_extra=json_body(StateIn), summary="Move a version to another state (champion deploys it)")
async def set_state(model_id: str, request: Request):
    body = parse_json(StateIn, await request.body())
    runtime = request.app.state.runtime
    version = await asyncio.to_thread(runtime.store.models.set_state, model_id, body.state, body.reason)
    _wake_sync(runtime)
    return version_view(runtime.store, version)


@router.post("/v1/registry/roles/{role}/rollback", openapi_extra=json_body(RollbackIn), summary="Roll back the role's champion to the previous one")
async def rollback(role: str, request: Request):
    check_role(role)
    body = parse_json(RollbackIn, await request.body())
    runtime = request.app.state.runtime
    restored = await asyncio.to_thread(runtime.store.models.rollback, role, body.reason)
    _wake_sync(runtime)
    return {"role": role, "champion": restored.id if restored else "base"}


@router.get("/v1/serving", summary="Serving backend, Ollama reachability, loaded models and the sync queue")
async def serving_status(request: Request):
    from edgelearn.serve.ollama import probe

    runtime = request.app.state.runtime
    deploy = runtime.settings.deploy
    serving = runtime.services.get("serving")
    loaded = [{"model_path": m, "lora_path": a} for m, a in serving.engine.loaded_models()] if serving else []
    ollama = await asyncio.to_thread(probe, deploy.ollama_url, 1.0) if deploy.backend != "embedded" else None
    queue = await asyncio.to_thread(runtime.store.models.sync_tasks)
    return {"backend": deploy.backend, "ollama": ollama, "loaded": loaded,
            "queue": [asdict(task) for task in queue]}
