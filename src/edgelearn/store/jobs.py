"""SQL for training jobs: creation, live progress from the training child, final state, orphans.

The training child opens its own ``Store`` on the same file and reports through this
repository too (SQLite WAL serializes the two processes' writers). Every state change is
also an event (``job.queued``, ``job.started``, ``job.stage``, ``job.succeeded``,
``job.failed``, ``job.cancelled``) written in the same transaction.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import orjson

from edgelearn.errors import InvalidInput, NotFound
from edgelearn.store.filters import where

STATES = ("queued", "running", "succeeded", "failed", "cancelled")
ACTIVE = ("queued", "running")
TERMINAL = ("succeeded", "failed", "cancelled")

_COLUMNS = ("id, role, state, stage, created_at, started_at, finished_at, updated_at, pid, proc_start, "
            "base_model, dataset_version, dataset_dir, job_dir, backend, config, progress, metrics, artifact_dir, "
            "reason, cancel_requested")


@dataclass
class Job:
    """One training job as recorded in the store."""

    id: str
    role: str
    state: str
    stage: str | None
    created_at: float
    started_at: float | None
    finished_at: float | None
    updated_at: float
    pid: int | None
    proc_start: str | None
    base_model: str
    dataset_version: str | None
    dataset_dir: str
    job_dir: str
    backend: str | None
    config: dict[str, Any]
    progress: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    artifact_dir: str | None = None
    reason: str | None = None
    cancel_requested: bool = False

    @property
    def active(self) -> bool:
        """Queued or running."""
        return self.state in ACTIVE

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (for ``--json`` and the HTTP API)."""
        return dict(self.__dict__)


def _loads(text: str | None) -> dict[str, Any]:
    return orjson.loads(text) if text else {}


def _dumps(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def _row(row: tuple) -> Job:
    values = list(row)
    for i in (15, 16, 17):
        values[i] = _loads(values[i])
    values[20] = bool(values[20])
    return Job(*values)


class JobsRepo:
    """Training jobs (table ``jobs``)."""

    def __init__(self, store) -> None:
        self.store = store

    def _events(self):
        return self.store.events

    # creation and state changes -----------------------------------------------------------
    def create(self, job_id: str, *, role: str, base_model: str, dataset_dir: str, job_dir: str,
               dataset_version: str | None, config: dict[str, Any], backend: str | None = None) -> Job:
        """Insert a queued job and its ``job.queued`` event."""
        now = time.time()

        def fn(conn):
            conn.execute(
                "insert into jobs(id, role, state, stage, created_at, updated_at, base_model, dataset_version, "
                "dataset_dir, job_dir, backend, config) values (?, ?, 'queued', 'queued', ?, ?, ?, ?, ?, ?, ?, ?)",
                (job_id, role, now, now, base_model, dataset_version, dataset_dir, job_dir, backend, _dumps(config)),
            )
            self._events().append_in(conn, "job.queued", {"dataset_version": dataset_version, "base_model": base_model},
                                     role=role, subject=job_id)

        self.store.write(fn)
        return self.get(job_id)

    def attach(self, job_id: str, pid: int, proc_start: str | None) -> None:
        """Record the child process of a job (by the parent, right after spawning it)."""
        self.store.write(lambda c: c.execute(
            "update jobs set pid = ?, proc_start = ?, updated_at = ? where id = ?",
            (pid, proc_start, time.time(), job_id)))

    def start(self, job_id: str, *, pid: int, proc_start: str | None, backend: str) -> bool:
        """Mark a queued job running (by the child); False if it was cancelled meanwhile."""

        def fn(conn):
            changed = conn.execute(
                "update jobs set state = 'running', stage = 'loading', started_at = ?, updated_at = ?, pid = ?, "
                "proc_start = ?, backend = ? where id = ? and state = 'queued' and cancel_requested = 0 "
                "returning role", (time.time(), time.time(), pid, proc_start, backend, job_id)).fetchall()
            if changed:
                self._events().append_in(conn, "job.started", {"pid": pid, "backend": backend},
                                         role=changed[0][0], subject=job_id)
            return bool(changed)

        return self.store.write(fn)

    def report(self, job_id: str, *, stage: str | None = None, progress: dict[str, Any] | None = None) -> None:
        """Update the stage and/or live progress of a running job; a new stage is also an event."""

        def fn(conn):
            row = conn.execute("select role, stage from jobs where id = ? and state = 'running'", (job_id,)).fetchone()
            if row is None:
                return
            sets, params = ["updated_at = ?"], [time.time()]
            if progress is not None:
                sets.append("progress = ?")
                params.append(_dumps(progress))
            if stage is not None and stage != row[1]:
                sets.append("stage = ?")
                params.append(stage)
                self._events().append_in(conn, "job.stage", {"stage": stage}, role=row[0], subject=job_id)
            conn.execute(f"update jobs set {', '.join(sets)} where id = ?", (*params, job_id))

        self.store.write(fn)

    def finish(self, job_id: str, state: str, *, reason: str | None = None, metrics: dict[str, Any] | None = None,
               artifact_dir: str | None = None) -> bool:
        """Move an active job to a terminal state (with its event); False if it had already ended."""
        if state not in TERMINAL:
            raise InvalidInput(f"state: {state!r} is not one of {', '.join(TERMINAL)}", field="state")

        def fn(conn):
            now = time.time()
            changed = conn.execute(
                "update jobs set state = ?, stage = ?, finished_at = ?, updated_at = ?, reason = ?, "
                "metrics = coalesce(?, metrics), artifact_dir = coalesce(?, artifact_dir) "
                "where id = ? and state in ('queued', 'running') returning role",
                (state, state, now, now, reason, _dumps(metrics) if metrics is not None else None, artifact_dir,
                 job_id)).fetchall()
            if changed:
                payload = {"reason": reason} if reason else {}
                if artifact_dir:
                    payload["artifact_dir"] = artifact_dir
                self._events().append_in(conn, f"job.{state}", payload, role=changed[0][0], subject=job_id)
            return bool(changed)

        return self.store.write(fn)

    def request_cancel(self, job_id: str) -> Job:
        """Flag a job for cancellation; a queued job that never started is cancelled at once."""
        self.get(job_id)

        def fn(conn):
            conn.execute("update jobs set cancel_requested = 1, updated_at = ? where id = ? and state in "
                         "('queued', 'running')", (time.time(), job_id))

        self.store.write(fn)
        job = self.get(job_id)
        if job.state == "queued" and job.pid is None:
            self.finish(job_id, "cancelled", reason="cancelled before it started")
        return self.get(job_id)

    def fail_orphans(self, is_alive: Callable[[Job], bool], reason: str = "the training process vanished "
                     "(runtime restart or crash)") -> list[str]:
        """Mark failed every active job whose process ``is_alive`` says is gone; returns their ids."""
        failed = []
        for job in self.list(active=True, limit=10_000):
            if not is_alive(job) and self.finish(job.id, "failed", reason=reason):
                failed.append(job.id)
        return failed

    # reads --------------------------------------------------------------------------------
    def get(self, job_id: str) -> Job:
        """The job with id ``job_id`` (NotFound otherwise)."""
        rows = self.store.query(f"select {_COLUMNS} from jobs where id = ?", (job_id,))
        if not rows:
            raise NotFound(f"no training job {job_id!r}; `edgelearn jobs` lists them")
        return _row(rows[0])

    def list(self, *, role: str | None = None, state: str | None = None, active: bool = False,
             limit: int = 50) -> list[Job]:
        """Jobs newest first, optionally of one role, one state, or only the active ones."""
        if state and state not in STATES:
            raise InvalidInput(f"state: {state!r} is not one of {', '.join(STATES)}", field="state")
        clause, params = where(("role = ?", role or None), ("state = ?", state or None),
                               ("state in ('queued', 'running')", active or None))
        sql = f"select {_COLUMNS} from jobs{clause} order by created_at desc, id desc limit ?"
        return [_row(r) for r in self.store.query(sql, (*params, limit))]

    def cancel_requested(self, job_id: str) -> bool:
        """Whether someone asked to cancel this job (polled by the child)."""
        rows = self.store.query("select cancel_requested from jobs where id = ?", (job_id,))
        return bool(rows and rows[0][0])
