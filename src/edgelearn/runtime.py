"""The runtime: one process holding the config, the store, the recorder and the services.

Services (embedder, selector, registry, loop, ...) register here; the HTTP app and the TUI
reach everything through one ``Runtime`` object.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any, Protocol

from edgelearn.config import Settings, config_path, home_dir, load_settings
from edgelearn.config_watch import ConfigWatcher
from edgelearn.errors import ConfigError
from edgelearn.record.recorder import Recorder
from edgelearn.security import load_or_create_token
from edgelearn.store import Store

log = logging.getLogger(__name__)


class Service(Protocol):
    def start(self) -> None: ...
    def stop(self) -> None: ...


class Runtime:
    """Everything one edgelearn process runs, wired together."""

    def __init__(self, settings: Settings | None = None, *, home: Path | None = None,
                 config_file: Path | None = None, embed: bool | None = None) -> None:
        self.home = home or home_dir()
        self.config_file = config_file or config_path()
        settings = settings or load_settings(self.config_file)
        self.watcher = ConfigWatcher(settings, self.config_file, on_change=self._config_changed,
                                     on_error=self._config_rejected)
        self.store = Store.from_settings(settings, self.home, locate_base=self._base_gguf)
        self.token = load_or_create_token(self.home)
        self.recorder = Recorder(self.store, lambda: self.watcher.settings)
        self.services: dict[str, Any] = {}
        self.started_at = time.time()
        self._started = False
        self._retention_stop = threading.Event()
        use_embed = settings.store.embed if embed is None else embed
        self.embedder = None
        if use_embed:
            from edgelearn.embed.embedder import Embedder

            self.embedder = Embedder(self.store, batch=settings.store.embed_batch,
                                     idle_s=lambda: self.watcher.settings.store.embed_idle_s)
        self._install_extensions()

    @property
    def settings(self) -> Settings:
        return self.watcher.settings

    def _base_gguf(self) -> Path:
        from edgelearn.serve.base import base_gguf

        return base_gguf(self.settings)

    def _install_extensions(self) -> None:
        """Let each optional stage attach itself (bandits, serving, loop) if it is installed."""
        import importlib

        for name in ("edgelearn.bandits.service", "edgelearn.serve.service", "edgelearn.loop.chain",
                     "edgelearn.sessions.watcher", "edgelearn.experiment.independence.service"):
            try:
                module = importlib.import_module(name)
            except ModuleNotFoundError as exc:
                if exc.name and name.startswith(exc.name):
                    continue
                raise
            install = getattr(module, "install", None)
            if install is not None:
                install(self)

    def add_service(self, name: str, service: Any) -> None:
        """Register a named service; it is started and stopped with the runtime."""
        if name in self.services:
            raise ValueError(f"service {name!r} registered twice")
        self.services[name] = service
        if self._started and hasattr(service, "start"):
            service.start()

    def start(self, watch_config: bool = True) -> None:
        if self._started:
            return
        self._started = True
        if watch_config:
            self.watcher.start()
        if self.embedder:
            self.embedder.start()
        for service in self.services.values():
            if hasattr(service, "start"):
                service.start()
        threading.Thread(target=self._retention_loop, name="edgelearn-retention", daemon=True).start()
        self.store.events.append("runtime.started", {"config": str(self.config_file), "store": str(self.store.path)})

    def stop(self) -> None:
        if not self._started:
            self.store.close()
            return
        self._retention_stop.set()
        for service in reversed(list(self.services.values())):
            if hasattr(service, "stop"):
                try:
                    service.stop()
                except Exception:
                    log.exception("stopping a service failed")
        if self.embedder:
            self.embedder.stop()
        self.watcher.stop()
        try:
            self.store.events.append("runtime.stopped", {})
        finally:
            self.store.close()
        self._started = False

    def purge_expired(self) -> int:
        """Delete runs older than ``privacy.retention_days``; returns how many."""
        days = self.settings.privacy.retention_days
        if days <= 0:
            return 0
        cutoff = time.time() - days * 86400

        def fn(conn):
            n = self.store.runs.purge_before_in(conn, cutoff)
            if n:
                self.store.events.append_in(conn, "retention.purged", {"runs": n, "before": cutoff})
            return n

        return self.store.write(fn)

    def _retention_loop(self) -> None:
        while True:
            try:
                self.purge_expired()
            except Exception:
                log.exception("retention purge failed")
            if self._retention_stop.wait(3600):
                return

    def _config_changed(self, settings: Settings) -> None:
        self.store.events.append("config.reloaded", {"file": str(self.config_file)})

    def _config_rejected(self, exc: ConfigError) -> None:
        self.store.events.append("config.rejected", {"file": str(self.config_file), "reason": str(exc)})
