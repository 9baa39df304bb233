"""Tool-learning fixtures: the base tokenizer and its GGUF."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def base_gguf():
    from edgelearn.train.base import default_base_path

    return default_base_path()


@pytest.fixture(scope="session")
def tokenizer(base_gguf):
    """SmolLM2's tokenizer and chat template, read from the bundled GGUF."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(base_gguf.parent, gguf_file=base_gguf.name)
