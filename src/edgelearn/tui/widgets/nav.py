"""The navigation bar at the top of every screen: the screens and their keys, clickable."""

from __future__ import annotations

from textual.widgets import Static

# mode name → (key, label), in the order of the bar
SCREENS: dict[str, tuple[str, str]] = {
    "dashboard": ("1", "Dashboard"), "runs": ("2", "Runs"), "arms": ("3", "Arms"), "models": ("4", "Models"),
    "experiments": ("5", "Experiments"), "events": ("6", "Events"), "config": ("7", "Config"),
    "sessions": ("8", "Sessions"),
}


def nav_markup(current: str) -> str:
    # one space between entries: all eight fit an 80-column terminal (79 with the padding)
    parts = []
    for mode, (key, label) in SCREENS.items():
        style = "reverse b " if mode == current else ""
        parts.append(f"[{style}@click=app.switch_mode('{mode}')][b]{key}[/b] {label}[/]")
    return " ".join(parts)


class NavBar(Static):
    """``1 Dashboard 2 Runs ...`` with the current screen highlighted; a click switches."""

    DEFAULT_CSS = """
    NavBar {
        height: 1; background: $panel; padding: 0 1;
        link-style: none; link-color: $text; link-background: $panel;
        link-style-hover: bold; link-color-hover: $text; link-background-hover: $primary-darken-2;
    }
    """

    def __init__(self, current: str) -> None:
        super().__init__(nav_markup(current), id="nav")
