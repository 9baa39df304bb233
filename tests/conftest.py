"""Shared fixtures: a home in tmp_path, a real store, a runtime, and a real server on loopback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from elsupport import LiveServer, start_server, wait_for  # noqa: F401 - re-exported for older imports

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

try:  # raw llama_cpp.Llama objects in tests load like the runtime's: no AMX where it only is advertised
    from edgelearn.cpu import avoid_amx

    avoid_amx()
except ImportError:  # llama-cpp-python not installed: the tests that need it skip
    pass


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """EDGELEARN_HOME pointed at a fresh directory; no EDGELEARN_* variables leak in."""
    for key in list(os.environ):
        if key.startswith("EDGELEARN_"):
            monkeypatch.delenv(key)
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("EDGELEARN_HOME", str(path))
    return path


@pytest.fixture
def settings(home):
    from edgelearn.config import Settings

    return Settings()


@pytest.fixture
def store(home):
    from edgelearn.store import Store

    st = Store(home / "edgelearn.db")
    yield st
    st.close()


@pytest.fixture
def runtime(home):
    from edgelearn.runtime import Runtime

    rt = Runtime(home=home, embed=False)
    yield rt
    rt.stop()


@pytest.fixture
def server(home):
    """A real uvicorn server on loopback running a fresh runtime (no embedder)."""
    from edgelearn.runtime import Runtime

    rt = Runtime(home=home, embed=False)
    live, stop = start_server(rt)
    yield live
    stop()


@pytest.fixture(scope="session")
def base_gguf() -> Path:
    """The bundled base GGUF (SmolLM2-135M-Instruct Q4_1)."""
    from edgelearn.serve.base import default_base_gguf

    return default_base_gguf()


@pytest.fixture(scope="session")
def smol_tokenizer(base_gguf):
    """SmolLM2's tokenizer and chat template, read from the bundled GGUF (a few seconds, once)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(base_gguf.parent, gguf_file=base_gguf.name)
