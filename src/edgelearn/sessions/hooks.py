"""Applying an agent's ``HookEvent``: session signals, closing, and verdicts on matched runs."""

from __future__ import annotations

from typing import Any

from edgelearn.errors import NotFound
from edgelearn.record.recorder import content_hash
from edgelearn.record.schemas import FeedbackIn
from edgelearn.sessions.agents import HookEvent, parse
from edgelearn.sessions.credit import credit_for


def handle(runtime, agent: str, body: bytes | dict[str, Any]) -> dict[str, Any]:
    """Parse an agent's hook payload and apply it; returns what it did."""
    ev = parse(agent, body, runtime.settings.sessions.max_output_bytes)
    return apply(runtime, ev)


def apply(runtime, ev: HookEvent) -> dict[str, Any]:
    """Write what one hook event says: outcome signals on its session (created if new), the
    session's end, feedback, and signals on the runs it names by their text."""
    credit = credit_for(runtime)
    source = f"{ev.agent}:{ev.event}"
    out: dict[str, Any] = {"agent": ev.agent, "event": ev.event, "session": ev.session_id, "signals": ev.signals,
                           "closed": ev.close is not None, "rescored": 0, "runs": []}
    if ev.session_id is not None and ev.feedback is not None:
        try:
            outcome = credit.add_feedback(ev.session_id, FeedbackIn(kind=ev.feedback), source=source)
            out["rescored"] = len(outcome.rescored)
        except NotFound:
            out["session"] = None  # not a session edgelearn knows (Continue's own chat id)
            ev.runs += ev.fallback
    elif ev.session_id is not None and ev.signals:
        outcome = credit.add_signals(ev.session_id, ev.signals, source, ensure=(ev.project, ev.agent), close=ev.close)
        out["rescored"] = len(outcome.rescored)
    elif ev.session_id is not None:
        credit.ensure(ev.session_id, project=ev.project, agent=ev.agent, close=ev.close, edits=ev.edits)
        out["edits"] = len(ev.edits)
    if ev.session_id is not None and ev.project and out["session"] is not None:
        profile_session(runtime, ev.session_id, ev.project)
    red = runtime.recorder.redactor()
    for verdict in ev.runs:
        prompt = red.text(verdict.prompt) if (red and verdict.prompt) else verdict.prompt
        completion = red.text(verdict.completion) if (red and verdict.completion) else verdict.completion
        run_id = runtime.store.sessions.match_run(
            content_hash=content_hash(prompt, completion) if (prompt is not None and completion is not None) else None,
            output=completion, needle=verdict.tool_call_id)
        if run_id is not None:
            old, new = runtime.recorder.add_signals(run_id, verdict.signals, source)
            out["runs"].append({"id": run_id, "signals": verdict.signals, "previous_reward": old, "reward": new})
        else:
            out["runs"].append({"id": None, "signals": verdict.signals})
    return out


def profile_session(runtime, session_id: str, project: str) -> None:
    """Store the repository's profile with the session, once (a folder this machine has)."""
    from pathlib import Path

    from edgelearn.sessions.profile import detect
    from edgelearn.store.sessions import SessionsRepo

    store = runtime.store
    if not Path(project).is_dir() or not store.sessions.needs_profile(session_id):
        return
    profile = detect(project)
    store.write(lambda c: SessionsRepo.set_profile_in(c, session_id, profile))
