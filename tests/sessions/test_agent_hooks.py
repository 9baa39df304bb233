"""Each hook endpoint, fed its agent's documented payloads over real HTTP, gives the documented signals."""

import json

import pytest
from elsupport import start_server

from edgelearn.runtime import Runtime

CC_BASE = {"session_id": "cc-1", "transcript_path": "/home/u/.claude/projects/p/cc-1.jsonl", "cwd": "/repo/app",
           "permission_mode": "default"}


def bash(command, stdout="", stderr="", failure=None, **extra):
    """A PostToolUse (or, with ``failure``, PostToolUseFailure) payload of Claude Code's Bash tool."""
    body = {**CC_BASE, "tool_name": "Bash", "tool_input": {"command": command, "description": "run it"},
            "tool_use_id": "toolu_01ABC", **extra}
    if failure is None:
        body.update(hook_event_name="PostToolUse",
                    tool_response={"stdout": stdout, "stderr": stderr, "interrupted": False, "isImage": False})
    else:
        body.update(hook_event_name="PostToolUseFailure", error=failure, is_interrupt=False)
    return body


def run(client, session, **extra):
    r = client.post("/v1/runs", json={"role": "coder", "output": "edit", "session": session, **extra})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def hook(client, agent, payload):
    r = client.post(f"/v1/hooks/{agent}", json=payload)
    assert r.status_code == 200, r.text
    return r


def session(client, sid):
    return client.get(f"/v1/sessions/{sid}").json()


def test_claude_code_bash_results_become_session_signals(server):
    c = server.client
    runs = [run(c, "cc-1"), run(c, "cc-1")]
    r = hook(c, "claude-code", bash("cd app && python -m pytest -q", "..F.\n1 failed, 3 passed in 0.12s\n"))
    assert r.json() == {}  # Claude Code reads the body as hook output
    done = json.loads(r.headers["x-edgelearn-hook"])
    assert done["signals"] == {"tests": {"passed": 3, "total": 4}} and done["rescored"] == 2
    assert [c.get(f"/v1/runs/{x}").json()["reward"] for x in runs] == [0.75, 0.75]

    cargo = "test result: FAILED. 4 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s"
    hook(c, "claude-code", bash("cargo test", failure=f"Exit code 101\n{cargo}"))
    hook(c, "claude-code", bash("ruff check src", failure="Exit code 1\nsrc/a.py:1:1: F401 unused\nsrc/b.py:2:5: E711 x"))
    hook(c, "claude-code", bash("cargo build --release", "Finished release"))
    hook(c, "claude-code", bash("ls -la", "total 0"))  # no outcome in it
    detail = session(c, "cc-1")
    assert [(s["kind"], s["source"]) for s in detail["signals"]] == [
        ("tests", "claude-code:PostToolUse"), ("tests", "claude-code:PostToolUseFailure"),
        ("errors", "claude-code:PostToolUseFailure"), ("compile", "claude-code:PostToolUse")]
    assert detail["outcomes"] == {"tests": pytest.approx(4 / 6), "errors": pytest.approx(1 / 1.4), "compile": 1.0}
    assert detail["agent"] == "claude-code" and detail["project"] == "/repo/app" and detail["open"] is True

    hook(c, "claude-code", {**CC_BASE, "hook_event_name": "Stop", "stop_hook_active": False})
    assert session(c, "cc-1")["open"] is False and session(c, "cc-1")["end_reason"] == "Stop"
    hook(c, "claude-code", {**CC_BASE, "hook_event_name": "UserPromptSubmit", "prompt": "and the docs"})
    assert session(c, "cc-1")["open"] is True  # the user goes on: the session reopens
    hook(c, "claude-code", {**CC_BASE, "hook_event_name": "Stop", "stop_hook_active": False})
    run(c, "cc-1")  # so does a run of it
    assert session(c, "cc-1")["open"] is True
    hook(c, "claude-code", {**CC_BASE, "hook_event_name": "SessionEnd", "reason": "exit"})
    assert session(c, "cc-1")["end_reason"] == "exit"


def test_claude_code_junit_report_outranks_the_summary_line(server, tmp_path):
    (tmp_path / "report.xml").write_text(
        '<testsuite tests="3"><testcase name="a"/><testcase name="b"/>'
        '<testcase name="c"><failure message="x"/></testcase></testsuite>')
    payload = bash("pytest --junitxml=report.xml", "9 passed in 1.0s", cwd=str(tmp_path), session_id="cc-junit")
    done = json.loads(hook(server.client, "claude-code", payload).headers["x-edgelearn-hook"])
    assert done["signals"] == {"tests": {"passed": 2, "total": 3}}


def test_claude_code_events_without_outcomes_only_open_the_session(server):
    c = server.client
    hook(c, "claude-code", {**CC_BASE, "session_id": "cc-start", "hook_event_name": "SessionStart", "source": "startup"})
    hook(c, "claude-code", {**CC_BASE, "session_id": "cc-start", "hook_event_name": "UserPromptSubmit",
                            "prompt": "fix the parser"})
    detail = session(c, "cc-start")
    assert detail["signals"] == [] and detail["open"] is True and detail["agent"] == "claude-code"


def test_codex_notify_ends_the_turn(server):
    c = server.client
    rid = run(c, "thread-9")
    payload = {"type": "agent-turn-complete", "thread-id": "thread-9", "turn-id": "turn-1", "cwd": "/repo/cx",
               "input-messages": ["rename the function"], "last-assistant-message": "Renamed it."}
    done = hook(c, "codex", payload).json()
    assert done["session"] == "thread-9" and done["closed"] is True
    detail = session(c, "thread-9")
    assert detail["agent"] == "codex" and detail["project"] == "/repo/cx" and detail["open"] is False
    assert c.get(f"/v1/runs/{rid}").json()["reward"] is None  # a finished turn is no verdict


def test_cline_post_tool_use_and_task_complete(server):
    c = server.client
    rid = run(c, "task-7")
    base = {"taskId": "task-7", "clineVersion": "3.17.0", "timestamp": 1736654400000, "workspacePath": "/repo/cl"}
    jest = "PASS src/a.test.js\nTests:       1 failed, 1 skipped, 3 passed, 5 total\nTime:        1.2 s"
    r = hook(c, "cline", {**base, "hookName": "PostToolUse", "postToolUse": {
        "tool": "execute_command", "parameters": {"command": "npm test"}, "result": jest, "success": False,
        "durationMs": 3450}})
    assert r.json()["cancel"] is False and r.json()["edgelearn"]["signals"] == {"tests": {"passed": 3, "total": 4}}
    assert c.get(f"/v1/runs/{rid}").json()["reward"] == 0.75
    hook(c, "cline", {**base, "hookName": "TaskComplete", "taskComplete": {"task": "add auth"}})
    assert session(c, "task-7")["open"] is False and session(c, "task-7")["agent"] == "cline"


def test_continue_dev_data_events_reach_the_matching_runs(server):
    c = server.client
    prompt = "<|fim_prefix|>def add(a, b):\n    <|fim_suffix|><|fim_middle|>"
    completion = "return a + b"
    other = run(c, None, input="something else", output=completion, role="autocomplete")
    fim = run(c, None, input=prompt, output=completion, role="autocomplete")
    data = {"accepted": False, "prefix": "def add(a, b):\n    ", "suffix": "", "prompt": prompt,
            "completion": completion, "modelName": "qwen", "filepath": "/repo/m.py", "completionId": "c-1",
            "eventName": "autocomplete", "schema": "0.2.0", "timestamp": "2026-12-06T10:00:00Z"}
    done = hook(c, "continue", {"name": "autocomplete", "data": data, "schema": "0.2.0", "level": "all",
                                "profileId": "local"}).json()
    assert done["runs"] == [{"id": fim, "signals": {"human": "reject"}, "previous_reward": None, "reward": 0.0}]
    assert c.get(f"/v1/runs/{other}").json()["reward"] is None

    tool_run = run(c, "cont-s", output='{"tool_calls": [{"id": "call_42", "function": {"name": "edit"}}]}')
    hook(c, "continue", {"name": "toolUsage", "data": {"toolCallId": "call_42", "functionName": "edit",
                                                       "toolCallArgs": "{}", "accepted": True, "succeeded": False},
                         "schema": "0.2.0"})
    assert c.get(f"/v1/runs/{tool_run}").json()["reward_components"] == {"human": 1.0, "errors": pytest.approx(1 / 1.2)}

    hook(c, "continue", {"name": "chatFeedback", "data": {"feedback": False, "sessionId": "cont-s",
                                                          "prompt": "p", "completion": "c", "modelTitle": "m"}})
    assert session(c, "cont-s")["feedback"][0]["kind"] == "reject"
    chat = run(c, None, input="explain it", output="It parses rows.")
    done = hook(c, "continue", {"name": "chatFeedback", "data": {"feedback": True, "sessionId": "continue-own-id",
                                                                 "prompt": "explain it", "completion": "It parses rows."}})
    assert done.json()["session"] is None and [r["id"] for r in done.json()["runs"]] == [chat]
    assert c.get(f"/v1/runs/{chat}").json()["reward"] == 1.0


def test_a_payload_of_another_agent_is_refused_naming_the_field(server):
    c, rt = server.client, server.runtime
    codex = {"type": "agent-turn-complete", "thread-id": "t-x", "cwd": "/r"}
    r = c.post("/v1/hooks/claude-code", json=codex)
    assert r.status_code == 422 and r.json()["error"]["param"] == "session_id"
    assert "codex" in r.json()["error"]["message"]
    r = c.post("/v1/hooks/codex", json={**CC_BASE, "hook_event_name": "Stop"})
    assert r.status_code == 422 and r.json()["error"]["param"] == "type"
    r = c.post("/v1/hooks/cline", json=codex)
    assert r.status_code == 422 and r.json()["error"]["param"] == "taskId"
    r = c.post("/v1/hooks/aider", json=codex)
    assert r.status_code == 422 and r.json()["error"]["param"] == "agent"
    assert c.post("/v1/hooks/codex", content=b"{not json").status_code == 400
    assert rt.store.query("select count(*) from sessions")[0][0] == 0


def test_a_5_mb_stdout_is_refused_with_nothing_written(home):
    big = "x" * (5 * 1024 * 1024)
    payload = bash("pytest", big + "\n1 passed in 0.1s", session_id="cc-big")
    rt = Runtime(home=home, embed=False)
    live, stop = start_server(rt)
    try:  # the default body limit (2 MiB) refuses it before it is read
        r = live.client.post("/v1/hooks/claude-code", json=payload)
        assert r.status_code == 413 and "max_body_bytes" in r.json()["error"]["message"]
    finally:
        stop()
    (home / "edgelearn.toml").write_text("[server]\nmax_body_bytes = 16777216\n")
    rt = Runtime(home=home, embed=False)
    live, stop = start_server(rt)
    try:  # a larger body limit: the output limit names the field
        r = live.client.post("/v1/hooks/claude-code", json=payload)
        assert r.status_code == 422 and r.json()["error"]["param"] == "tool_response.stdout"
        assert "sessions.max_output_bytes" in r.json()["error"]["message"]
        assert rt.store.query("select count(*) from sessions")[0][0] == 0
    finally:
        stop()


def test_edits_are_kept_for_the_git_hook(server, tmp_path):
    c, store = server.client, server.runtime.store
    diff = "<<<<<<< SEARCH\n    return text\n=======\n    text = text.strip()\n    return text\n>>>>>>> REPLACE\n"
    hook(c, "cline", {"taskId": "t-ed", "hookName": "PostToolUse", "workspacePath": str(tmp_path),
                      "postToolUse": {"tool": "replace_in_file", "parameters": {"path": "src/p.py", "diff": diff},
                                      "result": "ok", "success": True, "durationMs": 5}})
    hook(c, "claude-code", {**CC_BASE, "session_id": "cc-ed", "hook_event_name": "PostToolUse", "tool_name": "Edit",
                            "tool_input": {"file_path": "/repo/app/m.py", "old_string": "a = 1\nb = 2",
                                           "new_string": "a = 1\nb = 3\nc = 4"}, "tool_response": {}})
    sid, edits = store.sessions.unscored_edits(str(tmp_path))
    assert sid == "t-ed" and [(p, lines) for _, p, lines in edits] == [
        (f"{tmp_path}/src/p.py", ["    text = text.strip()"])]  # the line it searched for was there
    sid, edits = store.sessions.unscored_edits("/repo/app")
    assert sid == "cc-ed" and [lines for _, _, lines in edits] == [["b = 3", "c = 4"]]
