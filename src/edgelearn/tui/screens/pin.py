"""The dialog behind the dashboard's pin key: choose a role's independence level (or unpin it)
and say why, as rollback's confirmation asks."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Select, Static

UNPIN = "unpin"
DEFAULT_SHARES = (0.2, 0.5, 0.8, 0.95)


def level_label(level: int, shares: tuple[float, ...] | list[float]) -> str:
    if level == 0:
        return "0 · teacher only"
    share = shares[level - 1] if len(shares) >= level else DEFAULT_SHARES[level - 1]
    return f"{level} · {share:.0%} of eligible requests local"


class PinScreen(ModalScreen[tuple[int | None, str] | None]):
    """Dismisses with (level, reason), (None, reason) to unpin, or None (cancelled)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, role: dict[str, Any]) -> None:
        super().__init__()
        self.role = role
        self.pinned = role.get("pin")

    def _options(self) -> list[tuple[str, Any]]:
        shares = self.role.get("shares") or DEFAULT_SHARES
        options: list[tuple[str, Any]] = [(level_label(level, shares), level) for level in range(5)]
        if self.pinned is not None:
            options.append(("unpin · back to the rule, per cluster", UNPIN))
        return options

    def _default(self) -> Any:
        if self.pinned is not None:
            return self.pinned
        # the lowest level any cluster is at: pinning never jumps a cluster up unasked
        return min((c["level"] for c in self.role.get("clusters") or []), default=0)

    def compose(self) -> ComposeResult:
        name = self.role["role"]
        now = f"pinned at level {self.pinned}" if self.pinned is not None else "levels set by the rule per cluster"
        with Vertical(id="dialog"):
            yield Static(f"Pin the level of {name}?", id="dialog-title", markup=False)
            yield Static(f"{name} ({now}). A pin routes every task cluster at one level until unpinned; "
                         "levels stop moving meanwhile.", id="dialog-message", markup=False)
            yield Select(self._options(), value=self._default(), allow_blank=False, id="level")
            yield Input("from the TUI", placeholder="reason (kept in the event log)", id="reason")
            with Horizontal(id="dialog-buttons"):
                yield Button("Pin", id="confirm", variant="warning")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#level", Select).focus()

    def on_select_changed(self, event: Select.Changed) -> None:
        self.query_one("#confirm", Button).label = "Unpin" if event.value == UNPIN else "Pin"

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._confirm()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "confirm":
            self._confirm()
        else:
            self.dismiss(None)

    def _confirm(self) -> None:
        reason = self.query_one("#reason", Input).value.strip()
        if not reason:
            self.notify("say why: the reason goes into the event log", severity="warning")
            return
        value = self.query_one("#level", Select).value
        self.dismiss((None if value == UNPIN else int(value), reason))

    def action_cancel(self) -> None:
        self.dismiss(None)
