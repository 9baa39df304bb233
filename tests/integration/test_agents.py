"""Real agents through edgelearn: Qwen Code and opencode, installed from npm, each run once non-interactively
against edgelearn (a real server on loopback, a temporary home) in front of the stand-in provider.

The stand-in asks for ONE call of the agent's own shell tool, which writes a marker file, and answers
"done" once the tool result comes back. The tests assert that the agent executed the call (the file
exists in its working directory) and that edgelearn recorded the runs: the call the model asked for,
and the follow-up turn carrying the tool result under the same call id.

Slow: each installs its agent into ``~/.cache/edgelearn/agents`` when missing (``realagents.py``) and
runs a node process for a few seconds. Skipped, with the reason, where node/npm is missing or the
install fails (offline).
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest
import realagents
from elsupport import start_server, wait_for
from netguard import LoopbackProxy
from standin import Reply, StandIn, ToolCall

pytestmark = pytest.mark.slow

MARKER = "edgelearn-marker.txt"
COMMAND = f"echo edgelearn-was-here > {MARKER}"
TASK = f"Create the file {MARKER} by running a shell command."


class ShellToolProvider(StandIn):
    """The stand-in, answering by what each request holds rather than by arrival order: agents send
    side requests (opencode titles the session with its small model) that may come in any order.

    A request that offers ``shell_tool`` and carries no tool result gets one call of it; everything
    else gets "done".
    """

    def __init__(self, shell_tool: str, arguments: dict, **kwargs) -> None:
        super().__init__(choose=self.reply_for, **kwargs)
        self.shell_tool, self.arguments = shell_tool, arguments

    def reply_for(self, body: dict) -> Reply:
        offered = {(t.get("function") or {}).get("name") for t in body.get("tools") or () if isinstance(t, dict)}
        answered = any(isinstance(m, dict) and m.get("role") == "tool" for m in body.get("messages") or ())
        if self.shell_tool in offered and not answered:
            return Reply(tool_calls=[ToolCall(self.shell_tool, self.arguments)])
        return Reply(text="done")




@pytest.fixture
def gateway(home, monkeypatch, request):
    """edgelearn on loopback with ``[providers.standin]`` (type openai) in front of a ShellToolProvider."""
    from edgelearn.runtime import Runtime

    agent = request.param
    key = f"sk-standin-{secrets.token_hex(12)}"
    monkeypatch.setenv("STANDIN_KEY", key)
    arguments = {"command": COMMAND}
    if agent.shell_tool == "bash":
        arguments["description"] = "Write the marker file"
    provider = ShellToolProvider(agent.shell_tool, arguments, key=key).start()
    guard = LoopbackProxy().start()
    (home / "edgelearn.toml").write_text(
        f'[providers.standin]\ntype = "openai"\nbase_url = "{provider.openai_base}"\napi_key_env = "STANDIN_KEY"\n'
        f'models = ["small"]\n')
    runtime = Runtime(home=home, embed=False)
    live, stop = start_server(runtime)
    try:
        yield agent, provider, live, key, guard
    finally:
        stop()
        provider.stop()
        guard.stop()


def _installed(agent: realagents.Agent) -> None:
    try:
        realagents.ensure_installed(agent)
    except realagents.AgentUnavailable as exc:
        pytest.skip(f"{agent.package}: {exc}")


def _runs(live, expected: int) -> list[dict]:
    def listed() -> list[dict] | None:
        response = live.client.get("/v1/runs", params={"limit": 100})
        assert response.status_code == 200, response.text
        runs = response.json()["runs"]
        return runs if len(runs) >= expected else None

    # a side request the agent dropped on exit is recorded (cancelled) just after: a bounded wait
    found = wait_for(listed, timeout=15)
    return [live.client.get(f"/v1/runs/{r['id']}").json() for r in found]  # each in full, as a user reads it


def _calls(run: dict) -> list[dict]:
    output = ((run.get("metadata") or {}).get("chat") or {}).get("output") or {}
    return output.get("tool_calls") or []


def _check_recorded(live, provider: ShellToolProvider, agent: realagents.Agent, key: str, home: Path) -> None:
    runs = _runs(live, len(provider.completions()))
    assert len(runs) == len(provider.completions()), "every call the provider answered is one run"
    # the run in which the model asked for the shell tool: the call, the tools offered, the provider
    asking = [r for r in runs if any(c["function"]["name"] == agent.shell_tool for c in _calls(r))]
    assert len(asking) == 1, [(_calls(r), r["output"]) for r in runs]
    call = _calls(asking[0])[0]
    assert json.loads(call["function"]["arguments"])["command"] == COMMAND
    chat = asking[0]["metadata"]["chat"]
    assert agent.shell_tool in {t["function"]["name"] for t in chat["tools"]}
    proxy = asking[0]["metadata"]["proxy"]
    assert (proxy["provider"], proxy["upstream_model"], proxy["finish_reason"]) == ("standin", "small", "tool_calls")
    assert asking[0]["model_variant"] == "standin/small" and asking[0]["status"] == "ok"
    # the follow-up turn: the assistant's call and the tool's result under the same id, then "done"
    follow = [r for r in runs if isinstance(r["input"], list)
              and any(m.get("role") == "tool" and m.get("tool_call_id") == call["id"] for m in r["input"])]
    assert len(follow) == 1, [r["input"] for r in runs]
    messages = follow[0]["input"]
    sent = [m for m in messages if m.get("role") == "assistant" and m.get("tool_calls")]
    assert sent and sent[-1]["tool_calls"][0]["id"] == call["id"]
    assert json.loads(sent[-1]["tool_calls"][0]["function"]["arguments"])["command"] == COMMAND
    assert follow[0]["output"] == "done"
    # the provider saw the agent's tools and the tool result unchanged, and the key only in its header
    upstream = [s.json for s in provider.completions()]
    assert any(m.get("role") == "tool" and m.get("tool_call_id") == call["id"]
               for body in upstream for m in body["messages"])
    assert all(s.headers.get("authorization") == f"Bearer {key}" for s in provider.completions())
    for path in home.rglob("*"):
        if path.is_file():
            assert key.encode() not in path.read_bytes(), f"the provider key was written to {path}"


@pytest.mark.parametrize("gateway", [realagents.AGENTS["qwen"]], indirect=True, ids=["qwen"])
def test_qwen_code_runs_a_shell_call_through_edgelearn(gateway, tmp_path):
    agent, provider, live, key, guard = gateway
    _installed(agent)
    run = realagents.run_qwen(TASK, base_url=f"{live.url}/v1", api_key=live.token, model="standin/small",
                              home=tmp_path / "agent-home", cwd=tmp_path / "work", timeout=180, proxy=guard.url)
    assert not run.timed_out and run.returncode == 0, f"{run.describe()}\nrefused by the proxy: {guard.refused}"
    assert (run.cwd / MARKER).read_text().strip() == "edgelearn-was-here", run.describe()
    assert "done" in run.stdout
    _check_recorded(live, provider, agent, key, live.runtime.home)


@pytest.mark.parametrize("gateway", [realagents.AGENTS["opencode"]], indirect=True, ids=["opencode"])
def test_opencode_runs_a_shell_call_through_edgelearn(gateway, tmp_path):
    agent, provider, live, key, guard = gateway
    _installed(agent)
    run = realagents.run_opencode(TASK, base_url=f"{live.url}/v1", api_key=live.token, model="standin/small",
                                  home=tmp_path / "agent-home", cwd=tmp_path / "work", timeout=180,
                                  proxy=guard.url)
    assert not run.timed_out and run.returncode == 0, f"{run.describe()}\nrefused by the proxy: {guard.refused}"
    assert (run.cwd / MARKER).read_text().strip() == "edgelearn-was-here", run.describe()
    assert "done" in run.stdout
    _check_recorded(live, provider, agent, key, live.runtime.home)
