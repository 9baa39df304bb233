"""Fixtures of the contract suite (helpers are in api_support.py)."""

from __future__ import annotations

import pytest
from api_support import hash_vectors


@pytest.fixture
def fake_encoder(monkeypatch):
    """On-demand embeddings (``similar`` of an unembedded run) use ``hash_vectors`` too."""
    import edgelearn.embed.encode

    monkeypatch.setattr(edgelearn.embed.encode, "embed_texts", hash_vectors)
    return hash_vectors


@pytest.fixture
def anyio_backend():
    return "asyncio"
