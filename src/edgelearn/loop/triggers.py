"""When the loop starts a chain for a role: the triggers, the cooldown and the toggles."""

from __future__ import annotations

import time
from typing import Any

QUALITY_WINDOW = 50
FEEDBACK_WINDOW = 100
MIN_FEEDBACK = 10


def due_trigger(runtime, role: str, now: float | None = None) -> tuple[str, dict[str, Any]] | None:
    """The first trigger that fires for ``role`` as (name, detail), or None.

    Nothing fires while ``export.auto_export`` is off, during the cooldown after the role's
    last training, or without new good runs to learn from.
    """
    from edgelearn import curate

    settings = runtime.settings
    store = runtime.store
    now = time.time() if now is None else now
    if not settings.export.auto_export:
        return None
    last = store.experiments.last_training_start(role)
    cooldown = settings.train.cooldown_hours * 3600
    if last is not None and now - last < cooldown:
        return None
    pending = curate.pending_good_runs(store, settings, role)
    if pending <= 0:
        return None
    if pending >= settings.export.min_runs:
        return "sample_count", {"good_runs": pending, "need": settings.export.min_runs}
    if settings.train.schedule_hours > 0 and (last is None or now - last >= settings.train.schedule_hours * 3600):
        return "schedule", {"hours": settings.train.schedule_hours, "good_runs": pending}
    drop = quality_drop(store, role)
    if drop is not None and drop >= settings.loop.quality_drop:
        return "quality_drop", {"drop": round(drop, 4), "threshold": settings.loop.quality_drop}
    negative, total = store.runs.feedback_share_negative(role, FEEDBACK_WINDOW)
    if total >= MIN_FEEDBACK and negative / total >= settings.loop.error_rate:
        return "error_rate", {"negative": negative, "feedback": total, "threshold": settings.loop.error_rate}
    if settings.drift.retrain_on_input_drift:
        from edgelearn.loop.status import input_drift

        report = input_drift(runtime, role)
        if report and report.get("psi", 0) >= settings.drift.input_psi:
            return "input_drift", {"psi": report["psi"], "threshold": settings.drift.input_psi}
    return None


# a change of what serves the role: rewards before and after it are not one stream
SERVING_CHANGES = ("experiment.started", "experiment.promoted", "experiment.retired", "experiment.stopped",
                   "model.champion", "model.rolled_back")


def quality_drop(store, role: str, window: int = QUALITY_WINDOW) -> float | None:
    """Relative drop of the latest ``window`` rewards against the ``window`` before them, both
    recorded since the role's serving last changed (an experiment's traffic to a weaker variant,
    or a promotion, is not a drop in quality)."""
    since = store.events.last_time(role, SERVING_CHANGES)
    rewards = store.runs.recent_rewards(role, 2 * window, since=since)
    if len(rewards) < 2 * window:
        return None
    recent, earlier = rewards[:window], rewards[window:]
    base = sum(earlier) / window
    if base <= 0:
        return None
    return max(0.0, (base - sum(recent) / window) / base)
