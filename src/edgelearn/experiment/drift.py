"""Drift after a promotion: a falling champion reward, and task inputs moving away from training.

**Reward drift** (:class:`RewardDriftDetector`) watches the champion's rewards run by run
against the mean it showed in its experiment. The naive rule "mean of the last 20 runs below
95 % of the baseline" fires on nearly every stationary stream: with a reward sd of 0.1-0.2 the
mean of 20 runs wanders +-0.02-0.045, as much as the 5 % being looked for. The detector is a
one-sided **CUSUM** (Page 1954) on standardized drops ``y = (baseline - reward) / sd``:

    S_t = max(0, S_{t-1} + min(y_t, clip) - k),   alarm when S_t >= h  (and see below)

* ``k = min_drop * baseline / sd``: a drop smaller than ``min_drop`` gives S a negative drift
  and dies out; a larger one accumulates. It is also the classic optimal reference for a drop
  of ``2 * min_drop`` (10 %), the size the rollback targets.
* ``h`` solves Siegmund's approximation of the in-control average run length of a Gaussian
  CUSUM, ``ARL0 = (exp(2 k h') - 2 k h' - 1) / (2 k^2)`` with ``h' = h + 1.166``, for
  ``ARL0 = horizon / -ln(1 - false_alarm_rate)``: a stream of ``horizon`` (500) stationary runs
  after a promotion alarms with probability about ``false_alarm_rate`` (1 %) or less.
* Steps are clipped at ``clip`` = 2 sd (2k when k > 1; a Huber-type robust CUSUM): rewards near
  1 have a long left tail (a failed run scores 0 beside a 0.8 mean) and a drop detector
  accumulates exactly that tail; unclipped, stationary streams alarm several times more often
  than ``false_alarm_rate``, for a few runs less of delay (bench/RESULTS.md, "Measurements behind choices in the code").
* The alarm also needs the mean of the last ``window`` runs to be at least ``min_drop`` below
  the baseline, so a rollback always shows the drop the settings name.
* ``baseline_n``, the runs behind ``baseline_mean``: a baseline off by e shifts every step by
  e / sd and multiplies the false-alarm rate by about exp(2 h' e / sd); averaged over an
  estimate's error e ~ N(0, sd^2 / n) that is undone by lowering the baseline by h' sd / n
  (0.7 standard errors at n = 300, sd 0.1). Without it false alarms roughly double.

How fast a 10 % drop is caught depends on the reward noise more than on the rule: near a reward
sd of 0.2 no detector with a 1 % false-alarm rate over 500 runs can promise 50 runs, since the
mean of 50 runs is then ~2 standard errors away (``tests/experiment/test_drift_sim.py``;
bench/RESULTS.md, "Experiments and drift").

**Input drift** (:func:`input_drift`) compares distances of task embeddings to the training
set's centroid: the population stability index over 10 quantile bins of the reference, and a
two-sample Kolmogorov-Smirnov statistic with its asymptotic p-value.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any, Iterable

import numpy as np

from edgelearn.errors import InvalidInput

_CLIP = 2.0
_STATE_VERSION = 1


def _siegmund_threshold(k: float, arl0: float) -> float:
    """The CUSUM threshold h whose Siegmund-approximated in-control run length is ``arl0``."""

    def arl(h: float) -> float:
        hp = h + 1.166
        x = 2.0 * k * hp
        return hp * hp if k < 1e-6 else (math.expm1(x) - x) / (2.0 * k * k)

    lo, hi = 0.0, 1.0
    while arl(hi) < arl0:
        hi *= 2.0
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if arl(mid) < arl0 else (lo, mid)
    return hi


@dataclass(frozen=True)
class DriftStatus:
    """The detector after one more reward: ``statistic`` is the CUSUM, alarm at ``threshold``."""

    drifted: bool
    statistic: float
    threshold: float
    rolling_mean: float | None
    n: int


class RewardDriftDetector:
    """Streaming rollback rule for a promoted champion; see the module docstring for the why.

    ``update(reward)`` per scored run; ``drifted`` latches once it fires, so a restart between
    detection and rollback still rolls back. ``to_dict``/``from_dict`` persist the state.
    """

    def __init__(self, baseline_mean: float, baseline_std: float, window: int = 20, min_drop: float = 0.05, *,
                 baseline_n: int | None = None, false_alarm_rate: float = 0.01, horizon: int = 500,
                 min_std: float = 0.05) -> None:
        numbers = dict(baseline_mean=baseline_mean, baseline_std=baseline_std, min_drop=min_drop,
                       false_alarm_rate=false_alarm_rate, min_std=min_std)
        for name, value in numbers.items():
            _check(not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value),
                   name, value, "a finite number")
        _check(0.0 < baseline_mean <= 1.0, "baseline_mean", baseline_mean, "in (0, 1]")
        _check(baseline_std >= 0, "baseline_std", baseline_std, ">= 0")
        _check(isinstance(window, int) and not isinstance(window, bool) and window >= 2, "window", window,
               "an integer >= 2")
        _check(0.0 <= min_drop <= 1.0, "min_drop", min_drop, "in [0, 1]")
        _check(baseline_n is None or (isinstance(baseline_n, int) and baseline_n >= 2), "baseline_n", baseline_n,
               "None or an integer >= 2")
        _check(0.0 < false_alarm_rate < 1.0, "false_alarm_rate", false_alarm_rate, "in (0, 1)")
        _check(isinstance(horizon, int) and horizon >= 1, "horizon", horizon, "an integer >= 1")
        _check(0.0 < min_std <= 0.5, "min_std", min_std, "in (0, 0.5]")
        self.params = dict(baseline_mean=float(baseline_mean), baseline_std=float(baseline_std), window=window,
                           min_drop=float(min_drop), baseline_n=baseline_n, false_alarm_rate=float(false_alarm_rate),
                           horizon=horizon, min_std=float(min_std))
        # A floor on sd: a baseline whose runs all scored alike would otherwise turn one
        # ordinary miss into an instant rollback.
        self.sd = max(float(baseline_std), min_std)
        arl0 = horizon / -math.log1p(-false_alarm_rate)
        self.baseline = float(baseline_mean)
        if baseline_n:
            # A baseline off by e shifts every step by e / sd, multiplying the false-alarm rate
            # by about exp(2 h' e / sd); averaged over e ~ N(0, sd^2 / n) that is undone by
            # lowering the baseline by h' sd / n (h' = h + 1.166).
            h0 = _siegmund_threshold(min_drop * self.baseline / self.sd, arl0)
            self.baseline = max(self.baseline - (h0 + 1.166) * self.sd / baseline_n, 1e-9)
        self.k = min_drop * self.baseline / self.sd
        self.h = _siegmund_threshold(self.k, arl0)
        # A step can add at most clip - k: with a large min_drop over a tight sd (k > 1) the
        # usual 2 sd clip would leave too little room for a real drop to count.
        self.clip = max(_CLIP, 2.0 * self.k)
        self.cusum = 0.0
        self.n = 0
        self.drifted = False
        self.recent: deque[float] = deque(maxlen=window)

    def update(self, reward: float) -> DriftStatus:
        """Add one scored run of the champion (reward in [0, 1]) and say whether it drifted."""
        if isinstance(reward, bool) or not isinstance(reward, (int, float)) or not 0.0 <= reward <= 1.0:
            raise InvalidInput(f"reward must be a number in [0, 1], got {reward!r}", field="reward")
        drop = min((self.baseline - reward) / self.sd, self.clip)
        self.cusum = max(0.0, self.cusum + drop - self.k)
        self.n += 1
        self.recent.append(float(reward))
        if not self.drifted and self.cusum >= self.h and len(self.recent) == self.recent.maxlen:
            self.drifted = self.rolling_mean <= (1.0 - self.params["min_drop"]) * self.baseline
        return self.status()

    @property
    def rolling_mean(self) -> float | None:
        return sum(self.recent) / len(self.recent) if self.recent else None

    def status(self) -> DriftStatus:
        """The current state without adding a reward."""
        return DriftStatus(self.drifted, self.cusum, self.h, self.rolling_mean, self.n)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state: the constructor's arguments and the running statistics."""
        return {"version": _STATE_VERSION, "params": dict(self.params), "cusum": self.cusum, "n": self.n,
                "drifted": self.drifted, "recent": list(self.recent)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RewardDriftDetector":
        """Rebuild a detector saved by :meth:`to_dict`; InvalidInput names what is wrong."""
        if not isinstance(data, dict) or data.get("version") != _STATE_VERSION:
            raise InvalidInput(f"drift state must be a dict with version {_STATE_VERSION}", field="version")
        try:
            detector = cls(**data["params"])
            cusum, n, recent = float(data["cusum"]), int(data["n"]), [float(x) for x in data["recent"]]
            drifted = data["drifted"]
        except KeyError as exc:
            raise InvalidInput(f"drift state lacks {exc.args[0]!r}", field=str(exc.args[0])) from exc
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"drift state is malformed: {exc}", field="params") from exc
        _check(math.isfinite(cusum) and cusum >= 0, "cusum", cusum, ">= 0")
        _check(n >= len(recent) and len(recent) <= detector.recent.maxlen, "recent", len(recent),
               f"at most n and window ({detector.recent.maxlen}) values")
        _check(isinstance(drifted, bool), "drifted", drifted, "true or false")
        detector.cusum, detector.n, detector.drifted = cusum, n, drifted
        detector.recent.extend(recent)
        return detector


def _check(ok: bool, field: str, value: Any, expected: str) -> None:
    if not ok:
        raise InvalidInput(f"{field} must be {expected}, got {value!r}", field=field)


@dataclass(frozen=True)
class InputDriftReport:
    """PSI and KS of current against reference distances; ``drifted`` needs both (see input_drift)."""

    psi: float
    ks_statistic: float
    ks_pvalue: float
    n_reference: int
    n_current: int
    drifted: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _sample(values: Iterable[float], name: str, minimum: int) -> np.ndarray:
    try:
        arr = np.asarray(list(values), dtype=float).ravel()
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{name} must be numbers: {exc}", field=name) from exc
    if arr.size < minimum:
        raise InvalidInput(f"{name} needs at least {minimum} values, got {arr.size}", field=name)
    if not np.all(np.isfinite(arr)):
        raise InvalidInput(f"{name} contains NaN or infinite values", field=name)
    return arr


def psi(reference: np.ndarray, current: np.ndarray, bins: int = 10) -> float:
    """Population stability index over ``bins`` quantile bins of the reference.

    Empty bins get a share of 1e-4 so one empty bin does not make the index infinite.
    """
    edges = np.unique(np.quantile(reference, np.linspace(0.0, 1.0, bins + 1)[1:-1]))
    # (-inf, q1], (q1, q2], ..., (q_last, inf): ties with an edge go to the lower bin
    ref = np.bincount(np.searchsorted(edges, reference, side="left"), minlength=edges.size + 1) / reference.size
    cur = np.bincount(np.searchsorted(edges, current, side="left"), minlength=edges.size + 1) / current.size
    ref, cur = np.maximum(ref, 1e-4), np.maximum(cur, 1e-4)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def ks_2samp(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov statistic and its asymptotic two-sided p-value.

    p = Q_KS((sqrt(ne) + 0.12 + 0.11 / sqrt(ne)) D), ne = n m / (n + m), with the Kolmogorov
    tail Q_KS(x) = 2 sum_j (-1)^(j-1) exp(-2 j^2 x^2) (Stephens' small-sample correction).
    """
    a, b = np.sort(a), np.sort(b)
    both = np.concatenate([a, b])
    d = float(np.max(np.abs(np.searchsorted(a, both, side="right") / a.size
                            - np.searchsorted(b, both, side="right") / b.size)))
    en = math.sqrt(a.size * b.size / (a.size + b.size))
    x = (en + 0.12 + 0.11 / en) * d
    if x < 0.2:  # the series converges slowly here and the tail is 1 to many digits
        return d, 1.0
    j = np.arange(1, 101)
    p = 2.0 * float(np.sum((-1.0) ** (j - 1) * np.exp(-2.0 * j * j * x * x)))
    return d, min(1.0, max(0.0, p))


def input_drift(reference_distances: Iterable[float], current_distances: Iterable[float],
                psi_threshold: float = 0.2, alpha: float = 0.01) -> InputDriftReport:
    """Compare task-embedding distances to the training centroid: reference vs recent tasks.

    ``drifted`` when PSI >= ``psi_threshold`` (``drift.input_psi``; 0.2 is the usual "major
    shift") and the KS p-value < ``alpha``: PSI measures how much the distribution moved,
    and KS guards against a PSI inflated by a small current sample (PSI's noise floor is
    about 9 (1 / n_current + 1 / n_reference) for 10 bins). Needs 10 reference and 5 current values.
    """
    ref = _sample(reference_distances, "reference_distances", 10)
    cur = _sample(current_distances, "current_distances", 5)
    _check(psi_threshold > 0, "psi_threshold", psi_threshold, "> 0")
    _check(0.0 < alpha < 1.0, "alpha", alpha, "in (0, 1)")
    index = psi(ref, cur)
    d, p = ks_2samp(ref, cur)
    return InputDriftReport(psi=index, ks_statistic=d, ks_pvalue=p, n_reference=int(ref.size),
                            n_current=int(cur.size), drifted=bool(index >= psi_threshold and p < alpha))
