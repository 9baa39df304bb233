"""Task clusters for contextual selection: spherical k-means over stored task embeddings.

Embeddings are unit-norm (all-MiniLM-L6-v2), so clusters are found by cosine similarity.
Re-clustering a role relabels its selections by their run's embedding and rebuilds the
per-cluster statistics from them in one write; selections whose run is not embedded yet
keep only the role-wide statistics.
"""

from __future__ import annotations

import logging

import numpy as np

from edgelearn.bandits import ledger
from edgelearn.store.arms import ArmsRepo
from edgelearn.store.events import EventsRepo

log = logging.getLogger(__name__)

MAX_POINTS = 10_000  # newest embeddings of a role used to fit the clusters


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def kmeans(x: np.ndarray, k: int, rng: np.random.Generator, iters: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """(unit centroids (k, d), labels (n,)) of spherical k-means with k-means++ seeding."""
    x = _unit(np.asarray(x, dtype=np.float32))
    n = len(x)
    k = min(k, n)
    centers = [x[rng.integers(n)]]
    dist = 1.0 - x @ centers[0]
    for _ in range(1, k):
        p = np.maximum(dist, 0.0) ** 2
        total = p.sum()
        idx = rng.choice(n, p=p / total) if total > 0 else rng.integers(n)
        centers.append(x[idx])
        dist = np.minimum(dist, 1.0 - x @ x[idx])
    c = np.stack(centers)
    labels = np.full(n, -1)
    for _ in range(iters):
        new = (x @ c.T).argmax(axis=1)
        if np.array_equal(new, labels):
            break
        labels = new
        for j in range(k):
            members = x[labels == j]
            # an emptied cluster restarts at the point its centroid explains worst
            c[j] = members.sum(axis=0) if len(members) else x[(x @ c.T).max(axis=1).argmin()]
        c = _unit(c)
    return c, labels


def nearest(centroids: np.ndarray, vec: np.ndarray) -> int:
    """The cluster whose centroid is most similar to ``vec``."""
    return int((centroids @ vec).argmax())


def recluster(store, role: str, k: int, discount: float, window: int, *, seed: int = 0) -> int | None:
    """Fit ``k`` clusters over ``role``'s task embeddings and rebuild its per-cluster statistics.

    Returns the number of clusters, or None when the role has fewer than 2k embedded runs.
    """
    rows = store.arms.role_embeddings(role, MAX_POINTS)
    if len(rows) < 2 * k:
        return None
    x = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), -1)
    centroids, labels = kmeans(x, k, np.random.default_rng(seed))
    sizes = np.bincount(labels, minlength=len(centroids))

    def fn(conn):
        assignments = []
        for run_id, _seq, blob in ArmsRepo.selection_seqs_in(conn, role):
            assignments.append((nearest(centroids, np.frombuffer(blob, dtype=np.float32)), run_id))
        ArmsRepo.set_clusters_in(conn, role, [(j, centroids[j].astype(np.float32).tobytes(), int(sizes[j]))
                                              for j in range(len(centroids))], assignments)
        ledger.rebuild_in(conn, role, discount, window)
        EventsRepo.append_in(conn, "bandit.reclustered", {"clusters": len(centroids), "points": len(rows),
                                                          "selections": len(assignments)}, role=role)

    store.write(fn)
    log.info("re-clustered %s: %d clusters over %d embeddings", role, len(centroids), len(rows))
    return len(centroids)
