"""SQL for bandit arms, their statistics, selections and task clusters.

The bookkeeping rules (how a reward moves the statistics) live in ``edgelearn.bandits.ledger``;
this module only reads and writes rows. ``*_in`` methods run inside the caller's write
transaction (``store.write``); the others read on this thread's connection.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterable

import apsw

from edgelearn.errors import InvalidInput, NotFound
from edgelearn.store.filters import where

ARM_COLUMNS = ("id, role, kind, variant, text, notes, backend, model_name, cost_per_1k, enabled, source, path, "
               "created_at, updated_at")
KINDS = ("prompt", "model")
GLOBAL = -1  # the cluster number of a role's role-wide statistics


@dataclass(frozen=True)
class Arm:
    """One choice a bandit can make: a prompt variant or a model, for one role."""

    id: int
    role: str
    kind: str
    variant: str
    text: str | None
    notes: str | None
    backend: str | None
    model_name: str | None
    cost_per_1k: float
    enabled: bool
    source: str
    path: str | None
    created_at: float
    updated_at: float

    @property
    def key(self) -> str:
        """``role/kind/variant``: the readable unique name of the arm."""
        return f"{self.role}/{self.kind}/{self.variant}"


def _arm(row: tuple) -> Arm:
    return Arm(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8], bool(row[9]), row[10],
               row[11], row[12], row[13])


@dataclass
class Stat:
    """Sufficient statistics of one arm in one cluster, valued at the role's clock ``tick``."""

    n: float = 0.0
    s: float = 0.0
    s2: float = 0.0
    count: int = 0
    tick: int = 0


@dataclass(frozen=True)
class Selection:
    run_id: str
    role: str
    prompt_arm: int | None
    model_arm: int | None
    cluster: int | None
    policy: str
    created_at: float
    reward: float | None = None
    tick: int | None = None


@dataclass(frozen=True)
class Clock:
    role: str
    tick: int = 0
    discount: float = 1.0
    window: int = 0


@dataclass(frozen=True)
class Snapshot:
    """Everything the selector caches for one role, read in one go."""

    role: str
    arms: list[Arm]
    stats: dict[tuple[int, int], Stat]
    clock: Clock
    centroids: list[tuple[int, bytes]]


_SEL_COLUMNS = "run_id, role, prompt_arm, model_arm, cluster, policy, created_at, reward, tick"


class ArmsRepo:
    def __init__(self, store) -> None:
        self.store = store

    # --- arms ---------------------------------------------------------------------------------
    @staticmethod
    def upsert_in(conn: apsw.Connection, role: str, kind: str, variant: str, *, source: str,
                  text: str | None = None, notes: str | None = None, backend: str | None = None,
                  model_name: str | None = None, cost_per_1k: float = 0.0, path: str | None = None,
                  enabled: bool | None = None) -> tuple[Arm, bool]:
        """Insert the arm or update its description; returns (arm, created).

        ``enabled`` None keeps an existing arm's flag (a user's ``disable`` survives re-syncs).
        """
        if kind not in KINDS:
            raise InvalidInput(f"kind: expected prompt or model, got {kind!r}", field="kind")
        now = time.time()
        row = conn.execute("select id from arms where role = ? and kind = ? and variant = ?",
                           (role, kind, variant)).fetchone()
        if row is None:
            conn.execute(
                "insert into arms(role, kind, variant, text, notes, backend, model_name, cost_per_1k, enabled, "
                "source, path, created_at, updated_at) values (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (role, kind, variant, text, notes, backend, model_name, cost_per_1k,
                 1 if enabled is None else int(enabled), source, path, now, now))
            arm_id, created = conn.last_insert_rowid(), True
        else:
            arm_id, created = row[0], False
            conn.execute(
                "update arms set text = ?, notes = ?, backend = ?, model_name = ?, cost_per_1k = ?, source = ?, "
                "path = ?, enabled = coalesce(?, enabled), updated_at = ? where id = ?",
                (text, notes, backend, model_name, cost_per_1k, source, path,
                 None if enabled is None else int(enabled), now, arm_id))
        return ArmsRepo.get_in(conn, arm_id), created

    @staticmethod
    def get_in(conn: apsw.Connection, arm_id: int) -> Arm:
        row = conn.execute(f"select {ARM_COLUMNS} from arms where id = ?", (arm_id,)).fetchone()
        if row is None:
            raise NotFound(f"arm {arm_id} not found")
        return _arm(row)

    @staticmethod
    def prompt_file_in(conn: apsw.Connection, role: str, variant: str) -> tuple[str, str | None, str | None] | None:
        """(text, notes, path) of the role's prompt arm ``variant``, or None when there is none."""
        return conn.execute("select text, notes, path from arms where role = ? and kind = 'prompt' and variant = ?",
                            (role, variant)).fetchone()

    @staticmethod
    def set_enabled_in(conn: apsw.Connection, arm_id: int, enabled: bool) -> Arm:
        conn.execute("update arms set enabled = ?, updated_at = ? where id = ?", (int(enabled), time.time(), arm_id))
        return ArmsRepo.get_in(conn, arm_id)

    @staticmethod
    def list_in(conn: apsw.Connection, role: str | None = None, kind: str | None = None) -> list[Arm]:
        clause, params = where(("role = ?", role), ("kind = ?", kind))
        return [_arm(r) for r in conn.execute(f"select {ARM_COLUMNS} from arms{clause} order by role, kind, variant",
                                              params)]

    def list(self, role: str | None = None, kind: str | None = None) -> list[Arm]:
        """Arms, by role, kind and variant."""
        return self.list_in(self.store.read(), role, kind)

    def get(self, arm_id: int) -> Arm:
        return self.get_in(self.store.read(), arm_id)

    def resolve(self, ref: str) -> Arm:
        """The arm named by its number, ``role/kind/variant`` or an unambiguous ``role/variant``."""
        ref = ref.strip()
        if ref.isdigit():
            return self.get(int(ref))
        role, sep, rest = ref.partition("/")
        if not sep or not rest:
            raise InvalidInput(f"arm: expected a number, role/kind/variant or role/variant, got {ref!r}", field="arm")
        kind, sep, variant = rest.partition("/")
        if sep and kind in KINDS:
            rows = self.store.query(f"select {ARM_COLUMNS} from arms where role = ? and kind = ? and variant = ?",
                                    (role, kind, variant))
        else:
            rows = self.store.query(f"select {ARM_COLUMNS} from arms where role = ? and variant = ?", (role, rest))
        if not rows:
            raise NotFound(f"arm {ref!r} not found; `edgelearn arms` lists them")
        if len(rows) > 1:
            raise InvalidInput(f"arm: {ref!r} names a prompt and a model; say {role}/prompt/{rest} or "
                               f"{role}/model/{rest}", field="arm")
        return _arm(rows[0])

    @staticmethod
    def roles_in(conn: apsw.Connection) -> list[str]:
        return [r[0] for r in conn.execute("select distinct role from arms order by role")]

    def roles(self) -> list[str]:
        """Roles that have arms."""
        return self.roles_in(self.store.read())

    # --- statistics ---------------------------------------------------------------------------
    @staticmethod
    def clock_in(conn: apsw.Connection, role: str) -> Clock:
        row = conn.execute("select tick, discount, window from arm_clock where role = ?", (role,)).fetchone()
        return Clock(role, *row) if row else Clock(role)

    @staticmethod
    def set_clock_in(conn: apsw.Connection, clock: Clock) -> None:
        conn.execute("insert into arm_clock(role, tick, discount, window) values (?,?,?,?) on conflict(role) do "
                     "update set tick = excluded.tick, discount = excluded.discount, window = excluded.window",
                     (clock.role, clock.tick, clock.discount, clock.window))

    @staticmethod
    def stat_in(conn: apsw.Connection, arm_id: int, cluster: int) -> Stat:
        row = conn.execute("select n, s, s2, count, tick from arm_stats where arm_id = ? and cluster = ?",
                           (arm_id, cluster)).fetchone()
        return Stat(*row) if row else Stat()

    @staticmethod
    def put_stat_in(conn: apsw.Connection, arm_id: int, cluster: int, st: Stat) -> None:
        conn.execute("insert or replace into arm_stats(arm_id, cluster, n, s, s2, count, tick) values (?,?,?,?,?,?,?)",
                     (arm_id, cluster, st.n, st.s, st.s2, st.count, st.tick))

    @staticmethod
    def counted_at_in(conn: apsw.Connection, role: str, tick: int) -> Selection | None:
        """The selection of ``role`` whose reward was counted at clock ``tick``."""
        row = conn.execute(f"select {_SEL_COLUMNS} from selections where role = ? and tick = ?",
                           (role, tick)).fetchone()
        return Selection(*row) if row else None

    @staticmethod
    def observations_in(conn: apsw.Connection, role: str) -> list[tuple[int | None, int | None, int | None, float, int]]:
        """(prompt_arm, model_arm, cluster, reward, tick) of every counted selection of ``role``, oldest first."""
        return conn.execute("select prompt_arm, model_arm, cluster, reward, tick from selections "
                            "where role = ? and tick is not null order by tick", (role,)).fetchall()

    @staticmethod
    def replace_stats_in(conn: apsw.Connection, role: str, stats: dict[tuple[int, int], Stat]) -> None:
        """Drop every statistic of ``role``'s arms and write ``stats`` instead."""
        conn.execute("delete from arm_stats where arm_id in (select id from arms where role = ?)", (role,))
        conn.executemany("insert into arm_stats(arm_id, cluster, n, s, s2, count, tick) values (?,?,?,?,?,?,?)",
                         [(a, c, st.n, st.s, st.s2, st.count, st.tick) for (a, c), st in stats.items()])

    def snapshot(self, role: str) -> Snapshot:
        """Arms, statistics, clock and cluster centroids of ``role``, as one consistent read."""
        conn = self.store.read()
        with conn:  # one read transaction: the parts agree with each other
            arms = self.list_in(conn, role)
            stats = {(a, c): Stat(n, s, s2, k, t) for a, c, n, s, s2, k, t in conn.execute(
                "select st.arm_id, st.cluster, st.n, st.s, st.s2, st.count, st.tick from arm_stats st "
                "join arms a on a.id = st.arm_id where a.role = ?", (role,))}
            clock = self.clock_in(conn, role)
            centroids = conn.execute("select cluster, centroid from arm_clusters where role = ? order by cluster",
                                     (role,)).fetchall()
        return Snapshot(role, arms, stats, clock, centroids)

    # --- selections ---------------------------------------------------------------------------
    @staticmethod
    def insert_selection_in(conn: apsw.Connection, sel: Selection) -> None:
        conn.execute(f"insert into selections({_SEL_COLUMNS}) values (?,?,?,?,?,?,?,?,?)",
                     (sel.run_id, sel.role, sel.prompt_arm, sel.model_arm, sel.cluster, sel.policy, sel.created_at,
                      sel.reward, sel.tick))

    @staticmethod
    def selection_in(conn: apsw.Connection, run_id: str) -> Selection | None:
        row = conn.execute(f"select {_SEL_COLUMNS} from selections where run_id = ?", (run_id,)).fetchone()
        return Selection(*row) if row else None

    def selection(self, run_id: str) -> Selection:
        sel = self.selection_in(self.store.read(), run_id)
        if sel is None:
            raise NotFound(f"run_id: no selection announced run {run_id}")
        return sel

    @staticmethod
    def drop_prompt_in(conn: apsw.Connection, run_id: str) -> None:
        """Forget the prompt arm of a selection whose prompt the model never saw (a gateway role that
        did not opt into prompt variants): its run then credits the model arm only. A selection
        already counted keeps its arms, so the statistics stay what they hold."""
        conn.execute("update selections set prompt_arm = null where run_id = ? and tick is null", (run_id,))

    @staticmethod
    def set_counted_in(conn: apsw.Connection, run_id: str, reward: float | None, tick: int | None) -> None:
        """Remember which reward of the run the statistics hold, and from which tick."""
        conn.execute("update selections set reward = ?, tick = ? where run_id = ?", (reward, tick, run_id))

    @staticmethod
    def drifted_in(conn: apsw.Connection) -> list[tuple[str, str, float | None]]:
        """(run_id, role, run reward) of selections whose counted reward differs from their run's."""
        return conn.execute("select s.run_id, s.role, r.reward from selections s join runs r on r.id = s.run_id "
                            "where s.reward is not r.reward").fetchall()

    def pulls(self, role: str | None = None, last: int | None = None) -> dict[int, int]:
        """Selections per arm id (prompt and model), over all time or the ``last`` selections of the role."""
        where, params = ("where role = ?", [role]) if role else ("", [])
        inner = f"select prompt_arm, model_arm from selections {where}"
        if last:
            inner += " order by created_at desc limit ?"
            params.append(last)
        out: dict[int, int] = {}
        for p, m, k in self.store.query(f"select prompt_arm, model_arm, count(*) from ({inner}) group by 1, 2",
                                        params):
            for arm in (p, m):
                if arm is not None:
                    out[arm] = out.get(arm, 0) + k
        return out

    # --- clusters -----------------------------------------------------------------------------
    def role_embeddings(self, role: str, limit: int) -> list[tuple[int, bytes]]:
        """(run seq, float32 bytes) of up to ``limit`` of the role's most recent embedded runs."""
        return self.store.query("select run_seq, emb from run_vec where role = ? order by run_seq desc limit ?",
                                (role, limit))

    def embedded_count(self, role: str) -> int:
        """How many of the role's runs have a task embedding."""
        return self.store.query("select count(*) from run_vec where role = ?", (role,))[0][0]

    @staticmethod
    def selection_seqs_in(conn: apsw.Connection, role: str) -> list[tuple[str, int, bytes]]:
        """(run_id, run seq, embedding) of the role's selections whose run is embedded."""
        return conn.execute("select s.run_id, r.seq, v.emb from selections s join runs r on r.id = s.run_id "
                            "join run_vec v on v.run_seq = r.seq where s.role = ?", (role,)).fetchall()

    @staticmethod
    def set_clusters_in(conn: apsw.Connection, role: str, centroids: Iterable[tuple[int, bytes, int]],
                        assignments: Iterable[tuple[int | None, str]]) -> None:
        """Replace the role's centroids (cluster, float32 bytes, size) and re-label its selections."""
        now = time.time()
        conn.execute("delete from arm_clusters where role = ?", (role,))
        conn.executemany("insert into arm_clusters(role, cluster, centroid, size, updated_at) values (?,?,?,?,?)",
                         [(role, c, blob, size, now) for c, blob, size in centroids])
        conn.execute("update selections set cluster = null where role = ?", (role,))
        conn.executemany("update selections set cluster = ? where run_id = ?", list(assignments))
