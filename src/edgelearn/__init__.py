"""edgelearn: a local-first learning loop for coding agents.

From Python::

    import edgelearn

    with edgelearn.open() as el:                       # the store and services in this process
        run = el.record(role="coder", task="add a CSV parser", output="def parse(path): ...",
                        signals={"compile": True, "tests": {"passed": 3, "total": 4}})
        el.feedback(run.id, "accept")

    with edgelearn.connect() as el:                    # a runtime that serves (edgelearn serve)
        pick = el.select("coder", task="fix the date parser")

``aopen`` and ``aconnect`` give the same methods, awaited. Everything else is imported when
first used, so ``import edgelearn`` stays light. See docs/api.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edgelearn.client import AsyncClient, EmbeddedClient, HttpClient
    from edgelearn.client.aio import Opening

__version__ = "0.1.0"
__all__ = ["__version__", "aconnect", "aopen", "connect", "open"]

DEFAULT_URL = "http://127.0.0.1:8765"


def open(home: Path | str | None = None, *, embed: bool | None = None, start: bool = True) -> EmbeddedClient:
    """An embedded client: the runtime for ``home`` (default: ``$EDGELEARN_HOME`` or the platform's
    data directory) in this process, no HTTP server. ``embed`` switches the background task
    embedder (default: ``store.embed``); ``start=False`` runs no background services (loop,
    embedder, config watcher): recording, reading and selecting still work."""
    from edgelearn.client.embedded import EmbeddedClient

    return EmbeddedClient(home, embed=embed, start=start)


def connect(url: str = DEFAULT_URL, token: str | None = None, *, home: Path | str | None = None,
            timeout: float = 30.0) -> HttpClient:
    """An HTTP client for the runtime at ``url``; the token is read from ``<home>/token`` when not given."""
    from edgelearn.client.http import HttpClient

    return HttpClient(url, token, home=Path(home) if home is not None else None, timeout=timeout)


def aopen(home: Path | str | None = None, *, embed: bool | None = None, start: bool = True) -> Opening:
    """``open`` for asyncio: ``async with edgelearn.aopen(home) as el`` or ``el = await edgelearn.aopen(home)``."""
    from edgelearn.client.aio import Opening

    return Opening(lambda: open(home, embed=embed, start=start))


def aconnect(url: str = DEFAULT_URL, token: str | None = None, *, home: Path | str | None = None,
             timeout: float = 30.0) -> AsyncClient:
    """``connect`` for asyncio: the same methods, awaited."""
    from edgelearn.client.aio import AsyncClient

    return AsyncClient(connect(url, token, home=home, timeout=timeout))
