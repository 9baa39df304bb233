"""``LocalSource``: the store's repositories and the loop, in this process."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgelearn.errors import InvalidInput
from edgelearn.tui import derive
from edgelearn.tui.source.base import RunFilter, Unavailable, plain

log = logging.getLogger(__name__)


def _call(obj: Any, name: str, *args: Any, **kwargs: Any) -> Any:
    """``obj.name(...)``, or None when that method does not exist (yet) or takes other arguments."""
    fn = getattr(obj, name, None)
    if fn is None:
        log.debug("%s.%s is not there; shown as n/a", type(obj).__name__, name)
        return None
    try:
        return fn(*args, **kwargs)
    except TypeError as exc:  # a signature that changed under us: n/a, and the log says why
        log.warning("%s.%s(...) failed: %s; shown as n/a", type(obj).__name__, name, exc)
        return None


@dataclass
class _Detached:
    """The parts of a runtime a read-mostly source needs, over a bare store."""

    store: Any
    settings: Any
    config_file: Path | None = None
    watcher: Any = None


def _job_dict(job: Any) -> dict[str, Any]:
    """A training job in the status contract's shape; progress figures may sit in ``job.progress``."""
    d = plain(job) or {}
    merged = {**(d.get("progress") or {}), **{k: v for k, v in d.items() if v is not None}}
    keys = ("id", "role", "state", "step", "total_steps", "loss", "tokens_per_s", "eta_s", "dataset_version")
    return {k: merged.get(k) for k in keys}


def _experiment_dict(repo: Any, exp: Any) -> dict[str, Any]:
    """An experiment with per-variant n and mean (the shape ``GET /v1/experiments`` answers)."""
    out = plain(exp)
    stats = _call(repo, "stats", out["id"]) or {}
    out["stats"] = {variant: {"n": st.n, "mean": st.mean if st.n else None,
                              "mean_latency_ms": getattr(st, "mean_latency", None)}
                    for variant, st in stats.items()}
    return out


class LocalSource:
    """Reads the store's repositories and calls the loop in this process."""

    kind = "local"

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.store = runtime.store
        self.detached = isinstance(runtime, _Detached)

    @classmethod
    def over_store(cls, store: Any, settings: Any = None, config_file: Path | None = None) -> LocalSource:
        """A source over a bare store with no services running (an offline copy, or tests)."""
        from edgelearn.config import Settings

        return cls(_Detached(store, settings or Settings(), config_file))

    @property
    def settings(self) -> Any:
        return self.runtime.settings

    def describe(self) -> str:
        return f"local · {self.store.path}"

    def close(self) -> None:
        """The caller owns the runtime and its store; nothing of ours to close."""

    def _loop(self, name: str) -> Callable | None:
        if self.detached:
            return None
        try:
            import edgelearn.loop.chain as loop
        except ModuleNotFoundError as exc:
            if exc.name == "edgelearn.loop.chain":
                return None
            raise
        return getattr(loop, name, None)

    # --- the dashboard ----------------------------------------------------------------------
    def learning_status(self) -> dict[str, Any]:
        """The loop's own status when it offers one, else what the store alone tells."""
        fn = self._loop("learning_status")
        return fn(self.runtime) if fn is not None else self._fallback_status()

    def overview(self, now: float) -> dict[str, Any]:
        runs = self.store.runs
        counts = ((w, b, runs.count("created_at >= ?", (now - w,))) for w, b in derive.TREND_WINDOWS)
        window, bucket = derive.pick_trend_window(counts)
        stats = runs.stats(since=now - window, bucket_s=bucket)
        recent = runs.count("created_at >= ?", (now - derive.RATE_WINDOW_S,))
        return {"runs_total": runs.count(), "runs_per_min": recent * 60.0 / derive.RATE_WINDOW_S,
                "window_s": window, "bucket_s": bucket, "trend": stats["over_time"], "window": stats["total"]}

    def _roles(self) -> list[str]:
        store = self.store
        roles = set(_call(store.models, "roles") or []) | set(_call(store.arms, "roles") or [])
        roles |= {r.role for r in store.runs.list(limit=500)}
        return sorted(roles)

    def _toggles(self) -> dict[str, bool]:
        s = self.settings
        return {"auto_export": s.export.auto_export, "auto_train": s.train.auto_train,
                "auto_deploy": s.deploy.auto_deploy}

    def _dataset_examples(self, role: str) -> int | None:
        repo = self.store.datasets
        if hasattr(repo, "latest"):
            ds = _call(repo, "latest", role)
        else:
            found = _call(repo, "list", role=role)
            if found is None:
                return None
            ds = found[0] if found else None
        return 0 if ds is None else derive.dataset_size(derive.pick(ds, "counts"))

    def _job(self) -> dict[str, Any] | None:
        found = _call(self.store.jobs, "list", limit=1)
        return _job_dict(found[0]) if found else None

    def _fallback_status(self) -> dict[str, Any]:
        s, store = self.settings, self.store
        registered = {m.id for m in (_call(store.models, "list") or [])}
        chains = {c.role: c for c in (_call(store.experiments, "running_chains") or [])}
        roles: dict[str, Any] = {}
        for role in self._roles():
            served = _call(store.experiments, "served_by", role) or []
            champion = _call(store.models, "champion", role)
            champion_id = champion.id if champion is not None else "base"
            running = _call(store.experiments, "running", role) or []
            experiment = _experiment_dict(store.experiments, running[0]) if running else None
            chain = chains.get(role)
            roles[role] = {
                "stage": chain.stage if chain else ("experiment" if experiment else "idle"),
                "chain": plain(chain),
                "progress": {
                    "export": {"have": store.runs.count("role = ? and reward >= ?", (role, s.export.min_reward)),
                               "need": s.export.min_runs},
                    "train": {"have": self._dataset_examples(role), "need": s.train.min_examples}},
                "champion": {"id": champion_id, "reward": derive.model_reward(served, champion_id)},
                "experiment": experiment,
                "independence": derive.independence(served, role, registered, s.deploy.external_cost_per_1k),
                "drift": plain(_call(store.experiments, "watch", role)),
            }
        return {"stage": derive.overall_stage(r["stage"] for r in roles.values()), "roles": roles,
                "job": self._job(), "toggles": self._toggles()}

    # --- lists and details ------------------------------------------------------------------
    def runs(self, flt: RunFilter, limit: int = 200) -> list[dict[str, Any]]:
        return [{**r.to_dict(), "seq": r.seq} for r in self.store.runs.list(**flt.params(), limit=limit)]

    def run(self, run_id: str) -> dict[str, Any]:
        runs = self.store.runs
        return {**runs.get(run_id).to_dict(), "signals": runs.signals(run_id), "feedback": runs.feedback(run_id)}

    def similar(self, run_id: str, k: int = 5) -> dict[str, Any]:
        """Runs with the nearest task; only once the background embedder has embedded this one
        (embedding here would load the embedding model into the TUI)."""
        runs = self.store.runs
        hit = runs.embedding(run_id)
        if hit is None:
            runs.get(run_id)  # NotFound for an unknown id
            return {"embedded": False, "similar": []}
        seq, role, vec = hit
        pairs = runs.similar(vec, role=role, k=k, exclude_seq=seq)
        return {"embedded": True, "similar": [
            {"id": r.id, "distance": d, "task": r.task, "reward": r.reward, "model": r.model_variant}
            for r, d in pairs]}

    def arms(self) -> list[dict[str, Any]]:
        """The bandits' own report (pulls, mean, 95% interval) when installed, else the same from the store."""
        try:
            from edgelearn.bandits.report import arm_reports
        except ImportError:
            return self._arms_from_store()
        return [plain(r) for r in arm_reports(self.store)]

    def _arms_from_store(self) -> list[dict[str, Any]]:
        repo, out = self.store.arms, []
        for role in _call(repo, "roles") or []:
            snap = _call(repo, "snapshot", role)
            if snap is None:
                continue
            pulls = _call(repo, "pulls", role) or {}
            for arm in snap.arms:
                st = snap.stats.get((arm.id, -1))  # -1: the role-wide statistics
                f = derive.decay(snap.clock.discount, snap.clock.tick - st.tick) if st else 1.0
                mean, low, high = derive.arm_interval(st.n * f, st.s * f, st.s2 * f) if st else (None,) * 3
                out.append({"role": role, "kind": arm.kind, "variant": arm.variant, "enabled": arm.enabled,
                            "pulls": pulls.get(arm.id, 0), "rewarded": st.count if st else 0,
                            "mean": mean, "low": low, "high": high, "cost_per_1k": arm.cost_per_1k})
        return out

    def models(self) -> list[dict[str, Any]]:
        return [plain(m) for m in (_call(self.store.models, "list") or [])]

    def experiments(self) -> list[dict[str, Any]]:
        repo = self.store.experiments
        return [_experiment_dict(repo, e) for e in (_call(repo, "list", limit=50) or [])]

    def events(self, type: str | None = None, role: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        return [plain(e) for e in self.store.events.list(type=type or None, role=role or None, limit=limit)]

    def config(self) -> dict[str, Any]:
        file = self.runtime.config_file
        return {"file": str(file) if file else None, "settings": self.settings.model_dump(mode="json"),
                "toggles": self._toggles()}

    # --- actions ----------------------------------------------------------------------------
    def set_toggle(self, name: str, value: bool) -> dict[str, Any]:
        """Write the toggle into the config file and reload it now (the watcher would, a moment later)."""
        from edgelearn.config import set_config_value

        key = derive.TOGGLES.get(name)
        if key is None:
            raise InvalidInput(f"toggle: {name!r} is not one of {', '.join(derive.TOGGLES)}", field="toggle")
        file = self.runtime.config_file
        if file is None:
            raise Unavailable("no config file to write: the store was opened without a runtime")
        set_config_value(Path(file), key, bool(value))
        if self.runtime.watcher is not None:
            self.runtime.watcher.reload()
        return {"key": key, "value": bool(value), "effective": self._toggles()[name], "file": str(file)}

    def promote(self, model_id: str, reason: str) -> dict[str, Any]:
        """Make ``model_id`` its role's champion (through the loop, which also closes its experiment)."""
        fn = self._loop("promote")
        if fn is not None:
            fn(self.runtime, model_id, reason)
        else:
            self.store.models.set_state(model_id, "champion", reason)
        return {"model": model_id, "state": "champion"}

    def retire(self, model_id: str, reason: str) -> dict[str, Any]:
        fn = self._loop("retire")
        if fn is not None:
            fn(self.runtime, model_id, reason)
        else:
            self.store.models.set_state(model_id, "retired", reason)
        return {"model": model_id, "state": "retired"}

    def rollback(self, role: str, reason: str) -> dict[str, Any]:
        """Roll back the role's champion; ``restored`` is what serves the role afterwards."""
        fn = self._loop("rollback")
        done = fn(self.runtime, role, reason) if fn else self.store.models.rollback(role, reason)
        restored = done if isinstance(done, str) else (derive.pick(done, "id") if done is not None else "base")
        return {"role": role, "restored": restored}
