"""The "serving" service: the engine (backends) and the Ollama sync worker of one runtime."""

from __future__ import annotations

from edgelearn.serve.engine import Engine
from edgelearn.serve.sync import OllamaSync


class ServingService:
    """What the proxy, the registry endpoints and the CLI use to serve and register models."""

    def __init__(self, store, settings, home) -> None:
        self.engine = Engine(store, settings)
        self.sync = OllamaSync(store, settings, home,
                               on_reachability=lambda reachable: self.engine.note_reachable("ollama", reachable))

    def start(self) -> None:
        self.sync.start()

    def stop(self) -> None:
        self.sync.stop()
        self.engine.close()


def install(runtime) -> None:
    """Register the "serving" service on ``runtime``."""
    runtime.add_service("serving", ServingService(runtime.store, lambda: runtime.settings, runtime.home))
