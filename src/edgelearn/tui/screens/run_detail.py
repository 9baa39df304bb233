"""One run: its facts, input, output, signals and reward components, and the most similar runs.

A gateway run shows its trajectory: each message with its tool calls and tool results, the tools
offered, and the output with its tool calls and reasoning apart."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Static

from edgelearn.tui import fmt
from edgelearn.tui.screens.base import DataScreen
from edgelearn.tui.widgets.runs import reward_table, run_meta, similar_table


class RunDetailScreen(DataScreen):
    MODE = "runs"
    TITLE_WHERE = "run"
    BINDINGS = [Binding("escape,backspace", "back", "Back")]

    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="detail"):
            yield Static(id="meta")
            yield Static(id="reward", classes="section")
            yield Static(id="input", classes="section")
            yield Static(id="output", classes="section")
            yield Static(id="similar", classes="section")

    def on_mount(self) -> None:
        for name, title in (("reward", "signals and reward"), ("input", "input"), ("output", "output"),
                            ("similar", "similar runs")):
            self.query_one(f"#{name}").border_title = title
        self.query_one("#detail").focus()
        super().on_mount()

    def fetch(self, source: Any) -> dict[str, Any]:
        run = source.run(self.run_id)
        try:
            similar = source.similar(self.run_id, k=5)
        except Exception:  # noqa: BLE001 - a missing index must not hide the run itself
            similar = None
        return {"run": run, "similar": similar}

    def show(self, data: dict[str, Any]) -> None:
        run, now = data["run"], self.app.clock()
        self.query_one("#meta", Static).update(run_meta(run, now))
        self.query_one("#reward", Static).update(reward_table(run))
        task = f"task: {run['task']}\n\n" if run.get("task") else ""
        chat = (run.get("metadata") or {}).get("chat") or {}
        self.query_one("#input", Static).update(Text(task + (trajectory(run.get("input"), chat.get("tools"))
                                                             or "(no input)")))
        output = chat.get("output")
        self.query_one("#output", Static).update(Text(_message(output) if output else run.get("output") or ""))
        self.query_one("#similar", Static).update(similar_table(data["similar"]))

    def action_back(self) -> None:
        self.app.pop_screen()


def _calls(message: dict[str, Any]) -> list[str]:
    out = []
    for call in message.get("tool_calls") or ():
        if not isinstance(call, dict):
            continue
        function = call.get("function") or {}
        out.append(f"  -> {function.get('name', '?')}({function.get('arguments', '')})  [{call.get('id', '')}]")
    return out


def _content(content: Any) -> str:
    if isinstance(content, list):  # content parts: text, and placeholders for images
        return " ".join(str(p.get("text")) if p.get("type") == "text" else f"<{p.get('type')}>"
                        for p in content if isinstance(p, dict))
    return "" if content is None else str(content)


def _message(message: dict[str, Any]) -> str:
    lines = []
    if message.get("reasoning_content"):
        lines.append(f"(reasoning) {message['reasoning_content']}")
    text = _content(message.get("content"))
    if text:
        lines.append(text)
    return "\n".join(lines + _calls(message))


def trajectory(value: Any, tools: list[dict[str, Any]] | None = None) -> str:
    """A run's input as readable text: messages, their tool calls and tool results, the tools offered."""
    if not isinstance(value, list):
        return fmt.text_of(value)
    lines = []
    if tools:
        names = [(t.get("function") or {}).get("name", "?") for t in tools if isinstance(t, dict)]
        lines.append(f"tools offered: {', '.join(names)}")
    for m in value:
        if not isinstance(m, dict):
            lines.append(str(m))
            continue
        role = m.get("role", "?")
        if role == "tool":
            lines.append(f"[tool result {m.get('name') or ''} {m.get('tool_call_id', '')}] {_content(m.get('content'))}")
            continue
        lines.append(f"[{role}] {_content(m.get('content'))}".rstrip())
        lines.extend(_calls(m))
    return "\n".join(lines)
