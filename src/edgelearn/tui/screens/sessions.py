"""Sessions: the agent's episodes with their outcome, the review queue, and the failure patterns.

Three tables, ``tab`` between them: sessions (outcome, reward, runs), the review queue (the
sessions whose verdict would teach the most, within today's budget), and the failure patterns.
``a`` / ``r`` accept or reject the whole session under the cursor (sessions or review table);
``enter`` shows the session's trajectory: its runs in order with their rewards.

Reads and verdicts go through the app's ``ClientSource`` (the client's session methods), in
this process or over HTTP alike.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from edgelearn.tui import fmt
from edgelearn.tui.screens.base import DataScreen, fill_table, selected_key

SESSION_COLUMNS = ("session", "agent", "project", "runs", "reward", "outcome", "state")
REVIEW_COLUMNS = ("session", "score", "reward", "why", "task")
PATTERN_COLUMNS = ("size", "failing signal", "example")
LIMIT = 200


def _outcome(outcomes: dict[str, float]) -> Text:
    if not outcomes:
        return Text("–", style="dim")
    parts = Text()
    for kind, value in sorted(outcomes.items()):
        parts.append(f"{kind} {value:.2f} ", style="green" if value >= 0.5 else "red")
    return parts


def session_row(s: dict[str, Any]) -> tuple[str, tuple]:
    state = Text("open", style="cyan") if s.get("open") else Text(s.get("end_reason") or "ended", style="dim")
    return s["id"], (Text(fmt.short(s["id"], 24)), Text(s.get("agent") or "–"),
                     Text(fmt.short(s.get("project") or "–", 28)), str(s.get("run_count", 0)),
                     fmt.num(s.get("reward"), 2),
                     _outcome(s.get("outcomes") or {}), state)


def review_row(item: dict[str, Any]) -> tuple[str, tuple]:
    why = max(("uncertain", item["uncertainty"]), ("new cluster", item["diversity"]), ("failed", item["failure"]),
              key=lambda kv: kv[1])[0]
    return item["id"], (Text(fmt.short(item["id"], 24)), f"{item['score']:.2f}", fmt.num(item.get("reward"), 2),
                        why, Text(fmt.short(item.get("task") or "", 40)))


def pattern_row(i: int, p: dict[str, Any]) -> tuple[str, tuple]:
    return str(i), (str(p["size"]), Text(p.get("failing_signal") or "–", style="red"),
                    Text(fmt.short(p.get("example") or "", 60)))


class SessionsScreen(DataScreen):
    MODE = "sessions"
    BINDINGS = [
        Binding("a", "verdict('accept')", "Accept session"),
        Binding("r", "verdict('reject')", "Reject session"),
        Binding("enter", "trajectory", "Trajectory", priority=True),
        Binding("tab", "next_table", "Next table", show=False),
    ]

    def compose_body(self) -> ComposeResult:
        with Vertical(id="sessions-body"):
            yield DataTable(id="sessions", cursor_type="row", zebra_stripes=True)
            yield DataTable(id="review", cursor_type="row", zebra_stripes=True)
            yield DataTable(id="patterns", cursor_type="row", zebra_stripes=True)
            yield Static("", id="trajectory")

    def on_mount(self) -> None:
        self.query_one("#sessions", DataTable).add_columns(*SESSION_COLUMNS)
        self.query_one("#review", DataTable).add_columns(*REVIEW_COLUMNS)
        self.query_one("#patterns", DataTable).add_columns(*PATTERN_COLUMNS)
        self.query_one("#sessions", DataTable).focus()
        super().on_mount()

    def fetch(self, source: Any) -> dict[str, Any]:
        return source.sessions_overview(LIMIT)

    def show(self, data: dict[str, Any]) -> None:
        sessions = self.query_one("#sessions", DataTable)
        fill_table(sessions, [session_row(s) for s in data["sessions"]])
        sessions.border_title = f"{len(data['sessions'])} sessions"
        review = self.query_one("#review", DataTable)
        queue = data["review"]
        fill_table(review, [review_row(x) for x in queue["sessions"]])
        review.border_title = f"review queue · {queue['left_today']} of {queue['budget']} left today"
        patterns = self.query_one("#patterns", DataTable)
        pats = data["patterns"]
        fill_table(patterns, [pattern_row(i, p) for i, p in enumerate(pats["patterns"])])
        patterns.border_title = f"failure patterns · {pats['failed']} failed sessions"

    def _current(self) -> str | None:
        table = self.focused if isinstance(self.focused, DataTable) else None
        if table is None or table.id not in ("sessions", "review"):
            return None
        return selected_key(table)

    def action_verdict(self, kind: str) -> None:
        session_id = self._current()
        if session_id is None:
            return
        self.act("session verdict", self.app.source.session_verdict, session_id, kind, done=f"{kind}ed {session_id}")

    def action_trajectory(self) -> None:
        session_id = self._current()
        if session_id is not None:
            self._trajectory(session_id)

    def action_next_table(self) -> None:
        order = ["sessions", "review", "patterns"]
        current = self.focused.id if isinstance(self.focused, DataTable) else None
        nxt = order[(order.index(current) + 1) % 3] if current in order else "sessions"
        self.query_one(f"#{nxt}", DataTable).focus()

    @work(group="detail", exclusive=True, exit_on_error=False)
    async def _trajectory(self, session_id: str) -> None:
        try:
            detail = await self.app.fetch(self.app.source.session, session_id)
        except Exception as exc:  # noqa: BLE001 - shown as a notification
            self.app.report("session", exc, repeat=True)
            return
        lines = [f"[b]{session_id}[/b] · {detail.get('agent') or '–'} · reward {fmt.num(detail.get('reward'), 2)}"]
        for r in detail["runs"]:
            lines.append(f"  {fmt.num(r.get('reward'), 2):>5}  {r.get('role')}  {fmt.short(r.get('task') or '', 60)}")
        self.query_one("#trajectory", Static).update(Text.from_markup(lines[0]) + Text("\n" + "\n".join(lines[1:])))
