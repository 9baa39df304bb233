"""What the loop is doing, for ``GET /v1/learning/status``, the CLI and the TUI."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

EXTERNAL_PREFIX = "external/"


def is_local(model_id: str | None, providers=()) -> bool:
    """Local models: the base, trained versions and Ollama; ``external/…`` ids and ``<provider>/<model>``
    ids of configured ``providers`` stand for paid APIs."""
    return bool(model_id) and not model_id.startswith(EXTERNAL_PREFIX) and model_id.partition("/")[0] not in providers


def independence(runtime, role: str, since: float | None = None) -> dict[str, Any]:
    """Share of requests served locally, their reward beside external ones, and the cost saved."""
    rows = runtime.store.experiments.served_by(role, since)
    providers = runtime.settings.providers
    local = [(n, r, t) for m, n, r, t in rows if is_local(m, providers)]
    external = [(n, r, t) for m, n, r, t in rows if m and not is_local(m, providers)]

    def mean(items):
        scored = [(n, r) for n, r, _ in items if r is not None]
        total = sum(n for n, _ in scored)
        return sum(n * r for n, r in scored) / total if total else None

    n_local = sum(n for n, _, _ in local)
    n_all = n_local + sum(n for n, _, _ in external)
    tokens_local = sum(t or 0 for _, _, t in local)
    price = runtime.settings.deploy.external_cost_per_1k
    return {"local_share": n_local / n_all if n_all else 0.0, "local_runs": n_local, "external_runs": n_all - n_local,
            "local_reward": mean(local), "external_reward": mean(external),
            "cost_saved": round(tokens_local / 1000.0 * price, 6)}


def input_drift(runtime, role: str, recent: int = 200) -> dict[str, Any] | None:
    """PSI and KS of task-embedding distances to the last training set's centroid, now vs then."""
    from edgelearn.experiment.drift import input_drift as compare

    store = runtime.store
    try:
        dataset = store.datasets.latest(role)
    except Exception:  # noqa: BLE001 - no dataset support or none yet
        return None
    if dataset is None:
        return None
    runs = dataset.manifest.get("runs", {})
    run_ids = list(runs.get("train", []) if isinstance(runs, dict) else runs)[:5000]
    ref = [np.frombuffer(v, dtype=np.float32) for v in store.runs.vectors(run_ids)]
    cur = [np.frombuffer(v, dtype=np.float32) for v in store.runs.recent_vectors(role, recent)]
    if len(ref) < 20 or len(cur) < 20:
        return None
    ref_m, cur_m = np.stack(ref), np.stack(cur)
    centroid = ref_m.mean(axis=0)
    centroid /= np.linalg.norm(centroid) or 1.0
    report = compare(1.0 - ref_m @ centroid, 1.0 - cur_m @ centroid)
    out = report.to_dict() if hasattr(report, "to_dict") else dict(report.__dict__)
    out["dataset"] = dataset.version
    return out


def _progress(runtime, role: str) -> dict[str, Any]:
    from edgelearn import curate

    settings = runtime.settings
    try:
        pending = curate.pending_good_runs(runtime.store, settings, role)
    except Exception:  # noqa: BLE001
        pending = 0
    try:
        latest = runtime.store.datasets.latest(role)
        have_train = int(latest.counts.get("train", 0)) if latest else 0
    except Exception:  # noqa: BLE001
        have_train = 0
    return {"export": {"have": pending, "need": settings.export.min_runs},
            "train": {"have": have_train, "need": settings.train.min_examples}}


def _job(runtime) -> dict[str, Any] | None:
    loop = runtime.services.get("loop")
    job_id = loop.current_job if loop else None
    jobs = runtime.store.jobs.list(limit=1) if job_id is None else [runtime.store.jobs.get(job_id)]
    if not jobs:
        return None
    job = jobs[0]
    p = job.progress or {}
    return {"id": job.id, "state": job.state, "stage": job.stage, "role": job.role,
            "dataset_version": job.dataset_version, "step": p.get("step"), "total_steps": p.get("total_steps"),
            "loss": p.get("loss"), "tokens_per_s": p.get("tokens_per_s"), "eta_s": p.get("eta_s"),
            "reason": job.reason}


def learning_status(runtime) -> dict[str, Any]:
    """Stage, progress toward each threshold, job, experiments, champion and independence per role."""
    from edgelearn.experiment.service import experiment_summary

    store = runtime.store
    settings = runtime.settings
    experiments = runtime.services.get("experiments")
    roles = sorted(set(store.runs.roles()) |
                   {c.role for c in store.experiments.chains(limit=50)})
    running_chains = {c.role: c for c in store.experiments.running_chains()}
    out_roles: dict[str, Any] = {}
    overall = "idle"
    for role in roles:
        chain = running_chains.get(role)
        exp = store.experiments.running(role)
        stage = chain.stage if chain else ("experiment" if exp else "idle")
        if stage != "idle" and overall == "idle":
            overall = stage
        champion = store.models.champion(role)
        champ_id = champion.id if champion else "base"
        rewards = store.runs.mean_recent_reward(role, champ_id, last=100)
        watch = store.experiments.watch(role)
        last = store.experiments.chains(role, limit=1)
        out_roles[role] = {
            "stage": stage,
            "chain": (chain or (last[0] if last else None)).__dict__ if (chain or last) else None,
            "progress": _progress(runtime, role),
            "champion": {"id": champ_id, "reward": rewards},
            "experiment": experiment_summary(experiments, exp[0]) if exp and experiments else None,
            "independence": independence(runtime, role),
            "drift": ({"model": watch.model_id, "active": watch.active, "baseline": watch.baseline_mean,
                       "detector": watch.detector} if watch else None),
        }
    loop = runtime.services.get("loop")
    return {"stage": overall, "roles": out_roles, "job": _job(runtime), "now": time.time(),
            "loop": {"ticks": loop.ticks if loop else 0, "error": loop.last_error if loop else None,
                     "interval_s": settings.loop.interval_s},
            "toggles": {"auto_export": settings.export.auto_export, "auto_train": settings.train.auto_train,
                        "auto_deploy": settings.deploy.auto_deploy}}
