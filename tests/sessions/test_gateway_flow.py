"""Runs the gateway records and the outcomes an agent's hooks report meet in one session."""

import json

import openai
import pytest

from edgelearn.serve.backends import FakeBackend


def test_gateway_runs_are_scored_by_the_sessions_test_outcome(server):
    server.runtime.services["serving"].engine.use_backend(FakeBackend())
    sid = "0d4c5a3e-claude-session"
    with openai.OpenAI(base_url=f"{server.url}/v1", api_key=server.token, max_retries=0) as client:
        ids = []
        for ask in ("add a parser", "fix the parser"):
            raw = client.chat.completions.with_raw_response.create(
                model="base", messages=[{"role": "user", "content": ask}], max_tokens=8,
                extra_headers={"x-edgelearn-session": sid, "x-edgelearn-role": "coder"})
            ids.append(raw.headers["x-edgelearn-run-id"])
    c = server.client
    assert [r["id"] for r in c.get(f"/v1/sessions/{sid}").json()["runs"]] == ids
    assert [c.get(f"/v1/runs/{i}").json()["reward"] for i in ids] == [None, None]  # not guessed
    r = c.post("/v1/hooks/claude-code", json={
        "session_id": sid, "transcript_path": "/t.jsonl", "cwd": "/repo", "permission_mode": "default",
        "hook_event_name": "PostToolUseFailure", "tool_name": "Bash", "tool_use_id": "toolu_1",
        "tool_input": {"command": "python -m pytest -q", "description": "tests"}, "is_interrupt": False,
        "error": "Exit code 1\n.F.\n1 failed, 2 passed in 0.04s"})
    assert json.loads(r.headers["x-edgelearn-hook"])["rescored"] == 2
    assert [c.get(f"/v1/runs/{i}").json()["reward"] for i in ids] == [pytest.approx(2 / 3)] * 2
