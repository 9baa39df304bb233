"""Whether the local champion is as good as the teacher on a cluster: a non-inferiority test.

"As good" means ``theta = mean(local) - mean(teacher) >= -max_gap``. The test is the
always-valid one-sided mSPRT of :mod:`edgelearn.experiment.decision`, shifted by the margin:
with the same variance ``V`` and information ratio ``r`` that :func:`decision.evidence`
computes (the teacher in the champion's place, the local side in the challenger's),

    z = (diff + max_gap) / sqrt(V),   log E = log_mixture_evidence(z, r),

and the cluster may advance once ``E >= 1 / (1 - confidence)``. Under the null
``theta <= -max_gap`` the shifted statistic has a mean <= 0, so E is still an e-value and
Ville's inequality bounds the chance that a worse local model *ever* passes by
``1 - confidence`` however often the rule is checked (after every scored run). What it costs:
a margin of 0.02 is small beside rewards with sd 0.1-0.2, so an equal model needs thousands
of runs per level (bench/results/independence.md).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from edgelearn.errors import InvalidInput
from edgelearn.experiment.decision import DecisionConfig, VariantStats, boundary_z, evidence, log_mixture_evidence


@dataclass(frozen=True)
class Readiness:
    """The test's verdict and the numbers behind it (``to_dict`` is the event's evidence)."""

    ready: bool
    reason: str
    side: str                      # "local" (live traffic) or "shadow" (background answers)
    local_n: int
    local_mean: float | None
    teacher_n: int
    teacher_mean: float | None
    max_gap: float
    diff: float | None = None
    lower: float | None = None     # always-valid lower confidence bound of local - teacher
    e_value: float | None = None
    e_threshold: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def non_inferiority_log_e(local_n, local_sum, local_sq, teacher_n, teacher_sum, teacher_sq, max_gap: float,
                          config: DecisionConfig):
    """(log E, Evidence) of "local - teacher >= -max_gap"; floats or equal-shaped numpy arrays.

    Both counts must be at least 2. Arrays let the bench apply the exact rule at every sample.
    """
    ev = evidence(teacher_n, teacher_sum, teacher_sq, local_n, local_sum, local_sq, config)
    return log_mixture_evidence((ev.diff + max_gap) / ev.se, ev.r), ev


def readiness(local: VariantStats, teacher: VariantStats, max_gap: float, config: DecisionConfig,
              side: str = "local") -> Readiness:
    """Apply the test to one cluster's statistics; ``min_samples`` each side first.

    Raises InvalidInput when the statistics cannot come from rewards in [0, 1].
    """
    local.validate(side)
    teacher.validate("teacher")
    if isinstance(max_gap, bool) or not isinstance(max_gap, (int, float)) or not 0.0 <= max_gap < 1.0:
        raise InvalidInput(f"max_gap must be a number in [0, 1), got {max_gap!r}", field="max_gap")
    base = dict(side=side, local_n=int(local.n), local_mean=local.mean if local.n else None,
                teacher_n=int(teacher.n), teacher_mean=teacher.mean if teacher.n else None, max_gap=float(max_gap))
    if min(local.n, teacher.n) < config.min_samples:
        return Readiness(False, f"waiting for {config.min_samples} scored runs each side "
                                f"({side} {local.n}, teacher {teacher.n})", **base)
    sq_local = min(max(local.sum_sq, 0.0), local.sum)  # float drift of incremental sums
    sq_teacher = min(max(teacher.sum_sq, 0.0), teacher.sum)
    log_e, ev = non_inferiority_log_e(local.n, local.sum, sq_local, teacher.n, teacher.sum, sq_teacher,
                                      max_gap, config)
    log_e, diff, se = float(log_e), float(ev.diff), float(ev.se)
    e_value, threshold = math.exp(min(log_e, 700.0)), 1.0 / (1.0 - config.confidence)
    ready = log_e >= config.log_threshold
    if not ready:  # the rule runs after every scored run: the bound's bisection only for the event
        return Readiness(False, f"{side} {diff:+.3f} vs teacher: not yet shown to be within {max_gap:g} "
                                f"(evidence {e_value:.3g}, needs {threshold:.3g})",
                         diff=diff, e_value=e_value, e_threshold=threshold, **base)
    lower = diff - boundary_z(float(ev.r), config.log_threshold) * se
    reason = (f"{side} {diff:+.3f} vs teacher (lower bound {lower:+.3f}): not worse by more than {max_gap:g} "
              f"(evidence {e_value:.3g} >= {threshold:.3g})")
    return Readiness(True, reason, diff=diff, lower=lower, e_value=e_value, e_threshold=threshold, **base)


def cost_saved(tokens_in: int, tokens_out: int, input_per_m: float, output_per_m: float) -> float:
    """What the tokens served locally would have cost at the teacher's price per million tokens.

    Input and output tokens are priced separately, as providers' price tables do.
    """
    for name, value in (("tokens_in", tokens_in), ("tokens_out", tokens_out)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise InvalidInput(f"{name} must be an integer >= 0, got {value!r}", field=name)
    for name, value in (("input_per_m", input_per_m), ("output_per_m", output_per_m)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise InvalidInput(f"{name} must be a price >= 0 per million tokens, got {value!r}", field=name)
    return (int(tokens_in) * float(input_per_m) + int(tokens_out) * float(output_per_m)) / 1_000_000.0
