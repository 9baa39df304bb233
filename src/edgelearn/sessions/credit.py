"""The credit rule: which runs of a session an outcome scores, and how (docs/sessions.md).

1. An outcome applies to the session's runs recorded up to the moment it arrives (its commit in
   the writer's order), or with ``sessions.credit = "last_run"`` only to the last of them.
2. A later outcome of the same kind replaces the earlier one for the runs it covers.
3. A run's own signals outrank its session's signals of the same kind.
4. Rewards are recomputed, each change with a ``reward.updated`` event, in one transaction per
   outcome.
5. A run that no outcome covers and that has no signal of its own stays unscored.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

from edgelearn.config import Settings
from edgelearn.record.rewards import compute_reward, normalize_signals
from edgelearn.record.schemas import FeedbackIn
from edgelearn.store import Store
from edgelearn.store.sessions import Outcome, SessionsRepo


def merge(own: dict[str, float], inherited: dict[str, float]) -> dict[str, float]:
    """A run's signals for its reward: the session's, with the run's own outranking them (rule 3)."""
    return {**inherited, **own}


def cover(credit: str, last_seq: int | None) -> tuple[int, int]:
    """The run seqs ``(from, upto)`` an outcome arriving now covers (rule 1); none without runs."""
    if last_seq is None:
        return 1, 0
    return (0, last_seq) if credit == "session" else (last_seq, last_seq)



class SessionCredit:
    """Applies outcome signals and feedback to sessions by the credit rule."""

    def __init__(self, store: Store, settings: Callable[[], Settings], redactor: Callable[[], Any]) -> None:
        self.store = store
        self._settings = settings
        self._redactor = redactor

    def _rescorer(self) -> Callable[[dict[str, float], dict[str, float]], tuple[float | None, dict[str, float]]]:
        rs = self._settings().rewards
        weights, default = rs.weights.model_dump(), rs.no_signal_reward  # once per outcome, not per run

        def rescore(own: dict[str, float], inherited: dict[str, float]) -> tuple[float | None, dict[str, float]]:
            return compute_reward(merge(own, inherited), weights, default)

        return rescore

    def session_reward(self, outcomes: dict[str, float]) -> float | None:
        """The reward the session's latest outcomes alone make (None without a weighted one)."""
        rs = self._settings().rewards
        return compute_reward(outcomes, rs.weights.model_dump(), None)[0]

    def _apply(self, session_id: str, values: dict[str, float], raws: dict[str, Any], source: str,
               feedback: tuple[str, float, Any, str | None] | None = None,
               ensure: tuple[str | None, str | None] | None = None, close: str | None = None) -> Outcome:
        red = self._redactor()
        packed = {k: (v, red.any(raws[k]) if red else raws[k]) for k, v in values.items()}
        credit = self._settings().sessions.credit
        repo: SessionsRepo = self.store.sessions
        rescore = self._rescorer()

        def fn(conn):
            if ensure is not None:  # a hook event: the session may be new
                repo.ensure_in(conn, session_id, project=ensure[0], agent=ensure[1])
            repo.seq_in(conn, session_id)  # an unknown session writes nothing
            span = cover(credit, repo.last_run_seq_in(conn, session_id))
            out = repo.add_outcome_in(conn, session_id, packed, source, span, rescore, feedback)
            if close is not None:
                repo.close_in(conn, session_id, close)
            return out

        return self.store.write(fn)

    def add_signals(self, session_id: str, signals: dict[str, Any], source: str = "api", *,
                    ensure: tuple[str | None, str | None] | None = None, close: str | None = None) -> Outcome:
        """Outcome signals for a session (the bodies of ``POST /v1/runs/{id}/signals``); ``ensure``
        (project, agent) creates the session first, ``close`` ends it, in the same transaction."""
        values = normalize_signals(signals, self._settings().rewards.errors_scale)
        return self._apply(session_id, values, signals, source, ensure=ensure, close=close)

    def add_feedback(self, session_id: str, fb: FeedbackIn, source: str = "feedback") -> Outcome:
        """Human feedback on a whole session: stored as feedback and as its ``human`` outcome."""
        raw = fb.signal()
        values = normalize_signals({"human": raw})
        red = self._redactor()
        comment = red.text(fb.comment) if (fb.comment and red) else fb.comment
        return self._apply(session_id, values, {"human": raw}, source, (fb.kind, values["human"], raw, comment))

    def ensure(self, session_id: str, *, project: str | None = None, agent: str | None = None,
               close: str | None = None, edits: list[tuple[str, list[str]]] | None = None) -> None:
        """Create the session if it is new (a hook event may come before its first run); keep the
        ``edits`` the assistant made; ``close`` ends it; all in one transaction."""
        red = self._redactor()
        if edits and red:
            edits = [(path, [red.text(line) for line in lines]) for path, lines in edits]

        def fn(conn):
            SessionsRepo.ensure_in(conn, session_id, project=project, agent=agent)
            if edits:
                SessionsRepo.add_edits_in(conn, session_id, edits)
            if close is not None:
                SessionsRepo.close_in(conn, session_id, close)

        self.store.write(fn)

    def close(self, session_id: str, reason: str) -> bool:
        """End the session (a later run reopens it)."""
        return self.store.write(lambda c: SessionsRepo.close_in(c, session_id, reason))

    def detail(self, session_id: str) -> dict[str, Any]:
        """One session with its runs in order, its outcome signals and feedback."""
        repo = self.store.sessions
        s = repo.get(session_id)
        out = s.to_dict()
        out["reward"] = self.session_reward(s.outcomes)
        out["runs"] = [{"id": r.id, "created_at": r.created_at, "role": r.role, "model": r.model_variant,
                        "task": r.task, "status": r.status, "reward": r.reward,
                        "reward_components": r.reward_components} for r in repo.runs(session_id)]
        out["run_count"] = len(out["runs"])
        out["signals"] = repo.outcomes(session_id)
        out["feedback"] = repo.feedback(session_id)
        return out

    def summary(self, s) -> dict[str, Any]:
        """A listed session as JSON, with the reward of its outcomes."""
        d = s.to_dict()
        d["reward"] = self.session_reward(s.outcomes)
        return d


_LOCK = threading.Lock()


def credit_for(runtime) -> SessionCredit:
    """The runtime's ``SessionCredit`` (made on first use and kept in its services)."""
    with _LOCK:
        svc = runtime.services.get("sessions")
        if svc is None:
            svc = SessionCredit(runtime.store, lambda: runtime.settings, runtime.recorder.redactor)
            runtime.add_service("sessions", svc)
        return svc
