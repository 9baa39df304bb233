"""Selection policies behind one small interface: a score per arm, the best score wins.

A policy sees, for each arm, ``n`` (the effective number of rewarded pulls, after any
discounting or windowing) and ``s`` (the effective sum of rewards in [0, 1]). It scores in
two forms with the same rule: ``scores`` on numpy arrays with leading batch axes
(``(..., arms)``), to simulate thousands of replications at once, and ``scores_one`` on
plain lists for one live decision, where numpy's per-call overhead would cost more than
the arithmetic (a handful of arms: ~5 µs in Python against ~25 µs through numpy).

    thompson   sample Beta(1 + s, 1 + n - s); fractional rewards count fractionally
    ucb        UCB1: s / n + c * sqrt(2 ln N / n), N the total effective pulls
    epsilon    epsilon-greedy: the best mean, or with probability epsilon a random arm

Arms never pulled score +inf in ucb and epsilon (each is tried once, in random order).
"""

from __future__ import annotations

import math
import random
from typing import Callable, Protocol

import numpy as np

INF = math.inf


class Policy(Protocol):
    name: str
    needs_tiebreak: bool

    def scores(self, n: np.ndarray, s: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One score per arm (last axis); the highest is chosen."""

    def scores_one(self, n: list[float], s: list[float], rnd: random.Random) -> list[float]:
        """``scores`` for one decision on plain lists."""


class Thompson:
    """Thompson sampling with Beta(1, 1) priors and fractional (Bernoulli-relaxed) updates."""

    name = "thompson"
    needs_tiebreak = False  # continuous samples never tie

    def scores(self, n: np.ndarray, s: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        # small float residue from discount/window subtraction must not make a parameter <= 0
        return rng.beta(1.0 + np.maximum(s, 0.0), 1.0 + np.maximum(n - s, 0.0))

    def scores_one(self, n: list[float], s: list[float], rnd: random.Random) -> list[float]:
        beta = rnd.betavariate
        return [beta(1.0 + max(si, 0.0), 1.0 + max(ni - si, 0.0)) for ni, si in zip(n, s)]


class UCB1:
    """UCB1 (discounted UCB when the statistics are discounted)."""

    name = "ucb"
    needs_tiebreak = True

    def __init__(self, c: float = 1.0) -> None:
        self.c = c

    def scores(self, n: np.ndarray, s: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        total = np.maximum(n.sum(axis=-1, keepdims=True), 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            ucb = s / n + self.c * np.sqrt(2.0 * np.log(total) / n)
        return np.where(n > 1e-9, ucb, np.inf)

    def scores_one(self, n: list[float], s: list[float], rnd: random.Random) -> list[float]:
        log_total = math.log(max(sum(n), 1.0))
        c = self.c
        return [si / ni + c * math.sqrt(2.0 * log_total / ni) if ni > 1e-9 else INF for ni, si in zip(n, s)]


class EpsilonGreedy:
    """Epsilon-greedy on the mean reward."""

    name = "epsilon"
    needs_tiebreak = True

    def __init__(self, epsilon: float = 0.1) -> None:
        self.epsilon = epsilon

    def scores(self, n: np.ndarray, s: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = np.where(n > 1e-9, s / n, np.inf)
        explore = rng.random(n.shape[:-1] + (1,)) < self.epsilon
        return np.where(explore, rng.random(n.shape), mean)

    def scores_one(self, n: list[float], s: list[float], rnd: random.Random) -> list[float]:
        mean = [si / ni if ni > 1e-9 else INF for ni, si in zip(n, s)]
        if rnd.random() < self.epsilon:
            return [rnd.random() for _ in mean]
        return mean


_REGISTRY: dict[str, Callable[..., Policy]] = {}


def register_policy(name: str, factory: Callable[..., Policy]) -> None:
    """Make ``factory(bandit_settings)`` available as ``bandit.policy = name``; names are unique."""
    if name in _REGISTRY:
        raise ValueError(f"policy {name!r} registered twice")
    _REGISTRY[name] = factory


register_policy("thompson", lambda b: Thompson())
register_policy("ucb", lambda b: UCB1(b.ucb_c))
register_policy("epsilon", lambda b: EpsilonGreedy(b.epsilon))


def policy_names() -> list[str]:
    return sorted(_REGISTRY)


def make_policy(bandit_settings) -> Policy:
    """The policy the ``bandit`` settings section names, configured from it."""
    try:
        factory = _REGISTRY[bandit_settings.policy]
    except KeyError:
        raise ValueError(f"unknown bandit policy {bandit_settings.policy!r}; known: {policy_names()}") from None
    return factory(bandit_settings)


def choose(policy: Policy, n: np.ndarray, s: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(index of the chosen arm per batch row, the scores) — ties and untried arms broken at random."""
    sc = policy.scores(n, s, rng)
    if not policy.needs_tiebreak:
        return sc.argmax(axis=-1), sc
    jitter = rng.random(sc.shape)
    key = np.where(np.isinf(sc), 1e12 + jitter, sc + 1e-9 * jitter)
    return key.argmax(axis=-1), sc


def choose_one(policy: Policy, n: list[float], s: list[float], rnd: random.Random) -> tuple[int, list[float]]:
    """(index of the chosen arm, the scores) for one decision on plain lists."""
    sc = policy.scores_one(n, s, rnd)
    if not policy.needs_tiebreak:
        return max(range(len(sc)), key=sc.__getitem__), sc
    jitter = [rnd.random() for _ in sc]
    return max(range(len(sc)), key=lambda i: (sc[i], jitter[i])), sc
