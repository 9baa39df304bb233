"""SQL for runs, their signals and feedback, and their task embeddings (run_vec)."""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import apsw
import orjson

from edgelearn.errors import InvalidInput, NotFound
from edgelearn.store.events import EventsRepo
from edgelearn.store.filters import where

RUN_COLUMNS = (
    "seq, id, created_at, session, project, role, task, prompt_variant, model_variant, input, output, "
    "tokens_in, tokens_out, latency_ms, cost, status, reward, reward_components, metadata, content_hash, embedded"
)


@dataclass
class NewRun:
    """A run ready to be inserted: already validated, redacted, hashed and scored."""

    id: str
    created_at: float
    role: str
    output: str
    content_hash: str
    session: str | None = None
    project: str | None = None
    task: str | None = None
    prompt_variant: str | None = None
    model_variant: str | None = None
    input: str | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    latency_ms: float | None = None
    cost: float | None = None
    status: str = "ok"
    reward: float | None = None
    reward_components: dict[str, float] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    signals: dict[str, tuple[float, Any]] = field(default_factory=dict)  # kind → (value, raw)
    announced: bool = False  # the id came from the caller (announced earlier by /v1/select)
    minted: bool = False  # the id was made when the run was recorded: no selection can name it
    # ``metadata`` and ``signals`` as the row stores them, when the caller has serialised them already
    # (the recorder does, to refuse what JSON cannot hold before the commit): stored as is, not dumped again
    metadata_json: str | None = None
    signals_json: str | None = None


@dataclass
class Run:
    seq: int
    id: str
    created_at: float
    session: str | None
    project: str | None
    role: str
    task: str | None
    prompt_variant: str | None
    model_variant: str | None
    input: Any
    output: str
    tokens_in: int | None
    tokens_out: int | None
    latency_ms: float | None
    cost: float | None
    status: str
    reward: float | None
    reward_components: dict[str, float]
    metadata: dict[str, Any]
    content_hash: str
    embedded: bool

    def to_dict(self) -> dict[str, Any]:
        d = self.__dict__.copy()
        d.pop("seq")
        return d


def _loads(text: str | None, default: Any) -> Any:
    return orjson.loads(text) if text else default


def _input_value(text: str | None) -> Any:
    if text and text[:1] == "[":
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            return text
    return text


def row_to_run(row: tuple) -> Run:
    return Run(
        seq=row[0], id=row[1], created_at=row[2], session=row[3], project=row[4], role=row[5], task=row[6],
        prompt_variant=row[7], model_variant=row[8], input=_input_value(row[9]), output=row[10],
        tokens_in=row[11], tokens_out=row[12], latency_ms=row[13], cost=row[14], status=row[15],
        reward=row[16], reward_components=_loads(row[17], {}), metadata=_loads(row[18], {}),
        content_hash=row[19], embedded=bool(row[20]),
    )


# reward hook: fn(conn, run_row_dict, old_reward, new_reward), called inside the write transaction
RewardHook = Callable[[apsw.Connection, dict[str, Any], float | None, float | None], None]
# insert hook: fn(conn, new_run) before the insert; may fill fields or raise (e.g. unknown announced id)
InsertHook = Callable[[apsw.Connection, NewRun], None]


def record_signals_json(signals: dict[str, tuple[float, Any]]) -> str | None:
    """The ``record_signals`` column of a run: its signals as ``[[kind, value, raw], ...]``, None without any.

    The signals sent with a run go on its row (one b-tree less per commit than rows of signals)."""
    if not signals:
        return None
    return orjson.dumps([[kind, value, raw] for kind, (value, raw) in signals.items()], default=str).decode()


def pack_vector(values: Any) -> bytes:
    """float32 little-endian bytes, the form vec0 takes."""
    return struct.pack(f"<{len(values)}f", *values)


class RunsRepo:
    def __init__(self, store) -> None:
        self.store = store
        self.insert_hooks: list[InsertHook] = []
        self.reward_hooks: list[RewardHook] = []

    # --- writes (run inside the writer thread) ------------------------------------------------
    def insert_in(self, conn: apsw.Connection, run: NewRun) -> tuple[str, float | None]:
        """Insert one run with its signals; returns (id, reward)."""
        for hook in self.insert_hooks:
            hook(conn, run)
        if run.announced:
            if conn.execute("select 1 from runs where id = ?", (run.id,)).fetchone():
                raise InvalidInput(f"run_id: run {run.id} was already recorded", field="run_id")
        record_signals = run.signals_json if run.signals_json is not None else record_signals_json(run.signals)
        metadata = run.metadata_json if run.metadata_json is not None else orjson.dumps(run.metadata, default=str).decode()
        conn.execute(
            "insert into runs(id, created_at, session, project, role, task, prompt_variant, model_variant, input, "
            "output, tokens_in, tokens_out, latency_ms, cost, status, reward, reward_components, metadata, "
            "content_hash, record_signals) values (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (run.id, run.created_at, run.session, run.project, run.role, run.task, run.prompt_variant,
             run.model_variant, run.input, run.output, run.tokens_in, run.tokens_out, run.latency_ms, run.cost,
             run.status, run.reward, orjson.dumps(run.reward_components).decode(),
             metadata, run.content_hash, record_signals),
        )
        seq = conn.last_insert_rowid()
        if self.reward_hooks:
            row = {"seq": seq, "id": run.id, "created_at": run.created_at, "session": run.session,
                   "project": run.project, "role": run.role, "task": run.task, "prompt_variant": run.prompt_variant,
                   "model_variant": run.model_variant, "input": run.input, "output": run.output,
                   "tokens_in": run.tokens_in, "tokens_out": run.tokens_out, "latency_ms": run.latency_ms,
                   "cost": run.cost, "status": run.status, "reward": run.reward, "reward_components": None,
                   "metadata": run.metadata, "content_hash": run.content_hash, "embedded": 0, "minted": run.minted}
            for hook in self.reward_hooks:
                hook(conn, row, None, run.reward)
        return run.id, run.reward

    def add_signals_in(
        self, conn: apsw.Connection, run_id: str, signals: dict[str, tuple[float, Any]], source: str,
        rescore: Callable[[dict[str, float]], tuple[float | None, dict[str, float]]],
        feedback: tuple[str, float, Any, str | None] | None = None,
    ) -> tuple[float | None, float | None]:
        """Add late signals (and optional feedback row) to a run and recompute its reward.

        ``rescore(latest_values_by_kind)`` returns (reward, components). Returns (old, new) reward.
        """
        row = conn.execute("select seq, reward, role from runs where id = ?", (run_id,)).fetchone()
        if row is None:
            raise NotFound(f"run {run_id} not found")
        seq, old, role = row
        now = time.time()
        conn.executemany(
            "insert into signals(run_seq, kind, value, raw, source, created_at) values (?,?,?,?,?,?)",
            [(seq, kind, value, orjson.dumps(raw, default=str).decode(), source, now)
             for kind, (value, raw) in signals.items()],
        )
        if feedback is not None:
            kind, value, raw, comment = feedback
            conn.execute(
                "insert into feedback(run_seq, kind, value, raw, comment, created_at) values (?,?,?,?,?,?)",
                (seq, kind, value, orjson.dumps(raw, default=str).decode(), comment, now),
            )
        from edgelearn.store.sessions import SessionsRepo  # it imports this module

        # the session's outcomes that cover the run count too; the run's own signals outrank them
        latest = {**SessionsRepo.inherited_signals_in(conn, seq), **self._latest_signals(conn, seq)}
        new, components = rescore(latest)
        conn.execute("update runs set reward = ?, reward_components = ? where seq = ?",
                     (new, orjson.dumps(components).decode(), seq))
        EventsRepo.append_in(conn, "reward.updated", {"run_id": run_id, "old": old, "new": new,
                                                     "signals": sorted(signals), "source": source},
                             role=role, subject=run_id)
        if self.reward_hooks:
            run_row = self._row_dict(conn, seq)
            for hook in self.reward_hooks:
                hook(conn, run_row, old, new)
        return old, new

    @staticmethod
    def _latest_signals(conn: apsw.Connection, seq: int) -> dict[str, float]:
        latest: dict[str, float] = {}
        for kind, value in conn.execute(
            "select kind, value from run_signals where run_seq = ? order by late, pos", (seq,)
        ):
            latest[kind] = value
        return latest

    @staticmethod
    def _row_dict(conn: apsw.Connection, seq: int) -> dict[str, Any]:
        cur = conn.execute(f"select {RUN_COLUMNS} from runs where seq = ?", (seq,))
        names = [d[0] for d in cur.getdescription()]
        return dict(zip(names, cur.fetchone()))

    def store_embeddings_in(self, conn: apsw.Connection, items: list[tuple[int, str, str | None, bytes]],
                            watermark: int | None = None) -> None:
        """Write (seq, role, project, float32 bytes) rows into run_vec and mark the runs embedded;
        ``watermark``: every run up to this seq now has an embedding (the embedder's batches)."""
        if watermark is not None:
            conn.execute("update embed_progress set after_seq = max(after_seq, ?) where id = 1", (watermark,))
        for seq, role, project, vec in items:
            conn.execute("delete from run_vec where run_seq = ?", (seq,))
            conn.execute("insert into run_vec(run_seq, role, emb, project) values (?, ?, ?, ?)",
                         (seq, role, vec, project or ""))
        conn.executemany("update runs set embedded = 1 where seq = ?", [(i[0],) for i in items])

    def purge_before_in(self, conn: apsw.Connection, cutoff: float) -> int:
        """Delete runs created before ``cutoff`` with their signals, feedback and embeddings."""
        seqs = [r[0] for r in conn.execute("select seq from runs where created_at < ?", (cutoff,))]
        for seq in seqs:
            conn.execute("delete from run_vec where run_seq = ?", (seq,))
        conn.execute("delete from runs where created_at < ?", (cutoff,))
        return len(seqs)

    def reward_in(self, conn: apsw.Connection, run_id: str) -> float | None:
        """The run's reward as ``conn`` sees it (inside a write: ordered with the reward writes)."""
        row = conn.execute("select reward from runs where id = ?", (run_id,)).fetchone()
        if row is None:
            raise NotFound(f"run {run_id} not found")
        return row[0]

    # --- reads --------------------------------------------------------------------------------
    def get(self, run_id: str) -> Run:
        rows = self.store.query(f"select {RUN_COLUMNS} from runs where id = ?", (run_id,))
        if not rows:
            raise NotFound(f"run {run_id} not found")
        return row_to_run(rows[0])

    def signals(self, run_id: str) -> list[dict[str, Any]]:
        rows = self.store.query(
            "select kind, value, raw, source, created_at from run_signals "
            "where run_seq = (select seq from runs where id = ?) order by late, pos", (run_id,))
        return [{"kind": k, "value": v, "raw": _loads(raw, None), "source": src, "created_at": t}
                for k, v, raw, src, t in rows]

    def feedback(self, run_id: str) -> list[dict[str, Any]]:
        rows = self.store.query(
            "select f.kind, f.value, f.comment, f.created_at from feedback f join runs r on r.seq = f.run_seq "
            "where r.id = ? order by f.id", (run_id,))
        return [{"kind": k, "value": v, "comment": c, "created_at": t} for k, v, c, t in rows]

    def list(
        self, *, role: str | None = None, project: str | None = None, model: str | None = None,
        prompt: str | None = None, status: str | None = None, session: str | None = None,
        min_reward: float | None = None, max_reward: float | None = None,
        since: float | None = None, until: float | None = None,
        before_seq: int | None = None, limit: int = 50,
    ) -> list[Run]:
        """Runs newest first, filtered; page with ``before_seq`` (the last seq seen)."""
        clause, params = where(
            ("role = ?", role), ("project = ?", project), ("model_variant = ?", model),
            ("prompt_variant = ?", prompt), ("status = ?", status), ("session = ?", session),
            ("reward >= ?", min_reward), ("reward <= ?", max_reward), ("created_at >= ?", since),
            ("created_at < ?", until), ("seq < ?", before_seq))
        # pick the seqs first (an index walk), then read only those rows: sorting full rows of every
        # match before the limit cost ~100 ms at 100k runs
        inner = f"select seq from runs{clause} order by seq desc limit ?"
        params.append(limit)
        sql = f"select {RUN_COLUMNS} from runs where seq in ({inner}) order by seq desc"
        return [row_to_run(r) for r in self.store.query(sql, params)]

    def iter_all(self, batch: int = 1000) -> Iterator[Run]:
        """Stream runs in insertion order with bounded memory (keyset paging on seq)."""
        last = 0
        while True:
            rows = self.store.query(f"select {RUN_COLUMNS} from runs where seq > ? order by seq limit ?",
                                    (last, batch))
            if not rows:
                return
            for r in rows:
                yield row_to_run(r)
            last = rows[-1][0]

    def count_runs(self, *, role: str | None = None, since: float | None = None, min_reward: float | None = None,
                   scored: bool | None = None, embedded: bool | None = None) -> int:
        """How many runs match: of ``role``, recorded at or after ``since``, with a reward of at least
        ``min_reward``, scored or not (``scored``), embedded or not (``embedded``)."""
        clause, params = where(
            ("role = ?", role), ("created_at >= ?", since), ("reward >= ?", min_reward),
            ("reward is not null" if scored else "reward is null", scored),
            ("embedded = ?", None if embedded is None else int(embedded)))
        return self.store.query(f"select count(*) from runs{clause}", params)[0][0]

    def mean_recent_reward(self, role: str, model: str, last: int = 100) -> float | None:
        """Mean reward of the latest ``last`` scored runs of ``role`` served by ``model``; None without any."""
        return self.store.query(
            "select avg(reward) from (select reward from runs where role = ? and model_variant = ? "
            "and reward is not null order by seq desc limit ?)", (role, model, last))[0][0]

    def roles(self) -> list[str]:
        """Every role with runs: a skip-scan of the role index, one seek per role, not per run."""
        return [r[0] for r in self.store.query(
            "with recursive r(role) as (select min(role) from runs union all "
            "select (select min(role) from runs where role > r.role) from r where r.role is not null) "
            "select role from r where role is not null")]

    def recent_rewards(self, role: str, limit: int, since: float | None = None) -> list[float]:
        """Rewards of the role's latest ``limit`` scored runs (recorded at or after ``since``), newest first."""
        first = 0
        if since is not None:  # a seq bound keeps the covering index (role, model, reward) in use
            rows = self.store.query("select seq from runs where created_at >= ? order by created_at limit 1", (since,))
            if not rows:
                return []
            first = rows[0][0]
        rows = self.store.query("select reward from runs where role = ? and reward is not null and seq >= ? "
                                "order by seq desc limit ?", (role, first, limit))
        return [r[0] for r in rows]

    def feedback_share_negative(self, role: str, last_runs: int) -> tuple[int, int]:
        """(negative, total) human feedback on the role's latest ``last_runs`` runs (value < 0.5 is negative)."""
        row = self.store.query(
            "select coalesce(sum(f.value < 0.5), 0), count(f.id) from feedback f join "
            "(select seq from runs where role = ? order by seq desc limit ?) r on r.seq = f.run_seq",
            (role, last_runs))[0]
        return int(row[0]), int(row[1])

    def vectors(self, run_ids: list[str]) -> list[bytes]:
        """Task embeddings (float32 bytes) of the given runs that have one."""
        out: list[bytes] = []
        for i in range(0, len(run_ids), 500):
            chunk = run_ids[i:i + 500]
            out += [r[0] for r in self.store.query(
                f"select v.emb from runs r join run_vec v on v.run_seq = r.seq where r.id in ({','.join('?' * len(chunk))})",
                chunk)]
        return out

    def recent_vectors(self, role: str, limit: int) -> list[bytes]:
        """Task embeddings of the role's latest embedded runs."""
        return [r[0] for r in self.store.query(
            "select v.emb from runs r join run_vec v on v.run_seq = r.seq where r.role = ? and r.embedded = 1 "
            "order by r.seq desc limit ?", (role, limit))]

    def unembedded(self, limit: int) -> list[tuple[int, str, str | None, str | None, str | None]]:
        """(seq, role, project, task, input) of runs still without an embedding, oldest first: a walk of
        runs by rowid from the embedder's watermark (no index keeps the unembedded ones)."""
        return self.store.query(
            "select seq, role, project, task, input from runs "
            "where seq > (select after_seq from embed_progress where id = 1) and embedded = 0 order by seq limit ?",
            (limit,))

    def embed_watermark(self) -> int:
        """The seq up to which every run has an embedding (the embedder's progress)."""
        return self.store.query("select after_seq from embed_progress where id = 1")[0][0]

    def embedding(self, run_id: str) -> tuple[int, str, bytes] | None:
        rows = self.store.query(
            "select r.seq, r.role, v.emb from runs r join run_vec v on v.run_seq = r.seq where r.id = ?", (run_id,))
        return rows[0] if rows else None

    def similar(self, vector: bytes, *, role: str, project: str | None = None, k: int = 10,
                exclude_seq: int | None = None) -> list[tuple[Run, float]]:
        """Top-k runs of ``role`` by cosine distance of their task embedding to ``vector``."""
        sql = "select run_seq, distance from run_vec where emb match ? and k = ? and role = ?"
        params: list[Any] = [vector, k + (1 if exclude_seq is not None else 0), role]
        if project is not None:
            sql += " and project = ?"
            params.append(project)
        hits = [(s, d) for s, d in self.store.query(sql, params) if s != exclude_seq][:k]
        if not hits:
            return []
        marks = ",".join("?" * len(hits))
        rows = {r[0]: row_to_run(r) for r in self.store.query(
            f"select {RUN_COLUMNS} from runs where seq in ({marks})", [s for s, _ in hits])}
        return [(rows[s], d) for s, d in hits if s in rows]

    def stats(self, *, since: float | None = None, bucket_s: int = 3600) -> dict[str, Any]:
        """Counts and mean reward by model, prompt, role, and per time bucket."""
        where, params = "", ()
        if since is not None:
            where, params = "where created_at >= ?", (since,)
        out: dict[str, Any] = {}
        total = self.store.query(
            f"select count(*), avg(reward), count(reward), avg(latency_ms), sum(cost) from runs {where}", params)[0]
        out["total"] = {"runs": total[0], "mean_reward": total[1], "scored": total[2],
                        "mean_latency_ms": total[3], "cost": total[4] or 0.0}
        for key, col in (("by_model", "model_variant"), ("by_prompt", "prompt_variant"), ("by_role", "role")):
            rows = self.store.query(
                f"select {col}, count(*), avg(reward), count(reward) from runs {where} group by {col} "
                f"order by count(*) desc limit 100", params)
            out[key] = [{"name": r[0], "runs": r[1], "mean_reward": r[2], "scored": r[3]} for r in rows]
        rows = self.store.query(
            f"select cast(created_at / ? as integer) * ? as b, count(*), avg(reward) from runs {where} "
            f"group by b order by b desc limit 200", (bucket_s, bucket_s, *params))
        out["over_time"] = [{"start": r[0], "runs": r[1], "mean_reward": r[2]} for r in reversed(rows)]
        return out
