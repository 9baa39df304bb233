"""The TUI's run detail shows a gateway run's trajectory: messages, tool calls, tool results."""

from __future__ import annotations

from test_openai_type import TOOLS, _follow_up

from edgelearn.tui.screens.run_detail import _message, trajectory


def test_trajectory_shows_tool_calls_and_results():
    text = trajectory(_follow_up(), TOOLS)
    lines = text.splitlines()
    assert lines[0] == "tools offered: run_shell_command"
    assert "[user] list the files" in lines
    assert lines[3:5] == ["[assistant]", '  -> run_shell_command({"command": "ls -la"})  [call_ls1]']
    assert "[tool result run_shell_command call_ls1] a.py" in text
    out = _message({"role": "assistant", "content": None, "reasoning_content": "hmm",
                    "tool_calls": [{"id": "c2", "function": {"name": "read", "arguments": "{}"}}]})
    assert out.splitlines() == ["(reasoning) hmm", "  -> read({})  [c2]"]
    assert trajectory("plain prompt") == "plain prompt"
