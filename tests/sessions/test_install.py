"""`edgelearn hooks install` writes valid agent config into a temp home and merges without loss."""

import json
import os
import subprocess
import sys
import tomllib

import pytest

from edgelearn.cli import main
from edgelearn.errors import InvalidInput
from edgelearn.sessions.install import plan_claude_code, plan_codex

URL = "http://127.0.0.1:8765"


def test_claude_code_into_an_empty_home(tmp_path, capsys):
    assert main(["hooks", "install", "claude-code", "--home", str(tmp_path), "--url", URL, "--write"]) == 0
    settings = json.loads((tmp_path / ".claude" / "settings.json").read_text())
    hooks = settings["hooks"]
    assert set(hooks) == {"PostToolUse", "PostToolUseFailure", "Stop", "SessionEnd"}
    bash = hooks["PostToolUseFailure"][0]
    assert bash["matcher"] == "Bash"
    handler = bash["hooks"][0]
    assert handler["type"] == "http" and handler["url"] == f"{URL}/v1/hooks/claude-code"
    assert handler["headers"] == {"Authorization": "Bearer $EDGELEARN_TOKEN"}
    assert handler["allowedEnvVars"] == ["EDGELEARN_TOKEN"]
    assert "matcher" not in hooks["Stop"][0]
    assert not (tmp_path / ".claude" / "settings.json.bak").exists()
    # a second install changes nothing
    assert main(["hooks", "install", "claude-code", "--home", str(tmp_path), "--url", URL, "--write"]) == 0
    assert "unchanged" in capsys.readouterr().out


def test_claude_code_merges_into_existing_settings_without_loss(tmp_path):
    path = tmp_path / ".claude" / "settings.json"
    path.parent.mkdir()
    mine = {"model": "opus", "permissions": {"allow": ["Bash(npm test)"]},
            "hooks": {"PostToolUse": [{"matcher": "Write|Edit", "hooks": [{"type": "command",
                                                                           "command": "prettier --write"}]}],
                      "Notification": [{"hooks": [{"type": "command", "command": "notify-send hi"}]}]}}
    path.write_text(json.dumps(mine))
    plan = plan_claude_code(path, URL)
    assert plan.conflicts == []
    plan.write()
    merged = json.loads(path.read_text())
    assert merged["model"] == "opus" and merged["permissions"] == mine["permissions"]
    assert merged["hooks"]["Notification"] == mine["hooks"]["Notification"]
    post = merged["hooks"]["PostToolUse"]
    assert post[0] == mine["hooks"]["PostToolUse"][0] and post[1]["hooks"][0]["url"].endswith("/v1/hooks/claude-code")
    assert json.loads((tmp_path / ".claude" / "settings.json.bak").read_text()) == mine


def test_a_changed_edgelearn_hook_is_not_replaced_without_asking(tmp_path):
    path = tmp_path / "settings.json"
    plan_claude_code(path, URL).write()
    before = path.read_text()
    plan = plan_claude_code(path, "http://127.0.0.1:9999")
    assert plan.conflicts
    with pytest.raises(InvalidInput, match="--force"):
        plan.write()
    assert path.read_text() == before
    plan.write(force=True)
    assert "9999" in path.read_text()


def test_unreadable_settings_are_left_alone(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text("{ not json")
    with pytest.raises(InvalidInput, match="not valid JSON"):
        plan_claude_code(path, URL)
    assert path.read_text() == "{ not json"


def test_codex_into_an_empty_home_and_merged_into_an_existing_config(tmp_path):
    assert main(["hooks", "install", "codex", "--home", str(tmp_path), "--write"]) == 0
    assert tomllib.loads((tmp_path / ".codex" / "config.toml").read_text()) == {"notify": ["edgelearn", "notify"]}

    other = tmp_path / "other"
    cfg = other / ".codex" / "config.toml"
    cfg.parent.mkdir(parents=True)
    text = ('# my settings\nmodel = "gpt-5"  # the default\n\n[model_providers.local]\n'
            'base_url = "http://127.0.0.1:1234/v1"\nwire_api = "responses"\n')
    cfg.write_text(text)
    assert main(["hooks", "install", "codex", "--home", str(other), "--write"]) == 0
    new = cfg.read_text()
    assert "# my settings" in new and "# the default" in new
    assert tomllib.loads(new) == {**tomllib.loads(text), "notify": ["edgelearn", "notify"]}


def test_codex_keeps_a_notify_program_of_the_users(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text('notify = ["my-notifier"]\n')
    plan = plan_codex(cfg, ["edgelearn", "notify"])
    assert plan.conflicts == ["notify is already ['my-notifier']"]
    with pytest.raises(InvalidInput):
        plan.write()
    assert cfg.read_text() == 'notify = ["my-notifier"]\n'


def test_print_mode_writes_nothing(tmp_path, capsys):
    assert main(["hooks", "install", "claude-code", "--home", str(tmp_path), "--url", URL]) == 0
    out = capsys.readouterr().out
    assert "/v1/hooks/claude-code" in out and not (tmp_path / ".claude").exists()


def test_edgelearn_notify_reports_a_codex_turn(server, home):
    payload = {"type": "agent-turn-complete", "thread-id": "th-cli", "turn-id": "1", "cwd": "/repo/n",
               "input-messages": ["go"], "last-assistant-message": "done"}
    env = {**os.environ, "EDGELEARN_HOME": str(home), "EDGELEARN_URL": server.url}
    out = subprocess.run([sys.executable, "-m", "edgelearn", "notify", json.dumps(payload)], env=env,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    detail = server.client.get("/v1/sessions/th-cli").json()
    assert detail["agent"] == "codex" and detail["open"] is False
    bad = subprocess.run([sys.executable, "-m", "edgelearn", "notify", '{"session_id": "x"}'], env=env,
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "type" in bad.stderr


def test_hooks_run_reports_a_command_to_the_session_and_keeps_its_exit_status(server, home, tmp_path):
    """Aider's --test-cmd as `edgelearn hooks run --session S -- pytest -q`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "pytest"
    fake.write_text("#!/bin/sh\necho '..F'\necho '1 failed, 2 passed in 0.05s'\nexit 1\n")
    fake.chmod(0o755)
    rid = server.client.post("/v1/runs", json={"role": "coder", "output": "x", "session": "aider-1"}).json()["id"]
    env = {**os.environ, "EDGELEARN_HOME": str(home), "EDGELEARN_URL": server.url,
           "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    out = subprocess.run([sys.executable, "-m", "edgelearn", "hooks", "run", "--session", "aider-1", "--", "pytest",
                          "-q"], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 1 and "1 failed, 2 passed" in out.stdout  # Aider sees the command's own result
    detail = server.client.get("/v1/sessions/aider-1").json()
    assert detail["agent"] == "aider" and [(s["kind"], s["raw"]) for s in detail["signals"]] == [
        ("tests", {"passed": 2, "total": 3})]
    assert server.client.get(f"/v1/runs/{rid}").json()["reward"] == pytest.approx(2 / 3)
