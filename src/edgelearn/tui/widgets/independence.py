"""The dashboard's independence panel: per role with a teacher its level, local share and cost
saved; for the selected role a chart of both over the dashboard's window and its clusters.

Hidden while no role has a teacher. Takes the ``independence`` dicts of the data source
(``Independence.to_dict()``) and reads nothing itself.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from edgelearn.tui import derive, fmt
from edgelearn.tui.screens.base import fill_table, selected_key

COLUMNS = ("role", "teacher", "level", "local", "requests", "saved")


def level_text(role: dict[str, Any]) -> Text:
    """``3 pinned``, ``2`` when every cluster is at 2, ``0-3`` when they differ."""
    if role.get("pin") is not None:
        return Text(f"{role['pin']} pinned", "bold yellow")
    levels = sorted({c["level"] for c in role.get("clusters") or []}) or [0]
    return Text(str(levels[0]) if len(levels) == 1 else f"{levels[0]}-{levels[-1]}",
                "bold green" if levels[0] > 0 else "")


def role_row(role: dict[str, Any]) -> tuple[str, tuple]:
    return role["role"], (Text(role["role"]), Text(role.get("teacher") or ""), level_text(role),
                          fmt.pct(role.get("local_share")), fmt.count(role.get("requests")),
                          fmt.money(role.get("cost_saved")))


def cluster_name(cluster: int) -> str:
    return "n/c" if cluster < 0 else str(cluster)  # -1: tasks not clustered (yet)


def detail_text(role: dict[str, Any], window_s: float) -> Text:
    """Two lines: the charts (local share, cost saved so far) and the clusters with their evidence."""
    series = (role.get("series") or [])[-derive.SPARK_BUCKETS:]
    shares = [p.get("local_share") for p in series]
    saved = derive.cumulative(p.get("cost_saved") for p in series)
    served = sum(p.get("requests") or 0 for p in series)
    local = sum(p.get("local") or 0 for p in series)
    priced = any(p.get("cost_saved") is not None for p in series)
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append("local ", "dim")
    text.append(fmt.spark(shares), "cyan")
    text.append(f" {fmt.pct(local / served if served else None)}")
    text.append("  saved ", "dim")
    text.append(fmt.spark(saved, saved[-1] if saved and saved[-1] > 0 else 1.0), "green")
    text.append(f" {fmt.money(saved[-1] if priced and saved else None)}")
    text.append(f"  {fmt.duration(window_s)}\n", "dim")
    clusters = role.get("clusters") or []
    if not clusters:
        text.append("no request routed yet: every cluster starts at level 0 (teacher only)", "dim")
        return text
    for c in clusters:
        text.append(f"{cluster_name(c['cluster'])}:", "dim")
        text.append(f"L{c['level']} ", "bold" if c["level"] else "")
    local_r = [c.get("local_reward") for c in clusters if c.get("local_reward") is not None]
    teacher_r = [c.get("teacher_reward") for c in clusters if c.get("teacher_reward") is not None]
    text.append("· reward local ", "dim")
    text.append(fmt.num(sum(local_r) / len(local_r) if local_r else None))
    text.append(" teacher ", "dim")
    text.append(fmt.num(sum(teacher_r) / len(teacher_r) if teacher_r else None))
    text.append(" · escapes ", "dim")
    text.append(fmt.count(role.get("escapes")))
    return text


class IndependencePanel(Vertical):
    """The roles with a teacher (a table with a cursor: the pin key acts on its row) and the
    selected role's charts and clusters."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.roles: dict[str, dict[str, Any]] = {}
        self.window_s: float = 3600.0

    def compose(self) -> ComposeResult:
        table = DataTable(id="indep-table", cursor_type="row", zebra_stripes=False)
        table.can_focus = False  # hidden until a role has a teacher: the screen's first focus goes elsewhere
        yield table
        yield Static(id="indep-detail")

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns(*COLUMNS)
        self.border_title = "independence"

    def update_from(self, roles: list[dict[str, Any]], window_s: float) -> None:
        self.roles = {r["role"]: r for r in roles}
        self.window_s = window_s
        self.display = self.query_one(DataTable).can_focus = bool(roles)
        fill_table(self.query_one(DataTable), [role_row(r) for r in roles])
        self._describe()

    def selected(self) -> dict[str, Any] | None:
        key = selected_key(self.query_one(DataTable))
        return self.roles.get(key) if key else None

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._describe()

    def _describe(self) -> None:
        role = self.selected()
        self.query_one("#indep-detail", Static).update(detail_text(role, self.window_s) if role else "")
