"""Starting, watching and cancelling training jobs from the runtime (or the CLI).

A job is a child process (``python -m edgelearn.train.child``) in its own session: a crash,
out-of-memory kill or SIGKILL of training cannot take the runtime down. The child reports
into the store itself; this side only spawns it, watches it exit, and turns an exit without
a recorded end into a failed job with a reason.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson

import edgelearn
from edgelearn.errors import InvalidInput, TrainingError
from edgelearn.store.jobs import Job
from edgelearn.train.proc import is_job_process, process_alive, process_start
from edgelearn.train.spec import JobSpec

ROLE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
LOG_NAME = "child.log"

_procs: dict[str, subprocess.Popen] = {}
_lock = threading.Lock()


def new_job_id() -> str:
    """``job-`` and 16 hex characters: milliseconds, then random bits (sortable by time)."""
    return f"job-{int(time.time() * 1000):011x}{os.urandom(3).hex()[:5]}"


def start_job(store, settings, home: Path, *, role: str, dataset_dir: Path | str,
              dataset_version: str | None = None, evaluators: dict[str, str] | None = None) -> str:
    """Check everything that can be checked cheaply, record a queued job, spawn its child; returns its id.

    TrainingError (before any job is recorded) for a bad dataset directory, a base model that
    does not exist or has an unsupported architecture, a backend that cannot run here, or a
    job of the same role that is still active (one job per role at a time).
    """
    from edgelearn.train.backends import choose_backend
    from edgelearn.train.base import resolve_base
    from edgelearn.train.data import check_dataset_dir
    from edgelearn.train.evaluate import EVALUATORS

    if not ROLE_RE.match(role or ""):
        raise InvalidInput(f"role: {role!r} must match {ROLE_RE.pattern}", field="role")
    dataset_dir = Path(dataset_dir).resolve()
    check_dataset_dir(dataset_dir)
    cfg = settings.train
    base = resolve_base(cfg.base_model)
    backend = choose_backend(cfg.backend)
    for other in store.jobs.list(role=role, active=True):
        if get(store, other.id).active:
            raise TrainingError(f"job {other.id} is still training role {role!r}; wait for it or "
                                f"`edgelearn jobs cancel {other.id}`")
    job_id = new_job_id()
    spec = JobSpec(job_id=job_id, role=role, home=str(Path(home).resolve()), store_path=str(store.path.resolve()),
                   dataset_dir=str(dataset_dir), dataset_version=dataset_version, base_model=cfg.base_model,
                   backend=backend, backend_requested=cfg.backend, train=cfg.model_dump(),
                   merged_quant=settings.deploy.merged_quant, eval_max_tokens=settings.deploy.max_tokens,
                   evaluators={**EVALUATORS, **(evaluators or {})})
    spec.save()
    store.jobs.create(job_id, role=role, base_model=base.name, dataset_dir=str(dataset_dir),
                      job_dir=str(spec.job_dir), dataset_version=dataset_version, config=cfg.model_dump(),
                      backend=backend)
    _spawn(store, spec, cfg.threads or os.cpu_count() or 1)
    return job_id


def _spawn(store, spec: JobSpec, threads: int) -> None:
    env = dict(os.environ)
    src = str(Path(edgelearn.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    env.update({"OMP_NUM_THREADS": str(threads), "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1",
                "TRANSFORMERS_OFFLINE": "1", "PYTHONUNBUFFERED": "1"})
    # its own session (process group on Windows): a Ctrl-C or a dying runtime does not reach it
    if sys.platform == "win32":
        extra = {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}  # type: ignore[attr-defined]
    else:
        extra = {"start_new_session": True}
    with open(spec.job_dir / LOG_NAME, "ab") as logfile:
        try:
            proc = subprocess.Popen([sys.executable, "-m", "edgelearn.train.child", str(spec.job_dir)],
                                    stdin=subprocess.DEVNULL, stdout=logfile, stderr=subprocess.STDOUT,
                                    cwd=spec.job_dir, env=env, **extra)
        except OSError as exc:
            store.jobs.finish(spec.job_id, "failed", reason=f"cannot start the training process: {exc}")
            raise TrainingError(f"cannot start the training process: {exc}") from exc
    with _lock:
        _procs[spec.job_id] = proc
    store.jobs.attach(spec.job_id, proc.pid, process_start(proc.pid))
    threading.Thread(target=_supervise, args=(store, spec, proc), name=f"job-{spec.job_id}", daemon=True).start()


def _exit_reason(code: int, job_dir: Path) -> str:
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
        why = f"the training process was killed by {name}"
        if name == "SIGKILL":
            why += " (out of memory, or killed)"
    else:
        why = f"the training process exited with status {code} without reporting a result"
    tail = _log_tail(job_dir / LOG_NAME)
    return f"{why}; last log line: {tail}" if tail else why


def _log_tail(path: Path) -> str:
    try:
        lines = [ln for ln in path.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1][-300:] if lines else ""


def _supervise(store, spec: JobSpec, proc: subprocess.Popen) -> None:
    """Reap the child; if it ended without recording an end (killed, crashed), fail the job saying how."""
    code = proc.wait()
    try:
        if store.jobs.finish(spec.job_id, "failed", reason=_exit_reason(code, spec.job_dir)):
            shutil.rmtree(spec.out_dir, ignore_errors=True)
    except Exception:  # noqa: BLE001 - the store may be closed when the runtime stops first
        pass
    finally:
        with _lock:
            _procs.pop(spec.job_id, None)


def _alive(job: Job) -> bool:
    with _lock:
        proc = _procs.get(job.id)
    if proc is not None:
        return True  # our own child: its supervisor settles it, with the exit reason
    if job.pid is None:
        return job.state == "queued" and time.time() - job.created_at < 120  # being spawned right now
    return process_alive(job.pid, job.proc_start)


def get(store, job_id: str) -> Job:
    """The job as recorded; an active job whose process is gone is settled first (see ``recover``)."""
    job = store.jobs.get(job_id)
    if job.active and not _alive(job):
        _settle(store, job)
        job = store.jobs.get(job_id)
    return job


def wait(store, job_id: str, timeout: float | None = None, poll: float = 0.5) -> Job:
    """Block until the job ends (or ``timeout`` seconds pass); returns the job as it then is."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        job = get(store, job_id)
        if not job.active or (deadline is not None and time.monotonic() >= deadline):
            return job
        time.sleep(poll)


def cancel(store, job_id: str, grace_s: float = 30.0) -> Job:
    """Ask a job to stop (SIGTERM, and the store flag); kill it after ``grace_s``. Returns the ended job."""
    job = store.jobs.request_cancel(job_id)
    if not job.active:
        return job
    if job.pid is not None and _alive(job):
        _signal(job, signal.SIGTERM)
    job = wait(store, job_id, timeout=grace_s)
    if job.active:
        if job.pid is not None and _alive(job):
            _signal(job, signal.SIGKILL if hasattr(signal, "SIGKILL") else signal.SIGTERM)
        store.jobs.finish(job_id, "cancelled", reason=f"cancelled on request (killed after {grace_s:g} s)")
        shutil.rmtree(Path(job.job_dir) / "out", ignore_errors=True)
        job = store.jobs.get(job_id)
    return job


def _signal(job: Job, sig) -> None:
    proc = _procs.get(job.id)
    if proc is not None and proc.pid == job.pid:
        # our own child, not yet reaped: its pid cannot have been reused (every platform)
        if proc.poll() is None:
            proc.send_signal(sig)
        return
    if job.pid is None or not is_job_process(job.pid, job.proc_start, job.id):
        return
    try:
        os.kill(job.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def list_jobs(store, *, role: str | None = None, state: str | None = None, limit: int = 50) -> list[Job]:
    """Jobs newest first."""
    return store.jobs.list(role=role, state=state, limit=limit)


def _settle(store, job: Job) -> None:
    """End an active job whose process is gone: succeeded if it had published its artifact
    (it died between the rename and the record), else failed; its unpublished output is removed."""
    job_dir = Path(job.job_dir)
    artifact = Path(store.path).parent / "artifacts" / job.id
    if (job_dir / "spec.json").is_file():
        artifact = JobSpec.load(job_dir).artifact_dir
    report = artifact / "report.json"
    if report.is_file():
        data = orjson.loads(report.read_bytes())
        store.jobs.finish(job.id, "succeeded", artifact_dir=str(artifact),
                          metrics={k: data.get(k) for k in ("training", "val_loss", "parity", "eval")})
        return
    shutil.rmtree(job_dir / "out", ignore_errors=True)
    store.jobs.finish(job.id, "failed", reason="the training process vanished (runtime restart or crash)")


def recover(store) -> list[str]:
    """At runtime start: settle every active job whose process is gone; returns their ids."""
    settled = []
    for job in store.jobs.list(active=True, limit=10_000):
        if not _alive(job):
            _settle(store, job)
            settled.append(job.id)
    return settled
