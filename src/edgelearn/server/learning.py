"""Learning endpoints: loop status, events, experiments, manual triggers, rollback, toggles."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from edgelearn.errors import InvalidInput, NotFound
from edgelearn.record.schemas import ModelIn, RoleIn, parse_json
from edgelearn.roles import ROLE_PATTERN, check_role
from edgelearn.server.bodies import json_body

router = APIRouter(tags=["learning"])

TOGGLES = {"auto_export": "export.auto_export", "auto_train": "train.auto_train", "auto_deploy": "deploy.auto_deploy"}


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ToggleIn(_Body):
    name: str = Field(pattern="^(auto_export|auto_train|auto_deploy)$")
    value: bool


def _rt(request: Request):
    return request.app.state.runtime


def _service(request: Request, name: str):
    service = _rt(request).services.get(name)
    if service is None:
        raise NotFound(f"the {name} service is not running in this process")
    return service


@router.get("/v1/learning/status", summary="Stage, thresholds, job, experiments, champions, independence")
async def status(request: Request):
    from edgelearn.loop.status import learning_status

    return await asyncio.to_thread(learning_status, _rt(request))


class PinIn(_Body):
    role: str = Field(pattern=ROLE_PATTERN)
    level: StrictInt = Field(description="0 (teacher only) to 4")
    reason: str = Field("requested over HTTP", max_length=500)


@router.get("/v1/learning/independence",
            summary="Per role with a teacher and per task cluster: level, local share, rewards, escapes, cost saved; "
                    "per role the local share and cost saved per time bucket")
async def independence(request: Request, role: str | None = None,
                       since: float | None = Query(None, allow_inf_nan=False, description="the chart's start (unix time)"),
                       until: float | None = Query(None, allow_inf_nan=False, description="the chart's end (unix time)"),
                       bucket_s: int = Query(3600, ge=60, le=10**9, description="the chart's bucket (seconds)")):
    from edgelearn.experiment.independence.surface import independence_view

    if role is not None:
        check_role(role, field="role")
    rt = _rt(request)
    service = _service(request, "independence")
    return await asyncio.to_thread(independence_view, service, rt.settings, role, since=since, until=until,
                                   bucket_s=bucket_s)


def _body_doc(model: type[BaseModel]) -> dict:
    """The request body of a handler that parses its raw body, for /openapi.json."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": model.model_json_schema()}}}}


@router.post("/v1/learning/independence/pin", openapi_extra=_body_doc(PinIn),
             summary="Pin a role's independence level (every task cluster) until unpinned; an event with the reason")
async def pin_level(request: Request):
    from edgelearn.experiment.independence.surface import pin_level as pin

    body = parse_json(PinIn, await request.body())
    rt = _rt(request)
    await asyncio.to_thread(pin, _service(request, "independence"), rt.settings, body.role, body.level, body.reason)
    return {"role": body.role, "pin": body.level}


@router.post("/v1/learning/independence/unpin", openapi_extra=_body_doc(RoleIn),
             summary="Give a role's independence levels back to the rule")
async def unpin_level(request: Request):
    from edgelearn.experiment.independence.surface import unpin_level as unpin

    body = parse_json(RoleIn, await request.body())
    rt = _rt(request)
    done = await asyncio.to_thread(unpin, _service(request, "independence"), rt.settings, body.role, body.reason)
    return {"role": body.role, "unpinned": done}


@router.get("/v1/events", summary="The event log, newest first (or oldest first after after_id)")
async def events(request: Request, type: str | None = None, role: str | None = None, subject: str | None = None,
                 after_id: int | None = Query(None, ge=0, le=2**63 - 1), before_id: int | None = Query(None, ge=0, le=2**63 - 1),
                 limit: int = Query(100, ge=1, le=1000)):
    evs = await asyncio.to_thread(_rt(request).store.events.list, type=type, role=role, subject=subject,
                                  after_id=after_id, before_id=before_id, limit=limit)
    return {"events": [e.__dict__ for e in evs]}


@router.get("/v1/experiments", summary="Experiments with their per-variant statistics")
async def experiments(request: Request, role: str | None = None, limit: int = Query(50, ge=1, le=500)):
    from edgelearn.experiment.service import experiment_summary

    service = _service(request, "experiments")
    exps = await asyncio.to_thread(_rt(request).store.experiments.list, role, limit)
    return {"experiments": [experiment_summary(service, e) for e in exps]}


@router.post("/v1/learning/trigger", openapi_extra=json_body(RoleIn), summary="Start a learning cycle for a role now (ignores thresholds)")
async def trigger(request: Request):
    body = parse_json(RoleIn, await request.body())
    _service(request, "loop").trigger(body.role, body.reason)
    return {"role": body.role, "triggered": True}


@router.post("/v1/learning/rollback", openapi_extra=json_body(RoleIn), summary="Roll a role's champion back (effective on the next request)")
async def rollback(request: Request):
    body = parse_json(RoleIn, await request.body())
    restored = await asyncio.to_thread(_service(request, "experiments").rollback, body.role, body.reason)
    return {"role": body.role, "serving": restored}


@router.post("/v1/learning/promote", openapi_extra=json_body(ModelIn), summary="Make a model version its role's champion")
async def promote(request: Request):
    body = parse_json(ModelIn, await request.body())
    await asyncio.to_thread(_service(request, "experiments").promote, body.model, body.reason)
    return {"model": body.model, "state": "champion"}


@router.post("/v1/learning/retire", openapi_extra=json_body(ModelIn), summary="Retire a model version")
async def retire(request: Request):
    body = parse_json(ModelIn, await request.body())
    await asyncio.to_thread(_service(request, "experiments").retire, body.model, body.reason)
    return {"model": body.model, "state": "retired"}


@router.get("/v1/config", summary="The effective config")
async def get_config(request: Request):
    rt = _rt(request)
    return {"file": str(rt.config_file), "settings": rt.settings.model_dump()}


@router.post("/v1/config/toggles", openapi_extra=json_body(ToggleIn), summary="Switch auto_export, auto_train or auto_deploy (written to the config file)")
async def set_toggle(request: Request):
    from edgelearn.config_toml import set_config_value

    body = parse_json(ToggleIn, await request.body())
    rt = _rt(request)
    await asyncio.to_thread(set_config_value, rt.config_file, TOGGLES[body.name], body.value)
    if not rt.watcher.reload() and getattr(rt.settings, TOGGLES[body.name].split(".")[0]).model_dump().get(
            body.name) != body.value:
        raise InvalidInput(f"{TOGGLES[body.name]}: the config file did not accept the change", field="name")
    return {"name": body.name, "value": body.value}
