"""Loop fixtures: runtimes with chosen settings, runs recorded through the real recorder, model
versions registered from stand-in GGUF files, and task embeddings without the embedding model.

Nothing here trains or loads a model: the fast loop tests drive the chain, the triggers and the
experiments service around those steps (tests/loop/test_loop_e2e.py runs the real thing).
"""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path

import numpy as np
import orjson
import pytest

from edgelearn.config import Settings
from edgelearn.record.schemas import RecordIn
from edgelearn.runtime import Runtime
from edgelearn.serve import registry
from edgelearn.serve.backends import FakeBackend


def loop_settings(**sections: dict) -> Settings:
    """Default settings with some keys of some sections replaced, e.g. ``export={"min_runs": 5}``."""
    data = Settings().model_dump()
    for section, values in sections.items():
        data[section].update(values)
    return Settings.model_validate(data)


@pytest.fixture
def make_runtime(home):
    """``make_runtime(**sections)``: a runtime over the test home with ``loop_settings(**sections)``,
    not started (tests call ``tick()`` themselves), every backend replaced by ``FakeBackend``
    (warming a challenger loads nothing). Stopped at teardown."""
    made: list[Runtime] = []

    def make(**sections: dict) -> Runtime:
        rt = Runtime(loop_settings(**sections), home=home, config_file=home / "edgelearn.toml", embed=False)
        rt.services["serving"].engine.use_backend(FakeBackend())
        made.append(rt)
        return rt

    yield make
    for rt in reversed(made):
        loop = rt.services.get("loop")
        if loop is not None and loop._thread is not None:
            loop.stop()
        rt.stop()


@pytest.fixture
def record():
    """``record(runtime, rewards, role=..., model=..., **fields)``: one run per reward (the ``tests``
    signal as a pass ratio, so the reward is exactly that number), each with its own task and
    output, other ``RecordIn`` fields as given, committed in one batch in order; returns their ids."""
    counter = itertools.count()

    def add(runtime, rewards, *, role: str = "coder", model: str | None = None, **fields) -> list[str]:
        recs = []
        for reward in rewards:
            n = next(counter)
            recs.append(RecordIn(role=role, task=f"task {n}: write function number {n}", model=model,
                                 output=f"def function_{n}():\n    return {n}", signals={"tests": reward}, **fields))
        return [run_id for run_id, _ in runtime.recorder.record_many(recs)]

    return add


def _hash_vectors(texts) -> np.ndarray:
    """Unit vectors drawn from each text's hash: distinct tasks are near-orthogonal, never duplicates."""
    out = np.empty((len(texts), 384), dtype=np.float32)
    for i, text in enumerate(texts):
        seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
        v = np.random.default_rng(seed).standard_normal(384)
        out[i] = v / np.linalg.norm(v)
    return out


@pytest.fixture
def fake_embeddings(monkeypatch):
    """Curation embeds tasks with hash vectors instead of loading all-MiniLM-L6-v2."""
    import edgelearn.embed.encode

    monkeypatch.setattr(edgelearn.embed.encode, "embed_texts", _hash_vectors)


def write_artifacts(folder: Path, base: Path) -> Path:
    """A training output stand-in: ``adapter.gguf`` and a report naming ``base`` (only the GGUF
    magic is checked at registration; nothing here can be loaded)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "adapter.gguf").write_bytes(b"GGUF" + hashlib.sha256(str(folder).encode()).digest())
    (folder / "report.json").write_bytes(orjson.dumps({"base_model": str(base)}))
    return folder


@pytest.fixture
def stand_in_base(tmp_path) -> Path:
    path = tmp_path / "stand-in-base.gguf"
    path.write_bytes(b"GGUF stand-in base")
    return path


@pytest.fixture
def artifacts(stand_in_base):
    """``artifacts(folder)``: write a training output stand-in there (see ``write_artifacts``)."""
    return lambda folder: write_artifacts(folder, stand_in_base)


@pytest.fixture
def register_model(tmp_path, stand_in_base):
    """``register_model(runtime, role="coder", state=None)``: a registered version (a candidate,
    or moved to ``state``) made of stand-in files; returns its id."""
    counter = itertools.count(1)

    def register(runtime, role: str = "coder", state: str | None = None) -> str:
        folder = write_artifacts(tmp_path / "outputs" / f"{role}-{next(counter)}", stand_in_base)
        model_id = registry.register(runtime.store, role, folder, home=runtime.home)
        if state is not None:
            runtime.store.models.set_state(model_id, state, "set up by the test")
        return model_id

    return register
