"""The local model's confidence on one request, from its rewards on the most similar past tasks.

Routing asks only when the request's cluster is above level 0 (else the teacher answers anyway),
so a role still at level 0 pays no embedding. The nearest tasks come from the runs' embeddings
(sqlite-vec, ``store.runs.similar``); only scored runs of the model that would answer count.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from edgelearn.experiment.independence.signals import request_confidence

NEIGHBOURS = 10
SEARCHED = 40  # nearest runs of the role looked at to find NEIGHBOURS of the local model


def local_confidence(store, role: str, task: str | None, embed: Callable[[str], Sequence[float]],
                     model: str, k: int = NEIGHBOURS) -> float | None:
    """Similarity-weighted mean reward of ``model`` on the ``k`` tasks most like ``task``; None without any."""
    if not task:
        return None
    vector = np.asarray(embed(task), dtype=np.float32).tobytes()
    hits = store.runs.similar(vector, role=role, k=SEARCHED)
    pairs = [(1.0 - distance, run.reward) for run, distance in hits
             if run.model_variant == model and run.reward is not None][:k]
    return request_confidence(pairs)
