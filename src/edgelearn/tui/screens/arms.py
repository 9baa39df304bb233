"""Arms: the prompt and model variants each role's bandit chooses from, with their evidence."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import DataTable

from edgelearn.tui import fmt
from edgelearn.tui.screens.base import DataScreen, fill_table

COLUMNS = ("role", "kind", "variant", "on", "pulls", "rewarded", "mean", "95% interval")


def arm_row(arm: dict[str, Any]) -> tuple[str, tuple]:
    low, high = arm.get("low"), arm.get("high")
    interval = f"{low:.2f}–{high:.2f}" if low is not None and high is not None else fmt.NA
    key = f"{arm['role']}/{arm['kind']}/{arm['variant']}"
    return key, (Text(arm["role"]), arm["kind"], Text(fmt.short(arm["variant"], 24)),
                 "yes" if arm.get("enabled") else Text("no", "dim"),
                 Text(fmt.count(arm.get("pulls")), justify="right"),
                 Text(fmt.count(arm.get("rewarded")), justify="right"),
                 Text(fmt.num(arm.get("mean")), justify="right"), interval)


class ArmsScreen(DataScreen):
    MODE = "arms"

    def compose_body(self) -> ComposeResult:
        yield DataTable(id="arms", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns(*COLUMNS)
        table.border_title = "bandit arms · mean reward with a 95% interval"
        table.focus()
        super().on_mount()

    def fetch(self, source: Any) -> list[dict[str, Any]]:
        return source.arms()

    def show(self, arms: list[dict[str, Any]]) -> None:
        fill_table(self.query_one(DataTable), [arm_row(a) for a in arms])
