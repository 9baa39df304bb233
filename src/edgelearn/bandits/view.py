"""The selector's in-memory picture of one role: enabled arms and their statistics as lists.

Built from one ``ArmsRepo.snapshot`` read; every row is brought to the role's current clock
tick here, so a decision is a few float operations per arm (plain lists: for a handful of
arms they are several times faster than numpy arrays).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from edgelearn.bandits.ledger import decay
from edgelearn.store.arms import GLOBAL, Arm, Snapshot


@dataclass
class KindView:
    """The enabled arms of one kind (prompt or model) and their statistics per cluster."""

    arms: list[Arm]
    cost: list[float]
    n: dict[int, list[float]] = field(default_factory=dict)
    s: dict[int, list[float]] = field(default_factory=dict)
    pulls: dict[int, int] = field(default_factory=dict)  # raw rewarded pulls of the cluster, all arms

    def stats(self, cluster: int) -> tuple[list[float], list[float]]:
        """(n, s) aligned with ``arms``; zeros for a cluster never seen."""
        if cluster not in self.n:
            zeros = [0.0] * len(self.arms)
            return zeros, zeros
        return self.n[cluster], self.s[cluster]


@dataclass
class RoleView:
    role: str
    prompt: KindView
    model: KindView
    centroids: np.ndarray | None
    loaded_at: float


def _kind_view(snap: Snapshot, kind: str) -> KindView:
    arms = [a for a in snap.arms if a.kind == kind and a.enabled]
    view = KindView(arms, [a.cost_per_1k for a in arms])
    index = {a.id: i for i, a in enumerate(arms)}
    clock = snap.clock
    for (arm_id, cluster), st in snap.stats.items():
        i = index.get(arm_id)
        if i is None:
            continue
        if cluster not in view.n:
            view.n[cluster] = [0.0] * len(arms)
            view.s[cluster] = [0.0] * len(arms)
            view.pulls[cluster] = 0
        f = decay(clock.discount, clock.tick - st.tick)
        view.n[cluster][i] = max(st.n * f, 0.0)
        view.s[cluster][i] = min(max(st.s * f, 0.0), view.n[cluster][i])
        view.pulls[cluster] += st.count
    if GLOBAL not in view.n:
        view.n[GLOBAL] = [0.0] * len(arms)
        view.s[GLOBAL] = [0.0] * len(arms)
        view.pulls[GLOBAL] = 0
    return view


def build_view(snap: Snapshot) -> RoleView:
    """A role's view from a snapshot of the store."""
    centroids = None
    if snap.centroids:
        centroids = np.stack([np.frombuffer(blob, dtype=np.float32) for _, blob in snap.centroids])
    return RoleView(snap.role, _kind_view(snap, "prompt"), _kind_view(snap, "model"), centroids, time.monotonic())
