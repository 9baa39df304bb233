"""``AsyncClient``: either client for asyncio code, every method awaited.

Each call runs the sync client's method on a worker thread: the embedded client's store reads
and writes block, and one code path per method keeps both twins answering exactly alike.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Generator
from typing import Any, Self

from edgelearn.client.base import DEFAULT_REASON, Client
from edgelearn.client.values import Event, Independence, Run, Selection, Session, SessionOutcome, SimilarRun


class AsyncClient:
    """The async twin of a ``Client``: the same methods, awaited; ``async with`` closes it."""

    def __init__(self, client: Client) -> None:
        self.sync = client
        self.local = client.local
        self.location = client.location

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def _do(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(fn, *args, **kwargs)

    async def record(self, **run: Any) -> Run:
        """See ``Client.record``."""
        return await self._do(self.sync.record, **run)

    async def add_signals(self, run_id: str, signals: dict[str, Any], source: str = "api") -> Run:
        """See ``Client.add_signals``."""
        return await self._do(self.sync.add_signals, run_id, signals, source)

    async def feedback(self, run_id: str, kind: str, value: float | None = None, comment: str | None = None) -> Run:
        """See ``Client.feedback``."""
        return await self._do(self.sync.feedback, run_id, kind, value, comment)

    async def run(self, run_id: str) -> Run:
        """See ``Client.run``."""
        return await self._do(self.sync.run, run_id)

    async def runs(self, **filters: Any) -> list[Run]:
        """See ``Client.runs``."""
        return await self._do(self.sync.runs, **filters)

    async def similar(self, run_id: str, k: int = 10) -> list[SimilarRun]:
        """See ``Client.similar``."""
        return await self._do(self.sync.similar, run_id, k)

    async def count_runs(self, since: float | None = None) -> int:
        """See ``Client.count_runs``."""
        return await self._do(self.sync.count_runs, since)

    async def stats(self, since: float | None = None, bucket_s: int = 3600) -> dict[str, Any]:
        """See ``Client.stats``."""
        return await self._do(self.sync.stats, since, bucket_s)

    async def select(self, role: str, task: str | None = None, max_cost_per_1k: float | None = None) -> Selection:
        """See ``Client.select``."""
        return await self._do(self.sync.select, role, task, max_cost_per_1k)

    async def arms(self, role: str | None = None) -> list[dict[str, Any]]:
        """See ``Client.arms``."""
        return await self._do(self.sync.arms, role)

    async def status(self) -> dict[str, Any]:
        """See ``Client.status``."""
        return await self._do(self.sync.status)

    async def models(self, role: str | None = None) -> list[dict[str, Any]]:
        """See ``Client.models``."""
        return await self._do(self.sync.models, role)

    async def experiments(self, role: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """See ``Client.experiments``."""
        return await self._do(self.sync.experiments, role, limit)

    async def events(self, type: str | None = None, role: str | None = None, limit: int = 100) -> list[Event]:
        """See ``Client.events``."""
        return await self._do(self.sync.events, type, role, limit)

    async def promote(self, version: str, reason: str = DEFAULT_REASON) -> None:
        """See ``Client.promote``."""
        return await self._do(self.sync.promote, version, reason)

    async def retire(self, version: str, reason: str = DEFAULT_REASON) -> None:
        """See ``Client.retire``."""
        return await self._do(self.sync.retire, version, reason)

    async def rollback(self, role: str, reason: str = DEFAULT_REASON) -> str:
        """See ``Client.rollback``."""
        return await self._do(self.sync.rollback, role, reason)

    async def trigger(self, role: str, reason: str = DEFAULT_REASON) -> None:
        """See ``Client.trigger``."""
        return await self._do(self.sync.trigger, role, reason)

    async def independence(self, role: str | None = None, since: float | None = None, until: float | None = None,
                           bucket_s: int = 3600) -> list[Independence]:
        """See ``Client.independence``."""
        return await self._do(self.sync.independence, role, since, until, bucket_s)

    async def pin_level(self, role: str, level: int, reason: str = DEFAULT_REASON) -> None:
        """See ``Client.pin_level``."""
        return await self._do(self.sync.pin_level, role, level, reason)

    async def unpin_level(self, role: str, reason: str = DEFAULT_REASON) -> bool:
        """See ``Client.unpin_level``."""
        return await self._do(self.sync.unpin_level, role, reason)

    async def sessions(self, **filters: Any) -> list[Session]:
        """See ``Client.sessions``."""
        return await self._do(self.sync.sessions, **filters)

    async def session(self, session_id: str) -> Session:
        """See ``Client.session``."""
        return await self._do(self.sync.session, session_id)

    async def session_signals(self, session_id: str, signals: dict[str, Any], source: str = "api") -> SessionOutcome:
        """See ``Client.session_signals``."""
        return await self._do(self.sync.session_signals, session_id, signals, source)

    async def session_feedback(self, session_id: str, kind: str, value: float | None = None,
                               comment: str | None = None) -> SessionOutcome:
        """See ``Client.session_feedback``."""
        return await self._do(self.sync.session_feedback, session_id, kind, value, comment)

    async def review_queue(self, limit: int = 50) -> dict[str, Any]:
        """See ``Client.review_queue``."""
        return await self._do(self.sync.review_queue, limit)

    async def failure_patterns(self) -> dict[str, Any]:
        """See ``Client.failure_patterns``."""
        return await self._do(self.sync.failure_patterns)

    async def config(self) -> dict[str, Any]:
        """See ``Client.config``."""
        return await self._do(self.sync.config)

    async def set_toggle(self, name: str, value: bool) -> bool:
        """See ``Client.set_toggle``."""
        return await self._do(self.sync.set_toggle, name, value)

    async def close(self) -> None:
        """See ``Client.close``."""
        await self._do(self.sync.close)


class Opening:
    """An ``AsyncClient`` being built on a worker thread (opening a runtime blocks):
    ``await`` it, or use it directly in ``async with``."""

    def __init__(self, build: Callable[[], Client]) -> None:
        self._build = build
        self._client: AsyncClient | None = None

    async def _open(self) -> AsyncClient:
        if self._client is None:
            self._client = AsyncClient(await asyncio.to_thread(self._build))
        return self._client

    def __await__(self) -> Generator[Any, None, AsyncClient]:
        return self._open().__await__()

    async def __aenter__(self) -> AsyncClient:
        return await self._open()

    async def __aexit__(self, *exc: Any) -> None:
        if self._client is not None:
            await self._client.close()
