"""Pure arithmetic behind the screens: no I/O and no imports from the rest of edgelearn.

``source.py`` fetches rows; the figures made from them (an arm's interval, the independence
share, which trend window to draw, the loop's overall stage) are computed here so they can be
tested on plain numbers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

# (window seconds, bucket seconds) tried in order: the first window holding enough runs is drawn,
# so a busy agent sees the last hour by the minute and a quiet one the last week by the day.
TREND_WINDOWS: tuple[tuple[int, int], ...] = ((3600, 60), (86400, 1800), (7 * 86400, 21600))
TREND_MIN_RUNS = 20
RATE_WINDOW_S = 300  # runs per minute averaged over five minutes: steady enough to read

STAGE_ORDER = ("train", "curate", "register", "experiment", "idle")
TOGGLES = {"auto_export": "export.auto_export", "auto_train": "train.auto_train",
           "auto_deploy": "deploy.auto_deploy"}


def pick_trend_window(counts: Iterable[tuple[int, int, int]]) -> tuple[int, int]:
    """The first (window_s, bucket_s) whose run count reaches ``TREND_MIN_RUNS``, else the widest.

    ``counts`` yields (window_s, bucket_s, runs in that window), narrowest first.
    """
    last = TREND_WINDOWS[-1]
    for window, bucket, runs in counts:
        last = (window, bucket)
        if runs >= TREND_MIN_RUNS:
            return window, bucket
    return last


def arm_interval(n: float, s: float, s2: float, z: float = 1.96) -> tuple[float | None, float | None, float | None]:
    """(mean, low, high) of an arm's reward from its sufficient statistics.

    A normal interval on the mean (rewards are bounded in [0, 1], so it is clipped there);
    with fewer than two observations there is no spread to speak of and only the mean is given.
    """
    if n <= 0:
        return None, None, None
    mean = s / n
    if n < 2:
        return mean, None, None
    var = max(s2 / n - mean * mean, 0.0) * n / (n - 1)
    half = z * math.sqrt(var / n)
    return mean, max(0.0, mean - half), min(1.0, mean + half)


def decay(discount: float, ticks: int) -> float:
    """Weight of evidence ``ticks`` reward-clock ticks old under a per-tick ``discount``."""
    return 1.0 if discount >= 1.0 or ticks <= 0 else discount ** ticks


def is_local(model: str | None, role: str, registered: set[str]) -> bool:
    """Whether a run's model was served by edgelearn itself (the base or a registered adapter)."""
    if not model:
        return False
    return model == "base" or model in registered or model.startswith(f"{role}-v")


def independence(rows: Iterable[tuple[Any, ...]], role: str, registered: set[str],
                 price_per_1k: float) -> dict[str, Any]:
    """Share of runs served locally, their mean rewards, and what the local tokens would have cost.

    ``rows`` are (model_variant, runs, mean reward, tokens) per served model.
    """
    local_n = ext_n = 0
    local_sum = ext_sum = 0.0
    local_scored = ext_scored = 0
    local_tokens = 0
    for model, runs, mean, tokens in rows:
        runs = int(runs or 0)
        if is_local(model, role, registered):
            local_n += runs
            local_tokens += int(tokens or 0)
            if mean is not None:
                local_sum += mean * runs
                local_scored += runs
        else:
            ext_n += runs
            if mean is not None:
                ext_sum += mean * runs
                ext_scored += runs
    total = local_n + ext_n
    return {
        "local_share": local_n / total if total else 0.0,
        "local_reward": local_sum / local_scored if local_scored else None,
        "external_reward": ext_sum / ext_scored if ext_scored else None,
        "cost_saved": local_tokens / 1000.0 * price_per_1k,
    }


def model_reward(rows: Iterable[tuple[Any, ...]], model: str) -> float | None:
    """Mean reward of one model from (model_variant, runs, mean, tokens) rows."""
    for name, _runs, mean, _tokens in rows:
        if name == model:
            return mean
    return None


def overall_stage(stages: Iterable[str]) -> str:
    """The loop's stage across roles: the busiest one wins (training over curation, and so on)."""
    seen = set(stages)
    for stage in STAGE_ORDER:
        if stage in seen:
            return stage
    return "idle"


def dataset_size(counts: Any) -> int | None:
    """Training examples in a dataset from its ``counts`` (the train split, as the loop counts them)."""
    if isinstance(counts, (int, float)):
        return int(counts)
    if not isinstance(counts, dict):
        return None
    for key in ("train", "total"):
        if isinstance(counts.get(key), (int, float)):
            return int(counts[key])
    return None


def pick(obj: Any, *names: str) -> Any:
    """The first of ``names`` present on a dataclass/object or dict, else None."""
    for name in names:
        if isinstance(obj, dict):
            if obj.get(name) is not None:
                return obj[name]
        elif getattr(obj, name, None) is not None:
            return getattr(obj, name)
    return None
