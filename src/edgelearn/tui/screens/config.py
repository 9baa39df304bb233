"""Config: the automation toggles (written to the config file) and the effective settings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Label, Static, Switch

from edgelearn.tui.screens.base import DataScreen

TOGGLES = (("auto_export", "e", "auto-export", "curate a dataset when enough good runs exist"),
           ("auto_train", "t", "auto-train", "train an adapter when a dataset is large enough"),
           ("auto_deploy", "d", "auto-deploy", "register a gated adapter and start an experiment"))


def settings_text(settings: dict[str, Any]) -> Text:
    """The effective settings, TOML-like, read-only."""
    text = Text()

    def emit(node: dict[str, Any], prefix: str) -> None:
        scalars = {k: v for k, v in node.items() if not isinstance(v, dict)}
        if scalars:
            text.append(f"[{prefix}]\n", "bold")
            for key, value in scalars.items():
                text.append(key, "cyan")
                text.append(" = (unset)\n" if value is None else f" = {json.dumps(value)}\n")
        for key, value in node.items():
            if isinstance(value, dict):
                emit(value, f"{prefix}.{key}" if prefix else key)

    emit(settings, "")
    return text


def display_path(path: str | None) -> str:
    """A path with the user's home shortened to ``~``."""
    if not path:
        return "no config file"
    home = str(Path.home())
    return "~" + path[len(home):] if home != "/" and path.startswith(home + "/") else path


class ConfigScreen(DataScreen):
    MODE = "config"
    BINDINGS = [Binding(key, f"toggle('{name}')", label) for name, key, label, _ in TOGGLES]

    def __init__(self) -> None:
        super().__init__()
        self.toggles: dict[str, bool] = {}

    def compose_body(self) -> ComposeResult:
        with Vertical(id="toggles"):
            for name, key, label, help_text in TOGGLES:
                with Horizontal(classes="toggle"):
                    yield Switch(id=f"sw-{name}")
                    yield Label(f"[b]{label}[/b] ({key})  [dim]{help_text}[/]", classes="switch-label")
        yield Static(id="config-file")
        with VerticalScroll(id="effective"):
            yield Static(id="settings")

    def on_mount(self) -> None:
        self.query_one("#effective").border_title = "effective config (read-only)"
        super().on_mount()

    def fetch(self, source: Any) -> dict[str, Any]:
        return source.config()

    def show(self, config: dict[str, Any]) -> None:
        self.toggles = dict(config.get("toggles") or {})
        for name, on in self.toggles.items():
            switch = self.query_one(f"#sw-{name}", Switch)
            with switch.prevent(Switch.Changed):
                switch.value = bool(on)
        self.query_one("#config-file", Static).update(Text(f"written to {display_path(config.get('file'))}; "
                                                           "the runtime reloads it", "dim"))
        self.query_one("#settings", Static).update(settings_text(config.get("settings") or {}))

    def on_switch_changed(self, event: Switch.Changed) -> None:
        event.stop()
        name = (event.switch.id or "")[3:]
        self._set(name, event.value)

    def action_toggle(self, name: str) -> None:
        self._set(name, not self.toggles.get(name, False))

    def _set(self, name: str, value: bool) -> None:
        self.toggles[name] = value
        switch = self.query_one(f"#sw-{name}", Switch)
        with switch.prevent(Switch.Changed):
            switch.value = value
        self.act(f"toggle {name}", self.app.source.set_toggle, name, value)

    def after_action(self, what: str, result: Any) -> None:
        if result is None:
            return  # refused (e.g. not over HTTP): the reload below puts the switch back
        if result.get("effective") != result.get("value"):
            self.app.notify(f"{result['key']} = {str(result['value']).lower()} written to {result['file']}, but the "
                            "environment (EDGELEARN_*) overrides it", title="config", severity="warning",
                            markup=False)
        else:
            self.app.notify(f"{result['key']} = {str(result['value']).lower()}", title="config", markup=False)
