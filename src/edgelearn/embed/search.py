"""Similar past runs by task embedding (sqlite-vec), for the API and in-context examples."""

from __future__ import annotations

from typing import Any

from edgelearn.embed.encode import embed_texts, task_text
from edgelearn.store.runs import pack_vector


def similar_runs(store, run_id: str, k: int, project: str | None = None) -> list[dict[str, Any]]:
    """Top-k runs by task embedding; embeds the run now if the background embedder has not yet."""
    hit = store.runs.embedding(run_id)
    if hit is None:
        run = store.runs.get(run_id)  # NotFound for unknown ids
        vec = pack_vector(embed_texts([task_text(run.task, run.input if isinstance(run.input, str) else None)])[0])
        seq, role = run.seq, run.role
    else:
        seq, role, vec = hit
    pairs = store.runs.similar(vec, role=role, project=project, k=k, exclude_seq=seq)
    return [{"id": r.id, "distance": d, "task": r.task, "reward": r.reward, "model": r.model_variant,
             "project": r.project} for r, d in pairs]
