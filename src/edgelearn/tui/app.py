"""The edgelearn TUI: one screen per stage of the loop, switched with the number keys.

``run_tui(runtime, title=..., background=fn)`` opens it over a runtime built in this process
(``edgelearn demo`` uses it); ``EdgelearnApp(source)`` over any ``DataSource`` (``edgelearn tui``
passes a ``ClientSource`` over ``edgelearn.connect`` when a runtime already serves). Every read and write runs on two I/O
threads of the app's own, so input never waits for the store or the network; errors become
notifications.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from textual.app import App
from textual.binding import Binding

from edgelearn.errors import EdgelearnError
from edgelearn.tui.screens.arms import ArmsScreen
from edgelearn.tui.screens.config import ConfigScreen
from edgelearn.tui.screens.dashboard import DashboardScreen
from edgelearn.tui.screens.events import EventsScreen
from edgelearn.tui.screens.experiments import ExperimentsScreen
from edgelearn.tui.screens.models import ModelsScreen
from edgelearn.tui.screens.runs import RunsScreen
from edgelearn.tui.screens.sessions import SessionsScreen
from edgelearn.tui.source import ClientSource, DataSource
from edgelearn.tui.widgets.nav import SCREENS

log = logging.getLogger(__name__)

Background = Callable[[Any, "LogSink"], None]


class LogSink:
    """The ``log`` a background function gets: ``log("text")`` adds a line to the dashboard's log.

    Safe to call from any thread. ``log.stopped`` is set when the TUI closes, so a long-running
    background function can end itself (``while not log.stopped.is_set(): ...``).
    """

    def __init__(self, clock: Callable[[], float] = time.time, size: int = 500) -> None:
        self.lines: deque[str] = deque(maxlen=size)
        self.stopped = threading.Event()
        self._clock = clock

    def __call__(self, line: str) -> None:
        stamp = time.strftime("%H:%M:%S", time.localtime(self._clock()))
        for part in str(line).splitlines() or [""]:
            self.lines.append(f"{stamp} {part}")


class _LogHandler(logging.Handler):
    """Warnings of the runtime's threads go to the log panel, not over the screen."""

    def __init__(self, sink: LogSink) -> None:
        super().__init__(logging.WARNING)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.sink(f"{record.levelname.lower()} {record.name}: {record.getMessage()}")
        except Exception:  # noqa: BLE001 - logging must never raise
            pass


class EdgelearnApp(App[int]):
    """The TUI over a ``DataSource``."""

    CSS_PATH = "app.tcss"
    TITLE = "edgelearn"
    MODES = {"dashboard": DashboardScreen, "runs": RunsScreen, "arms": ArmsScreen, "models": ModelsScreen,
             "experiments": ExperimentsScreen, "events": EventsScreen, "config": ConfigScreen,
             "sessions": SessionsScreen}
    DEFAULT_MODE = "dashboard"
    BINDINGS = [
        *(Binding(key, f"switch_mode('{mode}')", label, show=False) for mode, (key, label) in SCREENS.items()),
        Binding("q", "quit", "Quit", priority=False),
        Binding("ctrl+r", "reload", "Refresh", show=False),
    ]

    def __init__(self, source: DataSource, *, title: str | None = None, background: Background | None = None,
                 runtime: Any = None, clock: Callable[[], float] = time.time, refresh_s: float = 2.0,
                 io_threads: int = 2) -> None:
        super().__init__()
        self.source = source
        self.runtime = runtime
        self.clock = clock
        self.refresh_s = refresh_s
        self.background = background
        self.log_sink = LogSink(clock)
        self.io = ThreadPoolExecutor(io_threads, thread_name_prefix="edgelearn-tui")
        self._errors: dict[str, str] = {}
        if title:
            self.title = title
        self.sub_title = source.describe()

    def on_mount(self) -> None:
        if self.background is not None:
            threading.Thread(target=self._run_background, name="edgelearn-tui-background", daemon=True).start()

    def _run_background(self) -> None:
        try:
            self.background(self.runtime, self.log_sink)
        except Exception as exc:
            log.debug("background failed", exc_info=True)
            self.log_sink(f"stopped: {type(exc).__name__}: {exc}")
            if not self.log_sink.stopped.is_set():
                try:
                    self.call_from_thread(self.notify, f"{exc}", title="background stopped", severity="error",
                                          markup=False)
                except RuntimeError:  # the app closed meanwhile: the log line is enough
                    pass

    async def fetch(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(*args)`` on the I/O threads, awaited without blocking input."""
        return await asyncio.get_running_loop().run_in_executor(self.io, partial(fn, *args, **kwargs))

    def report(self, where: str, exc: BaseException | None, *, repeat: bool = False) -> None:
        """Notify an error. A refreshing screen's error shows once until it clears (None clears it),
        so a screen refreshing every 2 s does not stack copies; ``repeat`` always shows (actions)."""
        if exc is None:
            self._errors.pop(where, None)
            return
        message = str(exc) if isinstance(exc, EdgelearnError) else f"{type(exc).__name__}: {exc}"
        if not repeat:
            if self._errors.get(where) == message:
                return
            self._errors[where] = message
        if not isinstance(exc, EdgelearnError):
            log.debug("%s failed", where, exc_info=exc)
        # markup off: messages quote paths, ids and "[Errno 111]"-like text verbatim
        self.notify(message, title=where, severity="error", timeout=8, markup=False)

    def action_reload(self) -> None:
        reload = getattr(self.screen, "reload", None)
        if reload is not None:
            reload()

    async def action_quit(self) -> None:
        self.log_sink.stopped.set()
        self.exit(0)

    def on_unmount(self) -> None:
        self.log_sink.stopped.set()
        self.io.shutdown(wait=False, cancel_futures=True)


def run_tui(runtime: Any, *, title: str | None = None, background: Background | None = None,
            **options: Any) -> int:
    """Open the TUI over ``runtime`` (already built, in this process) until the user quits.

    ``background(runtime, log)`` runs in a daemon thread beside the UI; ``log("text")`` appends a
    line to the dashboard's log panel and ``log.stopped`` is set when the TUI closes. The caller
    owns the runtime: start it (and serve HTTP) before, stop it after. Warnings logged while the
    TUI runs go to the log panel instead of the terminal. ``options`` go to ``EdgelearnApp``.
    """
    from edgelearn.client import EmbeddedClient

    source = ClientSource(EmbeddedClient.over_runtime(runtime))
    app = EdgelearnApp(source, title=title, background=background, runtime=runtime, **options)
    return run_app(app)


def run_app(app: EdgelearnApp) -> int:
    """Run ``app`` with the root logger's output redirected into its log panel."""
    root = logging.getLogger()
    saved = root.handlers[:]
    handler = _LogHandler(app.log_sink)
    root.handlers = [handler]
    try:
        result = app.run()
    finally:
        root.handlers = saved
        app.source.close()
    return int(result or 0)


__all__ = ["EdgelearnApp", "LogSink", "run_app", "run_tui"]
