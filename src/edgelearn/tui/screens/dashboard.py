"""Dashboard: the loop at a glance (stage, throughput, champions, progress, job, trend, log).

Three reads, one after the other: the cheap one (throughput, trend, activity) paints first; then
the loop's status (champions, thresholds, experiments, independence), which costs more on a big
store, fills the roles table; then the roles with a teacher fill the independence panel (hidden,
and its pin key too, while no role has one). One after the other, so the first paint does not
share the cores.
"""

from __future__ import annotations

import time
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical

from edgelearn.tui import fmt
from edgelearn.tui.screens.base import DataScreen
from edgelearn.tui.screens.pin import PinScreen
from edgelearn.tui.widgets.dashboard import JobPanel, LogPanel, RewardTrend, RolesTable, Summary
from edgelearn.tui.widgets.independence import IndependencePanel

# event types worth a line in the activity log when no demo writes its own
ACTIVITY = ("loop.", "model.", "job.", "experiment.", "drift.", "dataset.", "config.")


class DashboardScreen(DataScreen):
    MODE = "dashboard"
    BINDINGS = [Binding("l", "pin_level", "Pin level")]

    def __init__(self) -> None:
        super().__init__()
        self.status: dict[str, Any] = {}
        self.overview: dict[str, Any] = {}
        self.status_at: float | None = None  # perf_counter of the first status shown (bench/tui.py)
        self.teachers = False  # whether any role has a teacher (the pin key shows only then)

    def compose_body(self) -> ComposeResult:
        yield Summary(id="summary")
        yield RolesTable("loading…", id="roles")
        yield IndependencePanel(id="independence")
        with Horizontal(id="lower"):
            yield RewardTrend(id="trend")
            with Vertical(id="side"):
                yield JobPanel(id="job")
                yield LogPanel(id="log", max_lines=500)

    def on_mount(self) -> None:
        self.query_one("#roles").border_title = "roles"
        self.query_one("#job").border_title = "training job"
        self.query_one("#log").border_title = "log" if self.app.background else "activity"
        super().on_mount()
        self.set_interval(0.25, self._flush_log)

    def _flush_log(self) -> None:
        if self.app.background is not None:
            self.query_one(LogPanel).show_lines(list(self.app.log_sink.lines))

    def after_load(self) -> None:
        self._load_status()

    # the cheap part -------------------------------------------------------------------------
    def fetch(self, source: Any) -> dict[str, Any]:
        now = self.app.clock()
        overview = source.overview(now)
        events = source.events(limit=60) if self.app.background is None else None
        return {"overview": overview, "events": events, "now": now}

    def show(self, data: dict[str, Any]) -> None:
        self.overview = data["overview"]
        self.query_one(Summary).update_from(self.status, self.overview)
        self.query_one(RewardTrend).update_from(self.overview)
        if data["events"] is not None:
            lines = [f"{fmt.clock_time(e['ts'], data['now'])} {e['type']} {e.get('subject') or ''}".rstrip()
                     for e in reversed(data["events"]) if e["type"].startswith(ACTIVITY)]
            self.query_one(LogPanel).show_lines(lines)

    # the loop's status ----------------------------------------------------------------------
    @work(exclusive=True, group="status", exit_on_error=False)
    async def _load_status(self) -> None:
        try:
            status = await self.app.fetch(self.app.source.learning_status)
        except Exception as exc:  # noqa: BLE001 - shown as a notification; the rest of the dashboard stays
            self.app.report("learning status", exc)
            if not self.status:
                self.query_one(RolesTable).update(Text("learning status: n/a (see the notification)", "dim"))
            return
        self.app.report("learning status", None)
        self.status = status
        self.query_one(Summary).update_from(status, self.overview)
        self.query_one(RolesTable).update_from(status)
        self.query_one(JobPanel).update_from(status)
        if self.status_at is None:
            self.status_at = time.perf_counter()
        self._load_independence()

    # independence ---------------------------------------------------------------------------
    @work(exclusive=True, group="independence", exit_on_error=False)
    async def _load_independence(self) -> None:
        window = float(self.overview.get("window_s") or 3600)
        try:
            roles = await self.app.fetch(self.app.source.independence, self.app.clock(), window)
        except Exception as exc:  # noqa: BLE001 - shown as a notification; the panel keeps what it had
            self.app.report("independence", exc)
            return
        self.app.report("independence", None)
        self.query_one(IndependencePanel).update_from(roles, window)
        if self.teachers != bool(roles):
            self.teachers = bool(roles)
            self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "pin_level":
            return self.teachers  # hidden from the footer while no role has a teacher
        return True

    def action_pin_level(self) -> None:
        role = self.query_one(IndependencePanel).selected()
        if role is None:
            return
        name = role["role"]

        def done(choice: tuple[int | None, str] | None) -> None:
            if choice is None:
                return
            level, reason = choice
            if level is None:
                self.act("unpin level", self.app.source.unpin_level, name, reason)
            else:
                self.act("pin level", self.app.source.pin_level, name, level, reason,
                         done=f"{name}: pinned at level {level}")

        self.app.push_screen(PinScreen(role), done)

    def after_action(self, what: str, result: Any) -> None:
        if what == "unpin level" and result is not None:
            self.app.notify(f"{result['role']}: " + ("unpinned; the rule sets each cluster's level again"
                                                     if result["unpinned"] else "was not pinned"),
                            title=what, markup=False)
