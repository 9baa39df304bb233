"""Independence levels 0-4 and the knobs of the rule that moves between them.

Level 0 sends every request to the teacher (and records it, so its runs become training
data); levels 1-4 send ``shares[level - 1]`` of eligible requests to the role's local
champion (20 / 50 / 80 / 95 % by default). Levels are kept per role and task cluster.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from edgelearn.config import DEFAULT_SHARES
from edgelearn.errors import InvalidInput
from edgelearn.experiment.decision import DecisionConfig

LEVELS = (0, 1, 2, 3, 4)
TOP = LEVELS[-1]
NO_CLUSTER = -1  # requests whose task is not clustered (yet) share one level per role


def check_level(level: object, field: str = "level") -> int:
    """``level`` if it is one of 0-4; else ``InvalidInput`` naming ``field``."""
    if isinstance(level, bool) or not isinstance(level, int) or level not in LEVELS:
        raise InvalidInput(f"{field}: {level!r} is not a level (0, 1, 2, 3 or 4)", field=field)
    return level


def check_cluster(cluster: object, field: str = "cluster") -> int:
    """The cluster key: a cluster index >= 0, or NO_CLUSTER for None; else ``InvalidInput``."""
    if cluster is None:
        return NO_CLUSTER
    if isinstance(cluster, bool) or not isinstance(cluster, int) or cluster < NO_CLUSTER:
        raise InvalidInput(f"{field}: {cluster!r} is not a task cluster (an integer >= 0, or None)", field=field)
    return cluster


def _number(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


@dataclass(frozen=True)
class IndependenceConfig:
    """The rule's knobs as plain values; :meth:`from_settings` reads ``[independence]`` and ``[drift]``."""

    enabled: bool = True
    shares: tuple[float, ...] = DEFAULT_SHARES
    max_gap: float = 0.02
    confidence: float = 0.95
    min_samples: int = 100
    shadow_share: float = 0.1
    shadow_can_advance: bool = True
    shadow_idle_load: float = 0.5
    min_confidence: float = 0.5
    drift_window: int = 20
    drift_min_drop: float = 0.05
    tau_scale: float = 0.3
    decision: DecisionConfig = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        shares = self.shares
        if not isinstance(shares, (list, tuple)) or len(shares) != 4 or not all(_number(s) for s in shares):
            raise InvalidInput(f"shares must be 4 numbers (levels 1-4), got {shares!r}", field="shares")
        if any(not 0.0 < s <= 1.0 for s in shares) or any(b < a for a, b in zip(shares, shares[1:])):
            raise InvalidInput(f"shares must lie in (0, 1] and not decrease, got {list(shares)}", field="shares")
        object.__setattr__(self, "shares", tuple(float(s) for s in shares))
        checks = {
            "max_gap": _number(self.max_gap) and 0.0 <= self.max_gap < 1.0,
            "confidence": _number(self.confidence) and 0.5 < self.confidence < 1.0,
            "min_samples": isinstance(self.min_samples, int) and not isinstance(self.min_samples, bool)
            and self.min_samples >= 2,
            "shadow_share": _number(self.shadow_share) and 0.0 <= self.shadow_share <= 1.0,
            "min_confidence": _number(self.min_confidence) and 0.0 <= self.min_confidence <= 1.0,
            "shadow_idle_load": _number(self.shadow_idle_load) and self.shadow_idle_load > 0,
            "drift_window": isinstance(self.drift_window, int) and self.drift_window >= 2,
            "drift_min_drop": _number(self.drift_min_drop) and 0.0 <= self.drift_min_drop <= 1.0,
            "tau_scale": _number(self.tau_scale) and self.tau_scale > 0,
        }
        for name, ok in checks.items():
            if not ok:
                raise InvalidInput(f"independence {name}={getattr(self, name)!r} is out of range", field=name)
        # the mSPRT's knobs; the non-inferiority test uses no improvement margin, guard or deadline
        object.__setattr__(self, "decision", DecisionConfig(
            min_samples=self.min_samples, min_improvement=0.0, confidence=self.confidence, latency_guard=math.inf,
            cost_guard=math.inf, max_duration_s=math.inf, tau_scale=self.tau_scale))

    @classmethod
    def from_settings(cls, settings: Any) -> "IndependenceConfig":
        """Build from a whole ``Settings`` (its ``independence`` and ``drift`` sections)."""
        s = settings.independence
        return cls(enabled=s.enabled, shares=tuple(s.shares), max_gap=s.max_gap, confidence=s.confidence,
                   min_samples=s.min_samples, shadow_share=s.shadow_share, shadow_can_advance=s.shadow_can_advance,
                   shadow_idle_load=s.shadow_idle_load,
                   min_confidence=s.min_confidence, drift_window=settings.drift.window,
                   drift_min_drop=settings.drift.min_drop)

    def share(self, level: int) -> float:
        """The local share of eligible requests at ``level``."""
        return 0.0 if check_level(level) == 0 else self.shares[level - 1]
