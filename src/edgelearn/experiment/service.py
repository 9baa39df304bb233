"""The "experiments" service: champion vs challenger, promotion, retirement, drift rollback.

- ``assign(role, session)`` routes a request of a role with a running experiment to the
  champion or the challenger, sticky by session (``experiment.assign``).
- A reward hook keeps each variant's sufficient statistics, and the drift detector of a
  freshly promoted champion, in the same transaction as the reward, so a restart loses
  nothing and a late human signal counts when it arrives.
- ``evaluate(role)`` applies the always-valid rule of ``experiment.decision`` and acts:
  promote the challenger, retire it, or stop at the maximum duration.
- ``check_drift(role)`` rolls a drifted champion back to the previous one.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from typing import Any, Callable

import apsw

from edgelearn.errors import InvalidInput, NotFound
from edgelearn.experiment.assign import assign_variant
from edgelearn.experiment.decision import DecisionConfig, ExperimentDecision, VariantStats, decide
from edgelearn.experiment.drift import RewardDriftDetector
from edgelearn.store.events import EventsRepo
from edgelearn.store.experiments import Experiment, Watch

log = logging.getLogger(__name__)

BASE_ID = "base"


class ExperimentService:
    """Owns experiments and drift watches for every role of one runtime."""

    def __init__(self, runtime) -> None:
        self.runtime = runtime
        self.store = runtime.store
        self._cache: dict[str, Experiment] = {}
        self._cache_at = 0.0
        self._lock = threading.Lock()
        self.on_change: list[Callable[[str], None]] = []  # the loop wakes up on these
        self.pending_sync: set[str] = set()
        self._stale = False
        self.store.runs.reward_hooks.append(self._on_reward)
        self.store.writer.add_after_commit(self._after_commit)

    # routing -----------------------------------------------------------------------------------
    def _running(self) -> dict[str, Experiment]:
        now = time.monotonic()
        if now - self._cache_at > 1.0:  # other processes (CLI) may change experiments: re-read each second
            with self._lock:
                self._cache = {e.role: e for e in self.store.experiments.running()}
                self._cache_at = now
        return self._cache

    def running_roles(self) -> set[str]:
        """Roles with a running experiment (cached for a second)."""
        return set(self._running())

    def invalidate(self) -> None:
        self._cache_at = 0.0

    def _after_commit(self) -> None:
        if self._stale:  # a drift rollback stopped an experiment: a re-read before the commit saw it running
            self._stale = False
            self.invalidate()

    def assign(self, role: str, session: str | None) -> str | None:
        """The model id serving this request of ``role``, or None when no experiment runs."""
        exp = self._running().get(role)
        if exp is None:
            return None
        key = session if session else os.urandom(8).hex()  # no session: not sticky, but shares hold
        variant = assign_variant(exp.id, key, exp.traffic)
        return exp.challenger if variant == "challenger" else exp.champion

    def serving(self, role: str) -> str:
        """What a request of ``role`` without a session is served by outside experiments."""
        champion = self.store.models.champion(role)
        return champion.id if champion else BASE_ID

    # statistics in the reward transaction --------------------------------------------------------
    def _on_reward(self, conn: apsw.Connection, run: dict[str, Any], old: float | None, new: float | None) -> None:
        role, model = run["role"], run["model_variant"]
        if not model or old == new:
            return
        exp = self.store.experiments.running_in(conn, role)
        if exp is not None and run["created_at"] >= exp.started_at and model in (exp.champion, exp.challenger):
            variant = "champion" if model == exp.champion else "challenger"
            n = (new is not None) - (old is not None)
            d_sum = (new or 0.0) - (old or 0.0)
            d_sq = (new or 0.0) ** 2 - (old or 0.0) ** 2
            self.store.experiments.add_sample_in(
                conn, exp.id, variant, n=n, reward=d_sum, reward_sq=d_sq,
                latency_ms=run["latency_ms"] if n > 0 else None, cost=run["cost"] if n > 0 else None)
        if old is None and new is not None:
            self._watch_update(conn, role, model, new, run["created_at"])

    def _watch_update(self, conn: apsw.Connection, role: str, model: str, reward: float, created_at: float) -> None:
        watch = self.store.experiments.watch_in(conn, role)
        if watch is None or not watch.active or watch.model_id != model or created_at < watch.started_at:
            return
        detector = RewardDriftDetector.from_dict(watch.detector)
        status = detector.update(reward)
        watch.detector = detector.to_dict()
        self.store.experiments.set_watch_in(conn, watch)
        if status.drifted:
            EventsRepo.append_in(conn, "drift.detected", {"model": model, "statistic": status.statistic,
                                                          "rolling_mean": status.rolling_mean, "n": status.n,
                                                          "baseline": watch.baseline_mean}, role=role, subject=model)
            self._rollback_in(conn, role, watch, f"reward drift: rolling mean {status.rolling_mean:.3f} vs "
                                                 f"baseline {watch.baseline_mean:.3f} after {status.n} runs")
            self.invalidate()
            self._stale = True
            self.pending_sync.add(role)  # bandit arms are synced by the loop, outside this transaction
            for callback in self.on_change:  # wake the loop now
                callback(role)

    # experiments -------------------------------------------------------------------------------
    def start_experiment(self, role: str, challenger: str, traffic: float | None = None,
                         then: Callable[[Any, str], None] | None = None) -> str:
        """Make ``challenger`` (a registered candidate) race the role's champion; ``then(conn, exp_id)``
        runs in the same transaction."""
        traffic = self.runtime.settings.experiments.challenger_traffic if traffic is None else traffic
        champion = self.serving(role)
        serving = self.runtime.services.get("serving")
        if serving is not None:
            # a cold load (seconds) in the challenger's first requests would count against its latency
            for model_id in (champion, challenger):
                try:
                    serving.engine.warm(model_id)
                except Exception as exc:  # noqa: BLE001 - the experiment still starts; requests load it
                    log.warning("warming %s failed: %s", model_id, exc)

        def fn(conn):
            running = self.store.experiments.running_in(conn, role)
            if running:
                raise InvalidInput(f"role {role} already runs experiment {running.id}; conclude it first", field="role")
            self.store.models.set_state_in(conn, challenger, "challenger", "experiment started")
            exp_id = self.store.experiments.start_in(conn, role, champion, challenger, traffic)
            if then is not None:
                then(conn, exp_id)
            return exp_id

        exp_id = self.store.write(fn)
        self.invalidate()
        self._changed(role)
        return exp_id

    def variant_stats(self, exp_id: str) -> dict[str, VariantStats]:
        raw = self.store.experiments.stats(exp_id)
        return {name: VariantStats(s.n, s.reward_sum, min(max(s.reward_sq, 0.0), s.reward_sum), s.mean_latency,
                                   s.mean_cost) for name, s in raw.items()}

    def evaluate(self, role: str, now: float | None = None) -> ExperimentDecision | None:
        """Decide the role's running experiment and act on the outcome; None when none runs."""
        exps = self.store.experiments.running(role)
        if not exps:
            return None
        exp = exps[0]
        stats = self.variant_stats(exp.id)
        config = DecisionConfig.from_settings(self.runtime.settings.experiments)
        elapsed = max(0.0, (now or time.time()) - exp.started_at)
        decision = decide(stats["champion"], stats["challenger"], config, elapsed_s=elapsed)
        if decision.outcome == "continue":
            self.store.write(lambda c: self.store.experiments.set_decision_in(c, exp.id, _jsonable(decision)))
            return decision
        self._conclude(exp, decision, stats)
        return decision

    def _conclude(self, exp: Experiment, decision: ExperimentDecision, stats: dict[str, VariantStats]) -> None:
        settings = self.runtime.settings.drift
        payload = _jsonable(decision)

        def fn(conn):
            if decision.outcome == "promote":
                self.store.experiments.finish_in(conn, exp.id, "promoted", decision.reason, payload)
                self.store.models.set_state_in(conn, exp.challenger, "champion", f"won {exp.id}: {decision.reason}")
                self._champion_changed_in(conn, exp.role, exp.challenger, rolled_back=False,
                                          reason=f"won {exp.id}")
                ch = stats["challenger"]
                detector = RewardDriftDetector(baseline_mean=ch.mean, baseline_std=max(ch.std, 1e-3),
                                               window=settings.window, min_drop=settings.min_drop,
                                               baseline_n=ch.n)
                self.store.experiments.set_watch_in(conn, Watch(
                    role=exp.role, model_id=exp.challenger, previous_champion=exp.champion,
                    baseline_mean=ch.mean, baseline_std=ch.std, detector=detector.to_dict(), active=True,
                    started_at=time.time()))
            else:
                state = "retired" if decision.outcome == "retire" else "stopped"
                self.store.experiments.finish_in(conn, exp.id, state, decision.reason, payload)
                self.store.models.set_state_in(conn, exp.challenger, "retired", f"{state} in {exp.id}: {decision.reason}")

        self.store.write(fn)
        self.invalidate()
        self._changed(exp.role)

    # rollback ----------------------------------------------------------------------------------
    def _rollback_in(self, conn: apsw.Connection, role: str, watch: Watch | None, reason: str) -> str:
        current = self.store.models.champion_id_in(conn, role)
        if current is None:
            raise InvalidInput(f"role {role} has no trained champion to roll back (it is served by base)", field="role")
        # a running experiment races the champion rolled back here: it ends, or it keeps serving it
        running = self.store.experiments.running_in(conn, role)
        if running:
            self.store.experiments.finish_in(conn, running.id, "stopped", f"rollback: {reason}")
            self.store.models.set_state_in(conn, running.challenger, "retired", f"rollback: {reason}")
        previous = self.store.models.previous_champion_id_in(conn, role)
        self.store.models.set_state_in(conn, current, "rolled_back", reason)
        if previous is not None:
            self.store.models.set_state_in(conn, previous, "champion", f"rollback of {current}: {reason}")
        self.store.experiments.deactivate_watch_in(conn, role)
        restored = previous or BASE_ID
        self._champion_changed_in(conn, role, restored, rolled_back=True, reason=f"rollback of {current}: {reason}")
        EventsRepo.append_in(conn, "loop.rollback", {"from": current, "to": restored, "reason": reason},
                             role=role, subject=current)
        return restored

    def rollback(self, role: str, reason: str = "requested") -> str:
        """Roll the role's champion back now (takes effect on the next request); returns what serves."""
        restored = self.store.write(lambda conn: self._rollback_in(conn, role, None, reason))
        self.invalidate()
        self._changed(role)
        return restored

    def promote(self, model_id: str, reason: str = "requested") -> None:
        """Make ``model_id`` the champion of its role now, ending its role's experiment."""
        model = self.store.models.get(model_id)

        def fn(conn):
            running = self.store.experiments.running_in(conn, model.role)
            if running:
                self.store.experiments.finish_in(conn, running.id, "stopped", f"manual promotion of {model_id}")
                if running.challenger != model_id:
                    self.store.models.set_state_in(conn, running.challenger, "retired",
                                                   f"manual promotion of {model_id}")
            self.store.models.set_state_in(conn, model_id, "champion", reason)
            self._champion_changed_in(conn, model.role, model_id, rolled_back=False, reason=f"promoted: {reason}")

        self.store.write(fn)
        self.invalidate()
        self._changed(model.role)

    def _champion_changed_in(self, conn: apsw.Connection, role: str, champion: str, *, rolled_back: bool,
                             reason: str) -> None:
        """Tell the independence levels in the same transaction: a rollback drops them to 0."""
        independence = self.runtime.services.get("independence")
        if independence is not None:
            independence.champion_changed_in(conn, role, champion, rolled_back=rolled_back, reason=reason)

    def retire(self, model_id: str, reason: str = "requested") -> None:
        """Retire a version (a running experiment it is part of stops; its champion stays)."""
        model = self.store.models.get(model_id)

        def fn(conn):
            running = self.store.experiments.running_in(conn, model.role)
            if running and model_id in (running.champion, running.challenger):
                self.store.experiments.finish_in(conn, running.id, "stopped", f"{model_id} retired: {reason}")
            if model.state == "champion":
                self.store.experiments.deactivate_watch_in(conn, model.role)
            self.store.models.set_state_in(conn, model_id, "retired", reason)

        self.store.write(fn)
        self.invalidate()
        self._changed(model.role)

    def sync_local_arm(self, role: str) -> None:
        """Keep the bandit's arm for the role's local model on the version that now serves it.

        Trained versions of a role are raced by experiments, not by the bandit: its one local
        arm follows the champion (or ``base``), while other model arms (Ollama models, external
        APIs) stay as they are.
        """
        selector = self.runtime.services.get("selector")
        if selector is None:
            return
        arms = self.store.arms.list(role, "model")
        if not arms:
            return
        local = {BASE_ID} | {m.id for m in self.store.models.list(role=role)}
        keep = [(a.variant, a.backend, a.cost_per_1k) for a in arms if a.enabled and a.variant not in local]
        selector.sync_model_arms(role, keep + [(self.serving(role), "embedded", 0.0)], disable_missing=True)

    def _changed(self, role: str) -> None:
        serving = self.runtime.services.get("serving")
        if serving is not None:
            serving.sync.wake()  # Ollama learns of promotions and retirements now, not in 5 s
        try:
            self.sync_local_arm(role)
        except Exception:
            log.exception("syncing the bandit's local model arm of %s failed", role)
        for callback in self.on_change:
            try:
                callback(role)
            except Exception:
                log.exception("experiment change callback failed")


def _jsonable(decision: ExperimentDecision) -> dict[str, Any]:
    def clean(v):
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v

    return clean(decision.to_dict())


def experiment_summary(service: ExperimentService, exp: Experiment) -> dict[str, Any]:
    """An experiment with its per-variant statistics, as the status API shows it."""
    try:
        stats = service.variant_stats(exp.id)
    except NotFound:
        stats = {}
    return {"id": exp.id, "role": exp.role, "champion": exp.champion, "challenger": exp.challenger,
            "traffic": exp.traffic, "state": exp.state, "started_at": exp.started_at, "ended_at": exp.ended_at,
            "stats": {k: {"n": v.n, "mean": v.mean if v.n else None, "mean_latency_ms": v.mean_latency_ms}
                      for k, v in stats.items()},
            "decision": exp.decision, "reason": exp.reason}
