"""In-context examples: the best-rewarded past runs whose task is like a new one."""

from __future__ import annotations

from typing import Any

OUTPUT_CHARS = 4000


def best_similar(store, task: str, role: str, k: int, project: str | None = None,
                 max_distance: float = 0.5) -> list[dict[str, Any]]:
    """Of the ``4 k`` nearest scored runs of ``role`` by task embedding within ``max_distance``
    (cosine), the ``k`` best rewarded (ties: the nearer first), with their task and output (cut to
    ``OUTPUT_CHARS``). The distance bound keeps a well-rewarded run of another task out."""
    from edgelearn.embed.encode import embed_texts
    from edgelearn.store.runs import pack_vector

    vec = pack_vector(embed_texts([task])[0])
    hits = [(run, d) for run, d in store.runs.similar(vec, role=role, project=project, k=4 * k)
            if run.reward is not None and d <= max_distance]
    hits.sort(key=lambda h: (-h[0].reward, h[1]))
    return [{"id": r.id, "task": r.task, "output": r.output[:OUTPUT_CHARS], "reward": r.reward,
             "distance": round(d, 4), "model": r.model_variant} for r, d in hits[:k]]
