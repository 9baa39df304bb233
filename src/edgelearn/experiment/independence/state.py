"""How one cluster's level moves: up on evidence, down on drift, to 0 on a rollback.

Pure functions over a :class:`~edgelearn.store.independence.ClusterState`; the service runs
them inside the reward's write transaction, the bench runs the same rule over arrays.

* Every level change starts a new *epoch*: the statistics restart, so each step up is judged
  on the traffic of the level it leaves (the local share it actually served), and the
  always-valid bound holds for each step on its own.
* Level 0 has no live local traffic: with ``shadow_can_advance`` the background (shadow)
  answers stand in for it on the 0 -> 1 step.
* From level 1 on, a :class:`~edgelearn.experiment.drift.RewardDriftDetector` watches the live
  local rewards against the teacher's mean at the step up (the level's promise was "not
  worse than the teacher"); an alarm drops one level at once and re-arms on the same baseline.
* While a role is pinned by hand no level moves (the statistics still count).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, Literal

from edgelearn.errors import InvalidInput
from edgelearn.experiment.decision import VariantStats
from edgelearn.experiment.drift import RewardDriftDetector
from edgelearn.experiment.independence.evidence import Readiness, readiness
from edgelearn.experiment.independence.levels import TOP, IndependenceConfig
from edgelearn.store.independence import ClusterState, Sums

Side = Literal["local", "teacher", "shadow"]
SIDES = ("local", "teacher", "shadow")


@dataclass(frozen=True)
class LevelChange:
    """One level change with the evidence that made it (the event's payload is ``to_dict``)."""

    role: str
    cluster: int
    old: int
    new: int
    kind: str                  # advance | fallback | rollback
    reason: str
    evidence: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def stats(sums: Sums) -> VariantStats:
    """The decision module's statistics of one side (sum of squares clamped against float drift)."""
    return VariantStats(int(sums.n), float(sums.sum), min(max(float(sums.sq), 0.0), float(sums.sum)))


def add(state: ClusterState, side: str, old: float | None, new: float | None) -> None:
    """Count a run's reward on ``side`` (a late rescoring replaces ``old`` with ``new``)."""
    if side not in SIDES:
        raise InvalidInput(f"side must be one of {', '.join(SIDES)}, got {side!r}", field="side")
    for name, value in (("old", old), ("new", new)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not 0.0 <= value <= 1.0):
            raise InvalidInput(f"{name} reward must be a number in [0, 1] or None, got {value!r}", field=name)
    sums: Sums = getattr(state, side)
    sums.n += (new is not None) - (old is not None)
    sums.sum += (new or 0.0) - (old or 0.0)
    sums.sq += (new or 0.0) ** 2 - (old or 0.0) ** 2


def new_epoch(state: ClusterState, level: int, now: float | None = None) -> None:
    """Enter ``level`` with fresh statistics."""
    state.level = level
    state.epoch += 1
    state.since = time.time() if now is None else now
    state.local, state.teacher, state.shadow = Sums(), Sums(), Sums()


def drift_detector(baseline_mean: float, baseline_std: float, baseline_n: int | None,
                   config: IndependenceConfig) -> dict[str, Any]:
    """The state of a fresh drift detector watching local rewards against ``baseline_mean``."""
    return RewardDriftDetector(baseline_mean=min(max(baseline_mean, 1e-3), 1.0), baseline_std=max(baseline_std, 1e-3),
                               window=config.drift_window, min_drop=config.drift_min_drop,
                               baseline_n=baseline_n if baseline_n and baseline_n >= 2 else None).to_dict()


def check_advance(state: ClusterState, config: IndependenceConfig) -> Readiness | None:
    """The test for the next step up, or None when no step is possible from here."""
    if state.level >= TOP or (state.level == 0 and not config.shadow_can_advance):
        return None
    side = "shadow" if state.level == 0 else "local"
    return readiness(stats(getattr(state, side)), stats(state.teacher), config.max_gap, config.decision, side=side)


def advance(state: ClusterState, ready: Readiness, config: IndependenceConfig) -> LevelChange:
    """Step one level up on ``ready``'s evidence and arm the drift detector on the teacher's mean."""
    old = state.level
    side = getattr(state, ready.side)
    std = stats(side).std
    new_epoch(state, old + 1)
    state.detector = drift_detector(ready.teacher_mean or 0.0, std, ready.teacher_n, config)
    return LevelChange(state.role, state.cluster, old, old + 1, "advance", ready.reason, ready.to_dict())


def observe(state: ClusterState, side: str, old: float | None, new: float | None, config: IndependenceConfig,
            *, pinned: bool = False) -> LevelChange | None:
    """Count one reward and apply the rule; returns the level change it caused, if any."""
    add(state, side, old, new)
    if side == "local" and old is None and new is not None and state.level > 0 and state.detector is not None:
        detector = RewardDriftDetector.from_dict(state.detector)
        status = detector.update(float(new))
        state.detector = detector.to_dict()
        if status.drifted and not pinned:
            return fall_back(state, config, reason=(
                f"local reward drifted below the teacher's: rolling mean {status.rolling_mean:.3f} vs "
                f"baseline {detector.params['baseline_mean']:.3f} after {status.n} local runs"),
                evidence={"statistic": status.statistic, "threshold": status.threshold,
                          "rolling_mean": status.rolling_mean, "n": status.n,
                          "baseline": detector.params["baseline_mean"], **_means(state)})
    if pinned:
        return None
    ready = check_advance(state, config)
    if ready is not None and ready.ready:
        return advance(state, ready, config)
    return None


def _means(state: ClusterState) -> dict[str, Any]:
    return {f"{side}_{k}": v for side in SIDES
            for k, v in (("n", getattr(state, side).n), ("mean", stats(getattr(state, side)).mean or None))}


def fall_back(state: ClusterState, config: IndependenceConfig, *, reason: str,
              evidence: dict[str, Any]) -> LevelChange:
    """One level down now; the detector re-arms on the same baseline above level 0."""
    old = state.level
    params = (state.detector or {}).get("params")
    new_epoch(state, max(0, old - 1))
    state.detector = None
    if state.level > 0 and params:
        state.detector = RewardDriftDetector(**params).to_dict()
    return LevelChange(state.role, state.cluster, old, state.level, "fallback", reason, evidence)


def reset(state: ClusterState, *, champion: str | None, to_zero: bool, reason: str) -> LevelChange | None:
    """A new champion restarts the evidence; a rollback also drops the cluster to level 0."""
    old = state.level
    state.champion = champion
    if to_zero:
        evidence = _means(state)
        new_epoch(state, 0)
        state.detector = None
        return LevelChange(state.role, state.cluster, old, 0, "rollback", reason, evidence) if old else None
    params = (state.detector or {}).get("params")
    new_epoch(state, old)
    state.detector = RewardDriftDetector(**params).to_dict() if params and old > 0 else None
    return None
