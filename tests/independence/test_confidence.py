"""Per-request confidence from the local model's rewards on the most similar past tasks (sqlite-vec)."""

from __future__ import annotations

import numpy as np
import pytest

from edgelearn.config import Settings
from edgelearn.experiment.independence.levels import IndependenceConfig
from edgelearn.experiment.independence.service import IndependenceService
from edgelearn.record.recorder import Recorder
from edgelearn.record.schemas import RecordIn
from edgelearn.store.runs import pack_vector

DIM = 384


def axis(i: int, tilt: float = 0.0) -> np.ndarray:
    v = np.zeros(DIM, dtype=np.float32)
    v[i], v[(i + 1) % DIM] = 1.0, tilt
    return v / np.linalg.norm(v)


def embed(text: str) -> np.ndarray:
    return axis(0, 0.1) if "csv" in text else axis(5, 0.1)


@pytest.fixture
def svc(store):
    recorder = Recorder(store, lambda: Settings())
    rows = [("parse a csv", "base", True), ("read csv rows", "base", True), ("csv header", "base", True),
            ("sort a list", "base", False), ("sort in place", "base", False),
            ("sort by key", "up/big", True)]  # the teacher's runs say nothing about the local model
    items = []
    for i, (task, model, good) in enumerate(rows):
        run_id, _ = recorder.record(RecordIn(role="coder", task=task, output="x", model=model,
                                             signals={"compile": good}))
        vec = axis(0, 0.01 * i) if "csv" in task else axis(5, 0.01 * i)
        items.append((store.runs.get(run_id).seq, "coder", None, pack_vector(vec.tolist())))
    store.write(lambda conn: store.runs.store_embeddings_in(conn, items))
    service = IndependenceService(store, IndependenceConfig(shares=(1.0, 1.0, 1.0, 1.0), shadow_share=0.0))
    service.embed = embed
    return service


def test_confidence_is_the_local_models_reward_on_similar_tasks(svc):
    svc.pin("coder", 2)
    assert svc.confidence("coder", None, "split a csv line") == pytest.approx(1.0)
    assert svc.confidence("coder", None, "sort numbers") == pytest.approx(0.0)
    choice = svc.decide("coder", None, None, True, svc.confidence("coder", None, "sort numbers"))
    assert choice.target == "teacher" and "confidence 0.00" in choice.reason
    assert svc.decide("coder", None, None, True, svc.confidence("coder", None, "csv again")).local


def test_no_confidence_at_level_0_or_without_an_embedder_or_a_task(svc):
    calls = []
    svc.embed = lambda text: calls.append(text) or embed(text)
    assert svc.confidence("coder", None, "split a csv line") is None and calls == []  # level 0: not asked
    svc.pin("coder", 1)
    assert svc.confidence("coder", None, "") is None
    assert svc.confidence("writer", None, "split a csv line") is None  # level 0 for that role
    svc.embed = None
    assert svc.confidence("coder", None, "split a csv line") is None


def test_a_request_fits_locally_when_its_estimated_prompt_and_max_tokens_fit_the_context():
    from edgelearn.serve.routing import fits_locally

    small = {"messages": [{"role": "user", "content": "x" * 300}]}
    assert fits_locally(small, n_ctx=400, default_max_tokens=256)  # ~110 + 256 tokens
    assert not fits_locally({**small, "max_tokens": 300}, n_ctx=400, default_max_tokens=256)
    tools = [{"type": "function", "function": {"name": "t", "description": "d" * 900}}]
    assert not fits_locally({**small, "tools": tools}, n_ctx=400, default_max_tokens=64)  # tools count too
    assert fits_locally({**small, "max_completion_tokens": 10, "max_tokens": 999}, n_ctx=200, default_max_tokens=256)
