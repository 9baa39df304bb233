"""SQL for the model registry: versions per role, their states, and the Ollama sync queue.

States::

    candidate ──▶ challenger ──▶ champion ──▶ retired ──▶ champion (restored by a rollback)
        │             │             └──────▶ rolled_back
        └─────────────┴──▶ champion / retired

Every transition appends a ``model.<state>`` event with ``from``, ``to`` and ``reason`` in the same
transaction; a role has at most one champion (a partial unique index guards it too), and promoting
a version retires the old champion inside that transaction. The queue ``ollama_sync`` holds what
Ollama should hold: entering champion or challenger asks for a registration, leaving them for a
delete; the serving service works the queue (serve/sync.py), so a request made while Ollama is down
survives restarts.

The store records files; it does not touch them. ``serve/registry.py`` checks, hashes and copies
a training output under the home, then hands the paths and digests down as ``ModelFiles``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import apsw
import orjson

from edgelearn.errors import InvalidInput, NotFound
from edgelearn.roles import check_role
from edgelearn.store.events import EventsRepo
from edgelearn.store.filters import where

STATES = ("candidate", "challenger", "champion", "retired", "rolled_back")
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "candidate": ("challenger", "champion", "retired"),
    "challenger": ("champion", "retired", "rolled_back"),
    "champion": ("retired", "rolled_back"),
    "retired": ("champion", "challenger"),
    "rolled_back": ("champion", "challenger"),
}
SERVED_STATES = ("champion", "challenger")  # the states Ollama should hold a model for
BASE_ID = "base"
_COLUMNS = ("id, role, number, state, created_at, updated_at, artifacts_dir, base_path, base_sha256, adapter_path, "
            "adapter_sha256, merged_path, merged_sha256, dataset_version, job_id, metrics, ollama_name, promoted_at, "
            "demoted_at")


@dataclass(frozen=True)
class ModelVersion:
    """One registered model version (or the synthetic ``base``)."""

    id: str
    role: str
    number: int
    state: str
    created_at: float
    updated_at: float
    artifacts_dir: str
    base_path: str
    base_sha256: str
    adapter_path: str | None = None
    adapter_sha256: str | None = None
    merged_path: str | None = None
    merged_sha256: str | None = None
    dataset_version: str | None = None
    job_id: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    ollama_name: str | None = None
    promoted_at: float | None = None
    demoted_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ModelFiles:
    """The files behind a version, already checked and hashed by the caller (``serve/registry.py``)."""

    artifacts_dir: str
    base_path: str
    base_sha256: str
    adapter_path: str | None = None
    adapter_sha256: str | None = None
    merged_path: str | None = None
    merged_sha256: str | None = None


@dataclass(frozen=True)
class SyncTask:
    """A pending (or failed) Ollama registration or delete of one model version."""

    model_id: str
    action: str
    status: str
    attempts: int
    next_at: float
    last_error: str | None


def _version(row: tuple) -> ModelVersion:
    values = list(row)
    values[15] = orjson.loads(values[15]) if values[15] else {}
    return ModelVersion(*values)


class ModelsRepo:
    def __init__(self, store, locate_base: Callable[[], Path] | None = None) -> None:
        self.store = store
        self._locate_base = locate_base  # where the base GGUF is: known to serving, not to the store

    # --- registration -------------------------------------------------------------------------
    def add(self, role: str, files: ModelFiles, *, job_id: str | None = None, dataset_version: str | None = None,
            metrics: dict[str, Any] | None = None) -> str:
        """Record a trained model as a ``candidate`` of ``role``; returns its id (``coder-v1``).

        ``serve.registry.register`` is the way in from a training output: it checks and keeps the files."""
        check_role(role)
        row = {**asdict(files), "dataset_version": dataset_version, "job_id": job_id,
               "metrics": orjson.dumps(metrics or {}, default=str).decode()}

        def fn(conn: apsw.Connection) -> str:
            number = conn.execute("select coalesce(max(number), 0) + 1 from models where role = ?",
                                  (role,)).fetchone()[0]
            model_id = f"{role}-v{number}"
            now = time.time()
            conn.execute(
                "insert into models(id, role, number, state, created_at, updated_at, artifacts_dir, base_path, "
                "base_sha256, adapter_path, adapter_sha256, merged_path, merged_sha256, dataset_version, job_id, "
                "metrics) values (:id, :role, :number, 'candidate', :now, :now, :artifacts_dir, :base_path, "
                ":base_sha256, :adapter_path, :adapter_sha256, :merged_path, :merged_sha256, :dataset_version, "
                ":job_id, :metrics)", {**row, "id": model_id, "role": role, "number": number, "now": now})
            EventsRepo.append_in(conn, "model.candidate", {
                "from": None, "to": "candidate", "reason": "registered", "job_id": row["job_id"],
                "dataset_version": row["dataset_version"], "artifacts_dir": row["artifacts_dir"]},
                role=role, subject=model_id)
            return model_id

        return self.store.write(fn)

    # --- transitions --------------------------------------------------------------------------
    def set_state(self, model_id: str, state: str, reason: str = "") -> ModelVersion:
        """Move a version to ``state`` (one event per transition); returns the updated version."""
        self.store.write(lambda conn: self.set_state_in(conn, model_id, state, reason))
        return self.get(model_id)

    def set_state_in(self, conn: apsw.Connection, model_id: str, state: str, reason: str = "") -> bool:
        """``set_state`` inside the caller's write; returns False when the version is already there."""
        if state not in STATES:
            raise InvalidInput(f"state: {state!r} is not one of {', '.join(STATES)}", field="state")
        if model_id == BASE_ID:
            raise InvalidInput("the base model has no state: it is always available", field="id")
        row = conn.execute("select role, state, ollama_name from models where id = ?", (model_id,)).fetchone()
        if row is None:
            raise NotFound(f"model {model_id} not found (see `edgelearn models`)")
        role, old, _ = row
        if old == state:
            return False
        if state not in TRANSITIONS[old]:
            raise InvalidInput(f"state: {model_id} is {old}; it can become {' or '.join(TRANSITIONS[old])}, "
                               f"not {state}", field="state")
        now = time.time()
        if state == "champion":
            current = self.champion_id_in(conn, role)
            if current is not None:
                self._move(conn, current, role, "champion", "retired", f"replaced by {model_id}", now)
            conn.execute("update models set promoted_at = ? where id = ?", (now, model_id))
        self._move(conn, model_id, role, old, state, reason, now)
        return True

    def _move(self, conn: apsw.Connection, model_id: str, role: str, old: str, new: str, reason: str,
              now: float) -> None:
        demoted = ", demoted_at = :now" if old == "champion" else ""
        conn.execute(f"update models set state = :new, updated_at = :now{demoted} where id = :id",
                     {"new": new, "now": now, "id": model_id})
        EventsRepo.append_in(conn, f"model.{new}", {"from": old, "to": new, "reason": reason},
                             role=role, subject=model_id)
        self._want_in_ollama(conn, model_id, new in SERVED_STATES, now)

    def rollback(self, role: str, reason: str) -> ModelVersion | None:
        """The champion becomes ``rolled_back`` and the previous champion returns, in one transaction.

        Returns the restored version, or None when there was none (the role falls back to ``base``).
        """
        def fn(conn: apsw.Connection) -> str | None:
            current = self.champion_id_in(conn, role)
            if current is None:
                raise InvalidInput(f"role {role} has no champion to roll back", field="role")
            previous = self.previous_champion_id_in(conn, role)
            self.set_state_in(conn, current, "rolled_back", reason)
            if previous is not None:
                self.set_state_in(conn, previous, "champion", f"rollback of {current}: {reason}")
            return previous

        restored = self.store.write(fn)
        return self.get(restored) if restored else None

    # --- reads --------------------------------------------------------------------------------
    def get(self, model_id: str) -> ModelVersion:
        """One version by id (``base`` gives the base the store was opened with); ``NotFound`` otherwise."""
        if model_id == BASE_ID:
            if self._locate_base is None:
                raise NotFound("model base: this store was opened without the base model's path "
                               "(Store(..., locate_base=...))")
            return self.base(self._locate_base())
        rows = self.store.query(f"select {_COLUMNS} from models where id = ?", (model_id,))
        if not rows:
            raise NotFound(f"model {model_id} not found (see `edgelearn models`)")
        return _version(rows[0])

    @staticmethod
    def base(base_path: Path | str) -> ModelVersion:
        """The bare base model at ``base_path`` as a version with id ``base`` (always available, never stored)."""
        path = Path(base_path)
        return ModelVersion(id=BASE_ID, role="*", number=0, state="champion", created_at=0.0, updated_at=0.0,
                            artifacts_dir=str(path.parent), base_path=str(path), base_sha256="")

    def champion(self, role: str) -> ModelVersion | None:
        """The role's champion, or None (then ``base`` serves the role)."""
        return self._one("select {} from models where role = ? and state = 'champion'", (role,))

    def challenger(self, role: str) -> ModelVersion | None:
        """The role's most recent challenger, or None."""
        return self._one("select {} from models where role = ? and state = 'challenger' order by number desc "
                         "limit 1", (role,))

    def previous_champion(self, role: str) -> ModelVersion | None:
        """The retired version that was champion most recently before the current one."""
        previous = self.previous_champion_id_in(self.store.read(), role)
        return self.get(previous) if previous else None

    @staticmethod
    def champion_id_in(conn: apsw.Connection, role: str) -> str | None:
        """The id of the role's champion inside the caller's transaction, or None."""
        row = conn.execute("select id from models where role = ? and state = 'champion'", (role,)).fetchone()
        return row[0] if row else None

    @staticmethod
    def previous_champion_id_in(conn: apsw.Connection, role: str) -> str | None:
        """``previous_champion``'s id inside the caller's transaction."""
        row = conn.execute("select id from models where role = ? and state = 'retired' and promoted_at is not null "
                           "order by demoted_at desc limit 1", (role,)).fetchone()
        return row[0] if row else None

    def list(self, role: str | None = None, states: tuple[str, ...] | None = None) -> list[ModelVersion]:
        """Versions by role, newest first."""
        clause, params = where(("role = ?", role),
                               (f"state in ({','.join('?' * len(states or ()))})", tuple(states) if states else None))
        return [_version(r) for r in self.store.query(f"select {_COLUMNS} from models{clause} order by role, number desc",
                                                      params)]

    def roles(self) -> list[str]:
        """Roles with at least one registered version."""
        return [r[0] for r in self.store.query("select distinct role from models order by role")]

    def _one(self, sql: str, params: tuple) -> ModelVersion | None:
        rows = self.store.query(sql.format(_COLUMNS), params)
        return _version(rows[0]) if rows else None

    # --- Ollama sync queue --------------------------------------------------------------------
    def _want_in_ollama(self, conn: apsw.Connection, model_id: str, wanted: bool, now: float) -> None:
        registered = conn.execute("select ollama_name from models where id = ?", (model_id,)).fetchone()[0]
        if wanted == (registered is not None):
            conn.execute("delete from ollama_sync where model_id = ?", (model_id,))  # already as wanted
            return
        conn.execute(
            "insert into ollama_sync(model_id, action, status, attempts, next_at, last_error, created_at) "
            "values (?, ?, 'pending', 0, ?, null, ?) on conflict(model_id) do update set action = excluded.action, "
            "status = 'pending', attempts = 0, next_at = excluded.next_at, last_error = null",
            (model_id, "register" if wanted else "delete", now, now))

    def sync_tasks(self, *, due_before: float | None = None) -> list[SyncTask]:
        """Queued Ollama work, oldest first; only pending tasks due by ``due_before`` when given."""
        sql = "select model_id, action, status, attempts, next_at, last_error from ollama_sync"
        params: tuple = ()
        if due_before is not None:
            sql += " where status = 'pending' and next_at <= ?"
            params = (due_before,)
        return [SyncTask(*r) for r in self.store.query(sql + " order by next_at", params)]

    def sync_task(self, model_id: str) -> SyncTask | None:
        rows = self.store.query("select model_id, action, status, attempts, next_at, last_error from ollama_sync "
                                "where model_id = ?", (model_id,))
        return SyncTask(*rows[0]) if rows else None

    def sync_done(self, model_id: str, action: str, ollama_name: str, details: dict[str, Any]) -> None:
        """Ollama now holds (register) or no longer holds (delete) the version."""
        def fn(conn: apsw.Connection) -> None:
            conn.execute("update models set ollama_name = ? where id = ?",
                         (ollama_name if action == "register" else None, model_id))
            # a newer wish (e.g. delete after register) replaced the row: keep it for the next pass
            conn.execute("delete from ollama_sync where model_id = ? and action = ?", (model_id, action))
            role = conn.execute("select role from models where id = ?", (model_id,)).fetchone()
            EventsRepo.append_in(conn, f"model.ollama_{'registered' if action == 'register' else 'deleted'}",
                                 {"name": ollama_name, **details}, role=role[0] if role else None, subject=model_id)

        self.store.write(fn)

    def sync_retry(self, model_id: str, action: str, error: str, delay_s: float) -> None:
        """Ollama could not be reached: try again after ``delay_s``."""
        self.store.write(lambda conn: conn.execute(
            "update ollama_sync set attempts = attempts + 1, next_at = ?, last_error = ? "
            "where model_id = ? and action = ?", (time.time() + delay_s, error, model_id, action)))

    def sync_failed(self, model_id: str, action: str, error: str) -> None:
        """Ollama refused the work: keep it as failed (not retried until requeued) and say why."""
        def fn(conn: apsw.Connection) -> None:
            conn.execute("update ollama_sync set status = 'failed', attempts = attempts + 1, last_error = ? "
                         "where model_id = ? and action = ?", (error, model_id, action))
            role = conn.execute("select role from models where id = ?", (model_id,)).fetchone()
            EventsRepo.append_in(conn, "model.ollama_failed", {"action": action, "error": error},
                                 role=role[0] if role else None, subject=model_id)

        self.store.write(fn)

    def sync_requeue(self, model_id: str) -> None:
        """Make a failed or waiting task due now (``edgelearn deploy`` of a version does this)."""
        self.store.write(lambda conn: conn.execute(
            "update ollama_sync set status = 'pending', next_at = ? where model_id = ?", (time.time(), model_id)))
