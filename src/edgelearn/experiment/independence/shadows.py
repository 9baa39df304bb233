"""Shadow answers counted: on a cluster's shadow side, and for a running experiment's variants.

A mixin of :class:`~edgelearn.experiment.independence.service.IndependenceService` (it uses the
service's ``store``, ``_lock``, ``_shadows``, ``agreement``, ``check`` and ``observe_in``), kept
apart so the service stays readable. ``server/shadow.py`` asks :meth:`shadow_models` which local
models answer, generates, and hands each answer to :meth:`shadow_answer`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import apsw

from edgelearn.experiment.independence.levels import check_cluster

log = logging.getLogger(__name__)
MAX_PENDING_SHADOWS = 10_000


@dataclass(frozen=True)
class PendingShadow:
    """One shadow answer waiting for its teacher's reward."""

    role: str
    cluster: int
    agreement: float
    check_passed: bool | None
    level: bool
    model: str | None


class ShadowCounting:
    """Scoring and counting shadow answers (see the module docstring)."""

    def shadow_models(self, role: str) -> list[str]:
        """The local models that answer a shadow of ``role``: its champion (``base`` before one), and
        while an experiment runs for the role, both its variants: at level 0 the experiment gets no
        live traffic, so shadow answers are what it sees (docs/independence.md)."""
        champion = self.store.models.champion(role)
        models = [champion.id if champion is not None else "base"]
        for exp in self.store.experiments.running(role)[:1]:
            models += [m for m in (exp.champion, exp.challenger) if m not in models]
        return models

    def shadow_answer(self, run, role: str, cluster: int | None, model: str, text: str,
                      calls: list[dict] | None = None, messages: list[dict] | None = None) -> float:
        """Score ``model``'s background answer to the teacher's ``run`` and count it; returns the agreement.

        Scored by :attr:`check` (a replayable check of the answer) where one is registered and says
        pass or fail, else by its agreement with the teacher's answer times the teacher's reward.
        It counts on the cluster's shadow side when ``model`` is the role's champion, and as a
        sample of its variant when an experiment for the role races it.
        """
        from edgelearn.experiment.independence.signals import agreement

        teacher = (run.metadata or {}).get("chat", {}).get("output", {})
        score = agreement(text, run.output or "", calls or [], teacher.get("tool_calls"))
        passed = None
        if self.check is not None and messages is not None:
            try:
                passed = self.check(messages, text, calls or [])
            except Exception:  # a failing checker leaves the agreement to score it
                log.warning("independence: the shadow check failed for run %s", run.id, exc_info=True)
        champion = self.store.models.champion(role)
        self.shadow_answered(run.id, role, cluster, score, check_passed=passed,
                             level=model == (champion.id if champion is not None else "base"), model=model)
        return score

    def shadow_answered(self, run_id: str, role: str, cluster: int | None, agreement_score: float, *,
                        check_passed: bool | None = None, level: bool = True, model: str | None = None) -> None:
        """A background local answer to the teacher's run ``run_id`` agreed this much with it.

        Worth :func:`signals.shadow_value`: the check's pass/fail when given, else the teacher's
        reward times the agreement, so without a check it counts once the teacher's run has a reward
        (now, or when its first reward arrives). ``level``: it counts on the cluster's shadow side
        (the champion's answers); ``model``: it counts for the role's running experiment when that
        races ``model``.
        """
        from edgelearn.experiment.independence.signals import shadow_value

        key = check_cluster(cluster)
        shadow_value(0.0, agreement_score)  # InvalidInput names an agreement outside [0, 1]
        pending = PendingShadow(role, key, agreement_score, check_passed, level, model)
        if level:
            with self._lock:
                totals = self.agreement.setdefault((role, key), [0.0, 0])
                totals[0] += agreement_score
                totals[1] += 1

        def count_or_wait(conn: apsw.Connection) -> bool:
            # in a write, so the teacher's reward lands either before (read here) or after (its
            # hook, ``_shadow_in``, finds this shadow waiting): never between the two
            reward = None if check_passed is not None else self.store.runs.reward_in(conn, run_id)
            if check_passed is not None or reward is not None:
                self._count_shadow_in(conn, pending, reward)
                return True
            with self._lock:
                self._shadows.setdefault(run_id, []).append(pending)
                while len(self._shadows) > MAX_PENDING_SHADOWS:
                    self._shadows.popitem(last=False)
            return False

        if self.store.write(count_or_wait):
            self.invalidate()

    def _count_shadow_in(self, conn: apsw.Connection, shadow: PendingShadow, teacher_reward: float | None) -> None:
        from edgelearn.experiment.independence.signals import shadow_value

        value = shadow_value(teacher_reward or 0.0, shadow.agreement, shadow.check_passed)
        if shadow.level and self.observe_in(conn, shadow.role, shadow.cluster, "shadow", None, value) is not None:
            self._stale = True
        exp = self.store.experiments.running_in(conn, shadow.role) if shadow.model else None
        if exp is not None and shadow.model in (exp.champion, exp.challenger):
            # no latency or cost: a background answer says nothing about what serving it costs
            variant = "champion" if shadow.model == exp.champion else "challenger"
            self.store.experiments.add_sample_in(conn, exp.id, variant, n=1, reward=value, reward_sq=value * value)

    def _shadow_in(self, conn: apsw.Connection, run: dict[str, Any], old: float | None, new: float | None) -> None:
        if old is not None or new is None or run.get("id") not in self._shadows:
            return
        with self._lock:
            waiting = self._shadows.pop(run["id"])
        for shadow in waiting:
            self._count_shadow_in(conn, shadow, new)
