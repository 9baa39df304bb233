"""Contract: every policy, in both its vectorized and its one-decision form, finds the best arm."""

from __future__ import annotations

import random

import numpy as np
import pytest

from edgelearn.bandits.policies import UCB1, EpsilonGreedy, Thompson, choose, choose_one, make_policy, policy_names
from edgelearn.bandits.simulate import SimStats, rewards_for, simulate, stationary
from edgelearn.config import BanditSettings

POLICIES = {"thompson": Thompson(), "ucb": UCB1(1.0), "epsilon": EpsilonGreedy(0.1)}
CASES = {  # name: (reward kind, arm means); the best arm is the last
    "bernoulli": ("bernoulli", [0.3, 0.45, 0.5, 0.7]),
    "fractional": ("fractional", [0.35, 0.5, 0.55, 0.75]),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("name", sorted(POLICIES))
def test_vectorized_policy_finds_the_best_arm(name, case):
    kind, mu = CASES[case]
    result = simulate(POLICIES[name], stationary(mu, 2000), batch=40, seed=7, reward=kind)
    best = len(mu) - 1
    late_share = (result.choices[-500:] == best).mean()
    most_pulled = np.array([np.bincount(result.choices[:, b], minlength=len(mu)).argmax() for b in range(40)])
    assert late_share > 0.7, f"{name} on {case}: best arm only {late_share:.0%} of the last 500 pulls"
    assert (most_pulled == best).mean() >= 0.9
    # and clearly better than choosing at random
    assert result.regret.mean() < 0.35 * 2000 * (max(mu) - np.mean(mu))


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("name", sorted(POLICIES))
def test_one_decision_form_finds_the_best_arm(name, case):
    kind, mu = CASES[case]
    draw = rewards_for(kind)
    rnd, rng = random.Random(3), np.random.default_rng(3)
    wins = 0
    for _replication in range(6):
        n, s = [0.0] * len(mu), [0.0] * len(mu)
        counts = [0] * len(mu)
        for _ in range(1500):
            i, _ = choose_one(POLICIES[name], n, s, rnd)
            r = float(draw(np.array(mu[i]), rng))
            n[i] += 1.0
            s[i] += r
            counts[i] += 1
        wins += counts.index(max(counts)) == len(mu) - 1
    assert wins >= 5, f"{name} on {case}: best arm most pulled in only {wins} of 6 replications"


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_untried_arms_come_first_and_scores_cover_every_arm(name):
    policy = POLICIES[name]
    n, s = [5.0, 0.0, 5.0], [5.0, 0.0, 5.0]
    if name != "thompson":  # Thompson explores by sampling instead
        picks = {choose_one(policy, n, s, random.Random(k))[0] for k in range(20)}
        assert picks == {1} or (name == "epsilon" and 1 in picks)
    i, sc = choose_one(policy, n, s, random.Random(0))
    assert len(sc) == 3 and 0 <= i < 3
    idx, arr = choose(policy, np.array([n, n]), np.array([s, s]), np.random.default_rng(0))
    assert idx.shape == (2,) and arr.shape == (2, 3)


def test_thompson_counts_fractional_rewards_fractionally():
    # Beta(1 + s, 1 + n - s): 10 pulls at reward 0.9 give a posterior mean of 10/12
    draws = [Thompson().scores_one([10.0], [9.0], random.Random(k))[0] for k in range(4000)]
    assert abs(np.mean(draws) - 10 / 12) < 0.01


def test_policies_are_configured_from_settings():
    assert set(policy_names()) == {"thompson", "ucb", "epsilon"}
    assert make_policy(BanditSettings(policy="epsilon", epsilon=0.3)).epsilon == 0.3
    assert make_policy(BanditSettings(policy="ucb", ucb_c=2.0)).c == 2.0


def test_sim_stats_discount_and_window_keep_only_recent_evidence():
    st = SimStats(1, 2, discount=0.5, window=2)
    for arm, r in ((1, 1.0), (0, 1.0), (0, 0.0)):
        st.update(np.array([arm]), np.array([r]))
    # window 2 keeps the role's last two observations: arm 0's 1.0 (tick 2, weight 0.5) and 0.0 (tick 3);
    # arm 1's only observation (tick 1) has expired although nobody pulled arm 1 since
    assert st.n[0, 0] == pytest.approx(1.5)
    assert st.s[0, 0] == pytest.approx(0.5)
    assert st.n[0, 1] == pytest.approx(0.0)
