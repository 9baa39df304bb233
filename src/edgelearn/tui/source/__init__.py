"""Where the TUI gets its data: the one place in the TUI that touches the rest of edgelearn.

Screens ask a ``DataSource`` for plain JSON-like dicts, so the same screens run in-process
(``LocalSource`` over a runtime, or over a bare store) or attached to a runtime that already
serves (``HttpSource`` over its HTTP API). Calls block; the app runs them on its I/O threads.

What a source cannot do raises ``Unavailable`` (the app shows it as a notification). A
repository method another stage has not written yet reads as None ("n/a" on screen), never as
a crash: ``local._call`` is the only place that forgives a missing method.
"""

from edgelearn.tui.source.base import DataSource, RunFilter, Unavailable, Unreachable, plain
from edgelearn.tui.source.http import HttpSource, probe
from edgelearn.tui.source.local import LocalSource

__all__ = ["DataSource", "HttpSource", "LocalSource", "RunFilter", "Unavailable", "Unreachable", "plain", "probe"]
