"""One set of defaults: the decision rule takes every knob from ``[experiments]``."""

from __future__ import annotations

import dataclasses

import pytest

from edgelearn.config import ExperimentSettings, Settings, load_settings
from edgelearn.experiment.decision import DecisionConfig, VariantStats, decide


def stats(n: int, mean: float, latency_ms: float) -> VariantStats:
    # half the runs at mean - 0.1, half at mean + 0.1: sd 0.1, enough samples for any verdict
    low, high = mean - 0.1, mean + 0.1
    half = n // 2
    return VariantStats(n, half * (low + high), half * (low * low + high * high), mean_latency_ms=latency_ms)


def test_the_rule_has_no_defaults_of_its_own():
    with pytest.raises(TypeError):
        DecisionConfig()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        decide(stats(200, 0.6, 100.0), stats(200, 0.6, 100.0))  # type: ignore[call-arg]
    config = DecisionConfig.from_settings(ExperimentSettings())
    defaults = ExperimentSettings()
    assert (config.min_samples, config.min_improvement, config.confidence, config.latency_guard,
            config.cost_guard, config.max_duration_s) == (
        defaults.min_samples, defaults.min_improvement, defaults.confidence, defaults.latency_guard,
        defaults.cost_guard, defaults.max_duration_hours * 3600.0)
    # every setting of the section reaches the rule (challenger_traffic is the router's)
    rule_fields = {f.name for f in dataclasses.fields(DecisionConfig)}
    for name in ExperimentSettings.model_fields:
        assert name in rule_fields or name in {"max_duration_hours", "challenger_traffic"}, name


def test_the_latency_guard_is_the_configs(tmp_path):
    champion = stats(200, 0.6, 1000.0)
    challenger = stats(200, 0.8, 2500.0)  # far better, and 2.5x slower
    default = Settings().experiments.latency_guard
    assert default == 3.0
    assert decide(champion, challenger, DecisionConfig.from_settings(Settings().experiments)).outcome == "promote"

    cfg = tmp_path / "edgelearn.toml"
    cfg.write_text("[experiments]\nlatency_guard = 2.0\nmin_samples = 50\n")
    config = DecisionConfig.from_settings(load_settings(cfg, environ={}).experiments)
    assert (config.latency_guard, config.min_samples) == (2.0, 50)
    slow = decide(champion, challenger, config)
    assert slow.outcome == "retire" and "2x the champion's" in slow.reason and "latency" in slow.reason

    env = load_settings(cfg, environ={"EDGELEARN_EXPERIMENTS__MIN_SAMPLES": "300"}).experiments
    waiting = decide(champion, challenger, DecisionConfig.from_settings(env))
    assert waiting.outcome == "continue" and "300 samples" in waiting.reason
