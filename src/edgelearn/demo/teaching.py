"""The demo's teacher as a provider, and its last stage: independence levels advancing on the demo's clusters.

The teacher (``demo/teacher.py``) serves on loopback; the demo's settings name it like any paid
provider (``[providers.demo-teacher]``, ``type = "openai"``, its key in an environment variable
that is set in this process only, made-up prices) and make it the ``coder`` role's teacher, so
``edgelearn/coder`` goes through the independence scheduler from the first request.
"""

from __future__ import annotations

import os
import random
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from edgelearn.demo.pack import Task, check
from edgelearn.demo.teacher import TeacherServer, pack_answerer
from edgelearn.demo.tool_pack import ToolTask, check_calls

PROVIDER = "demo-teacher"
MODEL = "tidekit-reference"
TEACHER = f"{PROVIDER}/{MODEL}"
KEY_ENV = "EDGELEARN_DEMO_TEACHER_KEY"
# made up for the demo (a paid model's order of magnitude), so that "cost saved" has a unit
PRICE_IN, PRICE_OUT = 3.0, 15.0  # per million tokens

Log = Callable[[str], None]


def start_teacher(tasks: list[Task], tool_tasks: list[ToolTask]) -> TeacherServer:
    """Serve the teacher on 127.0.0.1 (a free port) with a fresh key, put in ``KEY_ENV`` of this process."""
    key = "sk-demo-" + secrets.token_urlsafe(24)
    os.environ[KEY_ENV] = key  # the settings name the variable; the key itself is never written
    return TeacherServer(pack_answerer(tasks, tool_tasks), key=key, model=MODEL).start()


def teacher_settings(data: dict[str, Any], base_url: str, role: str) -> None:
    """Add the teacher provider, make it ``role``'s teacher and size the levels to the demo (in place)."""
    data["providers"] = {**data.get("providers", {}), PROVIDER: {
        "type": "openai", "base_url": base_url, "api_key_env": KEY_ENV, "models": [MODEL], "max_retries": 1,
        "prices": {MODEL: {"input": PRICE_IN, "output": PRICE_OUT}}}}
    data["roles"][role] = {**data["roles"].get(role, {}), "teacher": TEACHER}
    # demo-sized: 8 scored runs a side per step and a 0.05 margin instead of 100 and 0.02, so that levels
    # move within minutes; every teacher-served request is shadowed, whatever the machine's load (the
    # demo's agent waits for its own answers, so shadows only fill its pauses)
    data["independence"].update(min_samples=8, max_gap=0.05, shadow_share=1.0, shadow_idle_load=1000.0)


def pack_check(tasks: list[Task], tool_tasks: list[ToolTask]):
    """The replayable check the independence service scores shadow answers with: a code task's tests,
    a tool task's exact call; None for messages that are no task of the packs."""
    by_prompt = {t.prompt.strip(): t for t in tasks}
    tools_by_prompt = {t.prompt.strip(): t for t in tool_tasks}

    def run(messages: list[dict], text: str, calls: list[dict]) -> bool | None:
        user = next((m.get("content") for m in reversed(messages) if m.get("role") == "user"), None)
        user = user.strip() if isinstance(user, str) else ""
        if user in tools_by_prompt:
            return check_calls(tools_by_prompt[user], calls)
        if user in by_prompt:
            return check(by_prompt[user], text).ok
        return None

    return run


@dataclass
class Independence:
    """What the independence stage did: requests by side, levels reached, cost saved (made-up prices)."""

    requests: int = 0
    local: int = 0
    levels: dict[int, int] = field(default_factory=dict)  # cluster -> level at the end
    changes: list[str] = field(default_factory=list)
    cost_saved: float = 0.0
    report: dict[str, Any] = field(default_factory=dict)  # GET /v1/learning/independence at the end

    @property
    def local_share(self) -> float:
        return self.local / self.requests if self.requests else 0.0

    def line(self) -> str:
        levels = ", ".join(f"cluster {c}: level {lv}" for c, lv in sorted(self.levels.items())) or "no cluster"
        return (f"local share {self.local_share:.0%} of {self.requests} requests ({levels}); "
                f"cost saved ${self.cost_saved:.4f} at made-up teacher prices")


def run_independence(runtime, agent, tasks: list, role: str, opts, rng: random.Random, solve, log: Log,
                     target_level: int = 3, max_requests: int = 120) -> Independence:
    """The agent keeps working through ``edgelearn/<role>`` until a cluster reaches ``target_level``
    (or ``max_requests``, or the stage's timeout); levels move on their own evidence meanwhile."""
    out = Independence()
    last = 0
    deadline = time.monotonic() + opts.timeout_s
    while out.requests < max_requests and time.monotonic() < deadline:
        task = rng.choice(tasks)
        solve(agent, task, f"edgelearn/{role}", f"indep-session-{out.requests}", opts.max_tokens)
        out.requests += 1
        out.local += not agent.last_model.startswith(PROVIDER + "/")
        for event in runtime.store.events.list(type="independence", role=role, after_id=last, limit=50):
            last = event.id
            p = event.payload or {}
            change = (f"cluster {event.subject}: level {p.get('old')} → {p.get('new')} "
                      f"({p.get('share', 0):.0%} local) on {(p.get('evidence') or {}).get('side', 'drift')} evidence")
            out.changes.append(change)
            log(f"      {event.type}: {change}")
        if max((lv for (r, _), lv in runtime.store.independence.levels().items() if r == role), default=0) \
                >= target_level:
            break
        if out.requests % 20 == 0:
            log(f"      {out.requests} requests, {out.local} answered locally")
    runtime.services["independence"].flush()
    out.report = agent.http.get("/v1/learning/independence", params={"role": role}).json()["roles"][0]
    out.levels = {c["cluster"]: c["level"] for c in out.report["clusters"]}
    out.cost_saved = out.report["cost_saved"] or 0.0
    return out
