"""SQL for sessions: their rows, their runs in order, outcome signals, feedback, and rescoring.

Which runs an outcome covers and how a run's signals combine with its session's is the credit
rule of ``edgelearn.sessions.credit``; this module stores the ranges that rule chose and runs
the rescoring it asks for in one write transaction.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import apsw
import orjson

from edgelearn.errors import NotFound
from edgelearn.store.events import EventsRepo
from edgelearn.store.filters import where
from edgelearn.store.runs import RUN_COLUMNS, Run, row_to_run

_COLUMNS = "seq, id, project, agent, started_at, ended_at, end_reason, profile"
# what a reward hook gets of a run (RunsRepo hands them the whole row; no hook reads the texts)
_HOOK_NAMES = [c.strip() for c in RUN_COLUMNS.split(",") if c.strip() not in ("input", "output", "metadata")]
_HOOK_COLUMNS = ", ".join(_HOOK_NAMES)
_ROLE, _REWARD, _COMPONENTS = (_HOOK_NAMES.index(c) for c in ("role", "reward", "reward_components"))

# rescore(own latest values by kind, inherited session values by kind) -> (reward, components)
Rescore = Callable[[dict[str, float], dict[str, float]], tuple[float | None, dict[str, float]]]


class SessionNotFound(NotFound):
    """An id that names no session; ``field`` says which input carried it."""

    def __init__(self, session_id: str, field: str = "session_id") -> None:
        super().__init__(f"{field}: session {session_id!r} not found (a session appears with its first run "
                         "or hook event)")
        self.field = field


@dataclass
class Session:
    seq: int
    id: str
    project: str | None
    agent: str | None
    started_at: float
    ended_at: float | None
    end_reason: str | None
    profile: dict[str, Any] | None
    runs: int = 0
    scored: int = 0
    mean_reward: float | None = None
    outcomes: dict[str, float] = field(default_factory=dict)  # latest value of each kind

    def to_dict(self) -> dict[str, Any]:
        d = self.__dict__.copy()
        d.pop("seq")
        d["open"] = self.ended_at is None
        return d


@dataclass
class Outcome:
    """What one outcome did: the runs it covers and those whose reward it changed."""

    session_id: str
    kinds: list[str]
    covered: list[str]
    rescored: list[tuple[str, float | None, float | None]]  # (run id, old, new)


def _session(row: tuple) -> Session:
    return Session(row[0], row[1], row[2], row[3], row[4], row[5], row[6], orjson.loads(row[7]) if row[7] else None)


def _latest_by_kind(rows) -> dict[str, float]:
    out: dict[str, float] = {}
    for kind, value in rows:
        out[kind] = value
    return out


class SessionsRepo:
    def __init__(self, store) -> None:
        self.store = store

    # --- writes (inside the writer's transaction) ---------------------------------------------
    @staticmethod
    def ensure_in(conn: apsw.Connection, session_id: str, *, project: str | None = None,
                  agent: str | None = None, at: float | None = None) -> int:
        """The session's seq, creating it; fills a missing project or agent, reopens a closed one."""
        conn.execute(
            "insert into sessions(id, project, agent, started_at) values (?, ?, ?, ?) "
            "on conflict(id) do update set project = coalesce(sessions.project, excluded.project), "
            "agent = coalesce(sessions.agent, excluded.agent), ended_at = null, end_reason = null",
            (session_id, project, agent, time.time() if at is None else at))
        return conn.execute("select seq from sessions where id = ?", (session_id,)).fetchone()[0]

    @staticmethod
    def seq_in(conn: apsw.Connection, session_id: str) -> int:
        row = conn.execute("select seq from sessions where id = ?", (session_id,)).fetchone()
        if row is None:
            raise SessionNotFound(session_id)
        return row[0]

    @staticmethod
    def close_in(conn: apsw.Connection, session_id: str, reason: str, at: float | None = None) -> bool:
        """Mark the session ended (a later run reopens it); False when it was already closed."""
        SessionsRepo.seq_in(conn, session_id)
        conn.execute("update sessions set ended_at = ?, end_reason = ? where id = ? and ended_at is null",
                     (time.time() if at is None else at, reason, session_id))
        return conn.changes() > 0

    @staticmethod
    def set_profile_in(conn: apsw.Connection, session_id: str, profile: dict[str, Any]) -> None:
        conn.execute("update sessions set profile = ? where id = ?", (orjson.dumps(profile).decode(), session_id))

    def needs_profile(self, session_id: str) -> bool:
        rows = self.store.query("select profile is null from sessions where id = ?", (session_id,))
        return bool(rows and rows[0][0])

    @staticmethod
    def last_run_seq_in(conn: apsw.Connection, session_id: str) -> int | None:
        return conn.execute("select max(seq) from runs where session = ?", (session_id,)).fetchone()[0]

    @staticmethod
    def inherited_signals_in(conn: apsw.Connection, run_seq: int) -> dict[str, float]:
        """The latest session outcome of each kind that covers the run (none: {})."""
        return _latest_by_kind(conn.execute(
            "select o.kind, o.value from runs r join sessions s on s.id = r.session "
            "join session_outcomes o on o.session_seq = s.seq "
            "where r.seq = ? and o.from_seq <= r.seq and o.upto_seq >= r.seq order by o.id", (run_seq,)))

    def add_outcome_in(
        self, conn: apsw.Connection, session_id: str, signals: dict[str, tuple[float, Any]], source: str,
        cover: tuple[int, int], rescore: Rescore, feedback: tuple[str, float, Any, str | None] | None = None,
    ) -> Outcome:
        """Store outcome signals covering runs ``cover = (from_seq, upto_seq)`` of the session and
        rescore the covered runs that lack a signal of their own of every kind sent; each changed
        reward gets a ``reward.updated`` event and the runs' reward hooks."""
        sseq = self.seq_in(conn, session_id)
        now = time.time()
        lo, hi = cover
        conn.executemany(
            "insert into session_outcomes(session_seq, kind, value, raw, source, created_at, from_seq, upto_seq) "
            "values (?,?,?,?,?,?,?,?)",
            [(sseq, kind, value, orjson.dumps(raw, default=str).decode(), source, now, lo, hi)
             for kind, (value, raw) in signals.items()])
        if feedback is not None:
            kind, value, raw, comment = feedback
            conn.execute("insert into session_feedback(session_seq, kind, value, raw, comment, created_at) "
                         "values (?,?,?,?,?,?)",
                         (sseq, kind, value, orjson.dumps(raw, default=str).decode(), comment, now))
        by_kind: dict[str, list[tuple[float, int, int]]] = {}  # newest first
        for kind, value, f, u in conn.execute("select kind, value, from_seq, upto_seq from session_outcomes "
                                              "where session_seq = ? order by id desc", (sseq,)):
            by_kind.setdefault(kind, []).append((value, f, u))
        # input, output and metadata stay out: the reward hooks read none of them, and they are the bulk
        rows = conn.execute(f"select {_HOOK_COLUMNS} from runs where session = ? and seq between ? and ? "
                            "order by seq", (session_id, lo, hi)).fetchall()
        own: dict[int, dict[str, float]] = {}
        if rows:
            for seq, kind, value in conn.execute(
                "select run_seq, kind, value from run_signals where run_seq in "
                "(select seq from runs where session = ? and seq between ? and ?) order by run_seq, late, pos",
                (session_id, lo, hi),
            ):
                own.setdefault(seq, {})[kind] = value
        kinds = sorted(signals)
        updates: list[tuple[float | None, str, int]] = []
        changed: list[tuple[tuple, float | None, float | None]] = []
        for row in rows:
            seq = row[0]
            mine = own.get(seq, {})
            if all(k in mine for k in kinds):
                continue  # the run's own signals outrank its session's
            inherited: dict[str, float] = {}
            for kind, ranges in by_kind.items():
                for value, f, u in ranges:  # the newest outcome of a kind that covers the run wins
                    if f <= seq <= u:
                        inherited[kind] = value
                        break
            new, components = rescore(mine, inherited)
            old = row[_REWARD]
            comps_text = orjson.dumps(components).decode()
            if new == old and comps_text == row[_COMPONENTS]:
                continue
            updates.append((new, comps_text, seq))
            changed.append((row, old, new))
        conn.executemany("update runs set reward = ?, reward_components = ? where seq = ?", updates)
        EventsRepo.append_many_in(conn, "reward.updated", [
            ({"run_id": row[1], "old": old, "new": new, "signals": kinds, "source": source, "session": session_id},
             row[_ROLE], row[1]) for row, old, new in changed])
        hooks = self.store.runs.reward_hooks
        if hooks:
            for (row, old, new), (reward, comps_text, _) in zip(changed, updates):
                d = dict(zip(_HOOK_NAMES, row))
                d["reward"], d["reward_components"] = reward, comps_text
                for hook in hooks:
                    hook(conn, d, old, new)
        rescored = [(row[1], old, new) for row, old, new in changed]
        EventsRepo.append_in(conn, "session.outcome",
                             {"session": session_id, "signals": kinds, "source": source, "covered": len(rows),
                              "rescored": len(rescored), "from_seq": lo, "upto_seq": hi}, subject=session_id)
        return Outcome(session_id, kinds, [r[1] for r in rows], rescored)

    @staticmethod
    def add_edits_in(conn: apsw.Connection, session_id: str, edits: list[tuple[str, list[str]]]) -> None:
        """Keep the lines the assistant wrote, ``(absolute path, lines)`` each, for the git hook."""
        sseq = SessionsRepo.seq_in(conn, session_id)
        now = time.time()
        conn.executemany("insert into session_edits(session_seq, path, lines, created_at) values (?,?,?,?)",
                         [(sseq, path, orjson.dumps(lines).decode(), now) for path, lines in edits])

    @staticmethod
    def mark_edits_scored_in(conn: apsw.Connection, edit_ids: list[int], commit: str) -> None:
        conn.executemany("update session_edits set scored_commit = ? where id = ?", [(commit, i) for i in edit_ids])

    def unscored_edits(self, root: str) -> tuple[str | None, list[tuple[int, str, list[str]]]]:
        """The newest session with edits under ``root`` that no commit scored yet, and those edits
        ``(id, path, lines)`` in order."""
        prefix = root.rstrip("/") + "/"
        rows = self.store.query(
            "select s.id from session_edits e join sessions s on s.seq = e.session_seq "
            "where e.scored_commit is null and substr(e.path, 1, ?) = ? order by e.id desc limit 1",
            (len(prefix), prefix))
        if not rows:
            return None, []
        sid = rows[0][0]
        edits = self.store.query(
            "select e.id, e.path, e.lines from session_edits e join sessions s on s.seq = e.session_seq "
            "where s.id = ? and e.scored_commit is null and substr(e.path, 1, ?) = ? order by e.id",
            (sid, len(prefix), prefix))
        return sid, [(i, p, orjson.loads(lines)) for i, p, lines in edits]

    # --- reads --------------------------------------------------------------------------------
    def get(self, session_id: str) -> Session:
        rows = self.store.query(f"select {_COLUMNS} from sessions where id = ?", (session_id,))
        if not rows:
            raise SessionNotFound(session_id)
        return self._with_totals([_session(rows[0])])[0]

    def list(self, *, project: str | None = None, agent: str | None = None, open: bool | None = None,
             since: float | None = None, until: float | None = None, before_seq: int | None = None,
             language: str | None = None, framework: str | None = None, limit: int = 50) -> list[Session]:
        """Sessions newest first, filtered (``language`` / ``framework``: of the profile); page with
        ``before_seq`` (the last seq seen)."""
        clause, params = where(
            ("exists (select 1 from json_each(profile, '$.languages') where value = ?)", language),
            ("exists (select 1 from json_each(profile, '$.frameworks') where value = ?)", framework),
            ("project = ?", project), ("agent = ?", agent),
            ("ended_at is null" if open else "ended_at is not null", open),
            ("started_at >= ?", since), ("started_at < ?", until), ("seq < ?", before_seq))
        sql = f"select {_COLUMNS} from sessions{clause} order by seq desc limit ?"
        return self._with_totals([_session(r) for r in self.store.query(sql, (*params, limit))])

    def _with_totals(self, sessions: list[Session]) -> list[Session]:
        """Fill each session's run totals and latest outcomes: two queries for the whole list (the
        review queue lists up to 2,000 sessions), the ids passed as one JSON parameter."""
        if not sessions:
            return sessions
        ids = orjson.dumps([s.id for s in sessions]).decode()
        totals = {sid: (n, scored, mean) for sid, n, scored, mean in self.store.query(
            "select session, count(*), count(reward), avg(reward) from runs "
            "where session in (select value from json_each(?)) group by session", (ids,))}
        outcomes: dict[int, list[tuple[str, float]]] = {}
        for sseq, kind, value in self.store.query(
            "select session_seq, kind, value from session_outcomes "
            "where session_seq in (select value from json_each(?)) order by session_seq, id",
            (orjson.dumps([s.seq for s in sessions]).decode(),)):
            outcomes.setdefault(sseq, []).append((kind, value))
        for s in sessions:
            s.runs, s.scored, s.mean_reward = totals.get(s.id, (0, 0, None))
            s.outcomes = _latest_by_kind(outcomes.get(s.seq, ()))
        return sessions

    def match_run(self, *, content_hash: str | None = None, output: str | None = None,
                  needle: str | None = None, window: int = 5000) -> str | None:
        """The newest of the latest ``window`` runs with this content hash (input and output), else
        with this exact output, else whose output or metadata holds ``needle`` (a tool call id)."""
        first = self.store.query("select coalesce(max(seq), 0) - ? from runs", (window,))[0][0]
        for cond, param in (("content_hash = ?1", content_hash), ("output = ?1", output),
                             ("(instr(output, ?1) > 0 or instr(metadata, ?1) > 0)", needle)):
            if param is None:
                continue
            rows = self.store.query(f"select id from runs where seq > ?2 and {cond} order by seq desc limit 1",
                                    (param, first))
            if rows:
                return rows[0][0]
        return None

    def review_candidates(self, limit: int = 2000) -> list[Session]:
        """Sessions with runs and no human verdict yet, newest first."""
        rows = self.store.query(
            f"select {_COLUMNS} from sessions s where not exists (select 1 from session_feedback f "
            "where f.session_seq = s.seq) and exists (select 1 from runs r where r.session = s.id) "
            "order by seq desc limit ?", (limit,))
        return self._with_totals([_session(r) for r in rows])

    def judged(self, limit: int = 5000) -> list[str]:
        """Ids of the sessions with a human verdict, newest first."""
        return [r[0] for r in self.store.query(
            "select s.id from sessions s where exists (select 1 from session_feedback f where f.session_seq = s.seq) "
            "order by s.seq desc limit ?", (limit,))]

    def verdicts_since(self, ts: float) -> int:
        """Session verdicts given at or after ``ts``."""
        return self.store.query("select count(*) from session_feedback where created_at >= ?", (ts,))[0][0]

    def run_vectors(self, session_ids: list[str]) -> dict[str, list[bytes]]:
        """The task embeddings of each session's embedded runs."""
        out: dict[str, list[bytes]] = {}
        for i in range(0, len(session_ids), 500):
            chunk = session_ids[i:i + 500]
            for sid, emb in self.store.query(
                f"select r.session, v.emb from runs r join run_vec v on v.run_seq = r.seq "
                f"where r.session in ({','.join('?' * len(chunk))}) order by r.seq", chunk):
                out.setdefault(sid, []).append(emb)
        return out

    def first_task(self, session_id: str) -> str | None:
        rows = self.store.query("select task from runs where session = ? and task is not null order by seq limit 1",
                                (session_id,))
        return rows[0][0] if rows else None

    def newest_open(self, project: str) -> str | None:
        """The id of the newest open session of a project (or of a folder inside it)."""
        prefix = project.rstrip("/") + "/"
        rows = self.store.query("select id from sessions where (project = ?1 or substr(project, 1, ?2) = ?3) "
                                "and ended_at is null order by seq desc limit 1",
                                (project.rstrip("/"), len(prefix), prefix))
        return rows[0][0] if rows else None

    def runs(self, session_id: str) -> list[Run]:
        """The session's runs in the order they were recorded."""
        return [row_to_run(r) for r in self.store.query(
            f"select {RUN_COLUMNS} from runs where session = ? order by seq", (session_id,))]

    def outcomes(self, session_id: str) -> list[dict[str, Any]]:
        rows = self.store.query(
            "select o.kind, o.value, o.raw, o.source, o.created_at, o.from_seq, o.upto_seq from session_outcomes o "
            "join sessions s on s.seq = o.session_seq where s.id = ? order by o.id", (session_id,))
        return [{"kind": k, "value": v, "raw": orjson.loads(raw) if raw else None, "source": src, "created_at": t,
                 "from_seq": f, "upto_seq": u} for k, v, raw, src, t, f, u in rows]

    def feedback(self, session_id: str) -> list[dict[str, Any]]:
        rows = self.store.query(
            "select f.kind, f.value, f.comment, f.created_at from session_feedback f "
            "join sessions s on s.seq = f.session_seq where s.id = ? order by f.id", (session_id,))
        return [{"kind": k, "value": v, "comment": c, "created_at": t} for k, v, c, t in rows]
