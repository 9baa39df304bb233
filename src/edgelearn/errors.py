"""The one exception hierarchy of edgelearn.

    EdgelearnError
    ├── ConfigError          invalid settings file, key or environment variable
    ├── StoreError           the SQLite store cannot be opened, migrated or written
    │   └── NotFound         a run, arm, dataset, model, job or experiment id that does not exist
    ├── InvalidInput         a request or argument that names what is wrong with it
    │   └── MalformedJSON    a body that is not JSON at all
    ├── SelectionError       no arm satisfies a selection (e.g. the cost limit)
    ├── CurationError        a dataset cannot be built (too few runs, bad source)
    ├── TrainingError        a training job failed or its base model is unusable
    ├── ExportError          GGUF export, merge or parity gate failed
    ├── BackendError         a serving backend (llama.cpp, Ollama) failed or is unreachable
    │   └── BackendUnavailable
    └── Unreachable          the runtime an HTTP client (``edgelearn.connect``) talks to does not answer

Foreign errors are translated at the boundary (``raise X(...) from exc``). Exit codes are
chosen only in the CLI, HTTP status codes only in the server, notifications only in the TUI.
"""

from __future__ import annotations

from pathlib import Path


class EdgelearnError(Exception):
    """Base of every error edgelearn raises on purpose."""


class ConfigError(EdgelearnError):
    def __init__(self, message: str, path: Path | None = None) -> None:
        super().__init__(message)
        self.path = path


class StoreError(EdgelearnError):
    pass


class NotFound(StoreError):
    pass


class InvalidInput(EdgelearnError):
    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class MalformedJSON(InvalidInput):
    pass


class SelectionError(EdgelearnError):
    pass


class CurationError(EdgelearnError):
    pass


class TrainingError(EdgelearnError):
    pass


class ExportError(EdgelearnError):
    pass


class BackendError(EdgelearnError):
    pass


class BackendUnavailable(BackendError):
    pass


class Unreachable(EdgelearnError):
    pass
