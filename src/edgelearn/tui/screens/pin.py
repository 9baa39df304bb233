"""The dialog behind the dashboard's pin key: choose a role's independence level (or unpin it)
and say why, as rollback's confirmation asks."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.widgets import Button, Select

from edgelearn.tui.screens.confirm import ConfirmScreen

UNPIN = "unpin"
DEFAULT_SHARES = (0.2, 0.5, 0.8, 0.95)


def level_label(level: int, shares: tuple[float, ...] | list[float]) -> str:
    if level == 0:
        return "0 · teacher only"
    share = shares[level - 1] if len(shares) >= level else DEFAULT_SHARES[level - 1]
    return f"{level} · {share:.0%} of eligible requests local"


class PinScreen(ConfirmScreen):
    """Dismisses with (level, reason), (None, reason) to unpin, or None (cancelled)."""

    def __init__(self, role: dict[str, Any]) -> None:
        self.role = role
        self.pinned = role.get("pin")
        name = role["role"]
        now = f"pinned at level {self.pinned}" if self.pinned is not None else "levels set by the rule per cluster"
        super().__init__(f"Pin the level of {name}?",
                         f"{name} ({now}). A pin routes every task cluster at one level until unpinned; "
                         "levels stop moving meanwhile.", confirm="Pin", reason="from the TUI", variant="warning")

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

    def fields(self) -> ComposeResult:
        yield Select(self._options(), value=self._default(), allow_blank=False, id="level")

    def on_select_changed(self, event: Select.Changed) -> None:
        self.query_one("#confirm", Button).label = "Unpin" if event.value == UNPIN else "Pin"

    def result(self, reason: str) -> tuple[int | None, str]:
        value = self.query_one("#level", Select).value
        return None if value == UNPIN else int(value), reason
