"""Helpers of the contract suite (import as ``from api_support import ...``: conftest names collide)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

DIM = 384


def hash_vectors(texts) -> np.ndarray:
    """Deterministic unit vectors: the first word of a task picks a direction, the rest adds a little noise.

    Tasks that start alike are near each other; the real model (all-MiniLM-L6-v2) is never loaded."""
    out = np.empty((len(texts), DIM), dtype=np.float32)
    for i, text in enumerate(texts):
        seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
        v = np.random.default_rng(seed).normal(0, 0.1, DIM)
        v[sum(text.split(" ")[0].encode()) % DIM] += 1.0
        out[i] = v / np.linalg.norm(v)
    return out


def embed_all(store) -> int:
    """Embed every run not embedded yet, in this thread, with ``hash_vectors``."""
    from edgelearn.embed.embedder import Embedder

    return Embedder(store, encode=hash_vectors).run_once()


def register_model(store, home: Path, role: str, n: int) -> str:
    """A registered candidate version of ``role`` (artifacts with the GGUF magic only; nothing loads them)."""
    base = home / "base.gguf"
    if not base.exists():
        base.write_bytes(b"GGUF" + b"\0" * 60)
    artifacts = home / "artifacts" / f"job-{role}-{n}"
    artifacts.mkdir(parents=True, exist_ok=True)
    (artifacts / "adapter.gguf").write_bytes(b"GGUF" + bytes([n]) * 60)
    from edgelearn.serve.registry import register

    return register(store, role, artifacts, job_id=f"job-{role}-{n}", dataset_version=f"{role}-ds{n}",
                    metrics={"eval": 0.5 + n / 10}, base_path=base, home=home)
