"""``edgelearn arms``: list (table and JSON), add, enable, disable — over the real store in the home."""

from __future__ import annotations

import json

from edgelearn.cli import main


def _json(capsys, *args):
    assert main(["arms", *args, "--json"]) == 0
    return {a["key"]: a for a in json.loads(capsys.readouterr().out)["arms"]}


def test_list_add_enable_disable(home, capsys):
    arms = _json(capsys)
    assert {"coder/prompt/concise", "fixer/prompt/minimal-patch", "judge/prompt/rubric", "coder/model/base"} <= set(arms)
    assert arms["coder/prompt/concise"]["pulls"] == 0 and arms["coder/prompt/concise"]["mean"] is None

    assert main(["arms", "add", "model", "coder", "qwen2.5-coder:1.5b", "--backend", "ollama",
                 "--cost-per-1k", "0.001"]) == 0
    assert "coder/model/qwen2.5-coder:1.5b via ollama" in capsys.readouterr().out
    prompt_file = home / "p.md"
    prompt_file.write_text("Answer in one line.")
    assert main(["arms", "add", "prompt", "coder", "one-line", "--file", str(prompt_file), "--notes", "terse"]) == 0
    capsys.readouterr()
    arms = _json(capsys, "--role", "coder")
    assert all(k.startswith("coder/") for k in arms)
    assert arms["coder/model/qwen2.5-coder:1.5b"]["cost_per_1k"] == 0.001
    assert arms["coder/prompt/one-line"]["notes"] == "terse"

    assert main(["arms", "disable", "coder/one-line"]) == 0
    assert "disabled" in capsys.readouterr().out
    assert _json(capsys, "--role", "coder")["coder/prompt/one-line"]["enabled"] is False
    arm_id = str(_json(capsys, "--role", "coder")["coder/prompt/one-line"]["id"])
    assert main(["arms", "enable", arm_id]) == 0
    capsys.readouterr()
    assert _json(capsys, "--role", "coder")["coder/prompt/one-line"]["enabled"] is True

    assert main(["arms", "--role", "coder"]) == 0
    table = capsys.readouterr().out
    assert "one-line" in table and "95% CI" in table


def test_errors_become_exit_codes(home, capsys):
    assert main(["arms", "enable", "coder/nope"]) == 1
    assert "not found" in capsys.readouterr().err
    assert main(["arms", "add", "model", "coder", "m", "--backend", "x", "--cost-per-1k", "-2"]) == 2
    assert "cost_per_1k" in capsys.readouterr().err
    assert main(["arms", "add", "prompt", "coder", "x", "--file", str(home / "missing.md")]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert main(["arms", "--role", "bad role"]) == 2
