"""A confirmation dialog with a reason: promote, roll back and retire ask before they act (pinning
an independence level adds a choice to it: ``pin.py``)."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static


class ConfirmScreen(ModalScreen[Any]):
    """Dismisses with the reason typed (confirmed) or None (cancelled). A subclass adds its own
    fields above the reason (``fields``) and dismisses with what they hold (``result``)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, message: str, *, confirm: str = "Confirm", reason: str = "",
                 danger: bool = False, variant: str | None = None) -> None:
        super().__init__()
        self.title_text, self.message, self.confirm_label = title, message, confirm
        self.reason, self.variant = reason, variant or ("error" if danger else "primary")

    def fields(self) -> ComposeResult:
        """What the dialog asks besides the reason (nothing here)."""
        yield from ()

    def result(self, reason: str) -> Any:
        """What the dialog dismisses with once confirmed."""
        return reason

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(self.title_text, id="dialog-title", markup=False)
            yield Static(self.message, id="dialog-message", markup=False)
            yield from self.fields()
            yield Input(self.reason, placeholder="reason (kept in the event log)", id="reason")
            with Horizontal(id="dialog-buttons"):
                yield Button(self.confirm_label, id="confirm", variant=self.variant)
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#dialog Input, #dialog Select").focus()  # the first field

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
        self.dismiss(self.result(reason))

    def action_cancel(self) -> None:
        self.dismiss(None)
