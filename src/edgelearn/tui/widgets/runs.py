"""The Runs screen's regions: the filter bar and the run table's rows; the detail's sections."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Input

from edgelearn.tui import fmt
from edgelearn.tui.source import RunFilter

RUN_COLUMNS = ("time", "id", "role", "model", "prompt", "reward", "task")


class RunFilters(Horizontal):
    """Role, model, prompt and minimum reward; Enter in any of them applies all four."""

    DEFAULT_CSS = """
    RunFilters { height: 1; }
    RunFilters Input { width: 1fr; margin-right: 1; }
    """

    @dataclass
    class Changed(Message):
        filters: RunFilter

    def compose(self) -> ComposeResult:
        yield Input(placeholder="role", id="f-role", compact=True)
        yield Input(placeholder="model", id="f-model", compact=True)
        yield Input(placeholder="prompt", id="f-prompt", compact=True)
        yield Input(placeholder="min reward", id="f-min", type="number", compact=True)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.apply()

    def apply(self) -> None:
        """Post the filters as typed (a bad minimum reward is refused with a notification)."""
        value = self.query_one("#f-min", Input).value.strip()
        min_reward = None
        if value:
            try:
                min_reward = float(value)
            except ValueError:
                min_reward = -1.0
            if not 0.0 <= min_reward <= 1.0:
                self.app.notify(f"min reward: expected a number from 0 to 1, got {value!r}", markup=False,
                                title="runs", severity="error")
                return
        self.post_message(self.Changed(RunFilter(
            role=self.query_one("#f-role", Input).value.strip() or None,
            model=self.query_one("#f-model", Input).value.strip() or None,
            prompt=self.query_one("#f-prompt", Input).value.strip() or None,
            min_reward=min_reward)))

    def clear(self) -> None:
        for field in self.query(Input):
            field.value = ""
        self.apply()


def run_row(run: dict[str, Any], now: float) -> tuple[str, tuple]:
    """(key, cells) of one run in the table; user text goes in as Text so it is never markup."""
    reward = run.get("reward")
    style = "" if reward is None else ("green" if reward >= 0.7 else ("yellow" if reward >= 0.4 else "red"))
    return run["id"], (
        fmt.clock_time(run.get("created_at"), now), run["id"][-8:], Text(run.get("role") or ""),
        Text(fmt.short(run.get("model"), 14)), Text(fmt.short(run.get("prompt"), 10)),
        Text(fmt.num(reward), style=style, justify="right"),
        Text(fmt.short(run.get("task") or fmt.text_of(run.get("input")), 40)))


def run_meta(run: dict[str, Any], now: float) -> Table:
    """The facts of one run, as label/value pairs in two columns (fits 80 columns)."""
    table = Table(box=None, show_header=False, padding=(0, 1))
    for style in ("dim", "", "dim", ""):
        table.add_column(style=style)
    facts = [
        ("id", run.get("id")), ("time", f"{fmt.clock_time(run.get('created_at'), now)} "
                                        f"({fmt.ago(run.get('created_at'), now)})"),
        ("role", run.get("role")), ("status", run.get("status")),
        ("model", run.get("model")), ("prompt", run.get("prompt")),
        ("reward", fmt.num(run.get("reward"), 3)), ("session", run.get("session")),
        ("tokens", f"{fmt.count(run.get('tokens_in'))} in / {fmt.count(run.get('tokens_out'))} out"),
        ("latency", f"{fmt.num(run.get('latency_ms'), 0)} ms"), ("cost", fmt.num(run.get("cost"), 4)),
        ("project", run.get("project")),
    ]
    for (l1, v1), (l2, v2) in zip(facts[::2], facts[1::2], strict=True):
        table.add_row(l1, Text(fmt.NA if v1 is None else str(v1)), l2, Text(fmt.NA if v2 is None else str(v2)))
    return table


def reward_table(run: dict[str, Any]) -> Table:
    """Reward components next to the signals that produced them."""
    table = Table(box=None, padding=(0, 1), header_style="bold", expand=False)
    for name in ("signal", "value", "source", "in reward"):
        table.add_column(name)
    components = run.get("reward_components") or {}
    seen = set()
    for sig in run.get("signals") or []:
        kind = sig.get("kind")
        seen.add(kind)
        table.add_row(Text(str(kind)), fmt.num(sig.get("value")), Text(str(sig.get("source") or "")),
                      fmt.num(components.get(kind)))
    for kind, value in components.items():
        if kind not in seen:
            table.add_row(Text(str(kind)), "", "", fmt.num(value))
    for fb in run.get("feedback") or []:
        table.add_row(Text(f"feedback {fb.get('kind')}"), fmt.num(fb.get("value")), "human",
                      Text(fmt.short(fb.get("comment"), 30)))
    if not table.row_count:
        table.add_row(Text("no signals", "dim"), "", "", "")
    return table


def similar_table(similar: dict[str, Any] | None) -> Table | Text:
    if similar is None:
        return Text("similar runs: n/a", "dim")
    if not similar.get("embedded"):
        return Text("not embedded yet: similar runs appear once the background embedder has run", "dim")
    rows = similar.get("similar") or []
    if not rows:
        return Text("no similar runs of this role", "dim")
    table = Table(box=None, padding=(0, 1), header_style="bold")
    for name in ("id", "distance", "reward", "model", "task"):
        table.add_column(name)
    for r in rows:
        table.add_row(r["id"][-8:], fmt.num(r.get("distance"), 3), fmt.num(r.get("reward")),
                      Text(str(r.get("model") or "")), Text(fmt.short(r.get("task"), 40)))
    return table
