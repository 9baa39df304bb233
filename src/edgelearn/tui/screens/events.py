"""Events: the append-only log of every decision, filterable by type prefix and role."""

from __future__ import annotations

from typing import Any

import orjson
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Input

from edgelearn.tui import fmt
from edgelearn.tui.screens.base import DataScreen, fill_table

COLUMNS = ("time", "type", "role", "subject", "payload")
LIMIT = 300


def event_row(e: dict[str, Any], now: float) -> tuple[str, tuple]:
    payload = orjson.dumps(e.get("payload") or {}, default=str).decode()
    return str(e["id"]), (fmt.clock_time(e.get("ts"), now), Text(e.get("type") or ""), Text(e.get("role") or ""),
                          Text(fmt.short(e.get("subject"), 16)), Text(fmt.short(payload, 60)))


class EventsScreen(DataScreen):
    MODE = "events"
    BINDINGS = [
        Binding("slash,f", "focus_filters", "Filter"),
        Binding("c", "clear_filters", "Clear filters"),
        Binding("escape", "focus_table", "Table", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.type_prefix: str | None = None
        self.role: str | None = None

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="event-filters"):
            yield Input(placeholder="type prefix (model., loop., run.)", id="e-type", compact=True)
            yield Input(placeholder="role", id="e-role", compact=True)
        yield DataTable(id="events", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns(*COLUMNS)
        table.focus()
        super().on_mount()

    def fetch(self, source: Any) -> list[dict[str, Any]]:
        return source.events(type=self.type_prefix, role=self.role, limit=LIMIT)

    def show(self, events: list[dict[str, Any]]) -> None:
        now = self.app.clock()
        table = self.query_one(DataTable)
        fill_table(table, [event_row(e, now) for e in events])
        shown = " · ".join(x for x in (self.type_prefix, self.role) if x)
        table.border_title = f"{len(events)} events" + (f" · {shown}" if shown else "")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.type_prefix = self.query_one("#e-type", Input).value.strip() or None
        self.role = self.query_one("#e-role", Input).value.strip() or None
        self.query_one(DataTable).focus()
        self.reload()

    def action_focus_filters(self) -> None:
        self.query_one("#e-type", Input).focus()

    def action_focus_table(self) -> None:
        self.query_one(DataTable).focus()

    def action_clear_filters(self) -> None:
        for field in self.query(Input):
            field.value = ""
        self.type_prefix = self.role = None
        self.reload()
