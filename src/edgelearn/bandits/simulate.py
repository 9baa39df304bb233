"""Vectorized bandit simulation: many seeded replications of one policy at once.

Used by ``bench/bandits.py`` and the policy contract tests. ``SimStats`` keeps the same
statistics as the store's ledger (discount per counted reward, window of each arm's most
recent rewards), for a batch of independent replications, eagerly instead of lazily.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from edgelearn.bandits.policies import Policy, choose


class SimStats:
    """Effective (n, s) per replication and arm, shape (batch, arms)."""

    def __init__(self, batch: int, arms: int, discount: float = 1.0, window: int = 0) -> None:
        self.n = np.zeros((batch, arms))
        self.s = np.zeros((batch, arms))
        self.discount, self.window, self.tick = discount, window, 0
        self._rows = np.arange(batch)
        if window:  # the role's last ``window`` observations: (arm, reward) per replication
            self._arm = np.zeros((window, batch), dtype=np.int64)
            self._rew = np.zeros((window, batch))

    def update(self, chosen: np.ndarray, reward: np.ndarray) -> None:
        """Count ``reward[b]`` for arm ``chosen[b]`` in every replication b."""
        self.tick += 1
        g, rows = self.discount, self._rows
        if g < 1.0:
            self.n *= g
            self.s *= g
        self.n[rows, chosen] += 1.0
        self.s[rows, chosen] += reward
        if self.window:
            slot = self.tick % self.window
            if self.tick > self.window:  # the observation of tick - window leaves
                weight = g ** self.window
                self.n[rows, self._arm[slot]] -= weight
                self.s[rows, self._arm[slot]] -= weight * self._rew[slot]
            self._arm[slot], self._rew[slot] = chosen, reward


@dataclass
class SimResult:
    regret: np.ndarray  # cumulative regret per replication, shape (batch,)
    choices: np.ndarray  # chosen arm per step and replication, shape (T, batch)
    best: np.ndarray  # the best arm per step, shape (T,)


def rewards_for(kind: str) -> Callable[[np.ndarray, np.random.Generator], np.ndarray]:
    """Reward draws with the given means: ``bernoulli`` (0 or 1) or ``fractional`` (Beta, in [0, 1])."""
    if kind == "bernoulli":
        return lambda p, rng: (rng.random(p.shape) < p).astype(float)
    if kind == "fractional":
        # Beta with the arm's mean and concentration 4: spread like real partial test passes
        return lambda p, rng: rng.beta(4.0 * p, 4.0 * (1.0 - p))
    raise ValueError(f"unknown reward kind {kind!r}")


def simulate(policy: Policy, means: np.ndarray, *, batch: int, seed: int, reward: str = "bernoulli",
             discount: float = 1.0, window: int = 0) -> SimResult:
    """Run ``batch`` replications for ``len(means)`` steps; ``means`` has shape (T, arms)."""
    rng = np.random.default_rng(seed)
    steps, arms = means.shape
    draw = rewards_for(reward)
    stats = SimStats(batch, arms, discount, window)
    choices = np.empty((steps, batch), dtype=np.int16)
    regret = np.zeros(batch)
    best_mean = means.max(axis=1)
    for t in range(steps):
        chosen, _ = choose(policy, stats.n, stats.s, rng)
        p = means[t, chosen]
        regret += best_mean[t] - p
        stats.update(chosen, draw(p, rng))
        choices[t] = chosen
    return SimResult(regret, choices, means.argmax(axis=1))


def stationary(mu: list[float], steps: int) -> np.ndarray:
    """Means that never change: shape (steps, arms)."""
    return np.tile(np.asarray(mu, dtype=float), (steps, 1))


def switching(before: list[float], after: list[float], steps: int, at: int) -> np.ndarray:
    """Means that jump from ``before`` to ``after`` at step ``at``."""
    m = stationary(before, steps)
    m[at:] = after
    return m


def recovery_steps(result: SimResult, at: int, span: int = 100, share: float = 0.5) -> np.ndarray:
    """Per replication: pulls after ``at`` until the new best arm holds ``share`` of a trailing ``span``
    of pulls (the total remaining when it never does)."""
    new_best = result.best[at]
    hits = (result.choices[at:] == new_best).astype(float)
    csum = np.vstack([np.zeros((1, hits.shape[1])), np.cumsum(hits, axis=0)])
    trailing = (csum[span:] - csum[:-span]) / span  # share over steps (i, i+span]
    ok = trailing >= share
    first = np.where(ok.any(axis=0), ok.argmax(axis=0) + span, hits.shape[0])
    return first
