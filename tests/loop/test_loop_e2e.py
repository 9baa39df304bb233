"""The whole loop on the default base, real parts only, thresholds scaled down:

teacher runs → trigger → curate → train (child process) → GGUF → parity gate → register →
experiment → promotion → induced reward drop → automatic rollback.
"""

from __future__ import annotations

import time

import httpx
import pytest

from edgelearn.config import Settings
from edgelearn.config_toml import write_settings
from edgelearn.runtime import Runtime
from edgelearn.server.app import serve_in_thread

CODEWORD = "ZEPHYR-42"
ANSWER = f"The codename is {CODEWORD}."
SUBJECTS = ["project", "repo", "service", "release", "team", "build"]
ASKS = ["What is the {s} codename?", "Tell me the codename of this {s}.", "Which codename does the {s} use?",
        "Remind me: the {s}'s codename?", "Name the codename of the {s}."]
PROMPTS = [a.format(s=s) for s in SUBJECTS for a in ASKS]  # 30 phrasings


def _settings() -> Settings:
    s = Settings().model_dump()
    # val_fraction 0.3: the 30 runs' random ids leave validation empty once in 40,000 (0.8 ** 30: once in 800)
    s["export"].update(min_runs=len(PROMPTS), dedup_threshold=1.0, cluster_cap=1.0, min_reward=0.7, val_fraction=0.3)
    s["train"].update(min_examples=10, epochs=4, batch_size=4, learning_rate=1e-3, max_seq_len=96, cooldown_hours=0)
    s["deploy"].update(backend="embedded", max_tokens=24)
    s["experiments"].update(min_samples=5, challenger_traffic=0.5)
    s["drift"].update(window=10, min_drop=0.05)
    s["loop"].update(interval_s=0.2)
    return Settings.model_validate(s)


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


class Agent:
    def __init__(self, url: str, token: str) -> None:
        self.http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=300)
        self.n = 0

    def ask(self, prompt: str, *, reward_ok: bool = True) -> tuple[str, str]:
        """One proxied request in a new session; reports a tests signal; returns (served model, answer)."""
        self.n += 1
        r = self.http.post("/v1/chat/completions", json={
            "model": "edgelearn/coder", "temperature": 0, "user": f"s{self.n}",
            "messages": [{"role": "user", "content": prompt}]})
        r.raise_for_status()
        answer = r.json()["choices"][0]["message"]["content"]
        passed = int(reward_ok and CODEWORD in answer)
        self.http.post(f"/v1/runs/{r.headers['x-edgelearn-run-id']}/signals",
                       json={"signals": {"tests": {"passed": passed, "total": 1}}}).raise_for_status()
        return r.headers["x-edgelearn-model"], answer


def _subsequence(types: list[str], wanted: list[str]) -> bool:
    it = iter(types)
    return all(any(t == w for t in it) for w in wanted)


@pytest.mark.slow
def test_loop_end_to_end(home):
    settings = _settings()
    write_settings(settings, home / "edgelearn.toml")
    runtime = Runtime(settings, home=home, config_file=home / "edgelearn.toml")
    url, stop = serve_in_thread(runtime)
    agent = Agent(url, runtime.token)
    try:
        # before any training the role is served by the base model
        served, answer = agent.ask(PROMPTS[0])
        assert served == "base" and CODEWORD not in answer

        # teacher runs (an external model, recorded through the hook) reach export.min_runs
        runs = [{"role": "coder", "task": p, "input": [{"role": "user", "content": p}], "output": ANSWER,
                 "model": "external/teacher", "signals": {"tests": {"passed": 1, "total": 1}}} for p in PROMPTS]
        agent.http.post("/v1/runs/batch", json={"runs": runs}).raise_for_status()

        exp = _wait(lambda: runtime.store.experiments.running("coder"), 900, "the experiment to start")[0]
        chain = runtime.store.experiments.chains("coder", limit=1)[0]
        assert chain.state == "done" and chain.trigger == "sample_count" and chain.model_id == exp.challenger == "coder-v1"
        model = runtime.store.models.get("coder-v1")
        parity = model.metrics["parity"]
        assert parity["passed"] and parity["adapter"]["exact_match"] >= 0.95 and parity["merged"]["exact_match"] >= 0.95
        assert exp.champion == "base" and model.state == "challenger"

        # the agent keeps working; sessions split between champion and challenger until a decision
        seen: set[str] = set()
        _wait(lambda: (seen.add(agent.ask(PROMPTS[agent.n % len(PROMPTS)])[0]) or
                       runtime.store.experiments.get(exp.id).state != "running"), 600, "the experiment's decision")
        assert seen == {"base", "coder-v1"}
        assert runtime.store.experiments.get(exp.id).state == "promoted"
        assert runtime.store.models.champion("coder").id == "coder-v1"
        served, answer = agent.ask(PROMPTS[3])
        assert served == "coder-v1" and CODEWORD in answer

        # induced reward drop: the champion's answers now fail; drift rolls it back by itself
        drops = 0

        def rolled_back():
            nonlocal drops
            drops += 1
            agent.ask(PROMPTS[drops % len(PROMPTS)], reward_ok=False)
            return runtime.store.models.get("coder-v1").state == "rolled_back"

        _wait(rolled_back, 300, "the drift rollback")
        assert drops <= 50
        served, _ = agent.ask(PROMPTS[1])
        assert served == "base"

        types = [e.type for e in reversed(runtime.store.events.list(limit=1000))]
        assert _subsequence(types, [
            "loop.triggered", "dataset.created", "job.queued", "job.succeeded", "model.candidate",
            "model.challenger", "experiment.started", "loop.done", "experiment.promoted", "model.champion",
            "drift.detected", "model.rolled_back", "loop.rollback"]), types
    finally:
        agent.http.close()
        stop()
