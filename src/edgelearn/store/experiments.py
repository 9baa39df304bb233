"""SQL for experiments, their per-variant statistics, loop chains and drift watches."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import apsw
import orjson

from edgelearn.errors import NotFound
from edgelearn.store.events import EventsRepo
from edgelearn.store.filters import where

EXP_COLUMNS = "id, role, champion, challenger, traffic, state, started_at, ended_at, decision, reason"
CHAIN_COLUMNS = ("id, role, trigger, state, stage, started_at, updated_at, dataset_version, job_id, model_id, "
                 "experiment_id, reason")


@dataclass
class Experiment:
    id: str
    role: str
    champion: str
    challenger: str
    traffic: float
    state: str
    started_at: float
    ended_at: float | None
    decision: dict[str, Any] | None
    reason: str | None


@dataclass
class VariantSums:
    """One variant's running sums as stored; ``experiment.decision.VariantStats`` is what ``decide`` reads."""

    n: int = 0
    reward_sum: float = 0.0
    reward_sq: float = 0.0
    latency_sum: float = 0.0
    latency_n: int = 0
    cost_sum: float = 0.0

    @property
    def mean(self) -> float | None:
        return self.reward_sum / self.n if self.n else None

    @property
    def mean_latency(self) -> float | None:
        return self.latency_sum / self.latency_n if self.latency_n else None

    @property
    def mean_cost(self) -> float | None:
        return self.cost_sum / self.n if self.n else None


@dataclass
class Chain:
    id: int
    role: str
    trigger: str
    state: str
    stage: str
    started_at: float
    updated_at: float
    dataset_version: str | None
    job_id: str | None
    model_id: str | None
    experiment_id: str | None
    reason: str | None


@dataclass
class Watch:
    role: str
    model_id: str
    previous_champion: str | None
    baseline_mean: float
    baseline_std: float
    detector: dict[str, Any] = field(default_factory=dict)
    active: bool = True
    started_at: float = 0.0


def _exp(row: tuple) -> Experiment:
    return Experiment(*row[:8], orjson.loads(row[8]) if row[8] else None, row[9])


class ExperimentsRepo:
    def __init__(self, store) -> None:
        self.store = store

    # experiments -------------------------------------------------------------------------------
    def start_in(self, conn: apsw.Connection, role: str, champion: str, challenger: str, traffic: float) -> str:
        """Open an experiment (one running per role); returns its id."""
        n = conn.execute("select count(*) from experiments where role = ?", (role,)).fetchone()[0]
        exp_id = f"exp-{role}-{n + 1}"
        conn.execute(f"insert into experiments({EXP_COLUMNS}) values (?,?,?,?,?,?,?,?,?,?)",
                     (exp_id, role, champion, challenger, traffic, "running", time.time(), None, None, None))
        conn.executemany("insert into experiment_stats(experiment_id, variant) values (?, ?)",
                         [(exp_id, "champion"), (exp_id, "challenger")])
        EventsRepo.append_in(conn, "experiment.started", {"id": exp_id, "champion": champion,
                                                          "challenger": challenger, "traffic": traffic},
                             role=role, subject=exp_id)
        return exp_id

    def get(self, exp_id: str) -> Experiment:
        rows = self.store.query(f"select {EXP_COLUMNS} from experiments where id = ?", (exp_id,))
        if not rows:
            raise NotFound(f"experiment {exp_id} not found")
        return _exp(rows[0])

    @staticmethod
    def running_in(conn: apsw.Connection, role: str) -> Experiment | None:
        """The role's running experiment inside the caller's transaction, or None."""
        row = conn.execute(f"select {EXP_COLUMNS} from experiments where role = ? and state = 'running'",
                           (role,)).fetchone()
        return _exp(row) if row else None

    def running(self, role: str | None = None) -> list[Experiment]:
        """Running experiments (at most one per role), of one role when given."""
        sql = f"select {EXP_COLUMNS} from experiments where state = 'running'"
        params: tuple = ()
        if role is not None:
            sql += " and role = ?"
            params = (role,)
        return [_exp(r) for r in self.store.query(sql, params)]

    def list(self, role: str | None = None, limit: int = 50) -> list[Experiment]:
        sql, params = f"select {EXP_COLUMNS} from experiments", []
        if role:
            sql += " where role = ?"
            params.append(role)
        sql += " order by started_at desc limit ?"
        params.append(limit)
        return [_exp(r) for r in self.store.query(sql, params)]

    def stats(self, exp_id: str, conn: apsw.Connection | None = None) -> dict[str, VariantSums]:
        sql = ("select variant, n, reward_sum, reward_sq, latency_sum, latency_n, cost_sum from experiment_stats "
               "where experiment_id = ?")
        rows = (conn.execute(sql, (exp_id,)).fetchall() if conn is not None else self.store.query(sql, (exp_id,)))
        return {r[0]: VariantSums(*r[1:]) for r in rows}

    @staticmethod
    def add_sample_in(conn: apsw.Connection, exp_id: str, variant: str, *, n: int, reward: float, reward_sq: float,
                      latency_ms: float | None = None, cost: float | None = None) -> None:
        """Add (or, with negative deltas, correct) a variant's sufficient statistics."""
        conn.execute(
            "update experiment_stats set n = n + ?, reward_sum = reward_sum + ?, reward_sq = reward_sq + ?, "
            "latency_sum = latency_sum + ?, latency_n = latency_n + ?, cost_sum = cost_sum + ? "
            "where experiment_id = ? and variant = ?",
            (n, reward, reward_sq, latency_ms or 0.0, 1 if latency_ms is not None and n > 0 else 0,
             (cost or 0.0) if n > 0 else 0.0, exp_id, variant))

    @staticmethod
    def set_decision_in(conn: apsw.Connection, exp_id: str, decision: dict[str, Any]) -> None:
        conn.execute("update experiments set decision = ? where id = ?", (orjson.dumps(decision).decode(), exp_id))

    @staticmethod
    def finish_in(conn: apsw.Connection, exp_id: str, state: str, reason: str,
                  decision: dict[str, Any] | None = None) -> None:
        """Close a running experiment as promoted, retired or stopped, with an event."""
        row = conn.execute("select role, state from experiments where id = ?", (exp_id,)).fetchone()
        if row is None:
            raise NotFound(f"experiment {exp_id} not found")
        if row[1] != "running":
            return
        conn.execute("update experiments set state = ?, ended_at = ?, reason = ?, decision = coalesce(?, decision) "
                     "where id = ?", (state, time.time(), reason,
                                      orjson.dumps(decision).decode() if decision else None, exp_id))
        EventsRepo.append_in(conn, f"experiment.{state}", {"id": exp_id, "reason": reason, "decision": decision},
                             role=row[0], subject=exp_id)

    # chains ------------------------------------------------------------------------------------
    def start_chain_in(self, conn: apsw.Connection, role: str, trigger: str, detail: dict | None = None) -> int:
        now = time.time()
        conn.execute("insert into chains(role, trigger, state, stage, started_at, updated_at) values (?,?,?,?,?,?)",
                     (role, trigger, "running", "curate", now, now))
        chain_id = conn.last_insert_rowid()
        EventsRepo.append_in(conn, "loop.triggered", {"chain": chain_id, "trigger": trigger, **(detail or {})},
                             role=role, subject=str(chain_id))
        return chain_id

    @staticmethod
    def update_chain_in(conn: apsw.Connection, chain_id: int, **fields: Any) -> None:
        allowed = {"state", "stage", "dataset_version", "job_id", "model_id", "experiment_id", "reason"}
        bad = set(fields) - allowed
        if bad:
            raise ValueError(f"unknown chain fields {sorted(bad)}")
        sets = ", ".join(f"{k} = ?" for k in fields)
        conn.execute(f"update chains set {sets}, updated_at = ? where id = ?", (*fields.values(), time.time(), chain_id))

    def chain(self, chain_id: int) -> Chain:
        rows = self.store.query(f"select {CHAIN_COLUMNS} from chains where id = ?", (chain_id,))
        if not rows:
            raise NotFound(f"chain {chain_id} not found")
        return Chain(*rows[0])

    def running_chains(self) -> list[Chain]:
        return [Chain(*r) for r in self.store.query(f"select {CHAIN_COLUMNS} from chains where state = 'running'")]

    def chains(self, role: str | None = None, limit: int = 20) -> list[Chain]:
        sql, params = f"select {CHAIN_COLUMNS} from chains", []
        if role:
            sql += " where role = ?"
            params.append(role)
        sql += " order by id desc limit ?"
        params.append(limit)
        return [Chain(*r) for r in self.store.query(sql, params)]

    def last_training_start(self, role: str) -> float | None:
        """When the role's latest chain that reached training started (for the cooldown)."""
        rows = self.store.query("select max(started_at) from chains where role = ? and job_id is not null", (role,))
        return rows[0][0]

    # drift watches -----------------------------------------------------------------------------
    @staticmethod
    def set_watch_in(conn: apsw.Connection, watch: Watch) -> None:
        conn.execute(
            "insert or replace into drift_watches(role, model_id, previous_champion, baseline_mean, baseline_std, "
            "detector, active, started_at) values (?,?,?,?,?,?,?,?)",
            (watch.role, watch.model_id, watch.previous_champion, watch.baseline_mean, watch.baseline_std,
             orjson.dumps(watch.detector).decode(), 1 if watch.active else 0, watch.started_at or time.time()))

    @staticmethod
    def watch_in(conn: apsw.Connection, role: str) -> Watch | None:
        row = conn.execute("select role, model_id, previous_champion, baseline_mean, baseline_std, detector, active, "
                           "started_at from drift_watches where role = ?", (role,)).fetchone()
        if row is None:
            return None
        return Watch(row[0], row[1], row[2], row[3], row[4], orjson.loads(row[5]), bool(row[6]), row[7])

    def watch(self, role: str) -> Watch | None:
        return self.watch_in(self.store.read(), role)

    def watches(self) -> list[Watch]:
        conn = self.store.read()
        return [w for (role,) in conn.execute("select role from drift_watches").fetchall()
                if (w := self.watch_in(conn, role)) is not None]

    @staticmethod
    def deactivate_watch_in(conn: apsw.Connection, role: str) -> None:
        conn.execute("update drift_watches set active = 0 where role = ?", (role,))

    # independence ------------------------------------------------------------------------------
    def served_by(self, role: str | None = None, since: float | None = None) -> list[tuple]:
        """(model_variant, runs, mean reward, tokens) per served model, for the independence figures."""
        clause, params = where(("role = ?", role or None), ("created_at >= ?", since or None))
        return self.store.query(
            "select model_variant, count(*), avg(reward), sum(coalesce(tokens_in, 0) + coalesce(tokens_out, 0)) "
            f"from runs{clause} group by model_variant", params)

    def served_by_bucket(self, role: str, since: float, bucket_s: int) -> list[tuple]:
        """(bucket start, model_variant, runs, tokens in, tokens out) of ``role``'s runs since ``since``,
        per time bucket of ``bucket_s`` seconds and served model (the independence chart)."""
        return self.store.query(
            "select cast(created_at / ? as integer) * ? as b, model_variant, count(*), sum(coalesce(tokens_in, 0)), "
            "sum(coalesce(tokens_out, 0)) from runs where role = ? and created_at >= ? group by b, model_variant "
            "order by b", (bucket_s, bucket_s, role, since))
