"""Models: the registry per role with states, metrics and parity; promote, roll back, retire."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from edgelearn.tui import fmt
from edgelearn.tui.screens.base import DataScreen, fill_table, selected_key
from edgelearn.tui.screens.confirm import ConfirmScreen

COLUMNS = ("id", "role", "state", "created", "dataset", "parity", "metrics")
STATE_STYLE = {"champion": "bold green", "challenger": "yellow", "candidate": "cyan", "retired": "dim",
               "rolled_back": "red"}


def parity_checks(metrics: dict[str, Any]) -> dict[str, bool]:
    """The parity gate's verdict per artifact (``{"adapter": True, ...}``), from a bool or a dict."""
    parity = metrics.get("parity")
    if isinstance(parity, bool):
        return {"parity": parity}
    if not isinstance(parity, dict):
        return {}
    checks = {}
    for name, value in parity.items():
        ok = value.get("ok", value.get("passed")) if isinstance(value, dict) else value
        if isinstance(ok, bool):
            checks[name] = ok
    return checks


def parity_text(metrics: dict[str, Any]) -> Text:
    """``pass`` / ``FAIL`` over every artifact's parity check."""
    checks = parity_checks(metrics)
    if not checks:
        return Text(fmt.NA, "dim")
    return Text("pass", "green") if all(checks.values()) else Text("FAIL", "bold red")


def metrics_text(metrics: dict[str, Any], width: int = 36) -> str:
    """The scalar metrics, short: ``val_loss 1.23 eval 0.97``."""
    parts = [f"{k} {fmt.num(v)}" for k, v in metrics.items()
             if k != "parity" and isinstance(v, (int, float)) and not isinstance(v, bool)]
    return fmt.short(" ".join(parts), width)


def model_row(m: dict[str, Any], now: float) -> tuple[str, tuple]:
    metrics = m.get("metrics") or {}
    return m["id"], (Text(m["id"]), Text(m.get("role") or ""),
                     Text(m.get("state") or "", STATE_STYLE.get(m.get("state"), "")),
                     fmt.clock_time(m.get("created_at"), now), Text(m.get("dataset_version") or ""),
                     parity_text(metrics), Text(metrics_text(metrics)))


class ModelsScreen(DataScreen):
    MODE = "models"
    BINDINGS = [
        Binding("p", "promote", "Promote"),
        Binding("b", "rollback", "Roll back"),
        Binding("x", "retire", "Retire"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.models: dict[str, dict[str, Any]] = {}

    def compose_body(self) -> ComposeResult:
        yield DataTable(id="models", cursor_type="row", zebra_stripes=True)
        yield Static(id="model-detail")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns(*COLUMNS)
        table.border_title = "model registry"
        table.focus()
        super().on_mount()

    def fetch(self, source: Any) -> list[dict[str, Any]]:
        return source.models()

    def show(self, models: list[dict[str, Any]]) -> None:
        now = self.app.clock()
        self.models = {m["id"]: m for m in models}
        fill_table(self.query_one(DataTable), [model_row(m, now) for m in models])
        self._describe()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._describe()

    def _describe(self) -> None:
        model = self.selected()
        text = Text()
        if model is None:
            text.append("no model registered yet: the loop registers one after training", "dim")
        else:
            metrics = model.get("metrics") or {}
            text.append(f"{model['id']} ", "bold")
            text.append(f"{model.get('state')} · job {model.get('job_id') or fmt.NA} · "
                        f"ollama {model.get('ollama_name') or 'not registered'}\n")
            checks = parity_checks(metrics)
            if checks:
                text.append("parity ", "dim")
                text.append(" ".join(f"{k} {'ok' if ok else 'FAIL'}" for k, ok in checks.items()) + "  ")
            text.append(metrics_text(metrics, 120), "dim")
        self.query_one("#model-detail", Static).update(text)

    def selected(self) -> dict[str, Any] | None:
        key = selected_key(self.query_one(DataTable))
        return self.models.get(key) if key else None

    def _ask(self, title: str, message: str, confirm: str, then, *, danger: bool = False) -> None:
        def done(reason: str | None) -> None:
            if reason is not None:
                then(reason)

        self.app.push_screen(ConfirmScreen(title, message, confirm=confirm, reason="from the TUI", danger=danger),
                             done)

    def action_promote(self) -> None:
        model = self.selected()
        if model is None:
            return
        self._ask(f"Promote {model['id']}?",
                  f"{model['id']} becomes the champion of {model['role']}; the current champion is retired.",
                  "Promote", lambda reason: self.act("promote", self.app.source.promote, model["id"], reason,
                                                     done=f"{model['id']} is now champion of {model['role']}"))

    def action_retire(self) -> None:
        model = self.selected()
        if model is None:
            return
        self._ask(f"Retire {model['id']}?", f"{model['id']} stops serving {model['role']}.", "Retire",
                  lambda reason: self.act("retire", self.app.source.retire, model["id"], reason,
                                          done=f"{model['id']} retired"), danger=True)

    def action_rollback(self) -> None:
        model = self.selected()
        if model is None:
            return
        role = model["role"]
        champion = next((m["id"] for m in self.models.values()
                         if m.get("role") == role and m.get("state") == "champion"), None)
        if champion is None:
            self.app.notify(f"{role} has no champion to roll back", title="roll back", severity="warning",
                            markup=False)
            return
        self._ask(f"Roll back {role}?",
                  f"{champion} is marked rolled_back and the previous champion of {role} serves again "
                  "(the base model when there was none).", "Roll back",
                  lambda reason: self.act("roll back", self.app.source.rollback, role, reason), danger=True)

    def after_action(self, what: str, result: Any) -> None:
        if what == "roll back" and result is not None:
            restored = result.get("restored") or "base"
            self.app.notify(f"{result.get('role')}: rolled back; {restored} serves now", title=what, markup=False)
