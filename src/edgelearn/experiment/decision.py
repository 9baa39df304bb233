"""When a champion/challenger experiment may end: an always-valid sequential test.

The loop calls :func:`decide` after every new (or late-rescored) run, so the rule must stay
honest under continuous monitoring: a one-sided 5 % z-test checked after every sample from 100
to 1,000 promoted 19 % of equal challengers in simulation.

The rule is a one-sided **mixture sequential probability ratio test** (mSPRT; Robbins 1970,
Johari et al. 2017) on ``theta = mean(challenger) - mean(champion)``. With ``V`` the variance
of the observed difference and ``z = diff / sqrt(V)``, the likelihood ratio of theta = t
against theta = 0, mixed over t > 0 with a half-normal weight of scale ``tau``, is

    E = 2 (1 + r)^(-1/2) exp(z^2 r / (2 (1 + r))) Phi(z sqrt(r / (1 + r))),   r = tau^2 / V.

Under theta <= 0 it is a nonnegative supermartingale, so by Ville's inequality
P(E ever reaches 1 / alpha) <= alpha however often and however long it is looked at. Why it:
it needs only per-variant sufficient statistics (n, sum, sum of squares), which the store
keeps in the reward transaction (a betting confidence sequence would be exact for bounded
rewards but needs every sample, in pairs; a Bayesian threshold tuned for repeated looks holds
only for the schedule and horizon it was tuned on); rewards are means of fractional signals,
so the CLT fits, with ``min_samples`` (100) keeping it good; ``V`` is the larger of Welch's
and the null's pooled variance (see :func:`evidence`); ``tau`` is ``tau_scale`` (0.3) pooled
sds, near the 5-10 % lifts that matter (power moved ~1 point over 0.2-0.5). The threshold is
Ville's 1 / alpha rather than one calibrated to the first look at ``min_samples`` (~16): that
bought 1-2 points of power but spent the slack that covers the CLT, and a noisier challenger
on 10 % of traffic then got 5.5 % false promotions (3 % with 1 / alpha).

Outcomes, in this order: ``continue`` until both variants have ``min_samples`` runs (``stop``
if ``max_duration_s`` passes first); ``retire`` when a guard rail fails (challenger's mean
latency or cost above ``latency_guard`` / ``cost_guard`` times the champion's; point
estimates, skipped when either mean is unknown); ``promote`` when the mSPRT rejects
theta <= 0 at alpha = 1 - ``confidence`` *and* the estimated relative lift is at least
``min_improvement`` (a point-estimate margin on purpose: testing "lift > 5 %" itself halves
the tested gap of a true +10 % challenger and needs ~4x the samples); ``retire`` for futility
when the mirror-image mSPRT rejects theta >= ``min_improvement`` * champion mean; ``stop``
once ``max_duration_s`` has passed undecided (the champion stays); else ``continue``.
``diff_interval`` is the always-valid confidence sequence ``diff +- z*(r) sqrt(V)``.

The noise of the reward, not the rule, sets how long an experiment takes: false promotions and
power by reward sd are in bench/RESULTS.md, "Experiments and drift"
(tests/experiment/test_decision_sim.py).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Literal

import numpy as np

from edgelearn.config import ExperimentSettings
from edgelearn.errors import InvalidInput

Outcome = Literal["continue", "promote", "retire", "stop"]

# Per-variant variance floor: with bounded rewards a sample variance of 0 only means "all
# equal so far"; the floor keeps z finite without mattering at realistic spreads (sd >= 0.1).
_VAR_FLOOR = 1e-4
_TOL = 1e-9


@dataclass(frozen=True)
class DecisionConfig:
    """Knobs of :func:`decide`, built by :meth:`from_settings` from ``[experiments]``.

    The config owns their defaults (``ExperimentSettings``), so none is repeated here; only
    ``tau_scale``, a property of the test rather than a setting, has one.
    """

    min_samples: int
    min_improvement: float
    confidence: float
    latency_guard: float
    cost_guard: float
    max_duration_s: float
    tau_scale: float = 0.3

    def __post_init__(self) -> None:
        checks = {
            "min_samples": self.min_samples >= 2,
            "min_improvement": self.min_improvement >= 0,
            "confidence": 0.5 < self.confidence < 1,
            "latency_guard": self.latency_guard >= 1,
            "cost_guard": self.cost_guard >= 1,
            "max_duration_s": self.max_duration_s > 0,
            "tau_scale": self.tau_scale > 0,
        }
        for name, ok in checks.items():
            if not ok:
                raise InvalidInput(f"decision config {name}={getattr(self, name)!r} is out of range", field=name)

    @classmethod
    def from_settings(cls, settings: ExperimentSettings) -> "DecisionConfig":
        """Build from an ``ExperimentSettings`` section (``settings.experiments``)."""
        return cls(
            min_samples=max(2, settings.min_samples),
            min_improvement=settings.min_improvement,
            confidence=settings.confidence,
            latency_guard=settings.latency_guard,
            cost_guard=settings.cost_guard,
            max_duration_s=settings.max_duration_hours * 3600.0,
        )

    @property
    def log_threshold(self) -> float:
        """log of the e-value either test must reach: Ville's log(1 / alpha)."""
        return math.log(1.0 / (1.0 - self.confidence))


@dataclass(frozen=True)
class VariantStats:
    """Sufficient statistics of one variant's scored runs (rewards in [0, 1])."""

    n: int
    sum: float
    sum_sq: float
    mean_latency_ms: float | None = None
    mean_cost: float | None = None

    @classmethod
    def from_values(cls, rewards: Iterable[float], latencies_ms: Iterable[float] | None = None,
                    costs: Iterable[float] | None = None) -> "VariantStats":
        """Statistics of raw per-run values (a convenience for tests and small callers)."""
        r = np.asarray(list(rewards), dtype=float)
        lat = None if latencies_ms is None else float(np.mean(list(latencies_ms)))
        cost = None if costs is None else float(np.mean(list(costs)))
        return cls(int(r.size), float(r.sum()), float((r * r).sum()), lat, cost)

    @property
    def mean(self) -> float:
        return self.sum / self.n if self.n else 0.0

    @property
    def std(self) -> float:
        """Sample standard deviation (0 with fewer than two runs)."""
        if self.n < 2:
            return 0.0
        return math.sqrt(max(0.0, (self.sum_sq - self.n * self.mean ** 2) / (self.n - 1)))

    def validate(self, name: str) -> None:
        """Raise InvalidInput naming the field when these cannot be statistics of [0, 1] rewards."""
        if isinstance(self.n, bool) or not isinstance(self.n, (int, np.integer)) or self.n < 0:
            raise InvalidInput(f"{name}.n must be a non-negative integer, got {self.n!r}", field=f"{name}.n")
        for key in ("sum", "sum_sq", "mean_latency_ms", "mean_cost"):
            value = getattr(self, key)
            number = isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool)
            if value is not None and not (number and math.isfinite(value) and value >= -_TOL):
                raise InvalidInput(f"{name}.{key} must be a finite number >= 0, got {value!r}", field=f"{name}.{key}")
        if self.sum > self.n + _TOL * max(1, self.n):
            raise InvalidInput(f"{name}.sum={self.sum:g} exceeds n={self.n}: rewards must lie in [0, 1]",
                               field=f"{name}.sum")
        low = self.sum ** 2 / self.n if self.n else 0.0
        if not low - 1e-7 * max(1.0, low) <= self.sum_sq <= self.sum + 1e-7 * max(1.0, self.sum):
            raise InvalidInput(f"{name}.sum_sq={self.sum_sq:g} is impossible for {self.n} rewards in [0, 1] "
                               f"summing to {self.sum:g}", field=f"{name}.sum_sq")


@dataclass(frozen=True)
class Evidence:
    """The test statistics; every field is a float, or an array when the inputs were arrays."""

    champion_mean: Any
    challenger_mean: Any
    diff: Any
    se: Any
    r: Any
    lift: Any
    prob_better: Any
    log_e_promote: Any
    log_e_futility: Any


@dataclass(frozen=True)
class ExperimentDecision:
    """What :func:`decide` concluded and the numbers behind it (``to_dict`` is JSON-ready)."""

    outcome: Outcome
    reason: str
    samples: dict[str, int]
    champion_mean: float
    challenger_mean: float
    lift: float | None
    prob_better: float | None
    e_promote: float | None
    e_futility: float | None
    e_threshold: float
    diff_interval: tuple[float, float] | None = None
    guard: dict[str, float | None] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _log_ndtr(x: np.ndarray) -> np.ndarray:
    """log Phi(x), vectorized and stable in the far left tail (numpy has no erfc).

    Numerical Recipes' Chebyshev erfc (fractional error < 1.2e-7) is kept in log form,
    so log Phi(-40) is a finite number instead of log(0).
    """
    y = np.abs(x) / math.sqrt(2.0)
    t = 1.0 / (1.0 + 0.5 * y)
    poly = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (
        0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))))
    log_erfc_y = np.log(t) - y * y + poly  # log erfc(|x| / sqrt 2)
    left = log_erfc_y - math.log(2.0)  # x < 0: Phi(x) = erfc(|x|/sqrt2) / 2
    right = np.log1p(-0.5 * np.exp(log_erfc_y))  # x >= 0: Phi(x) = 1 - erfc(x/sqrt2) / 2
    return np.where(x < 0, left, right)


def _log_ndtr_float(x: float) -> float:
    if x > -30.0:
        return math.log(0.5 * math.erfc(-x / math.sqrt(2.0)))
    # Mills ratio series: erfc underflows past here
    return -0.5 * x * x - math.log(-x * math.sqrt(2.0 * math.pi)) + math.log1p(-1.0 / (x * x) + 3.0 / x ** 4)


def log_mixture_evidence(z: Any, r: Any) -> Any:
    """log E of the one-sided half-normal-mixture SPRT for a standardized difference ``z``.

    ``r = tau^2 / V`` is the information ratio (grows like the sample size). E is increasing
    in ``z``; it is an e-value under the null, so ``E >= 1/alpha`` is an always-valid test.
    """
    if np.ndim(z) == 0 and np.ndim(r) == 0:  # decide() and boundary_z: plain floats are ~50x faster
        z, r = float(z), float(r)
        shrink = r / (1.0 + r)
        return math.log(2.0) - 0.5 * math.log1p(r) + 0.5 * z * z * shrink + _log_ndtr_float(z * math.sqrt(shrink))
    z = np.asarray(z, dtype=float)
    r = np.asarray(r, dtype=float)
    shrink = r / (1.0 + r)
    return math.log(2.0) - 0.5 * np.log1p(r) + 0.5 * z * z * shrink + _log_ndtr(z * np.sqrt(shrink))


def boundary_z(r: float, log_threshold: float) -> float:
    """The z at which :func:`log_mixture_evidence` reaches ``log_threshold`` (bisection)."""
    lo, hi = 0.0, 1.0
    while log_mixture_evidence(hi, r) < log_threshold:
        hi *= 2.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if log_mixture_evidence(mid, r) < log_threshold:
            lo = mid
        else:
            hi = mid
    return hi


def evidence(champion_n, champion_sum, champion_sum_sq, challenger_n, challenger_sum, challenger_sum_sq,
             config: DecisionConfig) -> Evidence:
    """Test statistics from sufficient statistics; accepts floats or equal-shaped numpy arrays.

    Arrays let simulations evaluate the exact rule :func:`decide` applies at every sample of
    many experiments at once. Both counts must be at least 2.
    """
    n0, n1 = np.asarray(champion_n, dtype=float), np.asarray(challenger_n, dtype=float)
    m0, m1 = np.asarray(champion_sum) / n0, np.asarray(challenger_sum) / n1
    v0 = np.maximum((np.asarray(champion_sum_sq) - n0 * m0 * m0) / (n0 - 1.0), _VAR_FLOOR)
    v1 = np.maximum((np.asarray(challenger_sum_sq) - n1 * m1 * m1) / (n1 - 1.0), _VAR_FLOOR)
    # V is the larger of Welch's (right when the spreads differ) and the null's pooled one (all
    # runs around the grand mean). Welch alone shrinks with a few-run challenger's p(1-p)-like
    # variance just when its mean looks best (6 % false promotions on 0/1 rewards at 0.9 with
    # 10 % traffic); pooled alone is too small for a noisier challenger on little traffic.
    total = n0 + n1
    grand = (np.asarray(champion_sum) + np.asarray(challenger_sum)) / total
    pooled = np.maximum((np.asarray(champion_sum_sq) + np.asarray(challenger_sum_sq) - total * grand * grand)
                        / (total - 1.0), _VAR_FLOOR)
    var_diff = np.maximum(v0 / n0 + v1 / n1, pooled * (1.0 / n0 + 1.0 / n1))
    r = config.tau_scale ** 2 * pooled / var_diff
    se = np.sqrt(var_diff)
    diff = m1 - m0
    margin = config.min_improvement * m0
    with np.errstate(divide="ignore", invalid="ignore"):
        lift = np.where(m0 > 0, diff / np.where(m0 > 0, m0, 1.0), np.where(diff > 0, np.inf, 0.0))
    z = diff / se
    return Evidence(
        champion_mean=m0, challenger_mean=m1, diff=diff, se=se, r=r, lift=lift,
        prob_better=np.exp(_log_ndtr(z)),
        log_e_promote=log_mixture_evidence(z, r),
        log_e_futility=log_mixture_evidence((margin - diff) / se, r),
    )


def verdicts(ev: Evidence, config: DecisionConfig) -> tuple[Any, Any]:
    """(promote, futile) booleans of the sequential test alone (no sample minimum, no guards)."""
    promote = (np.asarray(ev.log_e_promote) >= config.log_threshold) & (np.asarray(ev.lift) >= config.min_improvement)
    futile = np.asarray(ev.log_e_futility) >= config.log_threshold
    return promote, futile & ~promote


def _guard_failure(champion: VariantStats, challenger: VariantStats, config: DecisionConfig) -> str | None:
    pairs = (("latency", champion.mean_latency_ms, challenger.mean_latency_ms, config.latency_guard),
             ("cost", champion.mean_cost, challenger.mean_cost, config.cost_guard))
    for name, base, mine, factor in pairs:
        if base is not None and mine is not None and mine > factor * base + _TOL:
            return (f"challenger's mean {name} {mine:.4g} exceeds {factor:g}x the champion's "
                    f"{base:.4g}; guard rail failed")
    return None


def _exp(log_value: float) -> float:
    return math.exp(min(log_value, 700.0))


def decide(champion: VariantStats, challenger: VariantStats, config: DecisionConfig,
           elapsed_s: float = 0.0) -> ExperimentDecision:
    """Decide an experiment from both variants' statistics; safe to call after every sample.

    ``config`` comes from the settings (``DecisionConfig.from_settings(settings.experiments)``);
    ``elapsed_s`` is the time since the experiment started (for ``max_duration_s``).
    Raises InvalidInput when the statistics cannot come from rewards in [0, 1].
    """
    champion.validate("champion")
    challenger.validate("challenger")
    if not (math.isfinite(elapsed_s) and elapsed_s >= 0):
        raise InvalidInput(f"elapsed_s must be a finite number >= 0, got {elapsed_s!r}", field="elapsed_s")
    samples = {"champion": int(champion.n), "challenger": int(challenger.n)}
    guard = {"champion_latency_ms": champion.mean_latency_ms, "challenger_latency_ms": challenger.mean_latency_ms,
             "champion_cost": champion.mean_cost, "challenger_cost": challenger.mean_cost}
    base = dict(samples=samples, champion_mean=champion.mean, challenger_mean=challenger.mean,
                e_threshold=1.0 / (1.0 - config.confidence), guard=guard)
    timed_out = elapsed_s >= config.max_duration_s
    hours = config.max_duration_s / 3600.0

    if min(champion.n, challenger.n) < config.min_samples:
        if timed_out:
            return ExperimentDecision("stop", f"max duration of {hours:g} h reached before both variants had "
                                    f"{config.min_samples} samples; the champion stays",
                            lift=None, prob_better=None, e_promote=None, e_futility=None, **base)
        return ExperimentDecision("continue", f"waiting for {config.min_samples} samples per variant "
                                    f"(champion {champion.n}, challenger {challenger.n})",
                        lift=None, prob_better=None, e_promote=None, e_futility=None, **base)

    ev = evidence(champion.n, champion.sum, champion.sum_sq, challenger.n, challenger.sum, challenger.sum_sq, config)
    z_star = boundary_z(float(ev.r), config.log_threshold)
    interval = (float(ev.diff - z_star * ev.se), float(ev.diff + z_star * ev.se))
    lift = float(ev.lift) if math.isfinite(float(ev.lift)) else None  # None: the champion's mean is 0
    stats = dict(lift=lift, prob_better=float(ev.prob_better), e_promote=_exp(ev.log_e_promote),
                 e_futility=_exp(ev.log_e_futility), diff_interval=interval, **base)
    promote, futile = verdicts(ev, config)
    lift_text = (f"lift {lift:+.1%}" if lift is not None else "champion mean 0") + \
        f", difference in [{interval[0]:+.3f}, {interval[1]:+.3f}]"

    failure = _guard_failure(champion, challenger, config)
    if failure:
        return ExperimentDecision("retire", failure, **stats)
    if promote:
        return ExperimentDecision("promote", f"challenger is better with always-valid evidence "
                                   f"{stats['e_promote']:.3g} >= {base['e_threshold']:.3g} and {lift_text}", **stats)
    if futile:
        return ExperimentDecision("retire", f"challenger is confidently not {config.min_improvement:.0%} better "
                                  f"(futility evidence {stats['e_futility']:.3g}); {lift_text}", **stats)
    if timed_out:
        return ExperimentDecision("stop", f"undecided after the max duration of {hours:g} h ({lift_text}); "
                                f"the champion stays", **stats)
    return ExperimentDecision("continue", f"not yet decided: {lift_text}", **stats)
