"""What the arms have learned, for people: pulls, mean reward, 95% interval, share of traffic."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from edgelearn.bandits.ledger import decay
from edgelearn.store.arms import GLOBAL

Z95 = 1.959964


@dataclass(frozen=True)
class ArmReport:
    id: int
    key: str
    role: str
    kind: str
    variant: str
    enabled: bool
    source: str
    backend: str | None
    cost_per_1k: float
    notes: str | None
    pulls: int  # selections that chose the arm
    rewarded: int  # of those, rewards counted so far
    weight: float  # effective evidence after discount / window
    mean: float | None
    low: float | None
    high: float | None
    share: float | None  # share of the role's recent selections (of this kind)

    def to_dict(self) -> dict:
        return asdict(self)


def wilson(mean: float, n: float, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a mean of rewards in [0, 1] (p(1-p) bounds their variance)."""
    if n <= 0:
        return 0.0, 1.0
    denom = 1.0 + z * z / n
    centre = (mean + z * z / (2 * n)) / denom
    half = z * math.sqrt(max(mean * (1 - mean), 0.0) / n + z * z / (4 * n * n)) / denom
    return max(centre - half, 0.0), min(centre + half, 1.0)


def arm_reports(store, role: str | None = None, recent: int = 1000) -> list[ArmReport]:
    """One report per arm (of ``role``, or all), role-wide statistics, share over the last ``recent`` selections."""
    out = []
    for r in ([role] if role else store.arms.roles()):
        snap = store.arms.snapshot(r)
        pulls = store.arms.pulls(r)
        recent_pulls = store.arms.pulls(r, last=recent)
        totals = {kind: sum(recent_pulls.get(a.id, 0) for a in snap.arms if a.kind == kind)
                  for kind in ("prompt", "model")}
        for a in snap.arms:
            st = snap.stats.get((a.id, GLOBAL))
            weight, mean, low, high, rewarded = 0.0, None, None, None, 0
            if st is not None and st.n > 1e-9:
                f = decay(snap.clock.discount, snap.clock.tick - st.tick)
                weight, rewarded = st.n * f, st.count
                mean = min(max(st.s / st.n, 0.0), 1.0)
                low, high = wilson(mean, weight)
            total = totals[a.kind]
            out.append(ArmReport(
                a.id, a.key, a.role, a.kind, a.variant, a.enabled, a.source, a.backend, a.cost_per_1k, a.notes,
                pulls.get(a.id, 0), rewarded, round(weight, 3), mean, low, high,
                recent_pulls.get(a.id, 0) / total if total else None))
    return out
