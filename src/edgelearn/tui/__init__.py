"""The Textual TUI: watch and steer the learning loop.

``run_tui(runtime, title=..., background=fn)`` opens it over a runtime in this process;
``edgelearn tui`` (or ``edgelearn`` alone) opens it from the command line. Imported lazily so
that ``import edgelearn.tui`` does not load Textual.
"""

from __future__ import annotations

from typing import Any


def run_tui(runtime: Any, **options: Any) -> int:
    """Open the TUI over ``runtime``; see ``edgelearn.tui.app.run_tui``."""
    from edgelearn.tui.app import run_tui as run

    return run(runtime, **options)


__all__ = ["run_tui"]
