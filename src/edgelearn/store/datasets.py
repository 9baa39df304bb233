"""SQL for curated dataset versions, and the reads curation streams runs and embeddings with.

A dataset row is committed only after its files were renamed into place (see
``edgelearn.curate.publish``); ``dataset_runs`` lists the runs of each version so that
rehearsal can find earlier examples with one query.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import apsw
import orjson

from edgelearn.errors import CurationError, NotFound

_COLUMNS = "version, role, number, created_at, path, format, counts, manifest, state, watermark_seq"

class VersionTaken(CurationError):
    """Another export committed the same dataset version first; retry with the next number."""


# the runs a curation pass may take: a successful status and a reward at or above the floor.
# ``status = 'ok'`` is spelled out so that SQLite uses the partial index runs_curate.
_ELIGIBLE = "role = ? and status = 'ok' and reward >= ? and seq <= ?"
_CALLS = "json_extract(metadata, '$.chat.output.tool_calls')"  # a gateway run's tool calls (JSON), else null


@dataclass
class Dataset:
    """One curated dataset version (a directory with train.jsonl, val.jsonl, manifest.json)."""

    version: str
    role: str
    number: int
    created_at: float
    path: Path
    format: str
    counts: dict[str, Any]
    manifest: dict[str, Any] = field(repr=False)
    state: str = "ready"
    watermark_seq: int = 0

    @property
    def rejections(self) -> dict[str, int]:
        """Runs dropped by each filter (the rejection report)."""
        return dict(self.manifest.get("rejections", {}))

    def to_dict(self, *, manifest: bool = True) -> dict[str, Any]:
        out = {"version": self.version, "role": self.role, "number": self.number, "created_at": self.created_at,
               "path": str(self.path), "format": self.format, "counts": self.counts, "state": self.state,
               "rejections": self.rejections}
        if manifest:
            out["manifest"] = self.manifest
        return out


def _dataset(row: tuple) -> Dataset:
    return Dataset(version=row[0], role=row[1], number=row[2], created_at=row[3], path=Path(row[4]), format=row[5],
                   counts=orjson.loads(row[6]), manifest=orjson.loads(row[7]), state=row[8], watermark_seq=row[9])


def _marks(n: int) -> str:
    return ",".join("?" * n)


class DatasetsRepo:
    def __init__(self, store) -> None:
        self.store = store

    # --- writes (inside store.write) ----------------------------------------------------------
    def create_in(
        self, conn: apsw.Connection, *, version: str, number: int, role: str, path: Path | str, format: str,
        counts: dict[str, Any], manifest: dict[str, Any], watermark_seq: int,
        members: list[tuple[int, str, str]], created_at: float,
    ) -> Dataset:
        """Insert a ready dataset and its (run_seq, split, source) members; raises VersionTaken if taken."""
        try:
            conn.execute(
                f"insert into datasets({_COLUMNS}) values (?,?,?,?,?,?,?,?,?,?)",
                (version, role, number, created_at, str(path), format, orjson.dumps(counts).decode(),
                 orjson.dumps(manifest).decode(), "ready", watermark_seq))
        except apsw.ConstraintError as exc:
            raise VersionTaken(f"dataset version {version} already exists (another export took it)") from exc
        conn.executemany("insert into dataset_runs(version, run_seq, split, source) values (?,?,?,?)",
                         [(version, seq, split, source) for seq, split, source in members])
        return Dataset(version, role, number, created_at, Path(path), format, counts, manifest, "ready", watermark_seq)

    # --- dataset reads --------------------------------------------------------------------------
    def get(self, version: str) -> Dataset:
        """The dataset ``version``; raises NotFound."""
        rows = self.store.query(f"select {_COLUMNS} from datasets where version = ?", (version,))
        if not rows:
            raise NotFound(f"dataset {version} not found")
        return _dataset(rows[0])

    def list(self, role: str | None = None, limit: int = 100) -> list[Dataset]:
        """Ready datasets, newest first, optionally of one role."""
        where, params = "state = 'ready'", []
        if role is not None:
            where += " and role = ?"
            params.append(role)
        return [_dataset(r) for r in self.store.query(
            f"select {_COLUMNS} from datasets where {where} order by created_at desc, number desc limit ?",
            (*params, limit))]

    def latest(self, role: str) -> Dataset | None:
        """The role's newest ready dataset, or None."""
        rows = self.store.query(
            f"select {_COLUMNS} from datasets where role = ? and state = 'ready' order by number desc limit 1", (role,))
        return _dataset(rows[0]) if rows else None

    def next_number(self, role: str) -> int:
        return self.store.query("select coalesce(max(number), 0) + 1 from datasets where role = ?", (role,))[0][0]

    def members(self, version: str) -> list[tuple[str, str, str]]:
        """(run_id, split, source) of a dataset's runs still in the store."""
        return self.store.query(
            "select r.id, m.split, m.source from dataset_runs m join runs r on r.seq = m.run_seq "
            "where m.version = ? order by m.run_seq", (version,))

    def runs_since_last(self, role: str, min_reward: float = 0.0) -> int:
        """Successful runs of ``role`` with reward >= ``min_reward`` recorded after its latest dataset."""
        latest = self.latest(role)
        after = latest.watermark_seq if latest else 0
        return self.store.query(
            "select count(*) from runs where role = ? and status = 'ok' and reward >= ? and seq > ?",
            (role, min_reward, after))[0][0]

    def roles(self, min_reward: float = 0.0) -> list[str]:
        """Roles that have at least one successful run with reward >= ``min_reward``."""
        return [r[0] for r in self.store.query(
            "select distinct role from runs where status = 'ok' and reward >= ? order by role", (min_reward,))]

    # --- curation reads (bounded memory: pages of keys, vectors and rows by seq) ----------------
    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """One read transaction, so a whole curation pass sees one consistent state of the store."""
        conn = self.store.read()
        if conn.in_transaction:
            yield
            return
        conn.execute("begin")
        try:
            yield
        finally:
            conn.execute("commit")

    def max_seq(self) -> int:
        return self.store.query("select coalesce(max(seq), 0) from runs")[0][0]

    def filter_counts(self, role: str, min_reward: float, watermark: int) -> dict[str, int]:
        """How many of the role's runs (up to ``watermark``) each SQL-side filter drops, and how many pass."""
        row = self.store.query(
            "select count(*), "
            "coalesce(sum(status != 'ok'), 0), "
            "coalesce(sum(status = 'ok' and reward is null), 0), "
            "coalesce(sum(status = 'ok' and reward < ?), 0), "
            "coalesce(sum(status = 'ok' and reward >= ?), 0) "
            "from runs where role = ? and seq <= ?", (min_reward, min_reward, role, watermark))[0]
        return {"candidates": row[0], "status_not_ok": row[1], "unscored": row[2], "below_min_reward": row[3],
                "eligible": row[4]}

    def candidate_keys(
        self, role: str, min_reward: float, watermark: int, after: tuple[float, int] | None, limit: int,
    ) -> list[tuple[int, str, float, str, bool]]:
        """(seq, id, reward, content_hash, usable, tool_calls JSON) of eligible runs best first, after
        keyset ``after``.

        Order: reward descending, then newest first. ``usable`` says the run has a non-empty
        output (text or tool calls) and an input or task, so it can become an example at all.
        """
        sql = (f"select seq, id, reward, content_hash, "
               f"((length(trim(output)) > 0 or {_CALLS} is not null) and (input is not null or task is not null)), "
               f"{_CALLS} from runs where {_ELIGIBLE}")
        params: list[Any] = [role, min_reward, watermark]
        if after is not None:
            sql += " and (reward, seq) < (?, ?)"
            params += list(after)
        sql += " order by reward desc, seq desc limit ?"
        params.append(limit)
        return [(s, i, r, h, bool(u), c) for s, i, r, h, u, c in self.store.query(sql, params)]

    def vectors(self, seqs: list[int]) -> dict[int, bytes]:
        """Task embeddings (float32 bytes) of the runs that have one.

        Point lookups in ascending seq order: vec0 answers ``run_seq = ?`` from its chunk
        and lookups close together hit the same chunk; ``in (...)`` makes it scan everything.
        """
        conn = self.store.read()
        out: dict[int, bytes] = {}
        for seq in sorted(seqs):
            row = conn.execute("select emb from run_vec where run_seq = ?", (seq,)).fetchone()
            if row is not None:
                out[seq] = row[0]
        return out

    def embed_inputs(self, seqs: list[int]) -> list[tuple[int, str, str | None, str | None, str | None]]:
        """(seq, role, project, task, input) of runs to embed now."""
        return self.store.query(
            f"select seq, role, project, task, input from runs where seq in ({_marks(len(seqs))})", seqs)

    def answers(self, seqs: list[int]) -> dict[int, tuple[str, str | None]]:
        """(output text, tool calls JSON or None) of some runs, by seq."""
        rows = self.store.query(f"select seq, output, {_CALLS} from runs where seq in ({_marks(len(seqs))})", seqs)
        return {seq: (output, calls) for seq, output, calls in rows}

    def tool_result_inputs(self, after: dict[str, int]) -> list[tuple[int, str, str]]:
        """(seq, session, input) of the runs of each session in ``after`` recorded after the seq it
        maps to, whose input carries tool results (the agent's next requests: they hold the results
        of earlier calls), in seq order. One range of the index ``runs_session`` (session, seq) per
        session, the sessions passed as one JSON parameter."""
        if not after:
            return []
        return self.store.query(
            "select r.seq, r.session, r.input from json_each(?) j join runs r on r.session = j.key and r.seq > j.value "
            "where instr(r.input, '\"tool_call_id\"') > 0 order by r.seq", (orjson.dumps(after).decode(),))

    def metadata(self, seqs: list[int]) -> list[tuple[int, str | None]]:
        """(seq, metadata JSON) of some runs."""
        return self.store.query(f"select seq, metadata from runs where seq in ({_marks(len(seqs))})", seqs)

    def example_rows(
        self, seqs: list[int],
    ) -> dict[int, tuple[str, str | None, str, str | None, float, str | None, str | None]]:
        """(id, input, output, task, reward, metadata JSON, session) by seq, for writing examples."""
        rows = self.store.query(
            f"select seq, id, input, output, task, reward, metadata, session from runs "
            f"where seq in ({_marks(len(seqs))})", seqs)
        return {r[0]: r[1:] for r in rows}

    def earlier_members(
        self, role: str, min_reward: float, watermark: int, after: tuple[float, int],
    ) -> Iterator[tuple[int, str, float, str]]:
        """(seq, id, reward, content_hash) of runs in the role's earlier datasets, still eligible,
        that rank after ``after`` (so a curation pass has not looked at them yet). Streams."""
        cursor = self.store.read().cursor()
        yield from cursor.execute(
            f"select seq, id, reward, content_hash from runs where {_ELIGIBLE} and (reward, seq) < (?, ?) "
            "and seq in (select m.run_seq from dataset_runs m join datasets d on d.version = m.version "
            "where d.role = ? and d.state = 'ready')",
            (role, min_reward, watermark, *after, role))
