"""``ConfigWatcher``: re-reads the config file when it changes (watchdog) and swaps the settings
object atomically; an invalid edit keeps the previous settings and reports why."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any, Callable

from edgelearn.config import Settings, load_settings
from edgelearn.errors import ConfigError

log = logging.getLogger(__name__)


class ConfigWatcher:
    """Holds the current settings and reloads them when the config file changes.

    ``on_change(settings)`` runs after a good reload; ``on_error(ConfigError)`` after a bad
    one, while the previous settings stay in force.
    """

    def __init__(
        self,
        settings: Settings,
        path: Path,
        on_change: Callable[[Settings], None] | None = None,
        on_error: Callable[[ConfigError], None] | None = None,
    ) -> None:
        self.path = path
        self._settings = settings
        self._on_change = on_change
        self._on_error = on_error
        self._lock = threading.Lock()
        self._observer: Any = None
        self._timer: threading.Timer | None = None
        self.debounce_s = 0.25

    @property
    def settings(self) -> Settings:
        return self._settings

    def reload(self) -> bool:
        """Re-read the file now; returns whether the settings changed."""
        with self._lock:
            try:
                new = load_settings(self.path)
            except ConfigError as exc:
                log.error("config reload rejected, keeping previous settings: %s", exc)
                if self._on_error:
                    self._on_error(exc)
                return False
            if new == self._settings:
                return False
            self._settings = new
        log.info("config reloaded from %s", self.path)
        if self._on_change:
            self._on_change(new)
        return True

    def start(self) -> None:
        """Watch the file's directory with watchdog (editors often replace the file)."""
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer

        watcher = self
        target = str(self.path.resolve())

        class _Handler(FileSystemEventHandler):
            def on_any_event(self, event):
                paths = {getattr(event, "src_path", ""), getattr(event, "dest_path", "")}
                if any(p and os.path.abspath(p) == target for p in paths):
                    watcher._schedule_reload()

        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._observer = Observer()
        # only events that can finish an edit: the home also holds the store, whose WAL writes would
        # otherwise wake this thread on every commit
        from watchdog.events import FileClosedEvent, FileCreatedEvent, FileDeletedEvent, FileMovedEvent

        self._observer.schedule(_Handler(), str(self.path.parent.resolve()), recursive=False,
                                event_filter=[FileClosedEvent, FileCreatedEvent, FileMovedEvent, FileDeletedEvent])
        self._observer.daemon = True
        self._observer.start()

    def _schedule_reload(self) -> None:
        # Editors truncate, then write: reading in between sees an empty (valid!) file. Reload
        # only once the file has been quiet for a moment.
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(self.debounce_s, self.reload)
            self._timer.daemon = True
            self._timer.start()

    def stop(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
            self._observer = None
