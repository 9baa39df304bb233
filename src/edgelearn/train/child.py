"""The training child process: ``python -m edgelearn.train.child <job_dir>``.

It opens its own Store on the runtime's SQLite file and reports there (state, stage, step,
loss, tokens/s, ETA), so it needs no pipe to its parent and outlives a runtime restart.
SIGTERM / SIGINT, or the job's ``cancel_requested`` flag, stop it at the next step or stage.
On success it publishes ``out/`` as ``<home>/artifacts/<job_id>/`` by one rename and only
then marks the job succeeded; on failure or cancellation nothing is published and the
large files are removed (a failed gate's report.json stays in the job directory).
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import sys
import threading
import time
import traceback
from pathlib import Path

from edgelearn.errors import EdgelearnError
from edgelearn.train.proc import process_start
from edgelearn.train.spec import JobSpec
from edgelearn.train.trainer import Cancelled, StepInfo

log = logging.getLogger("edgelearn.train.child")

PROGRESS_EVERY_S = 1.0
CANCEL_POLL_S = 2.0


class ChildContext:
    """Reports progress into the store (throttled) and answers whether to stop."""

    def __init__(self, store, job_id: str) -> None:
        self.store = store
        self.job_id = job_id
        self.stop = threading.Event()
        self._last_report = 0.0
        self._last_poll = 0.0

    def should_stop(self) -> bool:
        if self.stop.is_set():
            return True
        now = time.monotonic()
        if now - self._last_poll >= CANCEL_POLL_S:
            self._last_poll = now
            if self.store.jobs.cancel_requested(self.job_id):
                self.stop.set()
        return self.stop.is_set()

    def stage(self, name: str) -> None:
        if self.should_stop():
            raise Cancelled()
        log.info("stage %s", name)
        self.store.jobs.report(self.job_id, stage=name)

    def step(self, info: StepInfo) -> None:
        now = time.monotonic()
        if now - self._last_report < PROGRESS_EVERY_S and info.step != info.total_steps and info.step != 1:
            return
        self._last_report = now
        log.info("step %d/%d loss %.4f %.0f tok/s", info.step, info.total_steps, info.loss, info.tokens_per_s)
        self.store.jobs.report(self.job_id, progress={
            "step": info.step, "total_steps": info.total_steps, "epoch": round(info.epoch, 3),
            "loss": round(info.loss, 4), "tokens": info.tokens, "tokens_per_s": round(info.tokens_per_s, 1),
            "eta_s": round(info.eta_s, 1), "elapsed_s": round(info.elapsed_s, 1)})


def _summary(report: dict) -> dict:
    """The job's metrics: the report without samples and per-prompt detail."""
    return {k: report[k] for k in ("training", "val_loss", "parity", "eval", "backend", "precision", "dataset",
                                     "timings")
            if k in report}


def _clean_failed(spec: JobSpec) -> None:
    out = spec.out_dir
    report = out / "report.json"
    if report.exists():
        report.replace(spec.job_dir / "report.json")
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(spec.job_dir / "hf", ignore_errors=True)


def run(job_dir: Path) -> int:
    """Run one job to its end; returns the exit status (0 succeeded or cancelled, 1 failed)."""
    from edgelearn.store import Store
    from edgelearn.train.pipeline import run_job

    spec = JobSpec.load(job_dir)
    store = Store(spec.store_path)
    ctx = ChildContext(store, spec.job_id)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: ctx.stop.set())
    try:
        if not store.jobs.start(spec.job_id, pid=os.getpid(), proc_start=process_start(os.getpid()),
                                backend=spec.backend):
            store.jobs.finish(spec.job_id, "cancelled", reason="cancelled before it started")
            return 0
        try:
            report = run_job(spec, ctx)
            ctx.stage("publishing")
            spec.artifact_dir.parent.mkdir(parents=True, exist_ok=True)
            os.replace(spec.out_dir, spec.artifact_dir)  # one rename: the artifact appears complete or not at all
            shutil.rmtree(spec.job_dir / "hf", ignore_errors=True)
            store.jobs.finish(spec.job_id, "succeeded", metrics=_summary(report), artifact_dir=str(spec.artifact_dir))
            return 0
        except Cancelled:
            _clean_failed(spec)
            store.jobs.finish(spec.job_id, "cancelled", reason="cancelled on request")
            return 0
        except EdgelearnError as exc:
            log.error("job failed: %s", exc)
            _clean_failed(spec)
            store.jobs.finish(spec.job_id, "failed", reason=str(exc))
            return 1
        except BaseException as exc:  # noqa: BLE001 - any crash becomes the job's reason
            traceback.print_exc()
            _clean_failed(spec)
            store.jobs.finish(spec.job_id, "failed", reason=f"{type(exc).__name__}: {exc}")
            return 1
    finally:
        store.close()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m edgelearn.train.child JOB_DIR", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return run(Path(argv[0]))


if __name__ == "__main__":
    sys.exit(main())
