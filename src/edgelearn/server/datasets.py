"""Dataset endpoints: curate a dataset now, list datasets, show one with its rejection report."""

from __future__ import annotations

import asyncio
from typing import Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from edgelearn.curate import export_dataset
from edgelearn.record.schemas import parse_json
from edgelearn.roles import ROLE_PATTERN
from edgelearn.server.bodies import json_body

router = APIRouter(tags=["datasets"])


class DatasetIn(BaseModel):
    """Body of ``POST /v1/datasets``: the role, and optional overrides for this export only."""

    model_config = ConfigDict(extra="forbid")
    role: str = Field(pattern=ROLE_PATTERN, description="role whose runs become the dataset")
    format: Literal["messages", "alpaca", "completion"] | None = Field(None, description="default: export.format")
    max_examples: int | None = Field(None, ge=1, description="default: export.max_examples")


def _rt(request: Request):
    return request.app.state.runtime


@router.post("/v1/datasets", status_code=201, summary="Curate a dataset of a role now",
             openapi_extra=json_body(DatasetIn))
async def create_dataset(request: Request):
    body = parse_json(DatasetIn, await request.body())
    rt = _rt(request)
    dataset = await asyncio.to_thread(export_dataset, rt.store, rt.settings, rt.home, body.role,
                                      format=body.format, max_examples=body.max_examples)
    return dataset.to_dict(manifest=False)


@router.get("/v1/datasets", summary="Curated datasets, newest first")
async def list_datasets(request: Request, role: str | None = None, limit: int = Query(100, ge=1, le=1000)):
    datasets = await asyncio.to_thread(_rt(request).store.datasets.list, role, limit)
    return {"datasets": [d.to_dict(manifest=False) for d in datasets]}


@router.get("/v1/datasets/{version}", summary="One dataset with its manifest")
async def get_dataset(version: str, request: Request):
    dataset = await asyncio.to_thread(_rt(request).store.datasets.get, version)
    return dataset.to_dict()
