"""Dashboard: the loop at a glance (stage, throughput, champions, progress, job, trend, log).

Two reads, one after the other: the cheap one (throughput, trend, activity) paints first; then
the loop's status (champions, thresholds, experiments, independence), which costs more on a big
store, fills the roles table. One after the other, so the first paint does not share the cores.
"""

from __future__ import annotations

import time
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical

from edgelearn.tui import fmt
from edgelearn.tui.screens.base import DataScreen
from edgelearn.tui.widgets.dashboard import JobPanel, LogPanel, RewardTrend, RolesTable, Summary

# event types worth a line in the activity log when no demo writes its own
ACTIVITY = ("loop.", "model.", "job.", "experiment.", "drift.", "dataset.", "config.")


class DashboardScreen(DataScreen):
    MODE = "dashboard"

    def __init__(self) -> None:
        super().__init__()
        self.status: dict[str, Any] = {}
        self.overview: dict[str, Any] = {}
        self.status_at: float | None = None  # perf_counter of the first status shown (bench/tui.py)

    def compose_body(self) -> ComposeResult:
        yield Summary(id="summary")
        yield RolesTable("loading…", id="roles")
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
