"""Simulated experiments: the decision rule checked after every sample, 1,000 experiments a case.

Reward model ("signal mix"): 10 % of runs score 0 or 1 (one boolean signal present, e.g.
compile only), the rest are Beta with concentration 8 (fractional test ratios and scores);
the mean is the variant's true reward. At mean 0.6 its sd is 0.22. The power case uses plain
Beta rewards with concentration 5 (sd 0.20 at 0.6): the +10 % target needs about that little
noise, and bench/results/experiment.md shows how power falls with more. The statistics are
evaluated with the library's own vectorized ``evidence``/``verdicts`` (the exact rule
``decide`` applies, which ``test_vectorized_rule_is_decide`` pins) at every sample.
"""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from edgelearn.config import ExperimentSettings
from edgelearn.errors import InvalidInput
from edgelearn.experiment.decision import (
    DecisionConfig,
    VariantStats,
    boundary_z,
    decide,
    evidence,
    log_mixture_evidence,
    verdicts,
)

CONFIG = DecisionConfig.from_settings(ExperimentSettings())  # min 100 per variant, 5 % lift, 95 %, guards 3x latency 1.5x cost, 72 h
EXPERIMENTS = 1000


def signal_mix(rng: np.random.Generator, mean: float, size, p01: float = 0.1, kappa: float = 8.0) -> np.ndarray:
    out = rng.beta(mean * kappa, (1.0 - mean) * kappa, size)
    boolean = rng.random(size) < p01
    out[boolean] = rng.random(int(boolean.sum())) < mean
    return out


def _first(mask: np.ndarray) -> np.ndarray:
    """Index of the first True per row, or the row length when there is none."""
    return np.where(mask.any(axis=1), mask.argmax(axis=1), mask.shape[1])


def run_paired(rng, m0: float, m1: float, horizon: int, experiments: int = EXPERIMENTS, **noise) -> dict:
    """Each step adds one run to each variant; the rule is checked after every step."""
    x0 = signal_mix(rng, m0, (experiments, horizon), **noise)
    x1 = signal_mix(rng, m1, (experiments, horizon), **noise)
    n = np.broadcast_to(np.arange(1, horizon + 1, dtype=float), x0.shape)
    return _outcomes(n, x0, n, x1)


def run_split(rng, m0, m1, requests: int, share: float = 0.1, experiments: int = EXPERIMENTS, chunk: int = 250,
              noise0=None, noise1=None) -> dict:
    """Requests assigned at random (``share`` to the challenger), checked after every request."""
    parts = []
    for _ in range(experiments // chunk):
        to_challenger = rng.random((chunk, requests)) < share
        x = np.where(to_challenger, signal_mix(rng, m1, (chunk, requests), **(noise1 or {})),
                     signal_mix(rng, m0, (chunk, requests), **(noise0 or {})))
        n1 = np.cumsum(to_challenger, axis=1, dtype=float)
        parts.append(_outcomes(np.arange(1, requests + 1) - n1, np.where(to_challenger, 0.0, x),
                               n1, np.where(to_challenger, x, 0.0)))
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}


def _outcomes(n0, x0, n1, x1) -> dict:
    with np.errstate(divide="ignore", invalid="ignore"):  # counts below 2 are masked out below
        ev = evidence(n0, np.cumsum(x0, 1), np.cumsum(x0 * x0, 1), n1, np.cumsum(x1, 1), np.cumsum(x1 * x1, 1),
                      CONFIG)
    promote, futile = verdicts(ev, CONFIG)
    ready = np.minimum(n0, n1) >= CONFIG.min_samples
    first_promote, first_retire = _first(promote & ready), _first(futile & ready)
    rows = np.arange(n0.shape[0])
    at_promotion = np.minimum(first_promote, n0.shape[1] - 1)
    return {"promoted": first_promote < first_retire, "retired": first_retire < first_promote,
            "challenger_n_at_promotion": n1[rows, at_promotion]}


def test_mixture_evidence_matches_the_integral_it_stands_for():
    # E = int_0^inf exp(t z sqrt(r) ... ) written in z, r: check the closed form by quadrature
    for z, r in [(0.0, 1.0), (2.5, 8.0), (-1.0, 3.0), (3.3, 40.0)]:
        v = 1.0 / r  # take tau = 1, so V = 1 / r and the observed difference is z sqrt(V)
        diff = z * math.sqrt(v)
        theta = np.linspace(0.0, 12.0, 200001)
        density = 2.0 * np.exp(-0.5 * theta ** 2) / math.sqrt(2.0 * math.pi)
        integrand = np.exp((theta * diff - 0.5 * theta ** 2) / v) * density
        assert log_mixture_evidence(z, r) == pytest.approx(math.log(np.trapezoid(integrand, theta)), abs=1e-5)
    assert log_mixture_evidence(boundary_z(8.0, math.log(20.0)), 8.0) == pytest.approx(math.log(20.0), abs=1e-9)


def test_false_promotions_stay_under_5_percent_with_equal_variants_checked_every_sample():
    result = run_paired(np.random.default_rng(1), 0.6, 0.6, horizon=1000)
    rate = result["promoted"].mean()
    print(f"false promotions, 0.6 vs 0.6, paired, looks 100..1000 per variant: {rate:.1%}")
    assert rate <= 0.05
    # most equal challengers are retired for futility within the horizon instead of lingering
    assert result["retired"].mean() >= 0.4


@pytest.mark.parametrize("case", ["signal mix at 0.6", "0/1 rewards at 0.9", "noisier challenger"])
def test_false_promotions_stay_under_5_percent_with_ten_percent_traffic(case):
    # 4,000-5,000 requests (the challenger reaches 400-500 runs) keep this file fast; the
    # 10,000-request figures are in bench/results/experiment.md
    rng = np.random.default_rng(2)
    if case == "signal mix at 0.6":
        result = run_split(rng, 0.6, 0.6, requests=5_000)
    elif case == "0/1 rewards at 0.9":  # the challenger's p(1-p) variance shrinks as it looks best
        result = run_split(rng, 0.9, 0.9, requests=4_000, noise0={"p01": 1.0}, noise1={"p01": 1.0})
    else:  # champion steady (sd 0.09), challenger 0/1 (sd 0.49): Welch's variance must carry it
        result = run_split(rng, 0.6, 0.6, requests=4_000, noise0={"p01": 0.0, "kappa": 30.0}, noise1={"p01": 1.0})
    rate = result["promoted"].mean()
    print(f"false promotions, {case}, 10 % traffic: {rate:.1%}")
    assert rate <= 0.05


def test_power_for_a_true_ten_percent_lift_within_300_samples_per_variant():
    # 0.60 vs 0.66 (+10 % relative), Beta rewards with sd 0.20; 88.8 % over 4,000 experiments
    result = run_paired(np.random.default_rng(3), 0.60, 0.66, horizon=300, p01=0.0, kappa=5.0)
    power = result["promoted"].mean()
    print(f"power, 0.60 vs 0.66 (+10 % relative), sd 0.20, <= 300 per variant: {power:.1%}, "
          f"median challenger n at promotion {np.median(result['challenger_n_at_promotion'][result['promoted']]):.0f}")
    assert power >= 0.80
    assert result["retired"].mean() <= 0.01


def test_a_worse_challenger_is_retired_not_promoted():
    result = run_paired(np.random.default_rng(4), 0.66, 0.60, horizon=400)
    assert result["promoted"].mean() == 0.0
    assert result["retired"].mean() >= 0.95


def test_vectorized_rule_is_decide():
    rng = np.random.default_rng(5)
    for lift in (0.0, 0.1, -0.1, 0.05):
        x0, x1 = signal_mix(rng, 0.6, 1000), signal_mix(rng, 0.6 * (1 + lift), 1000)
        for n in (100, 137, 250, 400, 1000):
            a, b = VariantStats.from_values(x0[:n]), VariantStats.from_values(x1[:n])
            ev = evidence(a.n, a.sum, a.sum_sq, b.n, b.sum, b.sum_sq, CONFIG)
            promote, futile = verdicts(ev, CONFIG)
            expected = "promote" if promote else "retire" if futile else "continue"
            decision = decide(a, b, CONFIG, elapsed_s=0.0)
            assert decision.outcome == expected
            lo, hi = decision.diff_interval
            assert lo < b.mean - a.mean < hi
            assert (lo > 0) == (decision.e_promote >= decision.e_threshold)


def test_guard_rails_retire_a_slower_or_dearer_challenger():
    rng = np.random.default_rng(6)
    config = CONFIG
    slower = config.latency_guard * 4 / 3  # a third over the guard, as 2x is over a 1.5x guard
    outcomes: dict[str, list[str]] = {"slow": [], "dear": [], "fair": []}
    for _ in range(EXPERIMENTS):
        x0, x1 = signal_mix(rng, 0.6, 150), signal_mix(rng, 0.75, 150)  # a clearly better challenger
        lat0, cost0 = rng.lognormal(math.log(800), 0.5, 150), rng.gamma(2.0, 0.001, 150)
        lat1, cost1 = rng.lognormal(math.log(800), 0.5, 150), rng.gamma(2.0, 0.001, 150)
        champ = VariantStats.from_values(x0, lat0, cost0)
        outcomes["slow"].append(decide(champ, VariantStats.from_values(x1, lat1 * slower, cost1), config).outcome)
        outcomes["dear"].append(decide(champ, VariantStats.from_values(x1, lat1, cost1 * 2.0), config).outcome)
        outcomes["fair"].append(decide(champ, VariantStats.from_values(x1, lat1, cost1), config).outcome)
    assert set(outcomes["slow"]) == {"retire"}
    assert set(outcomes["dear"]) == {"retire"}
    assert outcomes["fair"].count("promote") >= 0.99 * EXPERIMENTS
    slow = decide(champ, VariantStats.from_values(x1, lat1 * slower, cost1), config)
    assert "latency" in slow.reason and "guard rail" in slow.reason


def test_undecided_experiments_stop_at_max_duration_and_keep_the_champion():
    # a challenger right at the margin (+5 %) is seldom promotable or futile after 300 runs each
    config = dataclasses.replace(CONFIG, max_duration_s=3600.0)
    rng = np.random.default_rng(7)
    outcomes = []
    for _ in range(200):
        a = VariantStats.from_values(signal_mix(rng, 0.60, 300))
        b = VariantStats.from_values(signal_mix(rng, 0.63, 300))
        before, after = decide(a, b, config, elapsed_s=3599.0), decide(a, b, config, elapsed_s=3600.0)
        if before.outcome == "continue":
            assert after.outcome == "stop" and "champion stays" in after.reason
        else:  # a decision reached in time is not overridden by the clock
            assert after.outcome == before.outcome
        outcomes.append(after.outcome)
    assert outcomes.count("stop") > 100
    # too little traffic to reach min_samples also stops at the max duration
    few = VariantStats.from_values([0.5] * 40)
    assert decide(few, few, config, elapsed_s=10.0).outcome == "continue"
    assert decide(few, few, config, elapsed_s=7200.0).outcome == "stop"


def test_decision_is_json_ready_and_names_its_numbers():
    rng = np.random.default_rng(9)
    a, b = VariantStats.from_values(signal_mix(rng, 0.6, 300)), VariantStats.from_values(signal_mix(rng, 0.75, 300))
    d = decide(a, b, CONFIG)
    assert d.outcome == "promote"
    out = d.to_dict()
    assert out["samples"] == {"champion": 300, "challenger": 300}
    assert 0.15 < out["lift"] < 0.35 and out["prob_better"] > 0.99
    assert "lift +" in d.reason
    json.dumps(out, allow_nan=False)
    # a champion that never scored: the lift is undefined, a better challenger still wins
    zero = decide(VariantStats(150, 0.0, 0.0), VariantStats.from_values(signal_mix(rng, 0.3, 150)), CONFIG)
    assert zero.outcome == "promote" and zero.lift is None
    json.dumps(zero.to_dict(), allow_nan=False)


@pytest.mark.parametrize("stats, field", [
    (VariantStats(-1, 0.0, 0.0), "challenger.n"),
    (VariantStats(100, 120.0, 120.0), "challenger.sum"),
    (VariantStats(100, 50.0, 60.0), "challenger.sum_sq"),
    (VariantStats(100, 50.0, 20.0), "challenger.sum_sq"),
    (VariantStats(100, 50.0, 30.0, mean_latency_ms=float("nan")), "challenger.mean_latency_ms"),
])
def test_impossible_statistics_are_rejected_by_name(stats, field):
    with pytest.raises(InvalidInput) as info:
        decide(VariantStats(100, 50.0, 30.0), stats, CONFIG)
    assert info.value.field == field


def test_bad_config_is_rejected_by_name():
    with pytest.raises(InvalidInput) as info:
        dataclasses.replace(CONFIG, confidence=1.0)
    assert info.value.field == "confidence"
    with pytest.raises(InvalidInput):
        decide(VariantStats(100, 50.0, 30.0), VariantStats(100, 50.0, 30.0), CONFIG, elapsed_s=-1.0)
