"""What every data screen shares: the navigation bar, the footer, and loading without blocking.

A screen says what to read (``fetch``, run on the app's I/O threads with the source) and how
to show it (``show``, on the UI thread). ``reload`` is called on mount, when the screen comes
back, and every ``app.refresh_s`` while it is the one on display; a newer reload cancels an
older one still waiting. ``mounted_at`` / ``first_data_at`` (perf_counter) time the first paint
with data (bench/tui.py reads them).
"""

from __future__ import annotations

import time
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import DataTable, Footer

from edgelearn.tui.widgets.nav import NavBar


class DataScreen(Screen):
    """A screen that reads from the app's data source and refreshes itself."""

    MODE = ""  # the app mode this screen is (for the navigation bar)
    TITLE_WHERE = ""  # how errors of this screen are titled

    def __init__(self) -> None:
        super().__init__()
        self.loads = 0
        self.mounted_at: float | None = None
        self.first_data_at: float | None = None

    def compose(self) -> ComposeResult:
        yield NavBar(self.MODE)
        yield from self.compose_body()
        yield Footer()

    def compose_body(self) -> ComposeResult:
        yield from ()

    def on_mount(self) -> None:
        self.mounted_at = time.perf_counter()
        self.reload()
        self.set_interval(self.app.refresh_s, self._tick)

    def on_screen_resume(self) -> None:
        if self.loads:
            self.reload()

    def _tick(self) -> None:
        if self.is_current:
            self.reload()

    def reload(self) -> None:
        """Read again in the background (the screen stays responsive meanwhile)."""
        self._load()

    @work(exclusive=True, group="load", exit_on_error=False)
    async def _load(self) -> None:
        where = self.TITLE_WHERE or self.MODE
        try:
            data = await self.app.fetch(self.fetch, self.app.source)
            problem = self.show(data)
        except Exception as exc:  # noqa: BLE001 - shown as a notification, never a traceback
            self.app.report(where, exc)
        else:
            self.app.report(where, problem)
            self.loads += 1
            if self.first_data_at is None:
                self.first_data_at = time.perf_counter()
        self.after_load()

    def after_load(self) -> None:
        """Called after every load, good or failed (a screen may chain a slower read here)."""

    def fetch(self, source: Any) -> Any:
        """Read what the screen shows (runs on an I/O thread: touch no widget here)."""
        return None

    def show(self, data: Any) -> BaseException | None:
        """Put ``data`` on screen (UI thread); may return an error to report beside what it showed."""
        return None

    @work(group="action", exit_on_error=False)
    async def act(self, what: str, fn: Any, *args: Any, done: str | None = None) -> Any:
        """Run an action of the source (promote, toggle, ...) in the background; notify how it went."""
        try:
            result = await self.app.fetch(fn, *args)
        except Exception as exc:  # noqa: BLE001 - shown as a notification
            self.app.report(what, exc, repeat=True)
            self.after_action(what, None)
            self.reload()  # show what is true now (e.g. put a refused toggle back)
            return None
        if done:
            self.app.notify(done, title=what, markup=False)
        self.after_action(what, result)
        self.reload()
        return result

    def after_action(self, what: str, result: Any) -> None:
        """Hook for a screen to react to an action's result (None when it failed)."""


def fill_table(table: DataTable, rows: list[tuple[str, tuple]]) -> bool:
    """Replace a table's rows (key, cells), keeping the cursor on the same row; False if unchanged."""
    previous = getattr(table, "_edgelearn_rows", None)
    if previous == rows:
        return False
    selected = None
    if table.row_count and previous:
        row = table.cursor_row
        if 0 <= row < len(previous):
            selected = previous[row][0]
    table.clear()
    for key, cells in rows:
        table.add_row(*cells, key=key)
    table._edgelearn_rows = rows
    keys = [k for k, _ in rows]
    if selected in keys:
        table.move_cursor(row=keys.index(selected), animate=False)
    return True


def selected_key(table: DataTable) -> str | None:
    """The key of the row under the cursor, or None for an empty table."""
    rows = getattr(table, "_edgelearn_rows", None) or []
    row = table.cursor_row
    return rows[row][0] if 0 <= row < len(rows) else None
