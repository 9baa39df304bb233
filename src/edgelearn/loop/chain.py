"""The zero-touch loop: triggers, and the chain curate → train → GGUF → parity → register → experiment.

A ``Loop`` thread wakes every ``loop.interval_s`` (and when rewards or experiments change),
then for each role:

1. decides the running experiment, if any (promote / retire / stop);
2. checks the triggers — sample count (``export.min_runs`` good runs since the last dataset),
   schedule (``train.schedule_hours``), quality drop (recent reward below the earlier
   baseline by ``loop.quality_drop``), error rate (negative feedback above ``loop.error_rate``),
   input drift when ``drift.retrain_on_input_drift`` — under the cooldown
   (``train.cooldown_hours``) and the per-stage toggles ``export.auto_export``,
   ``train.auto_train`` and ``deploy.auto_deploy`` (hot-reloaded);
3. runs a triggered chain to its end, one training job at a time. Each stage is written to the
   ``chains`` table before the next begins, so a restart resumes an interrupted chain where it
   stopped, or marks it failed with the reason.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from edgelearn.errors import EdgelearnError
from edgelearn.experiment.service import ExperimentService
from edgelearn.loop.status import learning_status  # noqa: F401 - public API of this module
from edgelearn.loop.triggers import due_trigger
from edgelearn.roles import check_role
from edgelearn.store.experiments import Chain

log = logging.getLogger(__name__)


class Loop:
    """The background thread that closes the loop for every role."""

    def __init__(self, runtime, experiments: ExperimentService) -> None:
        self.runtime = runtime
        self.store = runtime.store
        self.experiments = experiments
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._manual: dict[str, str] = {}
        self._lock = threading.Lock()
        self.current_job: str | None = None
        self.last_error: str | None = None
        self.ticks = 0
        experiments.on_change.append(lambda role: self._wake.set())
        self.store.runs.reward_hooks.append(self._on_reward)

    def _on_reward(self, conn, run, old, new) -> None:
        # an experiment of this role may now be decidable; other rewards wait for the next interval
        if new is not None and old is None and run["role"] in self.experiments.running_roles():
            self._wake.set()

    # lifecycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        self._recover()
        self._thread = threading.Thread(target=self._run, name="edgelearn-loop", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        job = self.current_job
        if job:
            try:
                from edgelearn.train import jobs as train_jobs

                train_jobs.cancel(self.store, job)
            except Exception:
                log.exception("cancelling training job %s failed", job)
        if self._thread:
            self._thread.join(timeout=60)

    def wake(self) -> None:
        self._wake.set()

    def trigger(self, role: str, reason: str = "manual") -> None:
        """Start a chain for ``role`` on the next tick, ignoring thresholds and the cooldown."""
        check_role(role)
        with self._lock:
            self._manual[role] = reason
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
                self.last_error = None
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("loop tick failed")
            self._wake.wait(self.runtime.settings.loop.interval_s)
            self._wake.clear()

    # one pass ------------------------------------------------------------------------------------
    def roles(self) -> list[str]:
        return sorted(set(self.store.runs.roles()) | set(self._manual))

    def tick(self) -> None:
        """Decide experiments, then run at most one triggered chain (training is serial)."""
        self.ticks += 1
        while self.experiments.pending_sync:  # rollbacks decided inside a reward transaction
            self.experiments._changed(self.experiments.pending_sync.pop())
        for chain in self.store.experiments.running_chains():  # left running by a previous process
            self.store.events.append("loop.resumed", {"chain": chain.id, "stage": chain.stage}, role=chain.role,
                                     subject=str(chain.id))
            self.run_chain(chain)
        for exp in self.store.experiments.running():
            self.experiments.evaluate(exp.role)
        for role in self.roles():
            if self._stop.is_set():
                return
            with self._lock:
                manual = self._manual.pop(role, None)
            if self.store.experiments.running(role):
                if manual:
                    self.store.events.append("loop.skipped", {"reason": "an experiment is running", "trigger": manual},
                                             role=role)
                continue
            trigger = ("manual", {"reason": manual}) if manual else due_trigger(self.runtime, role)
            if trigger is None:
                continue
            name, detail = trigger
            chain_id = self.store.write(lambda c: self.store.experiments.start_chain_in(c, role, name, detail))
            self.run_chain(self.store.experiments.chain(chain_id), manual=bool(manual))
            return

    # the chain -----------------------------------------------------------------------------------
    def run_chain(self, chain: Chain, manual: bool = False) -> Chain:
        """Run ``chain`` from its current stage to its end; returns the final chain."""
        try:
            while chain.state == "running" and not self._stop.is_set():
                step = getattr(self, f"_stage_{chain.stage}")
                step(chain, manual)
                chain = self.store.experiments.chain(chain.id)
        except EdgelearnError as exc:
            self._finish(chain, "failed", str(exc))
        except Exception as exc:
            log.exception("chain %s failed", chain.id)
            self._finish(chain, "failed", f"{type(exc).__name__}: {exc}")
        return self.store.experiments.chain(chain.id)

    def _update(self, chain: Chain, **fields: Any) -> None:
        self.store.write(lambda c: self.store.experiments.update_chain_in(c, chain.id, **fields))

    def _finish(self, chain: Chain, state: str, reason: str) -> None:
        self.store.write(lambda conn: self._finish_in(conn, chain, state, reason))

    def _finish_in(self, conn, chain: Chain, state: str, reason: str, **fields: Any) -> None:
        self.store.experiments.update_chain_in(conn, chain.id, state=state, reason=reason,
                                               stage="done" if state == "done" else chain.stage, **fields)
        self.store.events.append_in(conn, f"loop.{'done' if state == 'done' else state}",
                                    {"chain": chain.id, "stage": chain.stage, "reason": reason},
                                    role=chain.role, subject=str(chain.id))

    def _stage_curate(self, chain: Chain, manual: bool) -> None:
        from edgelearn import curate

        settings = self.runtime.settings
        if not settings.export.auto_export and not manual:
            return self._finish(chain, "cancelled", "export.auto_export is off")
        dataset = curate.export_dataset(self.store, settings, self.runtime.home, chain.role)
        train_n = int(dataset.counts.get("train", 0))
        self._update(chain, dataset_version=dataset.version, stage="train")
        if not settings.train.auto_train and not manual:
            return self._finish(chain, "done", f"dataset {dataset.version} exported; train.auto_train is off")
        need = 1 if manual else settings.train.min_examples
        if train_n < need:
            return self._finish(chain, "done", f"dataset {dataset.version} has {train_n} training examples; "
                                               f"training needs {need} (train.min_examples)")
        if int(dataset.counts.get("val", 0)) < 1:  # nothing to measure the adapter on, nor to check its export
            return self._finish(chain, "done", f"dataset {dataset.version} has no validation examples yet "
                                               f"(export.val_fraction={settings.export.val_fraction}); "
                                               f"training waits for more runs")

    def _stage_train(self, chain: Chain, manual: bool) -> None:
        from edgelearn.train import jobs as train_jobs

        if chain.job_id is None:
            dataset = self.store.datasets.get(chain.dataset_version)
            job_id = train_jobs.start_job(self.store, self.runtime.settings, self.runtime.home, role=chain.role,
                                          dataset_dir=Path(dataset.path), dataset_version=dataset.version)
            self._update(chain, job_id=job_id)
        else:
            job_id = chain.job_id
        self.current_job = job_id
        try:
            job = train_jobs.wait(self.store, job_id, timeout=1.0)
            while job.active and not self._stop.is_set():
                job = train_jobs.wait(self.store, job_id, timeout=1.0)
        finally:
            self.current_job = None
        if job.active:  # stopping: the job was cancelled by stop(); the chain resumes or fails on restart
            return
        if job.state != "succeeded":
            return self._finish(chain, "failed", f"training job {job_id} {job.state}: {job.reason or 'no reason given'}")
        self._update(chain, stage="register")

    def _stage_register(self, chain: Chain, manual: bool) -> None:
        from edgelearn.train import jobs as train_jobs

        job = train_jobs.get(self.store, chain.job_id)
        existing = [m for m in self.store.models.list(role=chain.role) if m.job_id == chain.job_id]
        if existing:
            model_id = existing[0].id
        else:
            from edgelearn.serve.registry import register

            model_id = register(self.store, chain.role, job.artifact_dir, home=self.runtime.home, job_id=chain.job_id,
                                dataset_version=chain.dataset_version, metrics=job.metrics or {})
        self._update(chain, model_id=model_id, stage="experiment")
        if not self.runtime.settings.deploy.auto_deploy and not manual:
            self._finish(chain, "done", f"{model_id} registered as a candidate; deploy.auto_deploy is off")

    def _stage_experiment(self, chain: Chain, manual: bool) -> None:
        def close(conn, exp_id: str) -> None:  # in the experiment's own transaction: no reader sees one without the other
            self._finish_in(conn, chain, "done", f"{chain.model_id} is racing the champion in {exp_id}",
                            experiment_id=exp_id)

        if chain.experiment_id:
            self.store.write(lambda conn: close(conn, chain.experiment_id))
        else:
            self.experiments.start_experiment(chain.role, chain.model_id, then=close)

    # restart -------------------------------------------------------------------------------------
    def _recover(self) -> None:
        """Mark training jobs whose process is gone as failed; their chains then fail with the reason
        (or, when the job had finished, resume at registration) on the first tick."""
        from edgelearn.train import jobs as train_jobs

        train_jobs.recover(self.store)


def install(runtime) -> None:
    """Attach the experiments service and the loop to a runtime."""
    experiments = ExperimentService(runtime)
    runtime.add_service("experiments", experiments)
    runtime.add_service("loop", Loop(runtime, experiments))


def rollback(runtime, role: str, reason: str = "requested") -> str:
    """Roll back ``role``'s champion now; returns the model id that serves the role afterwards."""
    return runtime.services["experiments"].rollback(role, reason)


def promote(runtime, model_id: str, reason: str = "requested") -> None:
    """Make ``model_id`` its role's champion now."""
    runtime.services["experiments"].promote(model_id, reason)


def retire(runtime, model_id: str, reason: str = "requested") -> None:
    """Retire ``model_id``."""
    runtime.services["experiments"].retire(model_id, reason)
