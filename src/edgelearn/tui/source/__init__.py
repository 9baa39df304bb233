"""Where the TUI gets its data: the one place in the TUI that touches the rest of edgelearn.

Screens ask a ``DataSource`` for plain JSON-like dicts. ``ClientSource`` answers through a
public client, so the same screens run in-process (``edgelearn.open``, or a client over the
runtime the TUI was opened with), over a bare store file, or attached to a runtime that already
serves (``edgelearn.connect``). Calls block; the app runs them on its I/O threads, and their
errors (``edgelearn.errors``) become notifications.
"""

from edgelearn.tui.source.base import DataSource, RunFilter
from edgelearn.tui.source.client import ClientSource

__all__ = ["ClientSource", "DataSource", "RunFilter"]
