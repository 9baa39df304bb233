"""What the sessions teach the user: the review queue and the failure patterns.

**Review queue** (active learning: the sessions whose human verdict would teach the loop the
most). Candidates are sessions with runs and no verdict. Each gets

    score = 0.5 · uncertainty + 0.25 · diversity + 0.25 · failure

    uncertainty  the larger of: how near its reward r is to the export threshold t
                 (1 − |r − t| / 0.5, floored at 0), and how much its signals disagree (the
                 spread, max − min, of its latest outcome values); 1 when it has no reward
    diversity    1 / (1 + verdicts already given in its task cluster); sessions without task
                 embeddings count as a cluster of their own
    failure      1 − r (0.5 when it has no reward)

and the queue offers at most ``sessions.review_budget`` a day, less the verdicts given today.

**Failure patterns**: sessions whose reward is below ``sessions.failure_below``, clustered by
task (the mean embedding of their runs' tasks; greedy, cosine similarity ≥ ``similarity`` to a
cluster's first member). Each cluster: its size, an example task, and its most common failing
signal (the kind whose latest outcome is below 0.5 in most of its sessions).
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import numpy as np

W_UNCERTAINTY, W_DIVERSITY, W_FAILURE = 0.5, 0.25, 0.25


def _mean_vector(blobs: list[bytes]) -> np.ndarray | None:
    if not blobs:
        return None
    v = np.mean([np.frombuffer(b, dtype=np.float32) for b in blobs], axis=0)
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else None


def cluster(vectors: dict[str, np.ndarray], similarity: float) -> dict[str, int]:
    """Greedy clusters in the given order: each id joins the first cluster whose first member's
    vector has cosine similarity ≥ ``similarity`` with its own, else starts one."""
    heads: list[np.ndarray] = []
    out: dict[str, int] = {}
    for sid, v in vectors.items():
        for i, h in enumerate(heads):
            if float(np.dot(h, v)) >= similarity:
                out[sid] = i
                break
        else:
            out[sid] = len(heads)
            heads.append(v)
    return out


def _day_start(now: float) -> float:
    t = time.localtime(now)
    return time.mktime((t.tm_year, t.tm_mon, t.tm_mday, 0, 0, 0, 0, 0, -1))


def review_queue(store, settings, credit, *, now: float | None = None, limit: int = 50,
                 similarity: float = 0.8) -> dict[str, Any]:
    """The sessions to judge next, best first, within today's budget."""
    now = time.time() if now is None else now
    budget = settings.sessions.review_budget
    left = max(0, budget - store.sessions.verdicts_since(_day_start(now)))
    candidates = store.sessions.review_candidates()
    judged = store.sessions.judged()
    vecs_raw = store.sessions.run_vectors([s.id for s in candidates] + judged)
    vectors = {sid: v for sid in judged + [s.id for s in candidates]
               if (v := _mean_vector(vecs_raw.get(sid, []))) is not None}
    clusters = cluster(vectors, similarity)
    verdicts = Counter(clusters[sid] for sid in judged if sid in clusters)
    threshold = settings.export.min_reward
    items = []
    for s in candidates:
        r = credit.session_reward(s.outcomes)
        values = list(s.outcomes.values())
        spread = max(values) - min(values) if len(values) > 1 else 0.0
        near = 1.0 if r is None else max(0.0, 1.0 - abs(r - threshold) / 0.5)
        uncertainty = max(near, spread)
        diversity = 1.0 / (1.0 + verdicts[clusters[s.id]]) if s.id in clusters else 1.0
        failure = 0.5 if r is None else 1.0 - r
        score = W_UNCERTAINTY * uncertainty + W_DIVERSITY * diversity + W_FAILURE * failure
        items.append({"id": s.id, "score": round(score, 4), "reward": r, "uncertainty": round(uncertainty, 4),
                      "diversity": round(diversity, 4), "failure": round(failure, 4), "runs": s.runs,
                      "agent": s.agent, "project": s.project, "task": store.sessions.first_task(s.id)})
    items.sort(key=lambda x: (-x["score"], x["id"]))
    return {"budget": budget, "left_today": left, "sessions": items[:min(limit, left)]}


def failure_patterns(store, settings, credit, *, similarity: float = 0.8, limit: int = 2000) -> dict[str, Any]:
    """Failed sessions clustered by task, largest cluster first."""
    below = settings.sessions.failure_below
    failed = []
    for s in store.sessions.list(limit=limit):
        r = credit.session_reward(s.outcomes)
        if r is not None and r < below:
            failed.append(s)
    raw = store.sessions.run_vectors([s.id for s in failed])
    vectors = {s.id: v for s in reversed(failed) if (v := _mean_vector(raw.get(s.id, []))) is not None}
    clusters = cluster(vectors, similarity)
    by_id = {s.id: s for s in failed}
    groups: dict[int, list[str]] = {}
    for sid, c in clusters.items():
        groups.setdefault(c, []).append(sid)
    patterns = []
    for members in groups.values():
        failing = Counter(k for sid in members for k, v in by_id[sid].outcomes.items() if v < 0.5)
        top = sorted(failing.items(), key=lambda kv: (-kv[1], kv[0]))
        patterns.append({"size": len(members), "example": store.sessions.first_task(members[-1]),
                         "failing_signal": top[0][0] if top else None, "sessions": members[::-1]})
    patterns.sort(key=lambda p: (-p["size"], p["example"] or ""))
    return {"failed": len(failed), "unembedded": len(failed) - len(vectors), "patterns": patterns}
