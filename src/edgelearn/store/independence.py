"""SQL for the independence levels: one row per (role, task cluster), and pins per role."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import apsw
import orjson


@dataclass
class Sums:
    """Sufficient statistics of one side's rewards in the current epoch."""

    n: int = 0
    sum: float = 0.0
    sq: float = 0.0


@dataclass
class ClusterState:
    """A role's level on one task cluster, the evidence of its current epoch, and lifetime counters."""

    role: str
    cluster: int
    level: int = 0
    champion: str | None = None
    epoch: int = 0
    since: float = 0.0
    local: Sums = field(default_factory=Sums)
    teacher: Sums = field(default_factory=Sums)
    shadow: Sums = field(default_factory=Sums)
    detector: dict[str, Any] | None = None
    requests: int = 0
    local_requests: int = 0
    ineligible: int = 0
    escapes: int = 0
    local_tokens_in: int = 0
    local_tokens_out: int = 0
    updated_at: float = 0.0


@dataclass(frozen=True)
class Pin:
    role: str
    level: int
    reason: str | None
    pinned_at: float


_COLUMNS = ("role, cluster, level, champion, epoch, since, local_n, local_sum, local_sq, teacher_n, teacher_sum, "
            "teacher_sq, shadow_n, shadow_sum, shadow_sq, detector, requests, local_requests, ineligible, escapes, "
            "local_tokens_in, local_tokens_out, updated_at")


def _state(row: tuple) -> ClusterState:
    return ClusterState(
        role=row[0], cluster=row[1], level=row[2], champion=row[3], epoch=row[4], since=row[5],
        local=Sums(row[6], row[7], row[8]), teacher=Sums(row[9], row[10], row[11]), shadow=Sums(row[12], row[13], row[14]),
        detector=orjson.loads(row[15]) if row[15] else None, requests=row[16], local_requests=row[17],
        ineligible=row[18], escapes=row[19], local_tokens_in=row[20], local_tokens_out=row[21], updated_at=row[22])


class IndependenceRepo:
    def __init__(self, store) -> None:
        self.store = store

    # cluster states ----------------------------------------------------------------------------
    @staticmethod
    def get_in(conn: apsw.Connection, role: str, cluster: int) -> ClusterState:
        """The stored state, or a fresh level-0 state (not yet written) when there is none."""
        row = conn.execute(f"select {_COLUMNS} from independence_clusters where role = ? and cluster = ?",
                           (role, cluster)).fetchone()
        if row is None:
            now = time.time()
            return ClusterState(role, cluster, since=now, updated_at=now)
        return _state(row)

    @staticmethod
    def role_in(conn: apsw.Connection, role: str) -> list[ClusterState]:
        rows = conn.execute(f"select {_COLUMNS} from independence_clusters where role = ? order by cluster", (role,))
        return [_state(r) for r in rows.fetchall()]

    @staticmethod
    def save_in(conn: apsw.Connection, state: ClusterState) -> None:
        state.updated_at = time.time()
        s = state
        conn.execute(
            f"insert or replace into independence_clusters({_COLUMNS}) values "
            "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (s.role, s.cluster, s.level, s.champion, s.epoch, s.since, s.local.n, s.local.sum, s.local.sq,
             s.teacher.n, s.teacher.sum, s.teacher.sq, s.shadow.n, s.shadow.sum, s.shadow.sq,
             orjson.dumps(s.detector).decode() if s.detector is not None else None, s.requests, s.local_requests,
             s.ineligible, s.escapes, s.local_tokens_in, s.local_tokens_out, s.updated_at))

    @staticmethod
    def add_counts_in(conn: apsw.Connection, role: str, cluster: int, *, requests: int = 0, local_requests: int = 0,
                      ineligible: int = 0, escapes: int = 0) -> None:
        """Add to a cluster's lifetime request counters (creating its level-0 row)."""
        now = time.time()
        conn.execute(
            "insert into independence_clusters(role, cluster, since, requests, local_requests, ineligible, escapes, "
            "updated_at) values (?,?,?,?,?,?,?,?) on conflict(role, cluster) do update set "
            "requests = requests + excluded.requests, local_requests = local_requests + excluded.local_requests, "
            "ineligible = ineligible + excluded.ineligible, escapes = escapes + excluded.escapes, "
            "updated_at = excluded.updated_at",
            (role, cluster, now, requests, local_requests, ineligible, escapes, now))

    @staticmethod
    def run_mark_in(conn: apsw.Connection, seq: int, key: str) -> dict[str, Any] | None:
        """The ``key`` object of a run's metadata (where routing marked how it was served), or None."""
        row = conn.execute("select metadata -> ? from runs where seq = ?", (f"$.{key}", seq)).fetchone()
        value = orjson.loads(row[0]) if row and row[0] else None
        return value if isinstance(value, dict) else None

    def list(self, role: str | None = None) -> list[ClusterState]:
        """Every stored cluster state (of one role), by role and cluster."""
        if role is None:
            rows = self.store.query(f"select {_COLUMNS} from independence_clusters order by role, cluster")
        else:
            rows = self.store.query(f"select {_COLUMNS} from independence_clusters where role = ? order by cluster",
                                    (role,))
        return [_state(r) for r in rows]

    def levels(self) -> dict[tuple[str, int], int]:
        """{(role, cluster): level} for routing's cache."""
        return {(r, c): lv for r, c, lv in self.store.query("select role, cluster, level from independence_clusters")}

    # pins --------------------------------------------------------------------------------------
    @staticmethod
    def set_pin_in(conn: apsw.Connection, role: str, level: int, reason: str | None) -> None:
        conn.execute("insert or replace into independence_pins(role, level, reason, pinned_at) values (?,?,?,?)",
                     (role, level, reason, time.time()))

    @staticmethod
    def clear_pin_in(conn: apsw.Connection, role: str) -> bool:
        conn.execute("delete from independence_pins where role = ?", (role,))
        return conn.changes() > 0

    @staticmethod
    def pin_in(conn: apsw.Connection, role: str) -> Pin | None:
        row = conn.execute("select role, level, reason, pinned_at from independence_pins where role = ?",
                           (role,)).fetchone()
        return Pin(*row) if row else None

    def pins(self) -> dict[str, Pin]:
        """Every pinned role's pin."""
        return {r[0]: Pin(*r) for r in self.store.query("select role, level, reason, pinned_at from independence_pins")}
