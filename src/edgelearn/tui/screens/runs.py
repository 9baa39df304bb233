"""Runs: the live table, newest first, filtered by role, model, prompt and reward."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Input

from edgelearn.tui.screens.base import DataScreen, fill_table, selected_key
from edgelearn.tui.source import RunFilter
from edgelearn.tui.widgets.runs import RUN_COLUMNS, RunFilters, run_row

LIMIT = 200  # rows kept in the table; the filters reach older runs


class RunsScreen(DataScreen):
    MODE = "runs"
    BINDINGS = [
        # priority: the table's own Enter would hide this from the footer; check_action hands
        # Enter back to the filter inputs when one of them has focus
        Binding("enter", "open", "Detail", priority=True),
        Binding("slash,f", "focus_filters", "Filter"),
        Binding("c", "clear_filters", "Clear filters"),
        Binding("escape", "focus_table", "Table", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.filters = RunFilter()

    def compose_body(self) -> ComposeResult:
        yield RunFilters(id="filters")
        yield DataTable(id="runs", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns(*RUN_COLUMNS)
        table.focus()
        super().on_mount()

    def fetch(self, source: Any) -> list[dict[str, Any]]:
        return source.runs(self.filters, limit=LIMIT)

    def show(self, runs: list[dict[str, Any]]) -> None:
        now = self.app.clock()
        table = self.query_one(DataTable)
        fill_table(table, [run_row(r, now) for r in runs])
        shown = ", ".join(f"{k}={v}" for k, v in self.filters.params().items())
        table.border_title = f"{len(runs)} runs" + (f" · {shown}" if shown else "") + \
            (" (newest)" if len(runs) == LIMIT else "")

    def on_run_filters_changed(self, event: RunFilters.Changed) -> None:
        self.filters = event.filters
        self.query_one(DataTable).focus()
        self.reload()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "open":
            return isinstance(self.focused, DataTable)
        return True

    def action_open(self) -> None:
        key = selected_key(self.query_one(DataTable))
        if key is not None:
            from edgelearn.tui.screens.run_detail import RunDetailScreen

            self.app.push_screen(RunDetailScreen(key))

    def action_focus_filters(self) -> None:
        self.query_one("#f-role", Input).focus()

    def action_focus_table(self) -> None:
        self.query_one(DataTable).focus()

    def action_clear_filters(self) -> None:
        self.query_one(RunFilters).clear()
