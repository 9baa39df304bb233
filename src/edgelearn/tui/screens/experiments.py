"""Experiments: champion against challenger, samples per variant, and the decision statistic."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import DataTable, Static

from edgelearn.tui import fmt
from edgelearn.tui.screens.base import DataScreen, fill_table, selected_key

COLUMNS = ("id", "role", "state", "champion", "challenger", "traffic", "decision")
STATE_STYLE = {"running": "bold yellow", "promoted": "green", "retired": "dim", "stopped": "dim"}


def _variant(stats: dict[str, Any], name: str) -> str:
    st = stats.get(name) or {}
    return f"{fmt.count(st.get('n'))} · {fmt.num(st.get('mean'))}"


def experiment_row(e: dict[str, Any]) -> tuple[str, tuple]:
    stats = e.get("stats") or {}
    decision = e.get("decision") or {}
    return e["id"], (Text(e["id"]), Text(e.get("role") or ""),
                     Text(e.get("state") or "", STATE_STYLE.get(e.get("state"), "")),
                     _variant(stats, "champion"), _variant(stats, "challenger"),
                     fmt.pct(e.get("traffic")), Text(str(decision.get("outcome") or "—")))


def decision_table(e: dict[str, Any] | None) -> Table | Text:
    """The selected experiment's decision numbers: lift, P(better), the e-value against its bar."""
    if e is None:
        return Text("no experiment yet: one starts when a trained model is registered", "dim")
    d = e.get("decision") or {}
    table = Table(box=None, show_header=False, padding=(0, 1))
    table.add_column(style="dim")
    table.add_column()
    table.add_column(style="dim")
    table.add_column()
    e_value, bar = d.get("e_promote"), d.get("e_threshold")
    table.add_row("champion", Text(str(e.get("champion"))), "challenger", Text(str(e.get("challenger"))))
    table.add_row("lift", fmt.pct(d.get("lift"), 1), "P(better)", fmt.pct(d.get("prob_better"), 1))
    table.add_row("e-value", f"{fmt.num(e_value)} / {fmt.num(bar)}", "futility", fmt.num(d.get("e_futility")))
    table.add_row("outcome", Text(str(d.get("outcome") or "collecting")), "reason",
                  Text(fmt.short(d.get("reason") or e.get("reason") or "", 40)))
    return table


class ExperimentsScreen(DataScreen):
    MODE = "experiments"

    def __init__(self) -> None:
        super().__init__()
        self.experiments: dict[str, dict[str, Any]] = {}

    def compose_body(self) -> ComposeResult:
        yield DataTable(id="experiments", cursor_type="row", zebra_stripes=True)
        yield Static(id="decision")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns(*COLUMNS)
        table.border_title = "experiments · samples · mean reward per variant"
        self.query_one("#decision").border_title = "decision"
        table.focus()
        super().on_mount()

    def fetch(self, source: Any) -> list[dict[str, Any]]:
        return source.experiments()

    def show(self, experiments: list[dict[str, Any]]) -> None:
        self.experiments = {e["id"]: e for e in experiments}
        fill_table(self.query_one(DataTable), [experiment_row(e) for e in experiments])
        self._describe()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._describe()

    def _describe(self) -> None:
        key = selected_key(self.query_one(DataTable))
        self.query_one("#decision", Static).update(decision_table(self.experiments.get(key) if key else None))
