"""Serving fixtures: GGUF stand-ins for trained artifacts (serve_helpers.py) and the fake Ollama."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import orjson
import pytest

sys.path.insert(0, str(Path(__file__).parent))  # fake_ollama, next to this file

from fake_ollama import FakeOllama
from serve_helpers import copy_gguf, metadata_only_gguf, zero_lora_gguf


@pytest.fixture(scope="session")
def gguf_files(tmp_path_factory, base_gguf) -> dict[str, Path]:
    """Session-wide stand-ins: ``adapter`` (zero LoRA) and metadata-only ``light_base`` and
    ``light_merged`` for tests that never load a model."""
    folder = tmp_path_factory.mktemp("gguf")
    return {"adapter": zero_lora_gguf(folder / "adapter.gguf"),
            "light_base": metadata_only_gguf(base_gguf, folder / "light_base.gguf", "light base"),
            "light_merged": metadata_only_gguf(base_gguf, folder / "light_merged.gguf", "light merged")}


@pytest.fixture(scope="session")
def loadable_merged(tmp_path_factory, base_gguf) -> Path:
    """A merged-GGUF stand-in llama.cpp loads: the base rewritten by the gguf package under another name."""
    return copy_gguf(base_gguf, tmp_path_factory.mktemp("gguf-merged") / "merged.gguf", "edgelearn test merged")


@pytest.fixture
def make_artifacts(request, home, gguf_files, base_gguf):
    """``make_artifacts(job_id, adapter=True, merged=True, loadable=False)``: a training output dir under
    the home. Unless ``loadable``, the merged GGUF and the base named in report.json are metadata-only
    stand-ins (fast to hash and upload; llama.cpp cannot load them)."""
    def make(job_id: str = "job-1", *, adapter: bool = True, merged: bool = True, loadable: bool = False) -> Path:
        folder = home / "artifacts" / job_id
        folder.mkdir(parents=True)
        if adapter:
            os.link(gguf_files["adapter"], folder / "adapter.gguf")
        if merged:  # hard links: no 100 MB copy per test
            source = request.getfixturevalue("loadable_merged") if loadable else gguf_files["light_merged"]
            os.link(source, folder / "merged.gguf")
        base = base_gguf if loadable else gguf_files["light_base"]
        (folder / "report.json").write_bytes(orjson.dumps({"base_model": str(base), "job_id": job_id,
                                                           "dataset_version": "coder-ds1"}))
        return folder

    return make


@pytest.fixture
def fake_ollama(tmp_path):
    """A fake Ollama (version 0.34.1) running on a free loopback port."""
    with FakeOllama(tmp_path / "ollama-blobs", version="0.34.1") as fake:
        yield fake
