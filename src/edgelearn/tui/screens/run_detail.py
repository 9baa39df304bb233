"""One run: its facts, input, output, signals and reward components, and the most similar runs."""

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
        self.query_one("#input", Static).update(Text(task + (fmt.text_of(run.get("input")) or "(no input)")))
        self.query_one("#output", Static).update(Text(run.get("output") or ""))
        self.query_one("#similar", Static).update(similar_table(data["similar"]))

    def action_back(self) -> None:
        self.app.pop_screen()
