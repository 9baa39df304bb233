"""Claude Code (Anthropic Messages) and Codex (OpenAI Responses), installed from npm, each run one
tool-using task through edgelearn in front of a stand-in provider.

The stand-in asks for ONE call of the agent's shell tool, which writes a marker file, and answers
"done" once the tool result comes back. Claude Code goes through ``/v1/messages`` both ways: passed
through to an Anthropic-type provider, and translated to chat completions for an OpenAI-type one.
Codex goes through ``/v1/responses``, translated. The tests assert the agent ran the call (the file
exists in its working directory) and edgelearn recorded the call and the tool result under the same id.

Slow; the agents come from tests/integration/realagents.py's cache (installed when missing), and the
tests skip, with the reason, where node/npm is missing or the install fails.
"""

from __future__ import annotations

import json
import secrets
import sys
from pathlib import Path

import pytest
from elsupport import start_server, wait_for
from standin import Reply, StandIn, ToolCall

sys.path.insert(0, str(Path(__file__).parents[1] / "integration"))
import realagents  # the harness lives beside the integration tests

pytestmark = pytest.mark.slow

MARKER = "edgelearn-marker.txt"
COMMAND = f"echo edgelearn-was-here > {MARKER}"
TASK = f"Create the file {MARKER} by running a shell command."
SHELL_ARGUMENTS = {"Bash": {"command": COMMAND, "description": "Write the marker file"},
                   "exec_command": {"cmd": COMMAND}, "shell": {"command": ["bash", "-lc", COMMAND]}}


class ShellProvider(StandIn):
    """Answers by what each request holds, in either wire (OpenAI chat or Anthropic Messages): a
    request offering a shell tool with no tool result yet gets one call of it; anything else "done"."""

    def __init__(self, **kwargs) -> None:
        super().__init__(choose=self.reply_for, **kwargs)

    @staticmethod
    def reply_for(body: dict) -> Reply:
        offered = {t.get("name") or (t.get("function") or {}).get("name") for t in body.get("tools") or ()
                   if isinstance(t, dict)}
        answered = any(isinstance(m, dict) and (m.get("role") == "tool" or any(
            isinstance(b, dict) and b.get("type") == "tool_result" for b in m.get("content") or ()
            if isinstance(m.get("content"), list))) for m in body.get("messages") or ())
        tool = next((name for name in SHELL_ARGUMENTS if name in offered), None)
        if tool is not None and not answered:
            return Reply(tool_calls=[ToolCall(tool, SHELL_ARGUMENTS[tool])])
        return Reply(text="done")




@pytest.fixture
def edgelearn(home, monkeypatch):
    """edgelearn on loopback in front of one ShellProvider as ``openai-type`` and ``anthropic-type``."""
    from edgelearn.runtime import Runtime

    key = f"sk-standin-{secrets.token_hex(12)}"
    monkeypatch.setenv("STANDIN_KEY", key)
    provider = ShellProvider(key=key).start()
    (home / "edgelearn.toml").write_text(
        f'[providers.oai]\ntype = "openai"\nbase_url = "{provider.openai_base}"\napi_key_env = "STANDIN_KEY"\n'
        f'models = ["small"]\n\n[providers.ant]\ntype = "anthropic"\nbase_url = "{provider.url}"\n'
        f'api_key_env = "STANDIN_KEY"\nmodels = ["sonnet"]\n\n'
        '[wire.anthropic]\ndefault = "oai/small"\nmodels = { "claude-opus-*" = "ant/sonnet" }\n')
    live, stop = start_server(Runtime(home=home, embed=False))
    try:
        yield provider, live, key
    finally:
        stop()
        provider.stop()


def _binary(name: str) -> Path:
    try:
        return realagents.ensure_installed(realagents.AGENTS[name])
    except realagents.AgentUnavailable as exc:
        pytest.skip(f"{name}: {exc}")


def _check(live, provider: ShellProvider, tool: str, key: str) -> list[dict]:
    def listed() -> list[dict] | None:
        found = live.client.get("/v1/runs", params={"limit": 100}).json()["runs"]
        # bounded wait: a side request the agent dropped on exit is recorded just after it
        return found if len(found) == len(provider.completions()) else None

    runs = [live.client.get(f"/v1/runs/{r['id']}").json() for r in wait_for(listed, timeout=15)]
    asking = [r for r in runs if any(c["function"]["name"] == tool
                                     for c in r["metadata"]["chat"]["output"].get("tool_calls") or ())]
    assert len(asking) == 1, [r["metadata"]["chat"]["output"] for r in runs]
    call = asking[0]["metadata"]["chat"]["output"]["tool_calls"][0]
    assert json.dumps(json.loads(call["function"]["arguments"])).find("edgelearn-was-here") > 0
    follow = [r for r in runs if any(m.get("role") == "tool" and m.get("tool_call_id") == call["id"]
                                     for m in r["input"] or ())]
    assert len(follow) == 1 and follow[0]["output"] == "done", [r["input"] for r in runs]
    for path in live.runtime.home.rglob("*"):
        if path.is_file():
            assert key.encode() not in path.read_bytes(), f"the provider key was written to {path}"
    return runs


@pytest.mark.parametrize("model,upstream", [("claude-sonnet-4-5", "/v1/chat/completions"),
                                            ("claude-opus-4-1", "/v1/messages")], ids=["translated", "passthrough"])
def test_claude_code_runs_a_bash_call_through_v1_messages(edgelearn, tmp_path, model, upstream):
    provider, live, key = edgelearn
    _binary("claude")
    run = realagents.run_claude(TASK, base_url=live.url, api_key=live.token, model=model,
                                home=tmp_path / "agent-home", cwd=tmp_path / "work", timeout=240)
    assert not run.timed_out and run.returncode == 0, run.describe()
    assert (run.cwd / MARKER).read_text().strip() == "edgelearn-was-here", run.describe()
    assert "done" in run.stdout
    assert {s.path for s in provider.completions()} == {upstream}
    runs = _check(live, provider, "Bash", key)
    assert all(r["session"] for r in runs)  # X-Claude-Code-Session-Id or metadata.user_id


def test_codex_runs_an_exec_command_call_through_v1_responses(edgelearn, tmp_path):
    provider, live, key = edgelearn
    binary = _binary("codex")
    codex_home = tmp_path / "agent-home" / ".codex"
    codex_home.mkdir(parents=True)
    (codex_home / "config.toml").write_text(
        'model = "oai/small"\nmodel_provider = "el"\n\n[model_providers.el]\nname = "edgelearn"\n'
        f'base_url = "{live.url}/v1"\nenv_key = "EL_KEY"\nwire_api = "responses"\n')
    env = {"CODEX_HOME": str(codex_home), "EL_KEY": live.token}
    run = realagents._run([str(binary), "exec", "--skip-git-repo-check", "--dangerously-bypass-approvals-and-sandbox",
                           TASK], home=tmp_path / "agent-home", cwd=tmp_path / "work", env=env, timeout=240)
    assert not run.timed_out and run.returncode == 0, run.describe()
    assert (run.cwd / MARKER).read_text().strip() == "edgelearn-was-here", run.describe()
    assert "done" in run.stdout
    assert {s.path for s in provider.completions()} == {"/v1/chat/completions"}
    tools = {t["function"]["name"] for t in provider.completions()[0].json["tools"]}
    tool = next(name for name in SHELL_ARGUMENTS if name in tools)
    _check(live, provider, tool, key)
